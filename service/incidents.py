"""Support incidents as use cases: list, show, escalate, transition, the spool, the SLA watch,
and the incident of a run that died (SPEC §5-6)."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from loaders.archive import upload_digest, upload_name
from loaders.limits import Limits
from orgload import clock
from orgload.clock import chile_iso
from orgload.db import engine_for, reading, staff, tenant
from orgload.errors import NotFoundError, UsageError
from orgload.settings import Settings
from orgload.slugs import check_client_id
from support import incidents as desk
from support.deadruns import report_run_failure, run_incident_id
from support.incidents import IncidentRef
from support.notify import queue_notification, send_quietly
from support.spool import import_spool, spooled_files
from support.watch import run_sla_watch

__all__ = [
    "IncidentDetail",
    "IncidentRef",
    "SpoolImport",
    "dead_run_has_incident",
    "escalate_incident",
    "import_spooled",
    "list_incidents",
    "report_dead_run",
    "run_incident_id",
    "show_incident",
    "transition_incident",
    "watch_sla",
]


def who(by: str | None) -> str:
    """Who does it: the name given, else the operating-system user."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """One line of ``orgload incidents list`` (SPEC §6)."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """``orgload incidents show``: the summary plus the diagnostics and the history."""

    summary: dict[str, Any]
    occurrences: int
    diagnostics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary,
            "occurrences": self.occurrences,
            "diagnostics": self.diagnostics,
            "history": self.history,
        }


def list_incidents(
    settings: Settings,
    *,
    client_id: str | None = None,
    status: str | None = None,
    level: int | None = None,
    overdue: bool = False,
    engine: Engine | None = None,
) -> list[IncidentSummary]:
    """Incidents newest first, filtered; ``overdue``: past the review deadline, not in review."""
    if status is not None and status not in desk.STATUSES:
        raise UsageError(f"--status must be one of {', '.join(desk.STATUSES)}")
    if level is not None and level not in (1, 2, 3):
        raise UsageError("--level must be 1, 2 or 3")
    with staff(), engine_for(settings, engine) as bound, reading(bound) as conn:
        rows = desk.list_incidents(
            conn,
            clock.now(settings),
            client_id=client_id,
            status=status,
            level=level,
            overdue=overdue,
        )
    return [IncidentSummary(desk.incident_summary(r)) for r in rows]


def scoped(client_id: str | None) -> AbstractContextManager[None]:
    """A client's own scope when ``client_id`` is given (a client admin, or ops naming the
    client), else the staff scope: who may see every client is always said explicitly."""
    return tenant(check_client_id(client_id)) if client_id is not None else staff()


def _owned(conn: Any, incident_id: str, client_id: str | None) -> None:
    """Refuse an incident of another client than the one named (exit 1, nothing changed)."""
    row = desk.get_incident(conn, incident_id)
    if client_id is not None and row["client_id"] != client_id:
        raise NotFoundError(f"incident {incident_id} is not an incident of client {client_id}")


def show_incident(
    settings: Settings,
    incident_id: str,
    engine: Engine | None = None,
    *,
    client_id: str | None = None,
) -> IncidentDetail:
    with scoped(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        _owned(conn, incident_id, client_id)
        return _detail(conn, incident_id)


def _detail(conn: Any, incident_id: str) -> IncidentDetail:
    row = desk.get_incident(conn, incident_id)
    history = [
        {
            "at": chile_iso(h["at"]),
            "by": h["by"],
            "action": h["action"],
            "from_status": h["from_status"],
            "to_status": h["to_status"],
            "from_level": h["from_level"],
            "to_level": h["to_level"],
            "correction": h["correction"],
            "comment": h["comment"],
        }
        for h in desk.incident_history_of(conn, incident_id)
    ]
    return IncidentDetail(
        desk.incident_summary(row), row["occurrences"], row["diagnostics"], history
    )


def escalate_incident(
    settings: Settings,
    incident_id: str,
    reason: str,
    *,
    by: str | None = None,
    engine: Engine | None = None,
    client_id: str | None = None,
) -> IncidentDetail:
    """Level 1 → 2; the SLA clock restarts; support is e-mailed."""
    if not reason.strip():
        raise UsageError("--reason must not be empty")
    now = clock.now(settings)
    with scoped(client_id), engine_for(settings, engine) as bound:
        with bound.begin() as conn:
            _owned(conn, incident_id, client_id)
            row = desk.escalate(conn, incident_id, reason, who(by), now)
            queue_notification(conn, row, "escalated", settings, now, None)
        send_quietly(bound, settings, now, incident_id)
        with reading(bound) as conn:
            return _detail(conn, incident_id)


def transition_incident(
    settings: Settings,
    incident_id: str,
    to: str,
    *,
    correction: str | None = None,
    by: str | None = None,
    comment: str | None = None,
    engine: Engine | None = None,
    client_id: str | None = None,
) -> IncidentDetail:
    """reported → in_review → resolved (with a correction type) → closed; illegal moves refused."""
    with scoped(client_id), engine_for(settings, engine) as bound:
        with bound.begin() as conn:
            _owned(conn, incident_id, client_id)
            desk.transition(
                conn,
                incident_id,
                to,
                by=who(by),
                now=clock.now(settings),
                correction=correction,
                comment=comment,
            )
        with reading(bound) as conn:
            return _detail(conn, incident_id)


@dataclass(frozen=True, slots=True)
class SpoolImport:
    """``orgload incidents import-spool --json``."""

    spooled_before: int
    imported: list[str]
    left: int

    def to_dict(self) -> dict[str, Any]:
        return {"spooled_before": self.spooled_before, "imported": self.imported, "left": self.left}


def spooled_count(settings: Settings) -> int:
    return len(spooled_files(settings.spool_dir))


def import_spooled(
    settings: Settings, engine: Engine | None = None, *, spooled_before: int | None = None
) -> SpoolImport:
    """Store the incidents spooled while the database was down (exactly once)."""
    before = spooled_count(settings) if spooled_before is None else spooled_before
    with staff(), engine_for(settings, engine) as bound:
        imported = import_spool(bound, settings, clock.now(settings))
    return SpoolImport(before, imported, spooled_count(settings))


def watch_sla(settings: Settings, engine: Engine | None = None) -> dict[str, Any]:
    """Overdue and soon-due incidents, their e-mails, and the spool (SPEC §5)."""
    with staff(), engine_for(settings, engine) as bound:
        return run_sla_watch(bound, settings, clock.now(settings))


def report_dead_run(
    settings: Settings,
    *,
    flow_run_id: str,
    client_id: str,
    paths: Sequence[Path],
    state_name: str,
    message: str,
    extra: dict[str, Any] | None = None,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> IncidentRef | None:
    """The ``crash`` incident of a run that died, opened exactly once per run."""
    existing = [p for p in paths if p.is_file()]
    max_bytes = Limits.from_settings(settings).max_file_bytes
    with staff():  # a run's incident is support's, whoever the client
        return report_run_failure(
            settings,
            flow_run_id=flow_run_id,
            client_id=client_id,
            file_name=upload_name(list(paths)) if paths else None,
            sha256=upload_digest(existing, max_bytes) if existing else None,
            state_name=state_name,
            message=message,
            now=now or clock.now(settings),
            engine=engine,
            extra=extra,
        )


def dead_run_has_incident(
    settings: Settings, flow_run_id: str, engine: Engine | None = None
) -> bool:
    """Whether the run's incident exists already (the reconciler skips those runs)."""
    with staff(), engine_for(settings, engine) as bound, reading(bound) as conn:
        return desk.incident_exists(conn, run_incident_id(flow_run_id))
