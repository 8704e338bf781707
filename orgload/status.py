"""The statuses a load (or revert) ends in, and the exit code of each (SPEC §3, §4 and §6).

``LoadStatus`` is a ``StrEnum``: a member equals its plain string (``LoadStatus.APPLIED ==
"applied"``), is stored in the database as that string, and serializes to JSON as it. So a
value read back from ``loads.status`` compares equal to the member without conversion.
"""

from __future__ import annotations

from enum import StrEnum


class LoadStatus(StrEnum):
    """How a load (or a revert) ended; the ``status`` of ``orgload load --json``."""

    APPLIED = "applied"
    DRY_RUN = "dry_run"
    ALREADY_APPLIED = "already_applied"
    NO_CHANGES = "no_changes"
    REVERTED = "reverted"
    REJECTED = "rejected"
    QUOTA_EXHAUSTED = "quota_exhausted"
    FAILED = "failed"
    # Found later with no outcome: its process died (SIGKILL, power, OOM) mid-way. Never the
    # outcome a command answers itself; set by the next command for the client
    # (service/attempts.py).
    CRASHED = "crashed"


# The status of an attempt while it runs: recorded when it starts, replaced by how it ended
# (the same row). Not a LoadStatus: no load *ends* running; one left so is found and crashed.
RUNNING = "running"

EXIT_CODES: dict[LoadStatus, int] = {
    LoadStatus.APPLIED: 0,
    LoadStatus.DRY_RUN: 0,
    LoadStatus.ALREADY_APPLIED: 0,
    LoadStatus.NO_CHANGES: 0,
    LoadStatus.REVERTED: 0,
    LoadStatus.REJECTED: 1,
    LoadStatus.QUOTA_EXHAUSTED: 3,
    LoadStatus.FAILED: 4,
    LoadStatus.CRASHED: 4,  # for completeness: no command ends with it
}

# Statuses whose data changes stand: the data "version" of a client moves only with these.
DATA_CHANGING: tuple[LoadStatus, ...] = (LoadStatus.APPLIED, LoadStatus.REVERTED)


def exit_code(status: str) -> int:
    """The process exit code of a load that ended in ``status`` (a member or its string).

    Raises ``ValueError`` for a string that is no load status.
    """
    return EXIT_CODES[LoadStatus(status)]
