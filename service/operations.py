"""What ops hand a Prefect run, checked before any work, and what a run leaves for the client
(SPEC §5, §7): run labels, parameter checks, the outbox report of a rejected load.

An operator's mistake (an unknown client, a file that is not there, an override without its
reason) is a usage error: the run fails at once with one line, opens no incident and takes no
concurrency slot. ``check_load_parameters`` finds it and says so as data, never raising, so a
flow can end its run with that one line.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgload import clock
from orgload.errors import OrgloadError, UnknownClientError, shown
from orgload.settings import Settings
from orgload.slugs import check_client_id

__all__ = [
    "ParameterCheck",
    "RejectionReport",
    "check_load_parameters",
    "check_validation_parameters",
    "run_label",
    "write_rejection_report",
]

log = logging.getLogger(__name__)

LABEL_PART = 60  # a run name stays readable in the UI's lists


@dataclass(frozen=True, slots=True)
class ParameterCheck:
    """The parameters of a run as checked: ``problem`` is None when the run may go on,
    otherwise a stable code (``invalid_client_id``, ``unknown_client``, ``file_not_found``,
    ``not_a_regular_file``, ``reason_required``, ``reason_without_override``) and one line."""

    client_id: str
    period: str
    file_name: str
    problem: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "period": self.period,
            "file_name": self.file_name,
            "problem": self.problem,
            "message": self.message,
        }


def _client_timezone(settings: Settings, client_id: str) -> str | None:
    """The registered client's timezone; None when it is not registered. Raises
    ``DatabaseUnavailableError`` when the database cannot say."""
    from loaders.store import get_client
    from orgload.db import engine_for, reachable, reading, staff

    with staff(), reachable(settings), engine_for(settings) as bound, reading(bound) as conn:
        try:
            return get_client(conn, client_id).timezone
        except UnknownClientError:
            return None


def _period(settings: Settings, timezone: str | None) -> str:
    return clock.period_of(clock.now(settings), timezone or settings.timezone)


def run_label(
    settings: Settings, client_id: str, file: str, *, lookup: bool = True, suffix: str = ""
) -> str:
    """``acme · 2026-12 · organizacion.xlsx``: a run's name. The period is the client's (its
    timezone, when ``lookup`` and the database answers), else the default timezone's. Never
    raises: a name must not cost a run."""
    try:
        timezone = None
        if lookup:
            try:
                timezone = _client_timezone(settings, check_client_id(client_id))
            except Exception:  # noqa: BLE001 - unreachable or unknown: the default timezone
                timezone = None
        period = _period(settings, timezone)
    except Exception:  # noqa: BLE001 - a clock or settings problem: the name goes without
        period = "?"
    name = Path(file).name if file else "?"
    parts = [shown(client_id or "?", LABEL_PART), period, shown(name, LABEL_PART)]
    return " · ".join(parts) + (f" · {suffix}" if suffix else "")


def _file_problem(file: str) -> tuple[str, str] | None:
    if not file or not file.strip():
        return "file_not_found", "file is empty: give the path of the upload as the worker sees it"
    try:
        mode = os.stat(file).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "file_not_found", f"file not found on the worker: {shown(file, 120)}"
    except OSError as exc:  # no permission, a name too long, a loop of links
        return "file_not_found", f"cannot read {shown(file, 120)}: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return (
            "not_a_regular_file",
            f"{shown(file, 120)} is a folder, not a file: name the upload inside it "
            "(an .xlsx or a .zip of the two CSV files)",
        )
    if not stat.S_ISREG(mode):
        return "not_a_regular_file", f"{shown(file, 120)} is not a regular file: not read"
    return None


def check_validation_parameters(settings: Settings, client_id: str, file: str) -> ParameterCheck:
    """``validate-upload``: a client id shaped as one and a regular file (no database: a
    validation needs none, SPEC §6)."""
    period = _period(settings, None)
    name = Path(file).name if file else ""
    try:
        check_client_id(client_id)
    except OrgloadError as exc:
        return ParameterCheck(client_id, period, name, "invalid_client_id", exc.message)
    found = _file_problem(file)
    if found is not None:
        return ParameterCheck(client_id, period, name, *found)
    return ParameterCheck(client_id, period, name)


def check_load_parameters(
    settings: Settings,
    client_id: str,
    file: str,
    *,
    override_quota: bool = False,
    reason: str | None = None,
) -> ParameterCheck:
    """``monthly-load``: everything an operator may get wrong, before any work.

    The options first (they need nothing), then the client (registered), then the file. A
    database that cannot be reached is not the operator's mistake: the check lets the run go
    on, and the load itself answers ``failed`` with its level-3 incident (SPEC §5).
    """
    period = _period(settings, None)
    name = Path(file).name if file else ""
    given = bool(reason and reason.strip())
    if override_quota and not given:
        return ParameterCheck(
            client_id,
            period,
            name,
            "reason_required",
            "override_quota needs a reason: say why this correction load may use a second "
            "load this period",
        )
    if given and not override_quota:
        return ParameterCheck(
            client_id,
            period,
            name,
            "reason_without_override",
            "a reason was given without override_quota: turn override_quota on, or clear the "
            "reason",
        )
    try:
        check_client_id(client_id)
    except OrgloadError as exc:
        return ParameterCheck(client_id, period, name, "invalid_client_id", exc.message)
    try:
        timezone = _client_timezone(settings, client_id)
        if timezone is None:
            return ParameterCheck(
                client_id,
                period,
                name,
                "unknown_client",
                f"unknown client {shown(client_id, repr_=True)}: register it with "
                f"`orgload clients add {client_id} --name NAME`",
            )
        period = _period(settings, timezone)
    except Exception as exc:  # noqa: BLE001 - the database's problem, not the operator's
        log.warning("could not look client %s up: %s", client_id, exc)
    found = _file_problem(file)
    if found is not None:
        return ParameterCheck(client_id, period, name, *found)
    return ParameterCheck(client_id, period, name)


@dataclass(frozen=True, slots=True)
class RejectionReport:
    """What a rejected load left in ``outbox/<client_id>/``: its JSON and, when cells were
    wrong, the annotated workbook; ``counts`` are the data rows read per sheet (None when the
    file could not be read again)."""

    json_path: Path
    xlsx_path: Path | None
    counts: dict[str, int] | None


def write_rejection_report(
    settings: Settings, client_id: str, paths: list[Path], result: dict[str, Any]
) -> RejectionReport:
    """The report of a rejected load for the client admin, as the inbox writes one: the load
    JSON (the admin's own data, unmasked, as in every outbox report) and, when the file has
    cell errors, the annotated workbook. A rejection for ``mass_change`` alone has no cell to
    mark: no workbook (a clean file gets none)."""
    from loaders.archive import upload_sha256
    from service.validation import validate_files

    check_client_id(client_id)
    outbox = settings.home / "outbox" / client_id
    outbox.mkdir(parents=True, exist_ok=True)
    stem = paths[0].stem if len(paths) == 1 else "unidades-personas"
    try:
        sha = upload_sha256(paths)[:8]
    except OSError:
        sha = "unread"
    json_path = outbox / f"{stem}.{sha}.load.json"
    cell_errors = [e for e in result.get("errors") or [] if e.get("code") != "mass_change"]
    xlsx_path: Path | None = None
    counts: dict[str, int] | None = None
    if cell_errors:
        target = outbox / f"{stem}.{sha}.errores.xlsx"
        try:
            validated = validate_files(settings, paths, lang=settings.lang, report_path=target)
            counts = dict(validated.report.counts)
            xlsx_path = target
        except (OrgloadError, OSError) as exc:  # the file went away since the load read it
            log.warning("could not write the annotated workbook of %s: %s", stem, exc)
    staging = json_path.with_name(f".{json_path.name}.{os.getpid()}.tmp")
    staging.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    staging.replace(json_path)  # readers never see half a report
    return RejectionReport(json_path, xlsx_path, counts)
