"""Text that is not what it seems, and clumsy files (issue 11, SPEC §1): invisible formatting
characters, control characters (``invalid_character``), unknown headers that name the column
they probably mean, a title row above the header, and the damage Excel does to codes, RUTs,
dates and formulas — each through the whole validation of generated workbooks and CSVs."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from cli.app import app
from cli.render import visible
from loaders.read import (
    HEADER_SEARCH_ROWS,
    ErrorCellScanner,
    build_sheet,
    excel_error_cells,
    suggest_column,
)
from loaders.store import add_client
from loaders.validate import ValidatedUpload, validate_upload
from loaders.writers.template import HEADERS
from orgload.columns import PERSONAS, SHEETS, UNIDADES
from orgload.db import people
from orgload.settings import Settings, load_settings
from schemas.checks import EXCEL_ERRORS
from schemas.messages import CODES, MESSAGES
from service.loads import LoadRequest, run_load
from service.validation import validate_files
from tests.builders import CEO, HR, rut, set_cell, valid_rows, with_rows, write_csvs
from tests.builders import write_xlsx as write_plain_xlsx

LOAD_DATE = date(2026, 11, 25)
CASES = Path(__file__).resolve().parent.parent / "cases" / "text"
Entry = tuple[str, str | None, int | None, str | None]  # code, sheet, row, column
# What openpyxl refuses to write as it is; the file format spells it _x0001_ (calamine reads it
# back as the character, as Excel does).
# A CR is spelt _x000D_ too: XML would read a raw one as a line feed.
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f]")


def write_xlsx(path: Path, sheets: dict[str, list[Any]]) -> Path:
    """A workbook of ``sheets`` whose strings may hold any control character."""
    encoded = {
        title: [
            None
            if row is None
            else [
                _UNWRITABLE.sub(lambda m: f"_x{ord(m.group()):04X}_", v)
                if isinstance(v, str)
                else v
                for v in row
            ]
            for row in rows
        ]
        for title, rows in sheets.items()
    }
    return write_plain_xlsx(path, encoded)


def write(kind: str, directory: Path, sheets: dict[str, list[Any]]) -> list[Path]:
    if kind == "xlsx":
        return [write_xlsx(directory / "org.xlsx", sheets)]
    return write_csvs(directory, sheets)


def validate(paths: list[Path]) -> ValidatedUpload:
    return validate_upload(paths, on_date=LOAD_DATE)


def entries(result: ValidatedUpload, kind: str = "errors") -> set[Entry]:
    return {(e["code"], e["sheet"], e["row"], e["column"]) for e in result.report.to_dict()[kind]}


def issues(result: ValidatedUpload, code: str) -> list[Any]:
    return [i for i in result.report.issues if i.code == code]


def assert_short_messages_in_both_languages(result: ValidatedUpload) -> None:
    for lang in ("es", "en"):
        data = result.report.to_dict(lang)
        for entry in data["errors"] + data["warnings"]:
            assert 0 < len(entry["message"]) <= 300
            assert not re.search("[\x00-\x1f\x7f-\x9f]", entry["message"])


KINDS = ["xlsx", "csv"]


# --- invisible formatting characters are removed by normalization ---------------------------

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a",  # left-to-right embedding
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u2069",  # pop directional isolate
    "\ufeff",  # BOM inside a value
    "\u00ad",  # soft hyphen
]


def marked_rows(mark: str) -> dict[str, list[Any]]:
    """The valid organization with ``mark`` inside keys, references, e-mails and names."""
    rows = valid_rows()
    for row in rows["Personas"][1:]:
        row[0] = row[0][:3] + mark + row[0][3:]  # RUT
        row[3] = row[3].replace("@", mark + "@")  # e-mail
        row[4] = mark + row[4]  # unit code
        row[1] = row[1] + mark  # first names
    rows["Unidades"][2][2] = "G" + mark + "ER"  # TI's parent
    rows["Unidades"][1][4] = mark + CEO  # GER's manager
    return rows


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mark", INVISIBLE, ids=lambda m: f"U+{ord(m):04X}")
def test_invisible_formatting_characters_are_removed_and_the_values_equal_the_clean_ones(
    tmp_path, kind, mark
):
    (tmp_path / "clean").mkdir()
    (tmp_path / "marked").mkdir()
    clean = validate(write(kind, tmp_path / "clean", valid_rows()))
    marked = validate(write(kind, tmp_path / "marked", marked_rows(mark)))
    assert marked.report.to_dict()["errors"] == []
    for sheet in (UNIDADES, PERSONAS):
        assert marked.frames[sheet].equals(clean.frames[sheet])


def test_an_email_with_a_zero_width_space_validates_as_the_clean_address(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 2, "email", "ana@empresa.cl\u200b")
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert result.valid
    assert result.frames[PERSONAS].loc[2, "email"] == "ana@empresa.cl"


# --- control characters are invalid_character ------------------------------------------------

CONTROLS = {
    "U+0000": "\x00",
    "U+0001": "\x01",
    "U+0008": "\x08",
    "U+001B": "\x1b",
    "U+001F": "\x1f",
    "U+007F": "\x7f",
    "U+009B": "\x9b",  # C1 CSI: an escape sequence of its own on some terminals
    "U+0009": "\t",
    "U+000A": "\n",
    "U+000D": "\r",
}
# (sheet, Excel row, column, clean value): one cell per kind of rule that could hide the error
TARGETS = [
    ("Personas", 3, "nombres", "Bruno"),
    ("Personas", 4, "email", "carla@empresa.cl"),
    ("Personas", 5, "rut", HR),
    ("Personas", 2, "fecha_ingreso", "2020-01-15"),
    ("Personas", 4, "perfil", "colaborador"),
    ("Unidades", 3, "centro_costo", "CC-200"),
    ("Unidades", 4, "codigo_unidad_padre", "GER"),
]


def _with_control(char: str, target: tuple[str, int, str, str]) -> dict[str, list[Any]]:
    sheet, row, column, clean = target
    return set_cell(valid_rows(), sheet, row, column, clean[:2] + char + clean[2:])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", CONTROLS)
def test_a_control_character_inside_a_value_is_invalid_character_naming_it(tmp_path, kind, name):
    target = ("Personas", 3, "nombres", "Bruno")
    result = validate(write(kind, tmp_path, _with_control(CONTROLS[name], target)))
    if kind == "csv" and name == "U+0000":
        # A NUL byte is what tells binary data from text: such a CSV is not read at all.
        assert {e.code for e in result.report.errors} == {"unreadable_file"}
        assert_short_messages_in_both_languages(result)
        return
    assert entries(result) == {("invalid_character", PERSONAS, 3, "nombres")}
    (issue,) = result.report.errors
    assert issue.params["char"] == name
    for lang in ("es", "en"):
        assert name in issue.message(lang)
    assert_short_messages_in_both_languages(result)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}.{t[2]}")
def test_invalid_character_comes_before_every_other_rule_of_the_cell(tmp_path, target):
    sheet, row, column, _ = target
    result = validate([write_xlsx(tmp_path / "org.xlsx", _with_control("\x01", target))])
    canonical = SHEETS[sheet.lower()].name
    assert ("invalid_character", canonical, row, column) in entries(result)
    assert [e for e in entries(result) if e[1:] == (canonical, row, column)] == [
        ("invalid_character", canonical, row, column)
    ]  # one error per cell


def test_every_control_character_in_many_cells_gives_one_error_per_cell(tmp_path):
    extra = [
        [rut(20000000 + i), f"N{chr(c)}x", "A", f"p{i}@empresa.cl", "TI"]
        for i, c in enumerate([*range(0x20), 0x7F])
    ]
    result = validate(
        [write_xlsx(tmp_path / "org.xlsx", with_rows(valid_rows(), "Personas", extra))]
    )
    found = issues(result, "invalid_character")
    # tab, LF and CR inside the value too; the ones trimmed at the ends are not inside it
    assert len(found) == len(extra)
    assert {i.params["char"] for i in found} == {f"U+{c:04X}" for c in [*range(0x20), 0x7F]}
    assert {i.row for i in found} == set(range(6, 6 + len(extra)))


@pytest.mark.parametrize("kind", KINDS)
def test_tab_and_line_breaks_at_the_ends_of_a_value_are_trimmed(tmp_path, kind):
    rows = set_cell(valid_rows(), "Personas", 3, "nombres", "\tBruno\r\n")
    rows = set_cell(rows, "Personas", 4, "email", "carla@empresa.cl\n")
    result = validate(write(kind, tmp_path, rows))
    assert result.valid
    assert result.frames[PERSONAS].loc[3, "nombres"] == "Bruno"


@pytest.mark.parametrize("kind", KINDS)
def test_an_escape_at_the_start_of_a_value_is_not_trimmed_away(tmp_path, kind):
    rows = set_cell(valid_rows(), "Personas", 3, "nombres", "\x1b[31mBruno")
    result = validate(write(kind, tmp_path, rows))
    assert entries(result) == {("invalid_character", PERSONAS, 3, "nombres")}


def test_a_unit_code_with_a_control_character_is_not_a_unit_the_people_can_point_at(tmp_path):
    rows = set_cell(valid_rows(), "Unidades", 4, "codigo_unidad", "RR\x02HH")
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert entries(result) == {
        ("invalid_character", UNIDADES, 4, "codigo_unidad"),
        ("unknown_reference", PERSONAS, 5, "codigo_unidad"),  # as for any invalid code
    }


def test_invalid_character_is_a_stable_code_with_messages_in_both_languages():
    assert "invalid_character" in CODES
    assert CODES.index("invalid_code") < CODES.index("invalid_character") < CODES.index("duplicate")
    for key in ("invalid_character", "invalid_character/line_break", "invalid_character/tab"):
        assert set(MESSAGES[key]) == {"es", "en"}


def test_validate_files_reports_control_characters_and_writes_the_annotated_report(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "nombres", "Bru\x00no")
    rows = set_cell(rows, "Personas", 4, "apellidos", "Mu\x1b[2Jñoz")
    report = tmp_path / "informe.xlsx"
    result = validate_files(
        load_settings(), [write_xlsx(tmp_path / "org.xlsx", rows)], report_path=report
    )
    assert result.exit_code == 1
    assert report.stat().st_size > 0  # the annotated report is written, not crashed on
    assert {(e["code"], e["row"]) for e in result.to_dict()["errors"]} == {
        ("invalid_character", 3),
        ("invalid_character", 4),
    }


def register(engine: Engine) -> None:
    with engine.begin() as conn:
        add_client(
            conn,
            "acme",
            "ACME SpA",
            "America/Santiago",
            "admin@acme.cl",
            datetime.now().astimezone(),
        )


def test_a_nul_in_a_name_is_rejected_before_the_database_sees_it(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    register(engine)
    rows = set_cell(valid_rows(), "Personas", 3, "nombres", "Bru\x00no")
    rows = set_cell(rows, "Personas", 4, "nombres", "Car\x01la")
    outcome = run_load(
        settings, LoadRequest("acme", [write_xlsx(tmp_path / "org.xlsx", rows)]), engine
    )
    data = outcome.to_dict()
    assert data["status"] == "rejected"
    assert outcome.exit_code == 1
    assert {(e["code"], e["row"]) for e in data["errors"]} == {
        ("invalid_character", 3),
        ("invalid_character", 4),
    }
    assert data["incident"] is None or data["incident"]["level"] == 1  # the client's own data
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(people)).scalar() == 0


def test_a_reupload_differing_only_by_invisible_characters_changes_nothing(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    register(engine)
    (tmp_path / "marked").mkdir()
    first = run_load(
        settings, LoadRequest("acme", [write_xlsx(tmp_path / "org.xlsx", valid_rows())]), engine
    )
    assert first.status == "applied"
    again = run_load(
        settings,
        LoadRequest("acme", write_csvs(tmp_path / "marked", marked_rows("\u200b"))),
        engine,
    )
    assert again.status == "no_changes"


# --- terminal output never echoes a control character ----------------------------------------


def test_the_human_report_shows_control_characters_as_code_points(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "nombres", "\x1b]0;owned\x07\x1b[2J")
    rows["Personas"][0].append("Nota\x1b[31m")  # an unknown header with an escape
    for row in rows["Personas"][1:]:
        row.append("x")
    path = write_xlsx(tmp_path / "org.xlsx", rows)
    result = CliRunner().invoke(app, ["validate", "--client", "acme", str(path)])
    assert result.exit_code == 1
    assert "invalid_character" in result.stdout
    assert "U+001B" in result.stdout
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stdout)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("a\x1b[31mb", "a<U+001B>[31mb"),
        ("\x9b2J", "<U+009B>2J"),
        ("line\nbreak\r", "line<U+000A>break<U+000D>"),
        ("\u202eevil", "<U+202E>evil"),
        ("cero\u200bancho", "cero<U+200B>ancho"),
        ("Ñandú", "Ñandú"),
    ],
)
def test_visible_shows_what_could_act_on_the_terminal_as_code_points(text, shown):
    assert visible(text) == shown


def test_the_json_report_shows_control_characters_as_code_points(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "nombres", "Bru\x1bno\x00")
    path = write_xlsx(tmp_path / "org.xlsx", rows)
    result = CliRunner().invoke(app, ["validate", "--client", "acme", str(path), "--json"])
    assert "\x1b" not in result.stdout
    assert "\\u001b" not in result.stdout.lower()
    (error,) = json.loads(result.stdout)["errors"]
    assert (error["code"], error["value"]) == ("invalid_character", "Bru<U+001B>no<U+0000>")


# --- unknown headers name the column they probably mean ---------------------------------------


@pytest.mark.parametrize(
    ("sheet", "header", "expected"),
    [
        (PERSONAS, "Cargo actual", "cargo"),
        (PERSONAS, "Fecha de ingreso", "fecha_ingreso"),
        (PERSONAS, "FechaIngreso", "fecha_ingreso"),
        (PERSONAS, "Correo electrónico personal", "email"),
        (PERSONAS, "e-mail", "email"),
        (PERSONAS, "Perfill", "perfil"),
        (PERSONAS, "RUT Jefe", "rut_jefatura"),
        (PERSONAS, "Hire date (dd/mm)", "fecha_ingreso"),
        (UNIDADES, "Código de Unidad Padre", "codigo_unidad_padre"),
        (UNIDADES, "Centro de costo", "centro_costo"),
        (UNIDADES, "Nombre de la unidad", "nombre_unidad"),
        (PERSONAS, "Teléfono", None),
        (PERSONAS, "Observaciones", None),
        (PERSONAS, "x" * 5000, None),
    ],
)
def test_suggest_column_names_the_closest_column(sheet, header, expected):
    assert suggest_column(sheet, header) == expected


def test_suggest_column_skips_the_columns_the_sheet_already_has():
    assert suggest_column(PERSONAS, "Cargo actual", exclude={"cargo"}) != "cargo"


def _renamed(sheet: str, column: str, header: str) -> dict[str, list[Any]]:
    rows = valid_rows()
    rows[sheet][0][rows[sheet][0].index(column)] = header
    return rows


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("header", "column", "title_es", "title_en"),
    [
        ("Cargo actual", "cargo", "Cargo", "Position"),
        ("Fecha de ingreso", "fecha_ingreso", "Fecha Ingreso", "Hire Date"),
    ],
)
def test_a_misspelt_optional_header_is_a_warning_that_names_the_column_it_means(
    tmp_path, kind, header, column, title_es, title_en
):
    result = validate(write(kind, tmp_path, _renamed("Personas", column, header)))
    assert entries(result, "warnings") == {("unknown_column", PERSONAS, 1, None)}
    (warning,) = result.report.warnings
    assert (warning.header, warning.params["suggestion"]) == (header, column)
    assert f"«{title_es}»" in warning.message("es")
    assert f"'{title_en}'" in warning.message("en")
    assert_short_messages_in_both_languages(result)


def test_a_misspelt_required_header_is_missing_and_its_warning_names_it(tmp_path):
    result = validate(
        [write_xlsx(tmp_path / "org.xlsx", _renamed("Unidades", "codigo_unidad", "Codigo Unid"))]
    )
    assert ("missing_column", UNIDADES, None, "codigo_unidad") in entries(result)
    (warning,) = result.report.warnings
    assert warning.params["suggestion"] == "codigo_unidad"


def test_an_unrelated_unknown_header_gets_no_suggestion(tmp_path):
    rows = valid_rows()
    rows["Personas"] = [[*r, "x"] for r in rows["Personas"]]
    rows["Personas"][0][-1] = "Teléfono Móvil"
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    (warning,) = result.report.warnings
    assert "suggestion" not in warning.params
    assert warning.key is None


def test_a_huge_unknown_header_gives_a_short_warning(tmp_path):
    rows = valid_rows()
    rows["Personas"] = [[*r, "x"] for r in rows["Personas"]]
    rows["Personas"][0][-1] = "Nota " * 6000
    result = validate(write("csv", tmp_path, rows))
    assert entries(result, "warnings") == {("unknown_column", PERSONAS, 1, None)}
    assert_short_messages_in_both_languages(result)


# --- messages show the template's header names ------------------------------------------------


def test_the_column_titles_are_the_template_headers_and_are_recognised():
    for lang in ("es", "en"):
        for (sheet, column), header in HEADERS[lang].items():
            assert SHEETS[sheet].column(column).title(lang) == header
    for sheet in SHEETS.values():
        rows = [[c.title("es") for c in sheet.columns], [c.title("en") for c in sheet.columns]]
        for header in rows:
            built, found = build_sheet(sheet.name, sheet.name, [header])
            assert set(built.headers) == set(sheet.column_names)
            assert not [i for i in found if i.code == "unknown_column"]


def test_a_missing_column_is_named_by_its_template_header(tmp_path):
    rows = valid_rows()
    rows["Unidades"] = [r[1:] for r in rows["Unidades"]]  # no codigo_unidad
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    (missing,) = issues(result, "missing_column")
    assert "«Código Unidad»" in missing.message("es")
    assert "'Unit Code'" in missing.message("en")
    assert "codigo_unidad" not in missing.message("es")
    assert "Unidades" in missing.message("es")
    assert "Units" in missing.message("en")


def test_a_blank_required_cell_is_named_by_the_header_as_written(tmp_path):
    rows = _renamed("Unidades", "nombre_unidad", "NOMBRE  UNIDAD")
    rows = set_cell(rows, "Unidades", 3, "NOMBRE  UNIDAD", None)
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    (required,) = issues(result, "required")
    assert "«NOMBRE UNIDAD»" in required.message("es")


# --- a title row above the header -------------------------------------------------------------


def _titled(rows: dict[str, list[Any]], above: int) -> dict[str, list[Any]]:
    """``rows`` with a title and blank rows above each header: ``above`` rows in all."""
    titles = {
        "Unidades": [["Nómina de unidades — noviembre 2026"]],
        "Personas": [["Empresa ACME SpA", None, "Nómina de personas"], ["Generado el 25-11-2026"]],
    }
    return {
        sheet: [*titles[sheet], *[None] * (above - len(titles[sheet])), *sheet_rows]
        for sheet, sheet_rows in rows.items()
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("above", [2, 4, HEADER_SEARCH_ROWS - 1])
def test_a_header_below_title_rows_is_found_and_rows_keep_their_excel_numbers(
    tmp_path, kind, above
):
    rows = set_cell(valid_rows(), "Personas", 4, "email", "carla@")
    result = validate(write(kind, tmp_path, _titled(rows, above)))
    header_row = above + 1
    assert entries(result) == {("invalid_email", PERSONAS, header_row + 3, "email")}
    assert result.report.counts == {UNIDADES: 3, PERSONAS: 4}
    assert result.frames[PERSONAS].index.tolist() == list(range(header_row + 1, header_row + 5))


def test_a_header_below_title_rows_reports_its_unknown_columns_on_its_own_row(tmp_path):
    rows = valid_rows()
    rows["Personas"] = [[*r, "x"] for r in rows["Personas"]]
    rows["Personas"][0][-1] = "Cargo actual"
    result = validate([write_xlsx(tmp_path / "org.xlsx", _titled(rows, 3))])
    assert entries(result, "warnings") == {("unknown_column", PERSONAS, 4, None)}


def test_a_header_after_empty_rows_is_found(tmp_path):
    rows = {sheet: [None, None, *sheet_rows] for sheet, sheet_rows in valid_rows().items()}
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert result.valid
    assert result.frames[UNIDADES].index.tolist() == [4, 5, 6]


@pytest.mark.parametrize("kind", KINDS)
def test_a_header_below_the_first_rows_is_missing_and_the_message_says_where_it_looked(
    tmp_path, kind
):
    result = validate(write(kind, tmp_path, _titled(valid_rows(), HEADER_SEARCH_ROWS)))
    missing = issues(result, "missing_column")
    required = [c.name for s in SHEETS.values() for c in s.columns if c.required]
    assert sorted(i.column for i in missing) == sorted(required)
    assert {i.key for i in missing} == {"missing_column/no_header"}
    assert str(HEADER_SEARCH_ROWS) in missing[0].message("es")
    assert_short_messages_in_both_languages(result)


def test_a_data_row_that_looks_like_a_title_does_not_move_the_header(tmp_path):
    rows = with_rows(valid_rows(), "Personas", [[rut(7654321), "Cargo", "Perfil", "x@y.cl", "TI"]])
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert result.valid
    assert result.frames[PERSONAS].index.tolist() == [2, 3, 4, 5, 6]


# --- Excel damage is named --------------------------------------------------------------------


def _zeros_rows(unit_code: Any, reference: Any) -> dict[str, list[Any]]:
    rows = set_cell(valid_rows(), "Unidades", 3, "codigo_unidad", unit_code)  # TI's code
    rows = set_cell(rows, "Personas", 3, "codigo_unidad", reference)  # CTO's unit
    return set_cell(rows, "Personas", 4, "codigo_unidad", unit_code)  # DEV's unit, intact


@pytest.mark.parametrize(
    ("unit_code", "reference", "match"),
    [("007", 7, "007"), ("007", "7", "007"), ("7", "0007", "7"), ("0100", 100, "0100")],
)
def test_a_unit_code_that_matches_once_leading_zeros_are_restored_says_so(
    tmp_path, unit_code, reference, match
):
    result = validate([write_xlsx(tmp_path / "org.xlsx", _zeros_rows(unit_code, reference))])
    assert entries(result) == {("unknown_reference", PERSONAS, 3, "codigo_unidad")}
    (issue,) = result.report.errors
    assert (issue.key, issue.params["match"]) == ("unknown_reference/unit_zeros", match)
    assert match in issue.message("es")
    assert match in issue.message("en")


def test_a_parent_code_without_its_leading_zeros_says_so(tmp_path):
    rows = set_cell(valid_rows(), "Unidades", 2, "codigo_unidad", "0001")
    rows = set_cell(rows, "Unidades", 3, "codigo_unidad_padre", 1)
    rows = set_cell(rows, "Unidades", 4, "codigo_unidad_padre", "0001")
    for row in rows["Personas"][1:]:
        row[4] = "0001" if row[4] == "GER" else row[4]
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert entries(result) == {("unknown_reference", UNIDADES, 3, "codigo_unidad_padre")}
    assert result.report.errors[0].key == "unknown_reference/unit_zeros"


def test_an_unknown_unit_that_is_not_a_zeros_matter_keeps_the_plain_message(tmp_path):
    result = validate([write_xlsx(tmp_path / "org.xlsx", _zeros_rows("007", 8))])
    (issue,) = result.report.errors
    assert (issue.code, issue.key) == ("unknown_reference", "unknown_reference/unit")


@pytest.mark.parametrize(
    ("kind", "value", "key"),
    [
        ("csv", "1.23457E+07", "invalid_rut/scientific"),
        ("csv", "1,23457E+07", "invalid_rut/scientific"),
        ("xlsx", "1.23457E+07", "invalid_rut/scientific"),
        (
            "xlsx",
            1.2345678901234567e16,
            "invalid_rut/scientific",
        ),  # a float cell, as calamine reads it
        ("xlsx", 12345670, "invalid_rut/number"),  # a number cell: no hyphen, wrong check digit
        ("csv", "12.345.670", "invalid_rut"),
        ("csv", "sin rut", "invalid_rut"),
    ],
)
def test_a_rut_that_excel_turned_into_a_number_says_so(tmp_path, kind, value, key):
    rows = set_cell(valid_rows(), "Personas", 4, "rut", value)  # DEV, nobody's manager
    result = validate(write(kind, tmp_path, rows))
    assert entries(result) == {("invalid_rut", PERSONAS, 4, "rut")}
    assert (result.report.errors[0].key or "invalid_rut") == key
    assert_short_messages_in_both_languages(result)


@pytest.mark.parametrize("kind", KINDS)
def test_a_date_time_cell_counts_as_its_date(tmp_path, kind):
    rows = set_cell(valid_rows(), "Personas", 2, "fecha_ingreso", datetime(2020, 1, 15, 8, 30))
    rows = set_cell(rows, "Personas", 3, "fecha_ingreso", datetime(1965, 3, 1, 23, 59, 59))
    if kind == "csv":  # what a CSV holds of a date-time cell is its text
        rows = set_cell(rows, "Personas", 2, "fecha_ingreso", "2020-01-15")
        rows = set_cell(rows, "Personas", 3, "fecha_ingreso", "1965-03-01")
    result = validate(write(kind, tmp_path, rows))
    assert result.valid
    assert result.frames[PERSONAS]["fecha_ingreso"].tolist()[:2] == ["2020-01-15", "1965-03-01"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("sheet", "row", "column", "value", "code"),
    [
        ("Personas", 3, "email", "#N/A", "invalid_email"),
        ("Personas", 4, "rut_jefatura", "#REF!", "invalid_rut"),
        ("Personas", 5, "fecha_ingreso", "#VALUE!", "invalid_date"),
        ("Personas", 4, "perfil", "#DIV/0!", "invalid_choice"),
        ("Personas", 3, "nombres", "#NAME?", "required"),
        ("Personas", 4, "cargo", "#N/D", "required"),  # Spanish Excel
        ("Personas", 2, "apellidos", "#¡VALOR!", "required"),
        ("Unidades", 3, "codigo_unidad_padre", " #¡REF! ", "invalid_code"),
        ("Unidades", 4, "centro_costo", "#¡DIV/0!", "required"),
    ],
)
def test_an_excel_error_value_is_reported_naming_the_error(
    tmp_path, kind, sheet, row, column, value, code
):
    result = validate(write(kind, tmp_path, set_cell(valid_rows(), sheet, row, column, value)))
    assert entries(result) == {(code, SHEETS[sheet.lower()].name, row, column)}
    (issue,) = result.report.errors
    assert issue.key == f"{code}/excel_error"
    for lang in ("es", "en"):
        assert value.strip() in issue.message(lang)
    assert_short_messages_in_both_languages(result)


def _with_formula_errors(path: Path) -> Path:
    """``path`` rewritten so that its error cells hold the formula that failed, as Excel
    writes them (``<c t="e"><f>…</f><v>#N/A</v></c>``)."""
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    for name, data in members.items():
        if name.startswith("xl/worksheets/"):
            members[name] = re.sub(
                rb'(<c [^>]*t="e"[^>]*>)(<v>)', rb"\1<f>VLOOKUP(A2,Hoja!A:B,2,FALSE)</f>\2", data
            )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members.items():
            target.writestr(name, data)
    return path


def test_error_cells_of_failed_formulas_below_a_title_and_right_of_column_a_are_named(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "cargo", "#N/A")
    rows = set_cell(rows, "Personas", 5, "codigo_unidad", "#REF!")
    titled = _titled(rows, 2)  # header in row 3
    shifted = {
        sheet: [None if r is None else [None, None, *r] for r in sheet_rows]
        for sheet, sheet_rows in titled.items()
    }  # from column C
    path = _with_formula_errors(write_xlsx(tmp_path / "org.xlsx", shifted))
    assert b"<f>VLOOKUP" in zipfile.ZipFile(path).read("xl/worksheets/sheet2.xml")
    result = validate([path])
    assert entries(result) == {
        ("required", PERSONAS, 5, "cargo"),
        ("invalid_code", PERSONAS, 7, "codigo_unidad"),
    }
    assert {i.key for i in result.report.errors} == {
        "required/excel_error",
        "invalid_code/excel_error",
    }


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_the_error_cell_scanner_finds_cells_split_across_chunks(chunk):
    xml = (
        b'<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row>'
        b'<row r="2"><c r="B2" s="1" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="C2"/>'
        b'<c r="AA2" t=\'e\'><v>#N/A</v></c><c r="D2" t="e"/></row>'
        b'<x:row r="3"><x:c r="C3" t="e"><x:v>#REF!</x:v></x:c></x:row></sheetData>'
    )
    scanner = ErrorCellScanner()
    for start in range(0, len(xml), chunk):
        scanner.feed(xml[start : start + chunk])
    assert scanner.cells == {(1, 1): "#DIV/0!", (1, 26): "#N/A", (2, 2): "#REF!"}


def test_a_damaged_workbook_gives_no_error_cells_and_no_exception(tmp_path):
    (tmp_path / "x.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert excel_error_cells(tmp_path / "x.xlsx", 10**6) == {}


def test_every_excel_error_value_is_recognised(tmp_path):
    extra = [
        [rut(30000000 + i), error, "A", f"p{i}@empresa.cl", "TI"]
        for i, error in enumerate(EXCEL_ERRORS)
    ]
    rows = with_rows(valid_rows(), "Personas", extra)
    result = validate(write("csv", tmp_path, rows))
    assert entries(result) == {
        ("required", PERSONAS, row, "nombres") for row in range(6, 6 + len(EXCEL_ERRORS))
    }


def test_text_that_merely_holds_a_hash_is_a_value(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "cargo", "Analista #N/A 2")
    rows = set_cell(rows, "Personas", 4, "cargo", "#1 en ventas")
    assert validate(write("csv", tmp_path, rows)).valid


# --- a Spanish-Excel export with all of it ----------------------------------------------------


def test_a_damaged_spanish_excel_export_gets_each_cause_named():
    result = validate([CASES / "unidades.csv", CASES / "personas.csv"])
    found = {(e[0], e[1], e[2], e[3]) for e in entries(result)}
    assert found == {
        ("unknown_reference", UNIDADES, 5, "codigo_unidad_padre"),  # 7 for 007
        ("invalid_rut", PERSONAS, 4, "rut"),  # 1,23457E+07
        ("required", PERSONAS, 4, "cargo"),  # #N/D
        ("invalid_email", PERSONAS, 5, "email"),  # #N/A
    }
    keys = {(i.row, i.column): i.key for i in result.report.errors}
    assert keys == {
        (5, "codigo_unidad_padre"): "unknown_reference/unit_zeros",
        (4, "rut"): "invalid_rut/scientific",
        (4, "cargo"): "required/excel_error",
        (5, "email"): "invalid_email/excel_error",
    }
    assert result.frames[PERSONAS].loc[3, "email"] == "ana@empresa.cl"  # its ZWSP removed
    assert result.report.counts == {UNIDADES: 2, PERSONAS: 3}
    assert_short_messages_in_both_languages(result)
