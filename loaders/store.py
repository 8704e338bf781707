"""Reads and writes of clients, current data and load records. Callers own the transaction."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    Table,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnClause

from orgload.columns import PERSONAS, SHEETS, UNIDADES
from orgload.db import clients, is_postgres, loads, people, units
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


def fetch_current(conn: Connection, client_id: str, entity: str) -> pd.DataFrame:
    """All rows (active and not) of a client's entity as text, indexed by key, plus ``active``.

    The database packs each column into one string (``string_agg`` / ``group_concat``) and
    the frame is cut out of those with numpy: one result row instead of one Python tuple per
    record and one object per value. Dates are turned into ``yyyy-mm-dd`` text by the
    database. Should a value hold one of the two control characters the packing uses, the
    rows are read one by one instead (``fetch_current_rows``): the result is the same.
    """
    statement, columns = _current_select(conn, client_id, entity)
    table = _fetch_packed(conn, statement, columns)
    if table is None:
        table = _fetch_rows(conn, statement, columns)
    return _current_frame(table, KEYS[entity])


def fetch_current_rows(conn: Connection, client_id: str, entity: str) -> pd.DataFrame:
    """``fetch_current`` through plain driver rows: the reference the packed read must equal."""
    statement, columns = _current_select(conn, client_id, entity)
    return _current_frame(_fetch_rows(conn, statement, columns), KEYS[entity])


def _current_select(
    conn: Connection, client_id: str, entity: str
) -> tuple[Select[Any], dict[str, pa.DataType]]:
    """The rows of ``fetch_current`` and the Arrow type of each column.

    On SQLite the rows are picked by rowid from the key index, so the table is read in rowid
    order rather than one B-tree search per key (2× faster at 100,000 rows); PostgreSQL reads
    its heap in physical order anyway. Row order is not part of the result's meaning.
    """
    table = TABLES[entity]
    texts = [KEYS[entity], *FIELDS[entity]]
    selected = [
        cast(table.c[c], String).label(c) if c == "fecha_ingreso" else table.c[c] for c in texts
    ]
    mine = table.c.client_id == client_id
    if not is_postgres(conn):
        rowid: ColumnClause[Any] = literal_column("rowid")
        keys = table.alias("mine")
        mine = rowid.in_(select(rowid).select_from(keys).where(keys.c.client_id == client_id))
    statement = select(*selected, table.c.active, table.c.load_id).where(mine)
    types = {c: pa.large_string() for c in texts} | {"active": pa.bool_(), "load_id": pa.int64()}
    return statement, types


def _current_frame(table: pa.Table, key: str) -> pd.DataFrame:
    """Arrow columns → the frame of ``fetch_current``: ``str`` text, bool, int64, key index."""
    text = pd.api.types.pandas_dtype("str")
    frame = table.to_pandas(types_mapper=lambda t: text if pa.types.is_large_string(t) else None)
    return frame.set_index(key)


def _empty(columns: dict[str, pa.DataType]) -> pa.Table:
    return pa.schema(list(columns.items())).empty_table()


def _fetch_rows(
    conn: Connection, statement: Select[Any], columns: dict[str, pa.DataType]
) -> pa.Table:
    """Driver tuples → Arrow, one column at a time (SQLite keeps booleans as 0/1)."""
    result = conn.execute(statement)
    rows = result.cursor.fetchall() if result.cursor is not None else []
    if not rows:
        return _empty(columns)
    arrays = []
    for values, kind in zip(zip(*rows, strict=True), columns.values(), strict=True):
        if kind == pa.bool_():
            arrays.append(pa.array(np.fromiter(values, dtype=bool, count=len(rows))))
        else:
            arrays.append(pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, names=list(columns))


# Packing: a column's values joined by SEPARATOR, NULL written as NULL_MARK. Neither can be
# mistaken for data unnoticed: a value holding SEPARATOR makes too many pieces, a value equal
# to NULL_MARK makes more NULLs than ``count(column)`` says. Either sends the read to rows.
SEPARATOR = 2
NULL_MARK = 1


def _fetch_packed(
    conn: Connection, statement: Select[Any], columns: dict[str, pa.DataType]
) -> pa.Table | None:
    """One row: the count, then per text column its non-null count and its packed values,
    then ``active`` as digits and ``load_id`` as comma-separated numbers. ``None`` when a
    value collides with the packing."""
    rows = statement.subquery("current")
    join = func.aggregate_strings  # string_agg / group_concat
    texts = [name for name, kind in columns.items() if kind == pa.large_string()]
    aggregates: list[Any] = [func.count()]
    for name in texts:
        value = func.coalesce(rows.c[name], literal(chr(NULL_MARK)))
        aggregates += [func.count(rows.c[name]), join(value, chr(SEPARATOR))]
    aggregates += [
        join(cast(cast(rows.c.active, Integer), String), ""),
        join(cast(rows.c.load_id, String), ","),
    ]
    row = list(conn.execute(select(*aggregates)).one())
    count = int(row[0])
    if not count:
        return _empty(columns)
    arrays = []
    for i in range(len(texts)):
        # each packed column is let go once cut (~15 MB of text per column at 1,000,000 rows)
        packed, row[2 + 2 * i] = row[2 + 2 * i], None
        array = _unpack(packed.encode("utf-8"), count, int(row[1 + 2 * i]))
        del packed
        if array is None:
            return None
        arrays.append(array)
    flags = np.frombuffer(row[-2].encode("ascii"), dtype=np.uint8)
    numbers = pc.split_pattern(pa.array([row[-1]]), ",").flatten()
    if len(flags) != count or len(numbers) != count:
        return None
    arrays += [pa.array(flags == ord("1")), numbers.cast(pa.int64())]
    return pa.Table.from_arrays(arrays, names=list(columns))


def _unpack(data: bytes, count: int, nonnull: int) -> pa.Array | None:
    """``count`` values packed in ``data`` → an Arrow large-string array (``None``: collision).

    The separators are cut out with numpy; a NULL keeps its mark as the (ignored) bytes under
    its invalid slot.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    separator = raw == SEPARATOR
    cuts = np.flatnonzero(separator)
    if len(cuts) != count - 1:
        return None
    starts = np.empty(count, dtype=np.int64)
    starts[0], starts[1:] = 0, cuts + 1
    offsets = np.empty(count + 1, dtype=np.int64)
    offsets[:-1] = starts - np.arange(count)  # where each value starts once separators go
    offsets[-1] = len(raw) - (count - 1)
    validity = None
    if nonnull != count:
        single = np.flatnonzero(np.diff(offsets) == 1)
        null = np.zeros(count, dtype=bool)
        null[single] = raw[starts[single]] == NULL_MARK
        if count - int(null.sum()) != nonnull:
            return None
        validity = pa.py_buffer(np.packbits(~null, bitorder="little"))
    return pa.LargeStringArray.from_buffers(
        count, pa.py_buffer(offsets), pa.py_buffer(raw[~separator]), validity, count - nonnull
    )


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
