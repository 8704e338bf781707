"""Support incidents (SPEC §5): creation from failed loads, levels, lifecycle, SLA watch.

Store functions take a connection first and never commit. An incident carries a diagnostics
bundle sufficient to replicate the failure. Level 1 rejections of the same client and period
are folded into the open level-1 incident (its ``occurrences`` grows) instead of piling up.
"""

from __future__ import annotations

import platform
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy import Connection, insert, select, update

from orgload.clock import chile_iso
from orgload.db import incident_history, incidents
from orgload.errors import NotFoundError, RefusedError
from support.sla import add_coverage_hours, coverage_hours_between, review_due_at


class IncidentStatus(StrEnum):
    """Where an incident is in its lifecycle (SPEC §5); stored and shown as the plain string."""

    REPORTED = "reported"
    IN_REVIEW = "in_review"  # replicated
    RESOLVED = "resolved"  # with a correction type
    CLOSED = "closed"  # approved by the client's representative


LEVELS = {"validation": 1, "mass_change": 1, "apply_error": 2, "crash": 2, "unavailable": 3}
STATUSES: tuple[IncidentStatus, ...] = tuple(IncidentStatus)
OPEN_STATUSES = (IncidentStatus.REPORTED, IncidentStatus.IN_REVIEW)
NEXT_STATUS = {
    IncidentStatus.REPORTED: IncidentStatus.IN_REVIEW,
    IncidentStatus.IN_REVIEW: IncidentStatus.RESOLVED,
    IncidentStatus.RESOLVED: IncidentStatus.CLOSED,
}
CORRECTIONS = ("recommendation", "configuration", "data", "database", "application")
SYSTEM = "orgload"
PACKAGES = ("orgload", "pandas", "pandera", "python-calamine", "sqlalchemy", "prefect")


class IllegalTransitionError(RefusedError):
    """The lifecycle does not allow this move; nothing was changed."""

    code = "illegal_transition"


def new_incident_id() -> str:
    return f"INC-{uuid.uuid4().hex[:12].upper()}"


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@dataclass(slots=True)
class IncidentDraft:
    """An incident about to be recorded (or spooled): everything but its lifecycle."""

    category: str
    client_id: str
    period: str | None
    reported_at: datetime
    diagnostics: dict[str, Any]
    load_id: int | None = None
    flow_run_id: str | None = None
    failed_step: str | None = None
    id: str = ""

    def __post_init__(self) -> None:
        if self.category not in LEVELS:
            raise ValueError(f"unknown incident category {self.category!r}")
        self.id = self.id or new_incident_id()

    @property
    def level(self) -> int:
        return LEVELS[self.category]

    def due(self) -> datetime | None:
        """Level ≥ 2: 6 coverage hours after reporting; level 1 is the client's own support."""
        return review_due_at(self.reported_at) if self.level >= 2 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "client_id": self.client_id,
            "period": self.period,
            "reported_at": self.reported_at.isoformat(),
            "diagnostics": self.diagnostics,
            "load_id": self.load_id,
            "flow_run_id": self.flow_run_id,
            "failed_step": self.failed_step,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncidentDraft:
        return cls(**{**data, "reported_at": datetime.fromisoformat(data["reported_at"])})


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """What a load's JSON says about its incident."""

    id: str
    level: int
    review_due_at: datetime | None
    created: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "level": self.level, "review_due_at": chile_iso(self.review_due_at)}


def build_diagnostics(
    *,
    client_id: str,
    period: str | None,
    load_id: int | None,
    flow_run_id: str | None,
    file_name: str | None,
    sha256: str | None,
    archive_path: str | None,
    failed_step: str | None,
    exception: dict[str, Any] | None,
    validation: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bundle an analyst needs to replicate a failure (SPEC §5)."""
    return {
        "client_id": client_id,
        "period": period,
        "load_id": load_id,
        "flow_run_id": flow_run_id,
        "file_name": file_name,
        "sha256": sha256,
        "archive_path": archive_path,
        "failed_step": failed_step,
        "exception": exception,
        "validation": validation,
        "versions": package_versions(),
        **(extra or {}),
    }


def _history(
    conn: Connection, incident_id: str, at: datetime, by: str, action: str, **kw: Any
) -> None:
    conn.execute(
        insert(incident_history).values(incident_id=incident_id, at=at, by=by, action=action, **kw)
    )


def find_open_level1(conn: Connection, client_id: str, period: str | None) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(incidents)
            .where(
                incidents.c.client_id == client_id,
                incidents.c.period == period,
                incidents.c.level == 1,
                incidents.c.status.in_(OPEN_STATUSES),
            )
            .order_by(incidents.c.reported_at.desc())
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def record_incident(conn: Connection, draft: IncidentDraft, now: datetime) -> IncidentRef:
    """Store a new incident — or, for a level-1 rejection, refresh the open one of the period."""
    if draft.level == 1:
        existing = find_open_level1(conn, draft.client_id, draft.period)
        if existing is not None:
            conn.execute(
                update(incidents)
                .where(incidents.c.id == existing["id"])
                .values(
                    category=draft.category,
                    load_id=draft.load_id,
                    flow_run_id=draft.flow_run_id,
                    failed_step=draft.failed_step,
                    diagnostics=draft.diagnostics,
                    occurrences=existing["occurrences"] + 1,
                    updated_at=now,
                )
            )
            _history(
                conn,
                existing["id"],
                now,
                SYSTEM,
                "repeated",
                comment=f"load {draft.load_id}: {draft.diagnostics.get('file_name')}",
            )
            return IncidentRef(existing["id"], 1, existing["review_due_at"], created=False)
    due = draft.due()
    conn.execute(
        insert(incidents).values(
            id=draft.id,
            category=draft.category,
            level=draft.level,
            status=IncidentStatus.REPORTED,
            client_id=draft.client_id,
            period=draft.period,
            load_id=draft.load_id,
            flow_run_id=draft.flow_run_id,
            failed_step=draft.failed_step,
            diagnostics=draft.diagnostics,
            occurrences=1,
            reported_at=draft.reported_at,
            review_due_at=due,
            updated_at=now,
        )
    )
    _history(
        conn,
        draft.id,
        draft.reported_at,
        SYSTEM,
        "reported",
        to_status=IncidentStatus.REPORTED,
        to_level=draft.level,
    )
    return IncidentRef(draft.id, draft.level, due)


def incident_exists(conn: Connection, incident_id: str) -> bool:
    return (
        conn.execute(select(incidents.c.id).where(incidents.c.id == incident_id)).first()
        is not None
    )


def get_incident(conn: Connection, incident_id: str) -> dict[str, Any]:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"incident {incident_id} does not exist")
    return dict(row)


def incident_history_of(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(incident_history)
        .where(incident_history.c.incident_id == incident_id)
        .order_by(incident_history.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def is_overdue(row: dict[str, Any], now: datetime) -> bool:
    """Overdue: not yet taken into review and past its review deadline."""
    due = row["review_due_at"]
    return row["status"] == IncidentStatus.REPORTED and due is not None and due <= now


def list_incidents(
    conn: Connection,
    now: datetime,
    *,
    client_id: str | None = None,
    status: str | None = None,
    level: int | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    query = select(incidents).order_by(incidents.c.reported_at.desc(), incidents.c.id)
    if client_id is not None:
        query = query.where(incidents.c.client_id == client_id)
    if status is not None:
        query = query.where(incidents.c.status == status)
    if level is not None:
        query = query.where(incidents.c.level == level)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    return [r for r in rows if is_overdue(r, now)] if overdue else rows


def escalate(
    conn: Connection, incident_id: str, reason: str, by: str, now: datetime
) -> dict[str, Any]:
    """Level 1 → 2; the SLA clock restarts at the escalation."""
    row = get_incident(conn, incident_id)
    if row["level"] != 1:
        raise IllegalTransitionError(
            f"incident {incident_id} is level {row['level']}; only level 1 can be escalated"
        )
    if row["status"] not in OPEN_STATUSES:
        raise IllegalTransitionError(
            f"incident {incident_id} is {row['status']}; it cannot be escalated"
        )
    due = review_due_at(now)
    conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id)
        .values(level=2, review_due_at=due, updated_at=now)
    )
    _history(
        conn,
        incident_id,
        now,
        by,
        "escalated",
        from_level=1,
        to_level=2,
        from_status=row["status"],
        to_status=row["status"],
        comment=reason,
    )
    return get_incident(conn, incident_id)


def transition(
    conn: Connection,
    incident_id: str,
    to: str,
    *,
    by: str,
    now: datetime,
    correction: str | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """Move along reported → in_review → resolved (with a correction type) → closed."""
    row = get_incident(conn, incident_id)
    current = row["status"]
    if to not in STATUSES:
        raise IllegalTransitionError(f"unknown status {to!r}; use one of {', '.join(STATUSES[1:])}")
    if NEXT_STATUS.get(current) != to:
        allowed = NEXT_STATUS.get(current)
        hint = f"the next status is {allowed}" if allowed else "it is closed"
        raise IllegalTransitionError(
            f"incident {incident_id} cannot go from {current} to {to}: {hint}"
        )
    if to == IncidentStatus.RESOLVED and correction not in CORRECTIONS:
        raise IllegalTransitionError(
            f"resolving needs --correction, one of: {', '.join(CORRECTIONS)}"
        )
    if to != IncidentStatus.RESOLVED and correction is not None:
        raise IllegalTransitionError("--correction goes only with --to resolved")
    conn.execute(
        update(incidents).where(incidents.c.id == incident_id).values(status=to, updated_at=now)
    )
    _history(
        conn,
        incident_id,
        now,
        by,
        "transition",
        from_status=current,
        to_status=to,
        correction=correction,
        comment=comment,
    )
    return get_incident(conn, incident_id)


@dataclass(frozen=True, slots=True)
class WatchItem:
    incident: dict[str, Any]
    hours_left: float


def sla_watch(conn: Connection, now: datetime, soon_hours: float) -> dict[str, list[WatchItem]]:
    """Open level ≥ 2 incidents not yet in review: overdue, and due within ``soon_hours``."""
    rows = conn.execute(
        select(incidents)
        .where(
            incidents.c.status == IncidentStatus.REPORTED, incidents.c.review_due_at.is_not(None)
        )
        .order_by(incidents.c.review_due_at)
    ).mappings()
    overdue, soon = [], []
    horizon = add_coverage_hours(now, soon_hours) if soon_hours else now
    for row in map(dict, rows):
        due = row["review_due_at"]
        if due <= now:
            overdue.append(WatchItem(row, -coverage_hours_between(due, now)))
        elif due <= horizon + timedelta(seconds=0):
            soon.append(WatchItem(row, coverage_hours_between(now, due)))
    return {"overdue": overdue, "due_soon": soon}


def incident_summary(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON of ``orgload incidents list`` (SPEC §6)."""
    return {
        "id": row["id"],
        "category": row["category"],
        "level": row["level"],
        "status": row["status"],
        "client_id": row["client_id"],
        "period": row["period"],
        "load_id": row["load_id"],
        "reported_at": chile_iso(row["reported_at"]),
        "review_due_at": chile_iso(row["review_due_at"]),
    }
