"""Dangling load attempts: found by the next command for the client, recorded ``crashed``.

A load records itself ``running`` when it starts and replaces that status with its outcome
(``loaders/load.py``). One that never does — its process was SIGKILLed, ran out of memory, or
its machine died — would stay ``running`` forever. Before a load, the quota or the history of
a client, ``settle_attempts`` looks at that client's running attempts and settles the dead
ones: on this host, by pid (and the pid's start time, so a recycled pid does not keep a dead
attempt alive); recorded by another host, by age (``STALE_AFTER`` by default). Each is marked
``crashed`` (a conditional update: of several commands settling at once, one wins) and gets a
level-2 ``crash`` incident through the support desk's one entry point.

A load whose flow run already has an incident (the Prefect reconciler in support/deadruns.py
saw the run crash first) gets no second one.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from loaders.store import mark_crashed, process_started, running_attempts
from orgload import clock
from orgload.db import incidents, reachable, reading
from orgload.failures import LoadFailure
from orgload.settings import Settings
from support.incidents import IncidentRef
from support.report import report_failure

log = logging.getLogger(__name__)


# An attempt recorded by another host with no outcome after this long is taken for dead.
# The longest load measured (1,000,000 people) applies in minutes, well inside it.
STALE_AFTER = timedelta(minutes=30)  # the default of ORGLOAD_ATTEMPT_STALE_MINUTES


def stale_after(settings: Settings) -> timedelta:
    """The age after which another host's running attempt is dead (a setting)."""
    return timedelta(minutes=settings.attempt_stale_minutes)


def settle_attempts(settings: Settings, engine: Engine, client_id: str) -> list[IncidentRef]:
    """Record every dead ``running`` attempt of ``client_id`` as ``crashed``, each with its
    ``crash`` incident; returns the incidents opened. The caller sets the tenant scope."""
    with reachable(settings), reading(engine) as conn:
        running = running_attempts(conn, client_id)
    refs: list[IncidentRef] = []
    if not running:
        return refs
    wall = datetime.now(UTC)
    for row in running:
        owner = (row.get("summary") or {}).get("attempt") or {}
        why = dead_because(owner, wall, stale_after(settings))
        if why is None:
            continue
        ref = _settle(settings, engine, row, owner, why)
        if ref is not None:
            refs.append(ref)
    return refs


def dead_because(owner: dict[str, Any], wall: datetime, stale: timedelta) -> str | None:
    """Why the attempt run by ``owner`` is dead, or None while it may still be running."""
    pid, host = owner.get("pid"), owner.get("host")
    if host == socket.gethostname() and isinstance(pid, int):
        if pid == os.getpid():
            return None  # this very process: it is running it
        if not _alive(pid, owner.get("pid_started")):
            return f"process {pid} on {host} is gone"
        return None
    started = _instant(owner.get("started_at"))
    if started is None:
        return "no process recorded for it"
    if wall - started > stale:
        minutes = int((wall - started).total_seconds() // 60)
        return f"no outcome after {minutes} min (run by {host or 'an unknown host'})"
    return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    return started is None or process_started(pid) == started


def _instant(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _settle(
    settings: Settings, engine: Engine, row: dict[str, Any], owner: dict[str, Any], why: str
) -> IncidentRef | None:
    load_id = int(row["id"])
    summary = {
        **(row.get("summary") or {}),
        "detail": f"load {load_id} stopped without an outcome: {why}",
    }
    with reachable(settings), engine.begin() as conn:
        if not mark_crashed(conn, load_id, summary):
            return None  # it finished after all, or another command settled it
        flow_run_id = row.get("flow_run_id")
        seen = (
            flow_run_id
            and conn.execute(
                select(incidents.c.id).where(incidents.c.flow_run_id == str(flow_run_id))
            ).first()
        )
    log.warning("load %s of client %s crashed: %s", load_id, row["client_id"], why)
    if seen:
        return None
    failure = LoadFailure(
        client_id=row["client_id"],
        period=row["period"],
        reported_at=clock.now(settings),
        failed_step="run",
        load_id=load_id,
        flow_run_id=flow_run_id,
        file_name=row.get("file_name"),
        sha256=row.get("sha256"),
        archive_path=row.get("archive_path"),
        exception={"type": "Crashed", "message": summary["detail"]},
        extra={"attempt": owner},
    )
    return report_failure(settings, engine, failure)
