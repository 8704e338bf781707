"""Validating an upload end to end (loaders/validate.py): every report code of SPEC §2."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

import pytest
from openpyxl import load_workbook

from loaders.read import Limits
from loaders.validate import ValidatedUpload, validate_upload
from orgload.columns import PERSONAS, UNIDADES
from tests.builders import (
    CEO,
    CTO,
    DEV,
    HR,
    bad_rut,
    csv_bytes,
    rut,
    set_cell,
    valid_rows,
    with_rows,
    write_csv,
    write_csvs,
    write_xlsx,
    write_zip,
)

LOAD_DATE = date(2026, 11, 25)  # fecha_ingreso may go up to 2027-11-26

Entry = tuple[str, str | None, int | None, str | None]  # code, sheet, row, column


def validate(paths, **options) -> ValidatedUpload:
    return validate_upload(list(paths), on_date=LOAD_DATE, **options)


def entries(result: ValidatedUpload, kind: str = "errors") -> set[Entry]:
    return {(e["code"], e["sheet"], e["row"], e["column"]) for e in result.report.to_dict()[kind]}


def assert_messages_in_both_languages(result: ValidatedUpload) -> None:
    spanish, english = result.report.to_dict("es"), result.report.to_dict("en")
    for kind in ("errors", "warnings"):
        assert len(spanish[kind]) == len(english[kind])
        for es, en in zip(spanish[kind], english[kind], strict=True):
            assert es["message"].strip()
            assert en["message"].strip()
            assert es["message"] != en["message"]
            assert {k: v for k, v in es.items() if k != "message"} == {
                k: v for k, v in en.items() if k != "message"
            }


# --- every report code ------------------------------------------------------------------------


def xlsx(rows) -> Callable[[Path], list[Path]]:
    return lambda d: [write_xlsx(d / "org.xlsx", rows)]


def cell(sheet: str, row: int, column: str, value) -> Callable[[Path], list[Path]]:
    return xlsx(set_cell(valid_rows(), sheet, row, column, value))


def raw_file(name: str, data: bytes) -> Callable[[Path], list[Path]]:
    def make(d: Path) -> list[Path]:
        (d / name).write_bytes(data)
        return [d / name]

    return make


def drop_column(sheet: str, column: str) -> Callable[[Path], list[Path]]:
    rows = valid_rows()
    position = rows[sheet][0].index(column)
    rows[sheet] = [[v for i, v in enumerate(r) if i != position] for r in rows[sheet]]
    return xlsx(rows)


@cache
def _bomb_bytes() -> bytes:
    """A ~50 KB .xlsx whose sheet XML inflates to 50 MB of one repeated byte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"a" * 50_000_000)
    return buffer.getvalue()


def _bomb(d: Path) -> list[Path]:
    path = d / "bomb.xlsx"
    path.write_bytes(_bomb_bytes())
    return [path]


UNIT_CYCLE = with_rows(
    valid_rows(),
    "Unidades",
    [["A", "a", "C"], ["B", "b", "A"], ["C", "c", "B"], ["D", "d", "A"], ["E", "e", "D"]],
)
# CEO (row 2) now reports to DEV: CEO → DEV → CTO → CEO; HR (row 5) hangs from CEO.
MANAGER_CYCLE = set_cell(valid_rows(), "Personas", 2, "rut_jefatura", DEV)
TWO_UNITS_DUPLICATED = with_rows(
    valid_rows(), "Unidades", [["TI", "Otra TI", "GER"], ["RRHH", "Otra", None], ["TI", "TI 3"]]
)


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], list[Path]]
    expected: set[Entry]
    limits: Limits | None = None
    warnings: set[Entry] = field(default_factory=set)


CASES = {
    "unreadable_file/missing": Case(
        lambda d: [d / "nada.xlsx"], {("unreadable_file", None, None, None)}
    ),
    "unreadable_file/corrupt": Case(
        raw_file("org.xlsx", b"PK\x03\x04" + b"\x17" * 200), {("unreadable_file", None, None, None)}
    ),
    "file_too_large/size": Case(
        xlsx(valid_rows()), {("file_too_large", None, None, None)}, Limits(max_file_bytes=2_000)
    ),
    "file_too_large/rows": Case(
        xlsx(valid_rows()), {("file_too_large", PERSONAS, None, None)}, Limits(max_rows=3)
    ),
    "file_too_large/ratio": Case(
        xlsx(valid_rows()), {("file_too_large", None, None, None)}, Limits(max_ratio=1.5)
    ),
    "file_too_large/uncompressed": Case(
        xlsx(valid_rows()),
        {("file_too_large", None, None, None)},
        Limits(max_uncompressed_bytes=5_000),
    ),
    "file_too_large/zip_bomb": Case(_bomb, {("file_too_large", None, None, None)}),
    "missing_sheet": Case(
        xlsx({"Unidades": valid_rows()["Unidades"]}), {("missing_sheet", None, None, None)}
    ),
    "missing_sheet/both": Case(
        xlsx({"Hoja1": [["a", "b"], [1, 2]]}),
        {("missing_sheet", None, None, None)},  # one entry per sheet, both file-level
    ),
    "missing_column": Case(
        drop_column("Personas", "email"), {("missing_column", PERSONAS, None, "email")}
    ),
    "unknown_column": Case(
        xlsx({**valid_rows(), "Unidades": [[*r, "nota"] for r in valid_rows()["Unidades"]]}),
        set(),
        warnings={("unknown_column", UNIDADES, 1, None)},
    ),
    "required": Case(
        cell("Personas", 4, "apellidos", "  "), {("required", PERSONAS, 4, "apellidos")}
    ),
    "invalid_rut": Case(
        cell("Unidades", 4, "rut_jefatura", bad_rut(9876543)),
        {("invalid_rut", UNIDADES, 4, "rut_jefatura")},
    ),
    "invalid_rut/letters": Case(
        cell("Personas", 4, "rut_jefatura", "sin jefe"),
        {("invalid_rut", PERSONAS, 4, "rut_jefatura")},
    ),
    "invalid_email": Case(
        cell("Personas", 3, "email", "bruno.empresa.cl"), {("invalid_email", PERSONAS, 3, "email")}
    ),
    "invalid_date": Case(
        cell("Personas", 5, "fecha_ingreso", "31-02-2022"),
        {("invalid_date", PERSONAS, 5, "fecha_ingreso")},
    ),
    "invalid_date/text": Case(
        cell("Personas", 5, "fecha_ingreso", "julio 2022"),
        {("invalid_date", PERSONAS, 5, "fecha_ingreso")},
    ),
    "date_out_of_range/after": Case(
        cell("Personas", 5, "fecha_ingreso", "27-11-2027"),
        {("date_out_of_range", PERSONAS, 5, "fecha_ingreso")},
    ),
    "date_out_of_range/last_day_ok": Case(
        cell("Personas", 5, "fecha_ingreso", "2027-11-26"), set()
    ),
    "date_out_of_range/before": Case(
        cell("Personas", 5, "fecha_ingreso", "31/12/1899"),
        {("date_out_of_range", PERSONAS, 5, "fecha_ingreso")},
    ),
    "date_out_of_range/first_day_ok": Case(
        cell("Personas", 5, "fecha_ingreso", "01/01/1900"), set()
    ),
    "invalid_choice": Case(
        cell("Personas", 3, "perfil", "gerente"), {("invalid_choice", PERSONAS, 3, "perfil")}
    ),
    "too_long": Case(
        cell("Unidades", 3, "nombre_unidad", "n" * 201),
        {("too_long", UNIDADES, 3, "nombre_unidad")},
    ),
    "invalid_code": Case(
        cell("Unidades", 4, "codigo_unidad", "R H"),
        {
            ("invalid_code", UNIDADES, 4, "codigo_unidad"),
            # the people of RRHH now point at a unit that is not there
            ("unknown_reference", PERSONAS, 5, "codigo_unidad"),
        },
    ),
    "invalid_character": Case(
        cell("Personas", 3, "nombres", "Bru\x7fno"), {("invalid_character", PERSONAS, 3, "nombres")}
    ),
    "invalid_character/line_break": Case(
        cell("Personas", 3, "rut", "12.345.678\n-5"),
        {
            ("invalid_character", PERSONAS, 3, "rut"),
            # the CTO's RUT is not a RUT: who points at it points at nobody
            ("unknown_reference", PERSONAS, 4, "rut_jefatura"),
            ("unknown_reference", UNIDADES, 3, "rut_jefatura"),
        },
    ),
    "duplicate/unit": Case(
        xlsx(TWO_UNITS_DUPLICATED),
        {
            ("duplicate", UNIDADES, 5, "codigo_unidad"),
            ("duplicate", UNIDADES, 6, "codigo_unidad"),
            ("duplicate", UNIDADES, 7, "codigo_unidad"),
        },
    ),
    "duplicate/rut": Case(
        xlsx(
            set_cell(
                set_cell(valid_rows(), "Personas", 5, "rut", "11.111.111-1"),
                "Personas",
                5,
                "rut_jefatura",
                None,
            )
        ),
        {
            ("duplicate", PERSONAS, 5, "rut"),
            ("unknown_reference", UNIDADES, 4, "rut_jefatura"),  # HR is gone
        },
    ),
    "duplicate/email": Case(
        cell("Personas", 4, "email", "BRUNO@empresa.cl"), {("duplicate", PERSONAS, 4, "email")}
    ),
    "duplicate/header": Case(
        xlsx({**valid_rows(), "Unidades": [[*r, r[1]] for r in valid_rows()["Unidades"]]}),
        {("duplicate", UNIDADES, 1, "nombre_unidad")},
    ),
    "unknown_reference/parent": Case(
        cell("Unidades", 3, "codigo_unidad_padre", "GERENCIA"),
        {("unknown_reference", UNIDADES, 3, "codigo_unidad_padre")},
    ),
    "unknown_reference/unit_manager": Case(
        cell("Unidades", 3, "rut_jefatura", rut(22222222)),
        {("unknown_reference", UNIDADES, 3, "rut_jefatura")},
    ),
    "unknown_reference/person_unit": Case(
        cell("Personas", 4, "codigo_unidad", "VENTAS"),
        {("unknown_reference", PERSONAS, 4, "codigo_unidad")},
    ),
    "unknown_reference/person_manager": Case(
        cell("Personas", 4, "rut_jefatura", rut(22222222)),
        {("unknown_reference", PERSONAS, 4, "rut_jefatura")},
    ),
    "self_reference/unit": Case(
        cell("Unidades", 4, "codigo_unidad_padre", "RRHH"),
        {("self_reference", UNIDADES, 4, "codigo_unidad_padre")},
    ),
    "self_reference/person": Case(
        cell("Personas", 3, "rut_jefatura", "12.345.678-5"),
        {("self_reference", PERSONAS, 3, "rut_jefatura")},
    ),
    "cycle/unit": Case(
        xlsx(UNIT_CYCLE), {("cycle", UNIDADES, row, "codigo_unidad_padre") for row in (5, 6, 7)}
    ),
    "cycle/person": Case(
        xlsx(MANAGER_CYCLE), {("cycle", PERSONAS, row, "rut_jefatura") for row in (2, 3, 4)}
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_problem_is_reported_with_its_code_sheet_row_and_column(tmp_path, case):
    result = validate(case.make(tmp_path), limits=case.limits)
    assert entries(result) == case.expected
    assert entries(result, "warnings") == case.warnings
    assert result.valid is (not case.expected)
    assert_messages_in_both_languages(result)


def test_a_valid_upload_has_no_errors_and_counts_its_rows(tmp_path):
    result = validate([write_xlsx(tmp_path / "org.xlsx", valid_rows())])
    assert result.report.to_dict() == {
        "valid": True,
        "counts": {UNIDADES: 3, PERSONAS: 4},
        "errors": [],
        "warnings": [],
    }
    assert sorted(result.frames) == [PERSONAS, UNIDADES]


def test_all_problems_are_reported_at_once(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 2, "email", "x")
    rows = set_cell(rows, "Personas", 3, "perfil", "jefe")
    rows = set_cell(rows, "Unidades", 4, "nombre_unidad", None)
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert entries(result) == {
        ("invalid_email", PERSONAS, 2, "email"),
        ("invalid_choice", PERSONAS, 3, "perfil"),
        ("required", UNIDADES, 4, "nombre_unidad"),
    }


def test_missing_sheet_names_each_missing_sheet(tmp_path):
    result = validate([write_xlsx(tmp_path / "org.xlsx", {"Hoja1": [["a"], [1]]})])
    missing = [i for i in result.report.errors if i.code == "missing_sheet"]
    assert sorted(i.params["sheet"] for i in missing) == [PERSONAS, UNIDADES]


def test_duplicate_names_the_row_of_the_first_occurrence(tmp_path):
    result = validate([write_xlsx(tmp_path / "org.xlsx", TWO_UNITS_DUPLICATED)])
    duplicates = {i.row: i for i in result.report.errors if i.code == "duplicate"}
    assert {row: i.params["first_row"] for row, i in duplicates.items()} == {5: 3, 6: 4, 7: 3}
    for lang in ("es", "en"):
        messages = {e["row"]: e["message"] for e in result.report.to_dict(lang)["errors"]}
        assert "3" in messages[5]
        assert "4" in messages[6]


def test_cycle_rows_name_the_whole_cycle(tmp_path):
    result = validate([write_xlsx(tmp_path / "org.xlsx", MANAGER_CYCLE)])
    (path,) = {i.params["path"] for i in result.report.errors}
    assert all(r in path for r in (CEO, CTO, DEV))
    assert HR not in path


def test_unknown_column_keeps_the_header_as_written(tmp_path):
    rows = valid_rows()
    rows["Personas"] = [[*r, "x"] for r in rows["Personas"]]
    rows["Personas"][0][-1] = "Teléfono Móvil"
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert result.valid
    (warning,) = result.report.to_dict("en")["warnings"]
    assert (warning["header"], warning["column"], warning["row"]) == ("Teléfono Móvil", None, 1)


def test_the_date_range_follows_the_load_date(tmp_path):
    path = write_xlsx(
        tmp_path / "org.xlsx", set_cell(valid_rows(), "Personas", 5, "fecha_ingreso", "2027-06-01")
    )
    assert validate_upload([path], on_date=date(2026, 11, 25)).valid
    late = validate_upload([path], on_date=date(2026, 5, 30))  # up to 2027-05-31
    assert entries(late) == {("date_out_of_range", PERSONAS, 5, "fecha_ingreso")}


# --- row numbers -------------------------------------------------------------------------------


def rows_with_blanks():
    """Personas at Excel rows 2, 5, 7, 8 (rows 3-4 blank, row 6 only spaces); row 7 is wrong."""
    rows = valid_rows()
    header, p2, p3, p4, p5 = rows["Personas"]
    p4 = [*p4[:3], "carla@", *p4[4:]]
    rows["Personas"] = [header, p2, None, None, p3, ["  ", "", "\u00a0"], p4, p5]
    return rows


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_rows_are_numbered_as_excel_shows_them_and_blank_rows_are_not_counted(tmp_path, kind):
    rows = rows_with_blanks()
    paths = (
        [write_xlsx(tmp_path / "org.xlsx", rows)] if kind == "xlsx" else write_csvs(tmp_path, rows)
    )
    result = validate(paths)
    assert entries(result) == {("invalid_email", PERSONAS, 7, "email")}
    assert result.report.counts == {UNIDADES: 3, PERSONAS: 4}
    assert result.frames[PERSONAS].index.tolist() == [2, 5, 7, 8]


def test_rows_of_a_csv_inside_a_zip_are_numbered_as_in_the_csv(tmp_path):
    rows = rows_with_blanks()
    archive = write_zip(
        tmp_path / "org.zip",
        {"unidades.csv": csv_bytes(rows["Unidades"]), "personas.csv": csv_bytes(rows["Personas"])},
    )
    result = validate([archive])
    assert entries(result) == {("invalid_email", PERSONAS, 7, "email")}
    assert result.report.counts == {UNIDADES: 3, PERSONAS: 4}


# --- header aliases ------------------------------------------------------------------------------

ALIASED = {
    "Units": [
        ["Código Unidad", "NOMBRE UNIDAD", "parent_unit_code", "Cost Center", "RUT Jefatura"],
        *valid_rows()["Unidades"][1:],
    ],
    "Colaboradores": [
        [
            "National ID",
            "Nombres",
            "Apellidos",
            "Correo Electrónico",
            "CODIGO UNIDAD",
            "Cargo",
            "manager_rut",
            "Fecha Ingreso",
            "Perfil",
        ],
        *valid_rows()["Personas"][1:],
    ],
}


@pytest.mark.parametrize("people_sheet", ["Colaboradores", "People", "PERSONAS"])
def test_sheet_and_header_aliases_are_recognised(tmp_path, people_sheet):
    rows = {"Units": ALIASED["Units"], people_sheet: ALIASED["Colaboradores"]}
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert result.valid
    assert result.report.to_dict()["warnings"] == []
    assert result.report.counts == {UNIDADES: 3, PERSONAS: 4}


@pytest.mark.parametrize(
    "written", ["Código Unidad", "CODIGO UNIDAD", "unit_code", " código\u00a0unidad "]
)
def test_an_aliased_header_is_reported_as_written_with_the_canonical_column(tmp_path, written):
    rows = {name: [list(r) for r in sheet] for name, sheet in ALIASED.items()}
    rows["Units"][0][0] = written
    rows["Units"][3][0] = "R H"  # RRHH's code, row 4
    rows["Colaboradores"][2][3] = "bruno@"  # row 3
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    found = {
        (e["sheet"], e["row"], e["column"], e["header"], e["code"])
        for e in result.report.to_dict()["errors"]
    }
    assert (UNIDADES, 4, "codigo_unidad", " ".join(written.split()), "invalid_code") in found
    assert (PERSONAS, 3, "email", "Correo Electrónico", "invalid_email") in found


def test_validation_writes_nothing(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "email", "x@")
    paths = [write_xlsx(tmp_path / "org.xlsx", rows), *write_csvs(tmp_path, rows)]
    (tmp_path / "junk.xlsx").write_bytes(_junk(100))
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    validate(paths[:1])
    validate(paths[1:])
    validate([tmp_path / "junk.xlsx"])
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


# --- CSV -----------------------------------------------------------------------------------------


def accented_rows(rows=None):
    rows = set_cell(rows or valid_rows(), "Personas", 3, "nombres", "José Ñandú")
    rows["Personas"][0][3] = "Correo Electrónico"
    rows["Unidades"][0][0] = "Código Unidad"
    return rows


@pytest.mark.parametrize(
    "options",
    [
        {"encoding": "cp1252", "delimiter": ";"},
        {"encoding": "utf-8", "delimiter": ",", "bom": True},
        {"encoding": "utf-8", "delimiter": ";"},
        {"encoding": "utf-8", "delimiter": "\t"},
    ],
    ids=["cp1252-semicolon", "utf8-bom-comma", "utf8-semicolon", "utf8-tab"],
)
def test_csv_exports_of_spanish_excel_are_read(tmp_path, options):
    result = validate(write_csvs(tmp_path, accented_rows(), **options))
    assert result.report.to_dict() == {
        "valid": True,
        "counts": {UNIDADES: 3, PERSONAS: 4},
        "errors": [],
        "warnings": [],
    }
    assert result.frames[PERSONAS].loc[3, "nombres"] == "José Ñandú"
    assert result.frames[PERSONAS].loc[4, "apellidos"] == "Muñoz"


def test_csv_files_inside_a_zip_are_read(tmp_path):
    rows = accented_rows()
    archive = write_zip(
        tmp_path / "organizacion.zip",
        {
            "unidades.csv": csv_bytes(rows["Unidades"], encoding="cp1252", delimiter=";"),
            "personas.csv": csv_bytes(rows["Personas"], bom=True),
        },
    )
    result = validate([archive])
    assert result.valid
    assert result.report.counts == {UNIDADES: 3, PERSONAS: 4}
    assert result.frames[PERSONAS].loc[3, "nombres"] == "José Ñandú"


def test_csv_headers_as_written_survive_the_encoding(tmp_path):
    rows = accented_rows(set_cell(valid_rows(), "Personas", 2, "email", "ana@"))
    result = validate(write_csvs(tmp_path, rows, encoding="cp1252", delimiter=";"))
    (error,) = result.report.to_dict()["errors"]
    assert (error["row"], error["column"], error["header"]) == (2, "email", "Correo Electrónico")


# --- normalization through the whole pipeline ---------------------------------------------------


def test_a_messy_reupload_normalizes_to_the_same_frames(tmp_path):
    clean = validate([write_xlsx(tmp_path / "clean.xlsx", valid_rows())])
    messy_rows = valid_rows()
    for row in messy_rows["Personas"][1:]:
        row[0] = f"{int(row[0][:-2]):,}".replace(",", ".") + "-" + row[0][-1].lower()
        row[1] = f"  {row[1]}\u00a0"
        row[3] = row[3].upper()
        if row[7]:
            row[7] = "/".join(reversed(row[7].split("-")))
        row[8] = (row[8] or "").upper()
    for row in messy_rows["Unidades"][1:]:
        row[4] = row[4].replace("-", " - ")
    messy = validate([write_xlsx(tmp_path / "messy.xlsx", messy_rows)])
    assert messy.valid
    for sheet in (UNIDADES, PERSONAS):
        assert messy.frames[sheet].equals(clean.frames[sheet])


def test_excel_date_cells_become_iso_dates(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 2, "fecha_ingreso", date(2020, 1, 15))
    rows = set_cell(rows, "Personas", 3, "fecha_ingreso", datetime(2021, 3, 1))
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert result.valid
    assert result.frames[PERSONAS]["fecha_ingreso"].tolist()[:2] == ["2020-01-15", "2021-03-01"]


# --- bad input of any kind ------------------------------------------------------------------------


def _junk(size: int) -> bytes:
    return bytes((i * 7919 + 13) % 256 for i in range(size))  # every byte value, NUL included


def _truncated(d: Path) -> list[Path]:
    data = write_xlsx(d / "whole.xlsx", valid_rows()).read_bytes()
    (d / "cut.xlsx").write_bytes(data[: len(data) * 2 // 3])
    return [d / "cut.xlsx"]


BAD_INPUTS = {
    "truncated_xlsx": (_truncated, "unreadable_file"),
    "pdf_named_xlsx": (raw_file("org.xlsx", b"%PDF-1.4\n" + _junk(300)), "unreadable_file"),
    "junk_named_xlsx": (raw_file("org.xlsx", _junk(2_000)), "unreadable_file"),
    "junk_named_csv": (raw_file("unidades.csv", _junk(2_000)), "unreadable_file"),
    "empty_xlsx": (raw_file("org.xlsx", b""), "unreadable_file"),
    "empty_csv": (raw_file("personas.csv", b""), "unreadable_file"),
    "old_xls": (
        raw_file("org.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + _junk(600)),
        "unreadable_file",
    ),
    "zip_bomb": (_bomb, "file_too_large"),
}


@pytest.mark.parametrize(("make", "code"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_gets_a_file_level_report_not_an_exception(tmp_path, make, code):
    result = validate(make(tmp_path))
    assert entries(result) == {(code, None, None, None)}
    assert not result.valid
    assert result.frames == {}
    assert_messages_in_both_languages(result)


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    (path,) = _bomb(tmp_path)
    started = time.perf_counter()
    result = validate([path])
    assert time.perf_counter() - started < 2.0  # inflating 50 MB and parsing it takes longer
    assert [i.code for i in result.report.errors] == ["file_too_large"]


def test_a_zip_bomb_with_forged_sizes_gets_a_report(tmp_path):
    data = write_xlsx(tmp_path / "org.xlsx", valid_rows()).read_bytes()
    forged = tmp_path / "forged.xlsx"
    with (
        zipfile.ZipFile(tmp_path / "org.xlsx") as source,
        zipfile.ZipFile(forged, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            member = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                member = member.replace(b"<sheetData>", b"<sheetData>" + b" " * 20_000_000)
            target.writestr(info.filename, member)
    raw = bytearray(forged.read_bytes())
    with zipfile.ZipFile(forged) as archive:
        offset = archive.getinfo("xl/worksheets/sheet1.xml").header_offset
    raw[offset + 22 : offset + 26] = (len(data)).to_bytes(4, "little")  # declared size: small
    name = b"xl/worksheets/sheet1.xml"
    central = raw.find(
        b"PK\x01\x02" + raw[raw.find(b"PK\x01\x02") + 4 : raw.find(b"PK\x01\x02") + 4]
    )
    while central >= 0:
        if raw[central + 46 : central + 46 + len(name)] == name:
            raw[central + 24 : central + 28] = (len(data)).to_bytes(4, "little")
        central = raw.find(b"PK\x01\x02", central + 4)
    forged.write_bytes(bytes(raw))
    result = validate([forged])
    assert {e[0] for e in entries(result)} <= {"unreadable_file", "file_too_large"}
    assert not result.valid


def test_a_workbook_without_the_expected_sheets_reports_missing_sheets(tmp_path):
    result = validate([write_xlsx(tmp_path / "org.xlsx", {"Hoja1": valid_rows()["Personas"]})])
    assert [i.code for i in result.report.errors] == ["missing_sheet", "missing_sheet"]
    assert result.report.counts == {UNIDADES: 0, PERSONAS: 0}


def test_formulas_without_cached_values_give_a_report(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "nombres", "=1+1")
    rows = set_cell(rows, "Personas", 4, "cargo", '=CONCATENATE("a","b")')
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    # openpyxl stores no computed value: the cell reads as empty, as Excel would show it unsaved
    assert entries(result) == {("required", PERSONAS, 3, "nombres")}
    assert_messages_in_both_languages(result)


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_huge_cell_is_too_long_and_its_value_is_cut_in_the_report(tmp_path, kind):
    rows = set_cell(valid_rows(), "Personas", 4, "cargo", "x" * 30_000)  # within the cell limit
    paths = (
        [write_xlsx(tmp_path / "org.xlsx", rows)] if kind == "xlsx" else write_csvs(tmp_path, rows)
    )
    result = validate(paths)
    assert entries(result) == {("too_long", PERSONAS, 4, "cargo")}
    (error,) = result.report.to_dict("en")["errors"]
    assert 0 < len(error["value"]) <= 201
    assert error["value"].endswith("…")


def test_merged_cells_keep_their_value_in_the_first_cell_only(tmp_path):
    path = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    workbook = load_workbook(path)
    workbook["Unidades"].merge_cells("B3:B4")  # nombre_unidad of TI and RRHH
    workbook["Personas"].merge_cells("F2:F3")  # cargo (optional) of CEO and CTO
    workbook.save(path)
    result = validate([path])
    assert entries(result) == {("required", UNIDADES, 4, "nombre_unidad")}
    assert result.frames[UNIDADES].loc[3, "nombre_unidad"] == "Tecnología"


def test_a_hidden_sheet_is_read_like_a_visible_one(tmp_path):
    rows = set_cell(valid_rows(), "Personas", 3, "email", "x@")
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows, hidden=["Personas"])])
    assert entries(result) == {("invalid_email", PERSONAS, 3, "email")}
    assert result.report.counts == {UNIDADES: 3, PERSONAS: 4}


def test_a_header_only_workbook_is_valid_and_empty(tmp_path):
    rows = {name: sheet[:1] for name, sheet in valid_rows().items()}
    result = validate([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert result.valid
    assert result.report.counts == {UNIDADES: 0, PERSONAS: 0}


def test_one_unreadable_csv_does_not_hide_the_problems_of_the_other(tmp_path):
    rows = set_cell(valid_rows(), "Unidades", 3, "codigo_unidad", "T I")
    good = write_csv(tmp_path / "unidades.csv", rows["Unidades"])
    (tmp_path / "personas.csv").write_bytes(_junk(500))
    result = validate([good, tmp_path / "personas.csv"])
    assert entries(result) == {
        ("unreadable_file", None, None, None),
        ("invalid_code", UNIDADES, 3, "codigo_unidad"),
    }


def test_progress_is_told_each_stage(tmp_path):
    stages: list[str] = []
    validate([write_xlsx(tmp_path / "org.xlsx", valid_rows())], progress=stages.append)
    assert stages == ["reading", "validating"]
