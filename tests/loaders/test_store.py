"""``fetch_current`` on SQLite and PostgreSQL, and ``plan_entity`` against a plain-Python diff.

The packed read joins each column with a control character and marks NULL with another; these
tests store awkward values straight into the tables and compare the frame with the row-by-row
read (``fetch_current_rows``) and with what was written, then check that a plan of the same
data against it changes nothing. The vectorized plan is checked against a dictionary diff.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import Connection, Engine, insert

from loaders.apply import apply_plan
from loaders.current import (
    NULL_MARK,
    SEPARATOR,
    _current_select,
    _fetch_packed,
    fetch_current,
    fetch_current_rows,
)
from loaders.plan import plan_changes, plan_entity
from loaders.store import FIELDS, KEYS, add_client
from orgload.columns import PERSONAS, SHEETS, UNIDADES
from orgload.db import people, units
from orgload.settings import Settings
from service.loads import LoadRequest, run_load
from tests.builders import CEO, CTO, DEV, HR, rut, valid_rows, with_rows, write_csvs, write_xlsx

ENTITIES = (UNIDADES, PERSONAS)
TABLES = {UNIDADES: units, PERSONAS: people}

# Values that a text protocol (COPY, CSV, a separator) could get wrong.
TRICKY = [
    "tab\there",
    "back\\slash",
    "ends with \\",
    "\\N",
    "\\\\N",
    "new\nline",
    "cr\rlf\r\n",
    "double \"quotes\" and 'single'",
    "semi;colon, comma",
    "Ñandú Ñuñoa ü — 漢字 😀",
    "",
    " ",
    "\x03\x1f\x7f",
    "\\t not a tab",
]
# Values that collide with the packing: the read must notice and fall back to rows.
COLLIDING = [chr(NULL_MARK), f"a{chr(SEPARATOR)}b", chr(SEPARATOR)]


def _unit(code: str, **values: Any) -> dict[str, Any]:
    row = {
        "codigo_unidad": code,
        "nombre_unidad": f"Unidad {code}",
        "codigo_unidad_padre": None,
        "centro_costo": None,
        "rut_jefatura": None,
        "active": True,
        "load_id": 1,
    }
    return row | values


def _person(body: int, **values: Any) -> dict[str, Any]:
    row = {
        "rut": rut(body),
        "nombres": "Ana",
        "apellidos": "Pérez",
        "email": f"p{body}@empresa.cl",
        "codigo_unidad": "U0",
        "cargo": None,
        "rut_jefatura": None,
        "fecha_ingreso": None,
        "perfil": "colaborador",
        "active": True,
        "load_id": 1,
    }
    return row | values


def _rows(values: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Units and people holding ``values`` in every text column that takes free text."""
    unit_rows = [_unit("U0")]
    person_rows = [_person(1000, fecha_ingreso=date(2020, 1, 31))]
    for i, value in enumerate(values, start=1):
        unit_rows.append(
            _unit(
                f"U{i}",
                nombre_unidad=value,
                codigo_unidad_padre=value,
                centro_costo=value,
                rut_jefatura=value[:12],  # the column's length
                active=i % 3 != 0,
                load_id=i,
            )
        )
        person_rows.append(
            _person(
                1000 + i,
                nombres=value,
                apellidos=value,
                email=value,
                cargo=value,
                rut_jefatura=value[:12],
                fecha_ingreso=date(1990 + i, 12, 1) if i % 2 else None,
                perfil=value[:20],
                active=i % 4 != 0,
                load_id=10_000_000 + i,
            )
        )
    # Empty string and NULL side by side in every optional column.
    unit_rows.append(_unit("EMPTY", codigo_unidad_padre="", centro_costo="", rut_jefatura=""))
    unit_rows.append(_unit("NULL"))
    person_rows.append(_person(2000, cargo="", rut_jefatura="", perfil=""))
    person_rows.append(_person(2001))
    return {UNIDADES: unit_rows, PERSONAS: person_rows}


def _store(conn: Connection, client_id: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    add_client(conn, client_id, client_id, "America/Santiago", None, datetime.now().astimezone())
    for entity, table in TABLES.items():
        if rows[entity]:
            conn.execute(insert(table), [{"client_id": client_id, **r} for r in rows[entity]])


def _expected(entity: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """What ``fetch_current`` must return for ``rows``, in key order."""
    key = KEYS[entity]
    frame = pd.DataFrame(rows).astype(object)
    if "fecha_ingreso" in frame:
        frame["fecha_ingreso"] = [d.isoformat() if d else None for d in frame["fecha_ingreso"]]
    text = [key, *FIELDS[entity]]
    frame[text] = frame[text].astype("str")
    frame = frame.astype({"active": bool, "load_id": "int64"})
    return frame.set_index(key)[[*FIELDS[entity], "active", "load_id"]].sort_index()


@pytest.mark.parametrize("values", [TRICKY, TRICKY + COLLIDING], ids=["packed", "colliding"])
def test_fetch_current_returns_exactly_what_is_stored(engine: Engine, values: list[str]) -> None:
    rows = _rows(values)
    other = _rows(["other client"])  # same keys, another client: never mixed in
    with engine.begin() as conn:
        _store(conn, "acme", rows)
        _store(conn, "other", other)
    with engine.connect() as conn:
        for entity in ENTITIES:
            fetched = fetch_current(conn, "acme", entity)
            assert_frame_equal(
                fetched, fetch_current_rows(conn, "acme", entity), check_index_type=True
            )
            assert_frame_equal(
                fetched.sort_index(), _expected(entity, rows[entity]), check_index_type=True
            )
            packed = _fetch_packed(conn, *_current_select(conn, "acme", entity))
            assert (packed is None) == (values is not TRICKY)  # collisions go to rows


def test_fetch_current_of_a_client_without_data(engine: Engine) -> None:
    with engine.begin() as conn:
        _store(conn, "acme", {UNIDADES: [], PERSONAS: []})
    with engine.connect() as conn:
        for entity in ENTITIES:
            fetched = fetch_current(conn, "acme", entity)
            assert fetched.empty
            assert list(fetched.columns) == [*FIELDS[entity], "active", "load_id"]
            assert fetched.index.name == KEYS[entity]
            assert_frame_equal(
                fetched, fetch_current_rows(conn, "acme", entity), check_index_type=True
            )


@pytest.mark.parametrize("values", [TRICKY, TRICKY + COLLIDING], ids=["packed", "colliding"])
def test_plan_of_the_stored_data_changes_nothing_but_the_changed_cell(
    engine: Engine, values: list[str]
) -> None:
    rows = _rows(values)
    with engine.begin() as conn:
        _store(conn, "acme", rows)
    with engine.connect() as conn:
        current = {entity: fetch_current(conn, "acme", entity) for entity in ENTITIES}
    # The upload that equals the data: the active rows, in reverse order, as normalized text.
    uploads = {
        entity: frame[frame["active"]]
        .drop(columns=["active", "load_id"])
        .reset_index()
        .iloc[::-1]
        .reset_index(drop=True)
        for entity, frame in current.items()
    }
    plan = plan_changes(uploads, current)
    assert plan.empty
    assert plan.counts()[PERSONAS]["unchanged"] == int(current[PERSONAS]["active"].sum())

    edited = {name: frame.copy() for name, frame in uploads.items()}
    people_frame = edited[PERSONAS]
    where = people_frame.index[people_frame["cargo"] == "tab\there"]
    people_frame.loc[where, "cargo"] = "tab here"
    people_frame.loc[people_frame["cargo"].isna(), "cargo"] = ""  # NULL → empty is a change
    changed = plan_changes(edited, current).entities[PERSONAS]
    nulls = int(uploads[PERSONAS]["cargo"].isna().sum())
    assert changed.counts() == {
        "inserted": 0,
        "updated": 1 + nulls,
        "deactivated": 0,
        "unchanged": len(people_frame) - 1 - nulls,
    }
    assert changed.before.loc[rut(1001), "cargo"] == "tab\there"
    assert changed.updates.loc[rut(1001), "cargo"] == "tab here"


def test_apply_never_writes_a_column_the_upload_did_not_provide(engine: Engine) -> None:
    people_rows = [_person(1000 + i, cargo=f"Cargo {i}", active=i != 2) for i in range(4)]
    with engine.begin() as conn:
        _store(conn, "acme", {UNIDADES: [_unit("U0")], PERSONAS: people_rows})
    with engine.connect() as conn:
        current = {entity: fetch_current(conn, "acme", entity) for entity in ENTITIES}
    uploads = {
        entity: frame.drop(columns=["active", "load_id"]).reset_index()
        for entity, frame in current.items()
    }
    personas = uploads[PERSONAS]
    personas.loc[personas["rut"] == rut(1000), "nombres"] = "Renombrada"
    personas = pd.concat([personas, personas.iloc[[0]].assign(rut=rut(1010))], ignore_index=True)
    uploads[PERSONAS] = personas.assign(cargo=None).astype("str")  # as an absent column reads
    headers = {PERSONAS: {c: c for c in personas.columns if c != "cargo"}}
    plan = plan_changes(uploads, current, headers=headers)
    entity = plan.entities[PERSONAS]
    assert entity.kept == ("cargo",)
    assert entity.counts() == {"inserted": 1, "updated": 2, "deactivated": 0, "unchanged": 2}
    # Even a plan whose rows carried other values there would not write the column.
    entity.updates["cargo"] = "stale"
    with engine.begin() as conn:
        apply_plan(conn, "acme", 2, plan)
    with engine.connect() as conn:
        now = fetch_current(conn, "acme", PERSONAS)
    assert [now.loc[rut(1000 + i), "cargo"] for i in range(4)] == [f"Cargo {i}" for i in range(4)]
    assert now.loc[rut(1000), "nombres"] == "Renombrada"
    assert bool(now.loc[rut(1002), "active"])
    assert pd.isna(now.loc[rut(1010), "cargo"])


def _tricky_upload() -> dict[str, list[Any]]:
    """The small valid organization with awkward (but valid) text in its free-text cells."""
    sheets = valid_rows()
    unidades, personas = sheets["Unidades"], sheets["Personas"]
    unidades[1][1] = 'Gerencia "General"; Ñuñoa'
    unidades[2][1] = "Tecnología \\ Sistemas"
    unidades[3][3] = "CC;300"
    personas[1][1], personas[1][2] = "José Ñandú", "O'Higgins; Peña"
    personas[2][5] = "C:\\temp\\N"
    personas[3][5] = "\\N"
    personas[4][5] = 'Jefe, "RR.HH." — 漢字'
    return with_rows(
        sheets,
        "Personas",
        [[rut(16000000), "Eva", "Díaz", "eva@empresa.cl", "TI", "", DEV, "", ""]],
    )


def test_reloading_awkward_text_is_no_changes(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    sheets = _tricky_upload()
    workbook = [write_xlsx(tmp_path / "org.xlsx", sheets)]
    csvs = write_csvs(tmp_path, sheets, delimiter=";", bom=True)  # other bytes, same data

    def load(paths: list[Path]) -> str:
        return run_load(settings, LoadRequest("acme", paths), engine).status

    assert load(workbook) == "applied"
    with engine.connect() as conn:
        for entity in ENTITIES:
            fetched = fetch_current(conn, "acme", entity)
            assert_frame_equal(
                fetched, fetch_current_rows(conn, "acme", entity), check_index_type=True
            )
        person = fetch_current(conn, "acme", PERSONAS)
    assert person.loc[DEV, "cargo"] == "\\N"
    assert person.loc[CTO, "cargo"] == "C:\\temp\\N"
    assert person.loc[CEO, "apellidos"] == "O'Higgins; Peña"
    assert pd.isna(person.loc[rut(16000000), "fecha_ingreso"])
    assert pd.isna(person.loc[rut(16000000), "cargo"])
    assert person.loc[HR, "perfil"] == "colaborador"
    assert load(csvs) == "no_changes"


# --- plan_entity against a dictionary diff ----------------------------------------------------


def _reference(
    entity: str, upload: pd.DataFrame, current: pd.DataFrame, kept: tuple[str, ...] = ()
) -> dict[str, Any]:
    """SPEC §3 spelled out with dictionaries: keys, rows (None for missing) and counts. The
    ``kept`` columns are not provided: not compared, and changed rows keep their old values."""
    fields = FIELDS[entity]

    def plain(row: pd.Series) -> list[Any]:
        return [None if pd.isna(v) else v for v in row[fields]]

    def differs(new: list[Any], old: list[Any]) -> bool:
        return any(n != o for f, n, o in zip(fields, new, old, strict=True) if f not in kept)

    def merged(new: list[Any], old: list[Any]) -> list[Any]:
        return [o if f in kept else n for f, n, o in zip(fields, new, old, strict=True)]

    old = {k: (plain(r), bool(r["active"]), int(r["load_id"])) for k, r in current.iterrows()}
    new = {r[KEYS[entity]]: plain(r) for _, r in upload.iterrows()}
    updated = [k for k, v in new.items() if k in old and (differs(v, old[k][0]) or not old[k][1])]
    gone = [k for k, (_, active, _) in old.items() if active and k not in new]
    nullable = [f for f in fields if SHEETS[entity].column(f).nullable and f not in kept]
    blanked = {
        f: sum(
            1
            for k, v in new.items()
            if k in old
            and old[k][1]
            and v[fields.index(f)] is None
            and old[k][0][fields.index(f)] not in (None, "")
        )
        for f in nullable
    }
    return {
        "inserts": ([k for k in new if k not in old], [new[k] for k in new if k not in old]),
        "updates": (updated, [merged(new[k], old[k][0]) for k in updated]),
        "before": (updated, [[*old[k][0], old[k][1], old[k][2]] for k in updated]),
        "deactivations": (gone, [[*old[k][0], old[k][2]] for k in gone]),
        "unchanged": sum(k in old for k in new) - len(updated),
        "active_before": sum(active for _, active, _ in old.values()),
        "blanked": {f: n for f, n in blanked.items() if n},
    }


def _random_frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An upload and current data of ``personas`` sharing some keys, in shuffled orders."""
    pick = random.Random(seed)
    fields = FIELDS[PERSONAS]
    values = [None, "", "a", "A", "a ", "Ñ", "\\N", "tab\tx", "2020-01-01"]
    keys = [rut(20_000_000 + i) for i in range(pick.choice([0, 1, 5, 40]))]
    current_keys = pick.sample(keys, pick.randint(0, len(keys)))
    current = pd.DataFrame(
        {f: [pick.choice(values) for _ in current_keys] for f in fields}
        | {
            "active": [pick.random() < 0.7 for _ in current_keys],
            "load_id": [pick.randint(1, 9) for _ in current_keys],
        },
        index=pd.Index(current_keys, name="rut", dtype="str"),
    ).astype(dict.fromkeys(fields, "str") | {"active": bool, "load_id": "int64"})
    upload_keys = pick.sample(keys, pick.randint(0, len(keys)))
    rows = []
    for key in upload_keys:
        if key in current.index and pick.random() < 0.6:  # often the same row as stored
            same = current.loc[key, fields]
            rows.append([key, *(None if pd.isna(v) else v for v in same)])
        else:
            rows.append([key, *(pick.choice(values) for _ in fields)])
    upload = pd.DataFrame(
        rows, columns=[KEYS[PERSONAS], *fields], index=pd.RangeIndex(2, 2 + len(rows))
    ).astype("str")
    return upload, current


@pytest.mark.parametrize("seed", range(60))
def test_plan_entity_equals_a_dictionary_diff(seed: int) -> None:
    upload, current = _random_frames(seed)
    # Every third plan gets all columns; the others lack a random set of optional ones.
    optional = [f for f in FIELDS[PERSONAS] if not SHEETS[PERSONAS].column(f).required]
    pick = random.Random(-seed)
    kept = () if seed % 3 == 0 else tuple(f for f in optional if pick.random() < 0.5)
    headers = None if seed % 3 == 0 else {f: f for f in upload.columns if f not in kept}
    plan = plan_entity(PERSONAS, upload, current, headers)
    expected = _reference(PERSONAS, upload, current, kept)
    assert plan.kept == kept
    assert plan.blanked == expected["blanked"]
    for name in ("inserts", "updates", "before", "deactivations"):
        frame = getattr(plan, name)
        keys, rows = expected[name]
        assert list(frame.index) == keys, name
        assert frame.index.name == "rut"
        assert frame.to_numpy().tolist() == rows, name
        assert all(frame[f].dtype == object for f in FIELDS[PERSONAS])
    assert plan.unchanged == expected["unchanged"]
    assert plan.active_before == expected["active_before"]
    assert plan.before["active"].dtype == bool
    assert plan.deactivations["load_id"].dtype == "int64"


def _log_of(conn: Connection, load_id: int) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    from orgload.db import change_log

    rows = conn.execute(
        select(change_log.c.entity, change_log.c.key, change_log.c.action)
        .add_columns(change_log.c.before, change_log.c.after)
        .where(change_log.c.load_id == load_id)
        .order_by(change_log.c.id)
    ).all()
    return [tuple(row) for row in rows]


def test_apply_in_small_pieces_writes_what_one_piece_writes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loaders.apply as apply

    stored = [_person(1000 + i, cargo=f"Cargo {i}", active=i % 7 != 0) for i in range(300)]
    with engine.begin() as conn:
        for client in ("whole", "pieces"):
            _store(conn, client, {UNIDADES: [_unit("U0"), _unit("U1")], PERSONAS: stored})
    with engine.connect() as conn:
        current = {entity: fetch_current(conn, "whole", entity) for entity in ENTITIES}
    uploads = {
        entity: frame.drop(columns=["active", "load_id"]).reset_index()
        for entity, frame in current.items()
    }
    personas = uploads[PERSONAS].iloc[:200].copy()  # the last 100 are deactivated
    personas.loc[personas.index[50:90], "cargo"] = "Otro\tcargo"  # updated, with an escape
    hired = personas.iloc[:60].assign(
        rut=[rut(5000 + i) for i in range(60)], email=[f"n{i}@empresa.cl" for i in range(60)]
    )
    uploads[PERSONAS] = pd.concat([personas, hired], ignore_index=True).astype("str")
    plan = plan_changes(uploads, current)
    assert plan.counts()[PERSONAS]["deactivated"] > 50
    monkeypatch.setattr(apply, "DEACTIVATE_STAGED", 10**9)  # one update per key
    with engine.begin() as conn:
        apply_plan(conn, "whole", 11, plan)
    for name, value in (("COPY_ROWS", 7), ("LOG_ROWS", 11), ("LOG_AHEAD", 2)):
        monkeypatch.setattr(apply, name, value)
    monkeypatch.setattr(apply, "DEACTIVATE_STAGED", 1)  # keys as arrays (PostgreSQL) …
    monkeypatch.setattr(apply, "DEACTIVATE_ROWS", 13)  # … of 13 keys a statement
    with engine.begin() as conn:
        apply_plan(conn, "pieces", 12, plan)
    with engine.connect() as conn:
        for entity in ENTITIES:
            whole, pieces = (fetch_current(conn, c, entity) for c in ("whole", "pieces"))
            assert_frame_equal(pieces.assign(load_id=pieces["load_id"].replace(12, 11)), whole)
        assert _log_of(conn, 12) == _log_of(conn, 11)
        assert len(_log_of(conn, 11)) == sum(
            c["inserted"] + c["updated"] + c["deactivated"] for c in plan.counts().values()
        )
