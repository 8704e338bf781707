"""Reads and writes of clients and load records (the current data: ``loaders.current``).
Callers own the transaction."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from orgload.columns import PERSONAS, SHEETS, UNIDADES
from orgload.db import clients, loads, people, units
from orgload.errors import OrgloadError, UnknownClientError
from orgload.status import DATA_CHANGING, RUNNING, LoadStatus

TABLES: dict[str, Table] = {UNIDADES: units, PERSONAS: people}
KEYS = {name: sheet.key for name, sheet in SHEETS.items()}
FIELDS = {name: [c for c in SHEETS[name].column_names if c != KEYS[name]] for name in SHEETS}


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    name: str
    timezone: str
    admin_email: str | None
    allow_mass_change: bool
    created_at: datetime
    apply_off_peak: bool = False  # web confirms in peak hours wait for the off-peak window

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "admin_email": self.admin_email,
            "allow_mass_change": self.allow_mass_change,
            "created_at": self.created_at.isoformat(),
            "apply_off_peak": self.apply_off_peak,
        }


class ClientExistsError(OrgloadError):
    code = "client_exists"
    exit_code = 1


def add_client(
    conn: Connection,
    client_id: str,
    name: str,
    timezone: str,
    admin_email: str | None,
    now: datetime,
    allow_mass_change: bool = False,
) -> Client:
    try:
        with conn.begin_nested():
            conn.execute(
                insert(clients).values(
                    id=client_id,
                    name=name,
                    timezone=timezone,
                    admin_email=admin_email,
                    allow_mass_change=allow_mass_change,
                    created_at=now,
                )
            )
    except IntegrityError as exc:
        raise ClientExistsError(f"client {client_id!r} already exists") from exc
    return get_client(conn, client_id)


def get_client(conn: Connection, client_id: str) -> Client:
    row = conn.execute(select(clients).where(clients.c.id == client_id)).mappings().first()
    if row is None:
        raise UnknownClientError(
            f"unknown client {client_id!r} (unknown_client): register it with "
            f"`orgload clients add {client_id} --name NAME`"
        )
    return Client(**row)


def lock_client(conn: Connection, client_id: str) -> Client:
    """Serialize data changes of one client: PostgreSQL row lock (SQLite locks the database)."""
    row = (
        conn.execute(select(clients).where(clients.c.id == client_id).with_for_update())
        .mappings()
        .first()
    )
    if row is None:
        raise UnknownClientError(f"unknown client {client_id!r} (unknown_client)")
    return Client(**row)


def list_clients(conn: Connection) -> list[Client]:
    rows = conn.execute(select(clients).order_by(clients.c.id)).mappings()
    return [Client(**r) for r in rows]


def data_version(conn: Connection, client_id: str) -> int:
    """How many loads and reverts changed the client's data; moves whenever the data moves.

    A count, not the newest id: a load's record is created when the attempt starts, so ids
    follow start order while data changes follow commit order (an override load started
    before another may commit after it). Records of data changes are never deleted nor leave
    ``DATA_CHANGING``, so the count only grows, once per commit; 0 is a client's first load.
    """
    value = conn.execute(
        select(func.count()).where(
            loads.c.client_id == client_id, loads.c.status.in_(DATA_CHANGING)
        )
    ).scalar()
    return int(value or 0)


def insert_load(conn: Connection, **values: Any) -> int:
    """A load record; returns its id."""
    values.setdefault("kind", "load")
    values.setdefault("allow_mass_change", False)
    values.setdefault("override_quota", False)
    result = conn.execute(insert(loads).values(**values).returning(loads.c.id))
    return int(result.scalar_one())


def update_load(conn: Connection, load_id: int, **values: Any) -> None:
    conn.execute(update(loads).where(loads.c.id == load_id).values(**values))


def load_status(conn: Connection, load_id: int) -> str | None:
    """The recorded status of a load, None when there is no such record."""
    return conn.execute(select(loads.c.status).where(loads.c.id == load_id)).scalar()


def find_applied_by_sha(conn: Connection, client_id: str, period: str, sha256: str) -> int | None:
    """The standing load of this period that applied exactly this upload, if any."""
    value = conn.execute(
        select(loads.c.id)
        .where(
            loads.c.client_id == client_id,
            loads.c.period == period,
            loads.c.sha256 == sha256,
            loads.c.kind == "load",
            loads.c.status == LoadStatus.APPLIED,
            loads.c.reverted_by_load_id.is_(None),
        )
        .order_by(loads.c.id.desc())
    ).scalar()
    return int(value) if value is not None else None


def latest_applied_load(conn: Connection, client_id: str) -> int | None:
    """The client's newest applied load that has not been reverted."""
    value = conn.execute(
        select(func.max(loads.c.id)).where(
            loads.c.client_id == client_id,
            loads.c.kind == "load",
            loads.c.status == LoadStatus.APPLIED,
            loads.c.reverted_by_load_id.is_(None),
        )
    ).scalar()
    return int(value) if value is not None else None


def get_load(conn: Connection, load_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(loads).where(loads.c.id == load_id)).mappings().first()
    return dict(row) if row is not None else None


def load_history(conn: Connection, client_id: str) -> list[dict[str, Any]]:
    """The finished load records of a client, newest first (dry runs are never recorded).

    An attempt still ``running`` is not listed: it is either under way (its outcome replaces
    the status) or dead, and then the next command for the client records it ``crashed``.
    """
    rows = conn.execute(
        select(loads)
        .where(loads.c.client_id == client_id, loads.c.status != RUNNING)
        .order_by(loads.c.id.desc())
    ).mappings()
    return [dict(r) for r in rows]


def attempt_owner() -> dict[str, Any]:
    """Who runs an attempt: this process (pid, its start time where the OS tells it, host) and
    when it started by the wall clock (not ``ORGLOAD_NOW``: liveness is about real time)."""
    pid = os.getpid()
    return {
        "pid": pid,
        "pid_started": process_started(pid),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(),
    }


def process_started(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), which
    tells a recycled pid from the original; None where unknown or the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after "pid (comm)": state is field 3, starttime field 22 (proc(5))
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


def running_attempts(conn: Connection, client_id: str) -> list[dict[str, Any]]:
    """The client's load records still ``running``, oldest first."""
    rows = conn.execute(
        select(loads)
        .where(loads.c.client_id == client_id, loads.c.status == RUNNING)
        .order_by(loads.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def mark_crashed(conn: Connection, load_id: int, summary: dict[str, Any]) -> bool:
    """Record a dangling attempt as ``crashed``; False when someone else settled it first
    (its own outcome, or another command's detection): only one caller reports it."""
    result = conn.execute(
        update(loads)
        .where(loads.c.id == load_id, loads.c.status == RUNNING)
        .values(status=LoadStatus.CRASHED, summary=summary)
    )
    return result.rowcount == 1
