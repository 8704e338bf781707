"""Cell-level validation (schemas/cells.py): one error per cell, the same verdicts as pandera."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from orgload.columns import PERSONAS, SHEETS, UNIDADES
from schemas.cells import SheetCells, _run_check, check_cells, sheet_schema
from schemas.dates import load_date
from tests.builders import CEO, bad_rut, set_cell, sheet_cells, valid_rows

LOAD_DATE = date(2026, 11, 25)  # latest accepted fecha_ingreso: 2027-11-26
SHEET_TITLE = {UNIDADES: "Unidades", PERSONAS: "Personas"}


def cell_issues(sheet, rows):
    with load_date(LOAD_DATE):
        return check_cells(sheet_cells(sheet, rows))


def issues_of_one_cell(sheet, row, column, value):
    rows = set_cell(valid_rows(), SHEET_TITLE[sheet], row, column, value)[SHEET_TITLE[sheet]]
    return [(i.code, i.row, i.column) for i in cell_issues(sheet, rows)]


@pytest.mark.parametrize("sheet", [UNIDADES, PERSONAS])
def test_valid_sheet_has_no_cell_issues(sheet):
    assert cell_issues(sheet, valid_rows()[SHEET_TITLE[sheet]]) == []


@pytest.mark.parametrize(
    ("sheet", "column", "value", "code"),
    [
        (UNIDADES, "codigo_unidad", None, "required"),
        (UNIDADES, "codigo_unidad", " \u00a0 ", "required"),
        (UNIDADES, "codigo_unidad", "T I", "invalid_code"),
        (UNIDADES, "codigo_unidad", "T I" + "x" * 40, "too_long"),  # first failing rule only
        (UNIDADES, "nombre_unidad", None, "required"),
        (UNIDADES, "nombre_unidad", "n" * 201, "too_long"),
        (UNIDADES, "codigo_unidad_padre", "GER GER", "invalid_code"),
        (UNIDADES, "codigo_unidad_padre", None, None),
        (UNIDADES, "centro_costo", "c" * 41, "too_long"),
        (UNIDADES, "centro_costo", "CC 1/2", None),  # a cost center is free text
        (UNIDADES, "rut_jefatura", bad_rut(11111111), "invalid_rut"),
        (UNIDADES, "rut_jefatura", "11.111.111-1", None),
        (PERSONAS, "rut", None, "required"),
        (PERSONAS, "rut", "12.345.678-0", "invalid_rut"),
        (PERSONAS, "rut", "sin rut", "invalid_rut"),
        (PERSONAS, "nombres", "n" * 201, "too_long"),
        (PERSONAS, "apellidos", None, "required"),
        (PERSONAS, "email", "bruno@", "invalid_email"),
        (PERSONAS, "email", "b" * 250 + "@x.cl", "too_long"),
        (PERSONAS, "email", "BRUNO@EMPRESA.CL", None),
        (PERSONAS, "codigo_unidad", "T I", "invalid_code"),
        (PERSONAS, "cargo", "c" * 201, "too_long"),
        (PERSONAS, "cargo", None, None),
        (PERSONAS, "rut_jefatura", "abc", "invalid_rut"),
        (PERSONAS, "fecha_ingreso", "2024-02-30", "invalid_date"),
        (PERSONAS, "fecha_ingreso", "mañana", "invalid_date"),
        (PERSONAS, "fecha_ingreso", "2027-11-26", None),
        (PERSONAS, "fecha_ingreso", "2027-11-27", "date_out_of_range"),
        (PERSONAS, "fecha_ingreso", "1900-01-01", None),
        (PERSONAS, "fecha_ingreso", "31-12-1899", "date_out_of_range"),
        (PERSONAS, "perfil", "gerente", "invalid_choice"),
        (PERSONAS, "perfil", None, None),  # blank is the default profile
    ],
)
def test_each_cell_gets_its_first_failing_rule_only(sheet, column, value, code):
    expected = [] if code is None else [(code, 3, column)]
    assert issues_of_one_cell(sheet, 3, column, value) == expected


def test_columns_absent_from_the_file_are_not_checked():
    rows = [["rut", "nombres", "apellidos"], [CEO, "Ana", "Pérez"], ["x", None, "Soto"]]
    found = {(i.code, i.row, i.column) for i in cell_issues(PERSONAS, rows)}
    assert found == {("required", 3, "nombres"), ("invalid_rut", 3, "rut")}


def test_issue_names_the_header_as_written_and_the_value_as_written():
    rows = [["Código Unidad", "Nombre Unidad"], ["GER", "Gerencia"], [" T  I ", "TI"]]
    (issue,) = cell_issues(UNIDADES, rows)
    assert (issue.code, issue.row, issue.column) == ("invalid_code", 3, "codigo_unidad")
    assert issue.header == "Código Unidad"
    assert issue.value == " T  I "


def test_too_long_names_the_length_and_limit_and_cuts_the_value():
    rows = set_cell(valid_rows(), "Personas", 4, "cargo", "x" * 40_000)["Personas"]
    (issue,) = cell_issues(PERSONAS, rows)
    assert issue.code == "too_long"
    assert issue.params["length"] == 40_000
    assert issue.params["max_length"] == 200
    assert len(issue.value) == 201
    assert issue.value.endswith("…")


def test_date_out_of_range_names_the_bounds_of_the_load_date():
    rows = set_cell(valid_rows(), "Personas", 2, "fecha_ingreso", "2030-01-01")["Personas"]
    (issue,) = cell_issues(PERSONAS, rows)
    assert issue.code == "date_out_of_range"
    assert (issue.params["min_date"], issue.params["max_date"]) == ("1900-01-01", "2027-11-26")


def test_failing_cells_are_marked_bad_for_later_rules():
    rows = set_cell(valid_rows(), "Personas", 4, "rut", "abc")["Personas"]
    cells = sheet_cells(PERSONAS, rows)
    with load_date(LOAD_DATE):
        check_cells(cells)
    assert cells.bad.stack()[lambda s: s].index.tolist() == [(4, "rut")]


# --- the fast path against pandera's official API -------------------------------------------

POOL = [
    None,
    "",
    CEO,
    "12345678-5",
    "12345678-4",
    "6-K",
    "6-k",
    "ana@empresa.cl",
    "ana@",
    "a" * 250 + "@x.cl",
    "GER",
    "T I",
    "x" * 41,
    "n" * 201,
    "2024-01-05",
    "2024-02-30",
    "1899-12-31",
    "2027-11-26",
    "2027-11-27",
    "0001-01-01",
    "colaborador",
    "jefatura",
    "gerente",
    "#N/A",
    "#¡REF!",
    "Ana\tMaría",
    "\x1b[31mGER",
    "12345678-5\x00",
    "x" * 41 + "\x01",
]
CELL = st.one_of(st.sampled_from(POOL), st.text(max_size=8))


def frames(sheet):
    columns = SHEETS[sheet].column_names
    return st.integers(0, 24).flatmap(
        lambda n: st.fixed_dictionaries(
            {c: st.lists(CELL, min_size=n, max_size=n) for c in columns}
        ).map(lambda d: pd.DataFrame(d, index=pd.RangeIndex(2, n + 2), dtype="str"))
    )


def _first_failures(sheet: str, frame: pd.DataFrame) -> set[tuple[int, str, str]]:
    """(row, column, code) of each failing cell's first rule, by ``schema.validate(lazy=True)``."""
    try:
        sheet_schema(sheet).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return set()
    first: dict[tuple[int, str], tuple[int, str]] = {}
    for case in cases.itertuples():
        is_null = case.check == "not_nullable"
        order = -1 if is_null else int(case.check_number)
        code = "required" if is_null else str(case.check)
        cell = (int(case.index), str(case.column))
        first[cell] = min(first.get(cell, (order, code)), (order, code))
    return {(row, column, code) for (row, column), (_, code) in first.items()}


SLOW = settings(
    max_examples=10,  # pandera's lazy validation takes ~0.15 s per frame
    deadline=None,
    database=None,
    # No shrinking: it would re-run that slow oracle hundreds of times, and a failure already
    # names the exact (row, column, code) cells the two disagree on.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("sheet", [UNIDADES, PERSONAS])
def test_check_cells_flags_the_cells_pandera_lazy_validation_fails(sheet):
    @SLOW
    @given(frames(sheet))
    def agree(frame):
        headers = {c: c for c in frame.columns}
        with load_date(LOAD_DATE):
            found = {
                (i.row, i.column, i.code)
                for i in check_cells(SheetCells(sheet, frame, frame, headers))
            }
            assert found == _first_failures(sheet, frame)

    agree()


def _checks():
    return [
        pytest.param(sheet, name, number, id=f"{sheet}.{name}.{check.error}")
        for sheet in (UNIDADES, PERSONAS)
        for name, column in sheet_schema(sheet).columns.items()
        for number, check in enumerate(column.checks)
    ]


@pytest.mark.parametrize(("sheet", "name", "number"), _checks())
def test_fast_check_equals_pandera_check_call(sheet, name, number):
    check = sheet_schema(sheet).columns[name].checks[number]

    @settings(max_examples=15, deadline=None, database=None)
    @given(st.lists(CELL.filter(lambda v: v is not None), max_size=12))
    def agree(values):
        series = pd.Series(values, dtype="str", index=pd.RangeIndex(2, len(values) + 2))
        with load_date(LOAD_DATE):
            official = check(series).check_output
            fast = _run_check(check, series)
        assert fast.astype(bool).tolist() == official.astype(bool).tolist()
        assert fast.index.equals(official.index)

    agree()
