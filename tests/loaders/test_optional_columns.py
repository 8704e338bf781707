"""Optional columns on SQLite and PostgreSQL (SPEC §1, §3): an absent column keeps the stored
values, a present column with blank cells clears them, and blanking too many is a mass change.

The organizations are built by code: 100 people in 5 units, every optional value filled in.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, select

from loaders.current import fetch_current
from loaders.load import run_revert
from loaders.plan import mass_change_issues, plan_changes
from loaders.store import add_client
from loaders.writers.export import current_frames, export_xlsx
from orgload.columns import PERSONAS, UNIDADES
from orgload.db import change_log, incidents, people, units
from orgload.settings import Settings
from service.loads import LoadRequest, run_load
from tests.builders import (
    PERSONAS_HEADER,
    UNIDADES_HEADER,
    Rows,
    rut,
    sheet_cells,
    write_csvs,
)

NOV = "organizacion_2026-11.xlsx"
PEOPLE = 100
UNITS = ("GER", "U1", "U2", "U3", "U4")
BOSS = rut(20_000_000)


def person(i: int, **changes: Any) -> list[Any]:
    """Person ``i`` of the generated organization, every column filled in."""
    row = {
        "rut": rut(20_000_000 + i),
        "nombres": f"Nombre {i}",
        "apellidos": "Apellido",
        "email": f"p{i}@empresa.cl",
        "codigo_unidad": UNITS[i % len(UNITS)],
        "cargo": f"Cargo {i}",
        "rut_jefatura": None if i == 0 else BOSS,
        "fecha_ingreso": f"2020-01-{1 + i % 28:02d}",
        "perfil": "jefatura" if i % 10 == 0 else "colaborador",
    } | changes
    return [row[c] for c in PERSONAS_HEADER]


def organization(people_count: int = PEOPLE) -> dict[str, Rows]:
    unidades: Rows = [list(UNIDADES_HEADER), ["GER", "Gerencia", None, "CC-0", BOSS]]
    unidades += [[u, f"Unidad {u}", "GER", f"CC-{u}", BOSS] for u in UNITS[1:]]
    personas: Rows = [list(PERSONAS_HEADER), *(person(i) for i in range(people_count))]
    return {"Unidades": unidades, "Personas": personas}


def edit(sheets: dict[str, Rows], sheet: str, column: str, rows: range, value: Any) -> None:
    """Set ``column`` of the data rows ``rows`` (0 = first data row) of ``sheet``."""
    at = sheets[sheet][0].index(column)
    for i in rows:
        sheets[sheet][1 + i][at] = value


def drop_column(sheets: dict[str, Rows], sheet: str, column: str) -> None:
    at = sheets[sheet][0].index(column)
    for row in sheets[sheet]:
        del row[at]


def rename_header(sheets: dict[str, Rows], sheet: str, column: str, header: str) -> None:
    sheets[sheet][0][sheets[sheet][0].index(column)] = header


class Loads:
    """Loads of client ``acme``, each in a month of its own unless told otherwise."""

    def __init__(self, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engine, self.tmp_path, self.monkeypatch = engine, tmp_path, monkeypatch
        self.month = 0
        with engine.begin() as conn:
            add_client(
                conn, "acme", "ACME", "America/Santiago", "a@acme.cl", datetime.now().astimezone()
            )

    def settings(self, next_month: bool = True) -> Settings:
        from orgload.settings import load_settings

        self.month += next_month
        year, month = divmod(self.month - 1, 12)
        self.monkeypatch.setenv("ORGLOAD_NOW", f"{2026 + year}-{month + 1:02d}-10T11:00:00-03:00")
        return load_settings()

    def files(self, sheets: dict[str, Rows]) -> list[Path]:
        folder = self.tmp_path / f"upload-{len(list(self.tmp_path.glob('upload-*')))}"
        folder.mkdir()
        return write_csvs(folder, sheets)

    def run(self, paths: list[Path], *, next_month: bool = True, **options: Any):
        settings = self.settings(next_month)
        return run_load(settings, LoadRequest("acme", paths, **options), self.engine)

    def load(self, sheets: dict[str, Rows], **options: Any):
        return self.run(self.files(sheets), **options)

    def stored(self, entity: str = PERSONAS) -> dict[str, dict[str, Any]]:
        """Every stored row (active or not) by key, as the plan reads it."""
        with self.engine.connect() as conn:
            frame = fetch_current(conn, "acme", entity)
        return {
            key: {c: (None if v != v else v) for c, v in row.items()}  # NaN → None
            for key, row in frame.drop(columns="load_id").to_dict("index").items()
        }

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            return {
                "units": [
                    tuple(r) for r in conn.execute(select(units).order_by(units.c.codigo_unidad))
                ],
                "people": [tuple(r) for r in conn.execute(select(people).order_by(people.c.rut))],
            }


@pytest.fixture
def loads(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Loads:
    return Loads(engine, tmp_path, monkeypatch)


def codes(outcome: Any, kind: str = "errors") -> list[tuple[str, str | None, str | None]]:
    return sorted((e["code"], e["sheet"], e["column"]) for e in outcome.to_dict()[kind])


def column_of(stored: dict[str, dict[str, Any]], column: str) -> dict[str, Any]:
    return {key: row[column] for key, row in stored.items()}


# --- an absent column is not provided ----------------------------------------------------------


def test_a_file_without_cargo_leaves_every_cargo_as_it_was(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    before = loads.snapshot()
    sheets = organization()
    drop_column(sheets, "Personas", "cargo")
    outcome = loads.load(sheets)
    assert (outcome.status, outcome.exit_code) == ("no_changes", 0)
    assert outcome.changes()[PERSONAS]["unchanged"] == PEOPLE
    assert loads.snapshot() == before


def test_changed_rows_keep_the_stored_values_of_absent_columns(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    stored = loads.stored()
    sheets = organization()
    edit(sheets, "Personas", "nombres", range(3), "Renombrada")
    edit(sheets, "Personas", "cargo", range(PEOPLE), None)  # ignored: the column goes
    drop_column(sheets, "Personas", "cargo")
    drop_column(sheets, "Personas", "fecha_ingreso")
    outcome = loads.load(sheets)
    assert outcome.status == "applied"
    assert outcome.changes()[PERSONAS] == {
        "inserted": 0,
        "updated": 3,
        "deactivated": 0,
        "unchanged": PEOPLE - 3,
    }
    now = loads.stored()
    for column in ("cargo", "fecha_ingreso"):
        assert column_of(now, column) == column_of(stored, column)
    assert [now[rut(20_000_000 + i)]["nombres"] for i in range(3)] == ["Renombrada"] * 3
    # The change log shows the rows as they are: the kept values on both sides.
    with loads.engine.connect() as conn:
        logged = conn.execute(
            select(change_log.c.key, change_log.c.before, change_log.c.after).where(
                change_log.c.load_id == outcome.load_id
            )
        ).all()
    assert len(logged) == 3
    for key, before, after in logged:
        before, after = (json.loads(d) if isinstance(d, str) else d for d in (before, after))
        assert before["cargo"] == after["cargo"] == stored[key]["cargo"]
        assert (before["nombres"], after["nombres"]) == (stored[key]["nombres"], "Renombrada")


def test_new_rows_get_blank_or_the_default_profile_when_columns_are_absent(
    loads: Loads,
) -> None:
    assert loads.load(organization()).status == "applied"
    sheets = organization(PEOPLE + 2)  # two new people
    for column in ("cargo", "fecha_ingreso", "perfil"):
        drop_column(sheets, "Personas", column)
    outcome = loads.load(sheets)
    assert outcome.status == "applied"
    assert outcome.changes()[PERSONAS]["inserted"] == 2
    now = loads.stored()
    for i in (PEOPLE, PEOPLE + 1):
        new = now[rut(20_000_000 + i)]
        assert (new["cargo"], new["fecha_ingreso"], new["perfil"]) == (None, None, "colaborador")
    assert now[BOSS]["perfil"] == "jefatura"  # existing rows keep theirs
    assert sum(row["perfil"] == "jefatura" for row in now.values()) == PEOPLE // 10


def test_a_reactivated_person_keeps_the_stored_values_of_absent_columns(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    gone = rut(20_000_000 + PEOPLE - 1)
    stored = loads.stored()[gone]
    assert loads.load(organization(PEOPLE - 1)).changes()[PERSONAS]["deactivated"] == 1
    sheets = organization()
    drop_column(sheets, "Personas", "cargo")
    drop_column(sheets, "Personas", "perfil")
    outcome = loads.load(sheets)
    assert outcome.status == "applied"
    assert outcome.changes()[PERSONAS]["updated"] == 1
    back = loads.stored()[gone]
    assert back["active"] is True or back["active"] == 1
    assert (back["cargo"], back["perfil"]) == (stored["cargo"], stored["perfil"])


def test_absent_optional_columns_of_units_keep_the_tree(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    stored = loads.stored(UNIDADES)
    sheets = organization()
    edit(sheets, "Unidades", "nombre_unidad", range(1, 2), "Unidad renombrada")
    for column in ("codigo_unidad_padre", "centro_costo", "rut_jefatura"):
        drop_column(sheets, "Unidades", column)
    outcome = loads.load(sheets)
    assert outcome.status == "applied"
    assert outcome.changes()[UNIDADES]["updated"] == 1
    now = loads.stored(UNIDADES)
    for column in ("codigo_unidad_padre", "centro_costo", "rut_jefatura"):
        assert column_of(now, column) == column_of(stored, column)
    assert now["U1"]["nombre_unidad"] == "Unidad renombrada"


def test_revert_of_a_load_with_absent_columns_restores_exactly(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    before = loads.snapshot()
    sheets = organization(PEOPLE + 1)
    edit(sheets, "Personas", "apellidos", range(5), "Otro")
    drop_column(sheets, "Personas", "cargo")
    drop_column(sheets, "Unidades", "centro_costo")
    applied = loads.load(sheets)
    assert applied.status == "applied"
    assert loads.snapshot() != before
    run_revert(loads.settings(next_month=False), applied.load_id, "test", loads.engine)
    assert loads.snapshot() == before


def test_a_misspelt_optional_header_is_a_warning_and_leaves_the_column_untouched(
    loads: Loads, samples: Path, tmp_path: Path
) -> None:
    assert loads.run([samples / NOV]).status == "applied"
    before = loads.snapshot()
    workbook = openpyxl.load_workbook(samples / NOV)
    sheet = workbook["Personas"]
    headers = [c.value for c in sheet[1]]
    for header, misspelt in (("Cargo", "Cargo actual"), ("Fecha Ingreso", "Fecha de ingreso")):
        column = headers.index(header) + 1
        sheet.cell(1, column).value = misspelt
        for row in range(2, 22):  # what sits under the misspelt header is not read
            sheet.cell(row, column).value = None
    workbook.save(tmp_path / "misspelt.xlsx")
    outcome = loads.run([tmp_path / "misspelt.xlsx"])
    assert (outcome.status, outcome.exit_code) == ("no_changes", 0)
    warnings = outcome.to_dict()["warnings"]
    assert {(w["code"], w["sheet"], w["header"]) for w in warnings} == {
        ("unknown_column", PERSONAS, "Cargo actual"),
        ("unknown_column", PERSONAS, "Fecha de ingreso"),
    }
    assert loads.snapshot() == before


def test_an_export_without_optional_columns_reloads_as_no_changes(
    loads: Loads, samples: Path, tmp_path: Path
) -> None:
    assert loads.run([samples / NOV]).status == "applied"
    with loads.engine.connect() as conn:
        export_xlsx(current_frames(conn, "acme"), tmp_path / "export.xlsx")
    assert loads.run([tmp_path / "export.xlsx"]).status == "no_changes"
    workbook = openpyxl.load_workbook(tmp_path / "export.xlsx")
    for sheet in workbook.worksheets:
        sheet.delete_cols(len(list(sheet[1])))  # the last column of each sheet
    workbook.save(tmp_path / "shorter.xlsx")
    assert loads.run([tmp_path / "shorter.xlsx"]).status == "no_changes"


# --- a present column with blank cells clears them ---------------------------------------------


def test_blank_cells_of_a_present_column_clear_those_values(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    sheets = organization()
    edit(sheets, "Personas", "cargo", range(5), None)
    edit(sheets, "Personas", "fecha_ingreso", range(5, 7), "")
    outcome = loads.load(sheets)
    assert outcome.status == "applied"
    assert outcome.changes()[PERSONAS]["updated"] == 7
    now = loads.stored()
    assert [now[rut(20_000_000 + i)]["cargo"] for i in range(6)] == [None] * 5 + ["Cargo 5"]
    assert [now[rut(20_000_000 + i)]["fecha_ingreso"] for i in (5, 6)] == [None, None]


def test_blank_profiles_are_the_default_and_no_mass_change(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    sheets = organization()
    edit(sheets, "Personas", "perfil", range(PEOPLE), None)
    outcome = loads.load(sheets)
    assert outcome.status == "applied"
    assert {row["perfil"] for row in loads.stored().values()} == {"colaborador"}


# --- blanking too many values of one column is a mass change ----------------------------------


def test_blanking_cargo_of_30_of_100_people_is_a_mass_change(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    before = loads.snapshot()
    sheets = organization()
    edit(sheets, "Personas", "cargo", range(30), None)
    files = loads.files(sheets)
    rejected = loads.run(files)
    assert (rejected.status, rejected.exit_code) == ("rejected", 1)
    assert codes(rejected) == [("mass_change", PERSONAS, "cargo")]
    error = rejected.to_dict()["errors"][0]
    assert error["header"] == "cargo"
    assert "30" in error["message"]  # the counts: blanked and the limit
    assert "20" in error["message"]
    assert rejected.changes()[PERSONAS]["updated"] == 30
    assert rejected.incident is not None
    assert rejected.incident["level"] == 1
    with loads.engine.connect() as conn:
        categories = conn.execute(select(incidents.c.category)).scalars().all()
    assert categories == ["mass_change"]
    assert loads.snapshot() == before

    allowed = loads.run(files, next_month=False, allow_mass_change=True)
    assert allowed.status == "applied"
    cleared = [loads.stored()[rut(20_000_000 + i)]["cargo"] for i in range(31)]
    assert cleared == [None] * 30 + ["Cargo 30"]


def test_blanking_up_to_the_limit_applies(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    sheets = organization()
    # max(20 % of 100, 10) = 20 per column, each column counted on its own
    edit(sheets, "Personas", "cargo", range(20), None)
    edit(sheets, "Personas", "fecha_ingreso", range(20, 40), None)
    edit(sheets, "Personas", "rut_jefatura", range(40, 60), None)
    outcome = loads.load(sheets)
    assert outcome.status == "applied"
    assert outcome.changes()[PERSONAS]["updated"] == 60


def test_blanking_unit_columns_counts_per_column_with_the_floor_of_ten(loads: Loads) -> None:
    units = [f"U{i:02d}" for i in range(12)]
    sheets = organization()
    sheets["Unidades"] += [[u, f"Unidad {u}", "GER", f"CC-{u}", BOSS] for u in units]
    assert loads.load(sheets).status == "applied"
    edit(sheets, "Unidades", "centro_costo", range(5, 17), None)  # 12 > max(3, 10)
    edit(sheets, "Unidades", "rut_jefatura", range(7, 17), None)  # 10: not more than 10
    rejected = loads.load(sheets)
    assert rejected.status == "rejected"
    assert codes(rejected) == [("mass_change", UNIDADES, "centro_costo")]


def test_the_quota_is_checked_before_the_blanking_guard(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    sheets = organization()
    edit(sheets, "Personas", "cargo", range(50), None)
    refused = loads.load(sheets, next_month=False)  # the same month: quota used
    assert (refused.status, refused.exit_code) == ("quota_exhausted", 3)
    assert refused.to_dict()["errors"] == []
    assert refused.incident is None


def test_a_dry_run_of_a_blanking_mass_change_is_rejected(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    before = loads.snapshot()
    sheets = organization()
    edit(sheets, "Personas", "rut_jefatura", range(1, PEOPLE), None)
    dry = loads.load(sheets, dry_run=True)
    assert (dry.status, dry.exit_code) == ("rejected", 1)
    assert codes(dry) == [("mass_change", PERSONAS, "rut_jefatura")]
    assert loads.snapshot() == before


def test_the_first_load_has_no_blanking_guard(loads: Loads) -> None:
    assert loads.load(organization()).status == "applied"
    with loads.engine.connect() as conn:
        stored = {name: fetch_current(conn, "acme", name) for name in (UNIDADES, PERSONAS)}
    sheets = organization()
    edit(sheets, "Personas", "rut_jefatura", range(1, PEOPLE), None)
    uploads = {
        name: sheet_cells(name, rows).values
        for name, rows in zip((UNIDADES, PERSONAS), sheets.values(), strict=True)
    }
    plan = plan_changes(uploads, stored)
    assert plan.entities[PERSONAS].blanked == {"rut_jefatura": PEOPLE - 1}
    assert mass_change_issues(plan, first_load=True) == []
    guarded = mass_change_issues(plan, first_load=False)
    assert [(i.code, i.sheet, i.column) for i in guarded] == [
        ("mass_change", PERSONAS, "rut_jefatura")
    ]
