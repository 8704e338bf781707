"""Apply a plan (or revert a load) inside the caller's transaction, with set-based statements.

PostgreSQL: each entity's new and changed rows are COPYed into a temporary table and merged
with one ``INSERT … SELECT … ON CONFLICT DO UPDATE``; the change log is COPYed straight in.
SQLite: the same statements as ``executemany``. Deactivations and reverts are ``executemany``
updates by key on both. Nothing here commits.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
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

from loaders.plan import EntityPlan, Plan
from loaders.store import FIELDS, KEYS, TABLES
from orgload.db import change_log, is_postgres

LOG_COLUMNS = ["load_id", "entity", "key", "action", "before", "after"]


def apply_plan(conn: Connection, client_id: str, load_id: int, plan: Plan) -> None:
    """Write every change of ``plan`` and its change log; the caller commits or rolls back."""
    for entity in plan.entities.values():
        _upsert(conn, client_id, load_id, entity)
        _deactivate(conn, client_id, load_id, entity)
        _log(conn, load_id, entity)


def _rows(client_id: str, load_id: int, entity: EntityPlan, frame: pd.DataFrame) -> pd.DataFrame:
    """Table rows (client, key, fields, active, load) for new or changed entity rows."""
    rows = frame.rename_axis(KEYS[entity.entity]).reset_index()
    rows.insert(0, "client_id", client_id)
    rows["active"] = True
    rows["load_id"] = load_id
    return rows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts for executemany, with missing values as None and dates as ``date``."""
    frame = frame.copy()
    if "fecha_ingreso" in frame:
        frame["fecha_ingreso"] = pd.to_datetime(frame["fecha_ingreso"], format="%Y-%m-%d").dt.date
    return frame.astype(object).where(frame.notna(), None).to_dict("records")  # type: ignore[return-value]


def _upsert(conn: Connection, client_id: str, load_id: int, entity: EntityPlan) -> None:
    table = TABLES[entity.entity]
    changing = [*FIELDS[entity.entity], "active", "load_id"]
    keys = [table.c.client_id, table.c[KEYS[entity.entity]]]
    if is_postgres(conn):
        # New keys go straight in with COPY: the client row lock held by the load means nobody
        # else can have inserted them since the plan. Changed rows are merged from a stage.
        if len(entity.inserts):
            _copy_frame(conn, table.name, _rows(client_id, load_id, entity, entity.inserts))
        if len(entity.updates):
            rows = _rows(client_id, load_id, entity, entity.updates)
            stage = _stage_table(conn, table)
            _copy_frame(conn, stage.name, rows)
            statement = pg_insert(table).from_select(list(rows.columns), select(stage))
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=keys, set_={c: statement.excluded[c] for c in changing}
                )
            )
        return
    rows = _rows(client_id, load_id, entity, pd.concat([entity.inserts, entity.updates]))
    if rows.empty:
        return
    lite = sqlite_insert(table)
    conn.execute(
        lite.on_conflict_do_update(
            index_elements=keys, set_={c: lite.excluded[c] for c in changing}
        ),
        _records(rows),
    )


def _deactivate(conn: Connection, client_id: str, load_id: int, entity: EntityPlan) -> None:
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


def _json_lines(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    text = frame.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
    return text.rstrip("\n").split("\n")


def _log(conn: Connection, load_id: int, entity: EntityPlan) -> None:
    name = entity.entity
    inserted = pd.DataFrame(
        {
            "key": entity.inserts.index,
            "action": "insert",
            "before": None,
            "after": _json_lines(entity.inserts),
        }
    )
    updated = pd.DataFrame(
        {
            "key": entity.updates.index,
            "action": ["update" if a else "reactivate" for a in entity.before["active"]],
            "before": _json_lines(entity.before),
            "after": _json_lines(entity.updates),
        }
    )
    gone = pd.DataFrame(
        {
            "key": entity.deactivations.index,
            "action": "deactivate",
            "before": _json_lines(entity.deactivations.assign(active=True)),
            "after": None,
        }
    )
    parts = [f for f in (inserted, updated, gone) if not f.empty]
    if not parts:  # this entity did not change in this load
        return
    rows = pd.concat(parts)
    rows.insert(0, "entity", name)
    rows.insert(0, "load_id", load_id)
    rows = rows[LOG_COLUMNS]
    if is_postgres(conn):
        _copy_frame(conn, change_log.name, rows)
    else:
        conn.execute(_log_insert(), _records(rows))


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


def _stage_table(conn: Connection, table: Table) -> Table:
    """A temporary copy of ``table``'s columns, dropped at commit (PostgreSQL)."""
    stage = Table(
        f"stage_{table.name}",
        MetaData(),
        *(Column(c.name, c.type) for c in table.columns),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    stage.create(conn)
    return stage


def copy_text(frame: pd.DataFrame) -> str:
    """A frame in PostgreSQL's COPY text format, built column-wise (no per-row Python).

    Text format needs only backslash, tab, newline and carriage return escaped; NULL is ``\\N``.
    Booleans become ``t``/``f``.
    """
    if frame.empty:
        return ""
    columns = []
    for name in frame.columns:
        values = frame[name]
        if values.dtype == bool:
            text = values.map({True: "t", False: "f"}).astype("str")
        else:
            text = values.astype("str")
            if text.str.contains(r"[\\\t\n\r]", regex=True).fillna(False).any():
                text = (
                    text.str.replace("\\", "\\\\", regex=False)
                    .str.replace("\t", "\\t", regex=False)
                    .str.replace("\n", "\\n", regex=False)
                    .str.replace("\r", "\\r", regex=False)
                )
        columns.append(text.fillna("\\N"))
    rest = pd.concat(columns[1:], axis=1) if len(columns) > 1 else None
    lines = columns[0] if rest is None else columns[0].str.cat(rest, sep="\t")
    return "\n".join(lines.tolist()) + "\n"


def _copy_frame(conn: Connection, table_name: str, frame: pd.DataFrame) -> None:
    """COPY a frame into a table through the connection's own psycopg cursor (same transaction)."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(copy_text(frame))


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
