"""The annotated error workbook: no live formula (SPEC §9), a link from every entry of the
index to its cell, comments on the first bad cells only, and — re-uploaded — read again
within the limits, its index sheet ignored."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from loaders.limits import Limits
from loaders.validate import ValidatedUpload, validate_upload
from loaders.writers.annotate import ERROR_FILL, MAX_COMMENTS, WARNING_FILL, write_annotated_report
from orgload.columns import PERSONAS, UNIDADES
from tests.builders import PERSONAS_HEADER, UNIDADES_HEADER, valid_rows, write_csvs, write_xlsx
from tests.loaders.writers.inert_cases import HYPERLINK, formula_free_texts

INVALID = "organizacion_invalida.xlsx"


def expansion(path: Path) -> float:
    """Uncompressed over compressed size: what ``loaders.limits`` holds against max_ratio."""
    with zipfile.ZipFile(path) as archive:
        return sum(m.file_size for m in archive.infolist()) / path.stat().st_size


def entries(result: ValidatedUpload) -> list[tuple[object, ...]]:
    """The errors, by code and place (the report keeps known columns only, so the warnings
    about unknown ones do not come back)."""
    return sorted((i.code, i.sheet or "", i.row or 0, i.column or "") for i in result.report.errors)


def hostile_upload(tmp_path: Path) -> list[Path]:
    """Formula-like text in good cells, in bad cells and in an unknown header."""
    rows = valid_rows()
    people = rows["Personas"]
    people[0].append("=cmd|' /C calc'!A0")  # an unknown column: a warning naming its header
    for row in people[1:]:
        row.append("x")
    people[1][1] = HYPERLINK  # a good cell
    people[2][3] = '=HYPERLINK("http://x","correo")'  # a bad cell: invalid e-mail
    people[3][5] = "@SUM(A1)"
    people[4][3] = "-diego"  # invalid e-mail too
    return write_csvs(tmp_path, rows, delimiter=";")


def test_no_value_of_the_report_is_a_formula(tmp_path: Path) -> None:
    result = validate_upload(hostile_upload(tmp_path))
    assert {i.code for i in result.report.errors} == {"invalid_email"}
    report = write_annotated_report(tmp_path / "r.xlsx", result)
    seen = formula_free_texts(report)
    assert seen[PERSONAS][1][1] == HYPERLINK
    listed = {row[4] for row in seen["Errores"]} | {row[3] for row in seen["Errores"]}
    assert {'=HYPERLINK("http://x","correo")', "-diego", "=cmd|' /C calc'!A0"} <= listed
    calamine = python_calamine.CalamineWorkbook.from_path(str(report))
    people = calamine.get_sheet_by_name(PERSONAS).to_python()
    assert people[1][1] == HYPERLINK
    assert people[2][3] == '=HYPERLINK("http://x","correo")'
    assert people[3][5] == "@SUM(A1)"


def test_every_entry_of_the_index_links_to_its_cell(samples: Path, tmp_path: Path) -> None:
    result = validate_upload([samples / INVALID])
    workbook = openpyxl.load_workbook(write_annotated_report(tmp_path / "r.xlsx", result))
    index = workbook["Errores"]
    rows = list(index.iter_rows(min_row=2))
    assert len(rows) == len(result.report.errors) + len(result.report.warnings)
    linked = 0
    for row in rows:
        sheet, number, column, link = row[0].value, row[1].value, row[2].value, row[7]
        if sheet is None:
            assert link.hyperlink is None
            continue
        target = link.hyperlink.location
        assert target == f"'{sheet}'!{link.value}"
        cell = workbook[sheet][link.value]
        assert cell.row == (number or 1)
        if number and number > 1 and column:
            assert workbook[sheet].cell(row=1, column=cell.column).value is not None
            assert cell.fill.start_color.rgb in (
                ERROR_FILL.start_color.rgb,
                WARNING_FILL.start_color.rgb,
            )
            linked += 1
    assert linked == len([i for i in result.report.errors if i.row and i.column])


def test_english_report_names_its_index_and_link_column(samples: Path, tmp_path: Path) -> None:
    result = validate_upload([samples / INVALID])
    workbook = openpyxl.load_workbook(write_annotated_report(tmp_path / "r.xlsx", result, "en"))
    assert workbook.sheetnames[0] == "Errors"
    assert workbook["Errors"]["H1"].value == "Cell"


def many_required(tmp_path: Path, rows: int) -> Path:
    """A personas sheet whose five required cells are blank in every row (the report with the
    most, and the most alike, entries per row)."""
    people = [list(PERSONAS_HEADER)] + [
        [None, None, None, None, None, f"Cargo {i}", None, None, None] for i in range(rows)
    ]
    units = [list(UNIDADES_HEADER), ["GER", "Gerencia", None, None, None]]
    return write_xlsx(tmp_path / "many.xlsx", {"unidades": units, "personas": people})


def test_only_the_first_bad_cells_carry_a_comment_and_every_one_is_filled(tmp_path: Path) -> None:
    result = validate_upload([many_required(tmp_path, 30)])
    assert len(result.report.errors) == 150 > MAX_COMMENTS
    workbook = openpyxl.load_workbook(write_annotated_report(tmp_path / "r.xlsx", result))
    cells = [c for row in workbook[PERSONAS].iter_rows(min_row=2) for c in row]
    filled = [c for c in cells if c.fill.start_color.rgb == ERROR_FILL.start_color.rgb]
    commented = [c for c in cells if c.comment is not None]
    assert len(filled) == 150
    assert len(commented) == MAX_COMMENTS
    assert commented == filled[:MAX_COMMENTS]  # in row order


@pytest.mark.parametrize("rows", [30, 1000])
def test_the_report_of_many_errors_is_read_again_within_the_limits(
    tmp_path: Path, rows: int
) -> None:
    result = validate_upload([many_required(tmp_path, rows)])
    report = write_annotated_report(tmp_path / "r.xlsx", result)
    assert expansion(report) < 0.8 * Limits().max_ratio
    again = validate_upload([report])
    assert "file_too_large" not in {i.code for i in again.report.errors}
    assert entries(again) == entries(result)


def test_the_report_re_uploaded_reads_the_data_sheets_only(samples: Path, tmp_path: Path) -> None:
    result = validate_upload([samples / INVALID])
    report = write_annotated_report(tmp_path / "r.xlsx", result)
    assert expansion(report) < Limits().max_ratio
    again = validate_upload([report])
    assert entries(again) == entries(result)  # the index sheet is ignored like any other
    assert sorted(again.raw) == [PERSONAS, UNIDADES]


def test_control_characters_in_values_do_not_stop_the_report(tmp_path: Path) -> None:
    rows = valid_rows()
    rows["Personas"][1][1] = "Ana\x01"
    rows["Personas"][2][3] = "bruno\x07@empresa"  # a bad cell of its own
    result = validate_upload(write_csvs(tmp_path, rows, delimiter=";"))
    report = write_annotated_report(tmp_path / "r.xlsx", result)
    people = python_calamine.CalamineWorkbook.from_path(str(report)).get_sheet_by_name(PERSONAS)
    assert people.to_python()[1][1] == "Ana\x01"  # exactly what was read, escaped and back


def test_the_report_appears_whole_or_not_at_all(samples: Path, tmp_path: Path) -> None:
    result = validate_upload([samples / INVALID])
    write_annotated_report(tmp_path / "out" / "r.xlsx", result)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["r.xlsx"]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "r.xlsx").mkdir()  # a directory where the file should go
    with pytest.raises(OSError):
        write_annotated_report(tmp_path / "taken" / "r.xlsx", result)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["r.xlsx"]
