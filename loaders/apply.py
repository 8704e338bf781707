"""Apply a plan (or revert a load) inside the caller's transaction, with set-based statements.

PostgreSQL: each entity's new and changed rows, and the change log, are COPYed into temporary
tables (COPY into a table under row-level security is refused) and moved with one ``INSERT …
SELECT`` each (``ON CONFLICT DO UPDATE`` for changed rows); 1,000 or more deactivations of an
entity are ``UPDATE … WHERE key = ANY(keys)``, the keys one array parameter 50,000 at a time.
SQLite: the same statements as
``executemany`` batches. Fewer deactivations, and reverts, are ``executemany`` updates by key.
A column the upload did not provide (``EntityPlan.kept``) is never in the ``DO UPDATE SET`` of
a changed row: it keeps its stored value. Nothing here commits.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    ARRAY,
    Column,
    Connection,
    MetaData,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from loaders.copytext import arrow_values, copy_payload, json_documents
from loaders.plan import EntityPlan, Plan
from loaders.store import FIELDS, KEYS, TABLES
from orgload.db import change_log, is_postgres

# SQLite rows per executemany: the parameter dicts of a whole 100,000-row load at once cost
# ~150 MB; batches keep memory flat at no measurable cost in time.
LITE_BATCH = 10_000
# PostgreSQL: rows per piece of COPY text (one COPY statement is fed piece by piece), and
# change-log rows per piece built ahead. A whole 1,000,000-person load as one payload was
# ~190 MB of entity text and ~600 MB of change-log JSON and its COPY text at once.
COPY_ROWS = 50_000
LOG_ROWS = 50_000
LOG_AHEAD = 8  # pieces of change log built ahead while the database takes the entity rows
# PostgreSQL: from this many deactivations of an entity on, the keys go as one array parameter
# of ``UPDATE … WHERE key = ANY(:keys)``, DEACTIVATE_ROWS keys a statement (10,000 single-key
# updates took ~0.5 s of round trips). The array keeps the primary-key index scan: the join
# with a COPYed stage of the keys that this replaced read every row of the client instead
# (10,000 of 1,000,000 people: 1.4-1.8 s against 0.18 s; docs/performance.md).
DEACTIVATE_STAGED = 1_000
DEACTIVATE_ROWS = 50_000

T = TypeVar("T")


Wrote = Callable[[int], None]
"""Told how many entity rows were just written: after each COPY, merge or batch, never per row."""


def _nowhere(_rows: int) -> None:
    return None


def apply_plan(
    conn: Connection, client_id: str, load_id: int, plan: Plan, *, wrote: Wrote | None = None
) -> None:
    """Write every change of ``plan`` and its change log; the caller commits or rolls back.
    ``wrote`` is told the entity rows written as they are (progress)."""
    told = wrote or _nowhere
    changes = [(entity, _ChangeColumns.of(entity)) for entity in plan.entities.values()]
    if not is_postgres(conn):
        for entity, columns in changes:
            _upsert_lite(conn, client_id, load_id, entity, columns, told)
            _deactivate(conn, client_id, load_id, entity, told)
            for piece in _log_pieces(load_id, entity.entity, columns, LITE_BATCH):
                _insert_log(conn, piece)
        return
    # PostgreSQL: the change log is built in a worker thread (Arrow's kernels release the GIL)
    # a piece at a time while the database takes the entity rows, so the two costs overlap;
    # at most LOG_AHEAD pieces wait, and the log is COPYed as they come (one stage, in order).
    pieces = (
        piece
        for entity, columns in changes
        for piece in _log_pieces(load_id, entity.entity, columns, LOG_ROWS)
    )
    with _Ahead(pieces, LOG_AHEAD) as log:
        for entity, columns in changes:
            _copy_changes(conn, client_id, load_id, entity, columns, told)
            _deactivate(conn, client_id, load_id, entity, told)
        first = next(iter(log), None)
        if first is not None:
            _copy_pieces_through_stage(conn, change_log, first, log, "log")


class _Ahead(Generic[T]):
    """The items of an iterator, made in a thread of their own at most ``depth`` ahead of
    their use. Leaving the ``with`` block stops the thread (also when the caller failed)."""

    def __init__(self, items: Iterable[T], depth: int) -> None:
        self._queue: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(iter(items),), name="orgload-apply-log", daemon=True
        )

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._items()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put((True, item)):
                    return
        except BaseException as exc:  # noqa: BLE001 — handed to the consumer, raised there
            self._put((False, exc))
            return
        self._put((False, None))

    def _put(self, entry: tuple[bool, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def _items(self) -> Iterator[T]:
        while True:
            more, item = self._queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item


@dataclass(frozen=True, slots=True)
class _ChangeColumns:
    """An entity's changes as Arrow columns (key first, then fields), converted once for both
    the table writes and the change log."""

    inserts: dict[str, pa.Array]
    updates: dict[str, pa.Array]
    before: dict[str, pa.Array]  # fields, ``active`` and ``load_id`` of the updated rows
    gone: dict[str, pa.Array]  # fields and ``load_id`` of the rows to deactivate

    @classmethod
    def of(cls, entity: EntityPlan) -> _ChangeColumns:
        key = KEYS[entity.entity]
        return cls(
            entity.new_rows.columns(),
            _arrow(key, entity.updates),
            _arrow(key, entity.before),
            _arrow(key, entity.deactivations),
        )


def _arrow(key: str, frame: pd.DataFrame) -> dict[str, pa.Array]:
    columns = {key: arrow_values(frame.index).cast(pa.large_string())}
    columns.update({name: arrow_values(frame[name]) for name in frame.columns})
    return columns


def _table_rows(
    client_id: str, load_id: int, columns: dict[str, pa.Array]
) -> dict[str, pa.Array | pa.Scalar]:
    """Rows of an entity table: the same client, active, written by this load."""
    return {
        "client_id": pa.scalar(client_id, pa.large_string()),
        **columns,
        "active": pa.scalar(True),
        "load_id": pa.scalar(load_id, pa.int64()),
    }


def _changing(entity: EntityPlan) -> list[str]:
    """The columns an update writes: the fields the upload provides, ``active``, ``load_id``."""
    return [*(f for f in FIELDS[entity.entity] if f not in entity.kept), "active", "load_id"]


def _copy_changes(
    conn: Connection,
    client_id: str,
    load_id: int,
    entity: EntityPlan,
    columns: _ChangeColumns,
    told: Wrote,
) -> None:
    """PostgreSQL: new keys are COPYed through a stage and inserted with one ``INSERT …
    SELECT`` (COPY into a table under row-level security is refused; the client row lock held
    by the load means nobody else can have inserted them since the plan); changed rows are
    COPYed into a stage and merged with one ``INSERT … SELECT … ON CONFLICT DO UPDATE``."""
    table = TABLES[entity.entity]
    if _length(columns.inserts):
        rows = _table_rows(client_id, load_id, columns.inserts)
        _copy_through_stage(conn, table, rows, "new")
        told(_length(columns.inserts))
    if _length(columns.updates):
        rows = _table_rows(client_id, load_id, columns.updates)
        stage = _stage_table(conn, table, "changed")
        _copy_arrays(conn, stage.name, rows)
        statement = pg_insert(table).from_select(list(rows), select(stage))
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.client_id, table.c[KEYS[entity.entity]]],
                set_={c: statement.excluded[c] for c in _changing(entity)},
            )
        )
        told(_length(columns.updates))


def _upsert_lite(
    conn: Connection,
    client_id: str,
    load_id: int,
    entity: EntityPlan,
    columns: _ChangeColumns,
    told: Wrote,
) -> None:
    """SQLite: new and changed rows in ``executemany`` upserts of ``LITE_BATCH`` rows, each
    batch's parameters made from the Arrow columns only when it is sent."""
    table = TABLES[entity.entity]
    key = KEYS[entity.entity]
    names = [key, *FIELDS[entity.entity]]
    parts = [part for part in (columns.inserts, columns.updates) if _length(part)]
    if not parts:
        return
    rows = {
        name: pa.concat_arrays([pc.cast(part[name], pa.large_string()) for part in parts])
        for name in names
    }
    if "fecha_ingreso" in rows:  # ISO text (validated) → date, as the column stores it
        rows["fecha_ingreso"] = pc.cast(rows["fecha_ingreso"], pa.date32())
    lite = sqlite_insert(table)
    statement = lite.on_conflict_do_update(
        index_elements=[table.c.client_id, table.c[key]],
        set_={c: lite.excluded[c] for c in _changing(entity)},
    )
    constant = {"client_id": client_id, "active": True, "load_id": load_id}
    for start in range(0, _length(rows), LITE_BATCH):
        batch = {name: values.slice(start, LITE_BATCH).to_pylist() for name, values in rows.items()}
        records = [
            {**constant, **dict(zip(batch, row, strict=True))}
            for row in zip(*batch.values(), strict=True)
        ]
        conn.execute(statement, records)
        told(len(records))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts for executemany, with missing values as None and dates as ``date``."""
    frame = frame.copy()
    if "fecha_ingreso" in frame:
        frame["fecha_ingreso"] = pd.to_datetime(frame["fecha_ingreso"], format="%Y-%m-%d").dt.date
    return frame.astype(object).where(frame.notna(), None).to_dict("records")  # type: ignore[return-value]


def _deactivate(
    conn: Connection, client_id: str, load_id: int, entity: EntityPlan, told: Wrote
) -> None:
    if entity.deactivations.empty:
        return
    table = TABLES[entity.entity]
    key = KEYS[entity.entity]
    if is_postgres(conn) and len(entity.deactivations) >= DEACTIVATE_STAGED:
        # a statement per DEACTIVATE_ROWS keys, not per key; each an index scan of the keys
        statement = (
            update(table)
            .where(
                table.c.client_id == client_id,
                table.c[key] == any_(bindparam("keys", type_=ARRAY(Text()))),
            )
            .values(active=False, load_id=load_id)
        )
        keys = [str(k) for k in entity.deactivations.index]
        for start in range(0, len(keys), DEACTIVATE_ROWS):
            part = keys[start : start + DEACTIVATE_ROWS]
            conn.execute(statement, {"keys": part})
            told(len(part))
        return
    conn.execute(
        update(table)
        .where(table.c.client_id == client_id, table.c[key] == bindparam("k"))
        .values(active=False, load_id=load_id),
        [{"k": k} for k in entity.deactivations.index],
    )
    told(len(entity.deactivations))


def _length(columns: dict[str, pa.Array]) -> int:
    return len(next(iter(columns.values())))


def _log_pieces(
    load_id: int, entity: str, columns: _ChangeColumns, rows: int
) -> Iterator[dict[str, pa.Array | pa.Scalar]]:
    """The change-log rows of one entity, ``rows`` at a time: one per change, inserts, then
    updates, then deactivations, ``before``/``after`` as JSON documents of the fields (plus
    ``active`` and ``load_id``, the state a revert restores). Nothing when it did not change."""
    key = KEYS[entity]

    def fields(part: dict[str, pa.Array], **extra: pa.Array) -> pa.Array:
        return json_documents({n: a for n, a in part.items() if n != key} | extra)

    def piece(
        part: dict[str, pa.Array], action: pa.Array | str, before: pa.Array, after: pa.Array
    ) -> dict[str, pa.Array | pa.Scalar]:
        count = _length(part)
        if isinstance(action, str):
            action = pa.array([action] * count, pa.large_string())
        return {
            "load_id": pa.scalar(load_id, pa.int64()),
            "entity": pa.scalar(entity, pa.large_string()),
            "key": part[key],
            "action": action.cast(pa.large_string()),
            "before": before,
            "after": after,
        }

    for part in _slices(columns.inserts, rows):
        nulls = pa.nulls(_length(part), pa.large_string())
        yield piece(part, "insert", nulls, fields(part))
    for part, before in zip(
        _slices(columns.updates, rows), _slices(columns.before, rows), strict=True
    ):
        # an inactive key that comes back is a reactivation
        action = pc.if_else(before["active"], "update", "reactivate")
        yield piece(part, action, fields(before), fields(part))
    for part in _slices(columns.gone, rows):
        count = _length(part)
        still_active = pa.array([True] * count)
        nulls = pa.nulls(count, pa.large_string())
        yield piece(part, "deactivate", fields(part, active=still_active), nulls)


def _slices(columns: dict[str, pa.Array], rows: int) -> Iterator[dict[str, pa.Array]]:
    """The rows of some columns, ``rows`` at a time (nothing for no rows; no copy)."""
    for start in range(0, _length(columns), rows):
        yield {name: values.slice(start, rows) for name, values in columns.items()}


def _insert_log(conn: Connection, log: dict[str, pa.Array | pa.Scalar] | None) -> None:
    """SQLite: the change log as one ``executemany``."""
    if log is None:
        return
    constant = {n: v.as_py() for n, v in log.items() if isinstance(v, pa.Scalar)}
    arrays = {n: v for n, v in log.items() if not isinstance(v, pa.Scalar)}
    for start in range(0, _length(arrays), LITE_BATCH):
        varying = {n: v.slice(start, LITE_BATCH).to_pylist() for n, v in arrays.items()}
        conn.execute(
            _log_insert(),
            [
                {**constant, **dict(zip(varying, row, strict=True))}
                for row in zip(*varying.values(), strict=True)
            ],
        )


def _log_insert() -> Any:
    """INSERT into the change log taking ``before``/``after`` as ready-made JSON text."""
    return insert(change_log).values(
        load_id=bindparam("load_id"),
        entity=bindparam("entity"),
        key=bindparam("key"),
        action=bindparam("action"),
        before=bindparam("before", type_=Text()),
        after=bindparam("after", type_=Text()),
    )


def _copy_through_stage(
    conn: Connection, table: Table, columns: Mapping[str, pa.Array | pa.Scalar], purpose: str
) -> None:
    """COPY into a temporary stage, then one ``INSERT … SELECT`` into ``table``: PostgreSQL
    refuses COPY into a table under row-level security for the role the application acts as
    (migration 0005), while the insert is checked against the tenant's policy row by row."""
    _copy_pieces_through_stage(conn, table, columns, (), purpose)


def _copy_pieces_through_stage(
    conn: Connection,
    table: Table,
    first: Mapping[str, pa.Array | pa.Scalar],
    rest: Iterable[Mapping[str, pa.Array | pa.Scalar]],
    purpose: str,
) -> None:
    """``_copy_through_stage`` of rows that come in pieces (all with ``first``'s columns), in
    one COPY, each piece's text made only when it is sent."""
    stage = _stage_table(conn, table, purpose)
    names = list(first)
    _copy_arrays(conn, stage.name, first, rest)
    conn.execute(insert(table).from_select(names, select(*(stage.c[c] for c in names))))


def _stage_table(conn: Connection, table: Table, purpose: str) -> Table:
    """A temporary copy of ``table``'s columns, dropped at commit (PostgreSQL)."""
    stage = Table(
        f"stage_{table.name}_{purpose}",
        MetaData(),
        *(Column(c.name, c.type) for c in table.columns),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    stage.create(conn)
    return stage


def _copy_arrays(
    conn: Connection,
    table_name: str,
    columns: Mapping[str, pa.Array | pa.Scalar],
    more: Iterable[Mapping[str, pa.Array | pa.Scalar]] = (),
) -> None:
    """COPY whole columns (and then the pieces of ``more``, same columns) through the
    connection's own psycopg cursor in one statement, as text made ``COPY_ROWS`` rows at a
    time: the text of a whole load never exists at once."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for piece in _chain_one(columns, more):
            values = list(piece.values())
            arrays = [v for v in values if not isinstance(v, pa.Scalar)]
            count = len(arrays[0]) if arrays else 1
            for start in range(0, count, COPY_ROWS):
                part = [
                    v if isinstance(v, pa.Scalar) else v.slice(start, COPY_ROWS) for v in values
                ]
                copy.write(copy_payload(part))


def _chain_one(
    first: Mapping[str, pa.Array | pa.Scalar], more: Iterable[Mapping[str, pa.Array | pa.Scalar]]
) -> Iterator[Mapping[str, pa.Array | pa.Scalar]]:
    yield first
    yield from more


def revert_changes(conn: Connection, client_id: str, load_id: int) -> dict[str, dict[str, int]]:
    """Undo a load from its change log: rows it inserted are removed, others get their
    before values back (``active`` and ``load_id`` included). Returns the counts."""
    rows = conn.execute(
        select(change_log.c.entity, change_log.c.key, change_log.c.action, change_log.c.before)
        .where(change_log.c.load_id == load_id)
        .order_by(change_log.c.id)
    ).all()
    counts = {
        name: {"inserted": 0, "updated": 0, "deactivated": 0, "unchanged": 0} for name in TABLES
    }
    removed: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    restored: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for entity, key, action, before in rows:
        if action == "insert":
            removed[entity].append({"k": key})
            counts[entity]["deactivated"] += 1
        else:
            values = json.loads(before) if isinstance(before, str) else dict(before)
            restored[entity].append({"k": key, **values})
            counts[entity]["updated"] += 1
    for entity, table in TABLES.items():
        key_column = table.c[KEYS[entity]]
        where = and_(table.c.client_id == client_id, key_column == bindparam("k"))
        if removed[entity]:
            conn.execute(delete(table).where(where), removed[entity])
        if restored[entity]:
            columns = [*FIELDS[entity], "active", "load_id"]
            frame = pd.DataFrame(restored[entity])
            conn.execute(
                update(table).where(where).values({c: bindparam(f"v_{c}") for c in columns}),
                [{"k": r["k"], **{f"v_{c}": r[c] for c in columns}} for r in _records(frame)],
            )
        active_now = conn.execute(
            select(func.count()).where(table.c.client_id == client_id, table.c.active)
        ).scalar_one()
        restored_active = sum(1 for r in restored[entity] if r.get("active"))
        counts[entity]["unchanged"] = int(active_now) - restored_active
    return counts
