"""Apply a plan (or revert a load) inside the caller's transaction, with set-based statements.

PostgreSQL: each entity's new and changed rows are COPYed into a temporary table and merged
with one ``INSERT … SELECT … ON CONFLICT DO UPDATE``; the change log is COPYed straight in.
SQLite: the same statements as ``executemany``. Deactivations and reverts are ``executemany``
updates by key on both. A column the upload did not provide (``EntityPlan.kept``) is never
in the ``DO UPDATE SET`` of a changed row: it keeps its stored value. Nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    Table,
    Text,
    and_,
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
    postgres = is_postgres(conn)
    # PostgreSQL: the change log's text is built in a worker thread (Arrow's kernels release
    # the GIL) while the database ingests the entity rows, so the two costs overlap.
    with ThreadPoolExecutor(max_workers=1) as worker:
        logs = []
        for entity in plan.entities.values():
            columns = _ChangeColumns.of(entity)
            if postgres:
                logs.append(worker.submit(_log_columns, load_id, entity.entity, columns))
                _copy_changes(conn, client_id, load_id, entity, columns, told)
            else:
                _upsert_lite(conn, client_id, load_id, entity, told)
            _deactivate(conn, client_id, load_id, entity, told)
            if not postgres:
                _insert_log(conn, _log_columns(load_id, entity.entity, columns))
        for n, built in enumerate(logs):
            log = built.result()
            if log is not None:
                _copy_through_stage(conn, change_log, log, f"log{n}")


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
            _arrow(key, entity.inserts),
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
    """PostgreSQL: new keys are COPYed straight in (the client row lock held by the load means
    nobody else can have inserted them since the plan); changed rows are COPYed into a stage
    and merged with one ``INSERT … SELECT … ON CONFLICT DO UPDATE``."""
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
    conn: Connection, client_id: str, load_id: int, entity: EntityPlan, told: Wrote
) -> None:
    """SQLite: new and changed rows in one ``executemany`` upsert."""
    table = TABLES[entity.entity]
    key = KEYS[entity.entity]
    frame = pd.concat([entity.inserts, entity.updates])
    if frame.empty:
        return
    rows = frame.rename_axis(key).reset_index()
    rows.insert(0, "client_id", client_id)
    rows["active"] = True
    rows["load_id"] = load_id
    lite = sqlite_insert(table)
    statement = lite.on_conflict_do_update(
        index_elements=[table.c.client_id, table.c[key]],
        set_={c: lite.excluded[c] for c in _changing(entity)},
    )
    for start in range(0, len(rows), LITE_BATCH):
        batch = rows.iloc[start : start + LITE_BATCH]
        conn.execute(statement, _records(batch))
        told(len(batch))


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
    conn.execute(
        update(table)
        .where(table.c.client_id == client_id, table.c[key] == bindparam("k"))
        .values(active=False, load_id=load_id),
        [{"k": k} for k in entity.deactivations.index],
    )
    told(len(entity.deactivations))


def _length(columns: dict[str, pa.Array]) -> int:
    return len(next(iter(columns.values())))


def _log_columns(
    load_id: int, entity: str, columns: _ChangeColumns
) -> dict[str, pa.Array | pa.Scalar] | None:
    """The change-log rows of one entity: one per change, ``before``/``after`` as JSON
    documents of the fields (plus ``active`` and ``load_id``, the state a revert restores).
    None when the entity did not change."""
    key = KEYS[entity]
    keys: list[pa.Array] = []
    actions: list[pa.Array] = []
    befores: list[pa.Array] = []
    afters: list[pa.Array] = []

    def add(
        action: pa.Array | str, rows: dict[str, pa.Array], before: pa.Array, after: pa.Array
    ) -> None:
        count = _length(rows)
        if not count:
            return
        keys.append(rows[key])
        if isinstance(action, str):
            action = pa.array([action] * count, pa.large_string())
        actions.append(action.cast(pa.large_string()))
        befores.append(before)
        afters.append(after)

    nothing = pa.nulls(0, pa.large_string())

    def fields(rows: dict[str, pa.Array], **extra: pa.Array) -> pa.Array:
        return json_documents({n: a for n, a in rows.items() if n != key} | extra)

    inserted = _length(columns.inserts)
    add(
        "insert",
        columns.inserts,
        pa.nulls(inserted, pa.large_string()),
        fields(columns.inserts) if inserted else nothing,
    )
    if _length(columns.updates):
        # an inactive key that comes back is a reactivation
        action = pc.if_else(columns.before["active"], "update", "reactivate")
        add(action, columns.updates, fields(columns.before), fields(columns.updates))
    gone = _length(columns.gone)
    if gone:
        still_active = pa.array([True] * gone)
        add(
            "deactivate",
            columns.gone,
            fields(columns.gone, active=still_active),
            pa.nulls(gone, pa.large_string()),
        )
    if not keys:
        return None
    return {
        "load_id": pa.scalar(load_id, pa.int64()),
        "entity": pa.scalar(entity, pa.large_string()),
        "key": pa.concat_arrays(keys),
        "action": pa.concat_arrays(actions),
        "before": pa.concat_arrays(befores),
        "after": pa.concat_arrays(afters),
    }


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
    stage = _stage_table(conn, table, purpose)
    _copy_arrays(conn, stage.name, columns)
    conn.execute(insert(table).from_select(list(columns), select(*(stage.c[c] for c in columns))))


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
    conn: Connection, table_name: str, columns: Mapping[str, pa.Array | pa.Scalar]
) -> None:
    """COPY whole columns through the connection's own psycopg cursor, as one text payload."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(copy_payload(list(columns.values())))


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
