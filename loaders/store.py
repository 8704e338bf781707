"""Reads and writes of clients, current data and load records. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, String, Table, cast, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from orgload.db import clients, loads, people, units
from orgload.errors import OrgloadError, UnknownClientError
from schemas.columns import PERSONAS, SHEETS, UNIDADES

TABLES: dict[str, Table] = {UNIDADES: units, PERSONAS: people}
KEYS = {UNIDADES: "codigo_unidad", PERSONAS: "rut"}
FIELDS = {name: [c for c in SHEETS[name].column_names if c != KEYS[name]] for name in SHEETS}
# Load statuses whose data changes stand (the data "version" moves only with these).
DATA_CHANGING = ("applied", "reverted")


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    name: str
    timezone: str
    admin_email: str | None
    allow_mass_change: bool
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "admin_email": self.admin_email,
            "allow_mass_change": self.allow_mass_change,
            "created_at": self.created_at.isoformat(),
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
    """Id of the newest load whose changes stand; moves whenever the client's data moves."""
    value = conn.execute(
        select(func.max(loads.c.id)).where(
            loads.c.client_id == client_id, loads.c.status.in_(DATA_CHANGING)
        )
    ).scalar()
    return int(value or 0)


def fetch_current(conn: Connection, client_id: str, entity: str) -> pd.DataFrame:
    """All rows (active and not) of a client's entity as text, indexed by key, plus ``active``.

    Reads the driver's plain tuples (no SQLAlchemy ``Row`` per record) and lets the database
    turn dates into ``yyyy-mm-dd`` text: at 100,000 people this is the difference between
    seconds and a fraction of one.
    """
    table = TABLES[entity]
    key = KEYS[entity]
    texts = [key, *FIELDS[entity]]
    selected = [
        cast(table.c[c], String).label(c) if c == "fecha_ingreso" else table.c[c] for c in texts
    ]
    result = conn.execute(
        select(*selected, table.c.active, table.c.load_id).where(table.c.client_id == client_id)
    )
    rows = result.cursor.fetchall() if result.cursor is not None else []
    columns = [*texts, "active", "load_id"]
    grid = np.array(rows, dtype=object).reshape(len(rows), len(columns))
    frame = pd.DataFrame({c: grid[:, i] for i, c in enumerate(columns)})
    for column in texts:
        frame[column] = frame[column].astype("str")
    frame["active"] = frame["active"].astype(bool)
    frame["load_id"] = frame["load_id"].astype("int64")
    return frame.set_index(key)


def insert_load(conn: Connection, **values: Any) -> int:
    """A load record; returns its id."""
    values.setdefault("kind", "load")
    values.setdefault("allow_mass_change", False)
    values.setdefault("override_quota", False)
    result = conn.execute(insert(loads).values(**values).returning(loads.c.id))
    return int(result.scalar_one())


def update_load(conn: Connection, load_id: int, **values: Any) -> None:
    conn.execute(update(loads).where(loads.c.id == load_id).values(**values))


def find_applied_by_sha(conn: Connection, client_id: str, period: str, sha256: str) -> int | None:
    """The standing load of this period that applied exactly this upload, if any."""
    value = conn.execute(
        select(loads.c.id)
        .where(
            loads.c.client_id == client_id,
            loads.c.period == period,
            loads.c.sha256 == sha256,
            loads.c.kind == "load",
            loads.c.status == "applied",
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
            loads.c.status == "applied",
            loads.c.reverted_by_load_id.is_(None),
        )
    ).scalar()
    return int(value) if value is not None else None


def get_load(conn: Connection, load_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(loads).where(loads.c.id == load_id)).mappings().first()
    return dict(row) if row is not None else None


def load_history(conn: Connection, client_id: str) -> list[dict[str, Any]]:
    """All load records of a client, newest first (dry runs are never recorded)."""
    rows = conn.execute(
        select(loads).where(loads.c.client_id == client_id).order_by(loads.c.id.desc())
    ).mappings()
    return [dict(r) for r in rows]


def has_applied_before(conn: Connection, client_id: str) -> bool:
    return data_version(conn, client_id) > 0
