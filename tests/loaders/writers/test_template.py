"""The blank upload workbook: its headers are read as every canonical column, it carries the
instructions and the dropdowns, and once filled in it validates like any upload."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from loaders.read import read_upload
from loaders.validate import validate_upload
from loaders.writers.template import HEADERS, PROFILE_CHOICES, SHEET_TITLES, write_template
from orgload.columns import PERSONAS, SHEETS, UNIDADES
from tests.builders import valid_rows


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_template_is_read_as_both_sheets_with_every_column_and_no_warning(
    tmp_path: Path, lang: str
) -> None:
    path = write_template(tmp_path / "t.xlsx", lang)  # type: ignore[arg-type]
    upload = read_upload([path])
    assert upload.issues == []
    assert sorted(upload.sheets) == [PERSONAS, UNIDADES]
    for name, sheet in upload.sheets.items():
        assert list(sheet.headers) == list(SHEETS[name].column_names)
        assert sheet.frame.empty


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_template_filled_in_validates_like_any_upload(tmp_path: Path, lang: str) -> None:
    path = write_template(tmp_path / "t.xlsx", lang)  # type: ignore[arg-type]
    workbook = openpyxl.load_workbook(path)
    rows = valid_rows()
    for name, source in ((UNIDADES, "Unidades"), (PERSONAS, "Personas")):
        sheet = workbook[SHEET_TITLES[lang][name]]
        for data in rows[source][1:]:
            sheet.append(data)
    workbook.save(path)
    result = validate_upload([path])
    assert result.report.errors == []
    assert result.report.warnings == []
    assert result.report.counts == {UNIDADES: 3, PERSONAS: 4}


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_template_explains_every_column_and_offers_the_dropdowns(
    tmp_path: Path, lang: str
) -> None:
    workbook = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx", lang))  # type: ignore[arg-type]
    titles = SHEET_TITLES[lang]
    assert workbook.sheetnames == [titles["help"], titles[UNIDADES], titles[PERSONAS]]
    explained = {
        (row[0], row[1]) for row in workbook[titles["help"]].iter_rows(min_row=4, values_only=True)
    }
    assert explained == {
        (titles[sheet], header) for (sheet, _column), header in HEADERS[lang].items()
    }
    people = workbook[titles[PERSONAS]]
    lists = {
        str(v.sqref).split(":")[0]: v.formula1
        for v in people.data_validations.dataValidation
        if v.type == "list"
    }
    choices = ",".join(PROFILE_CHOICES[lang])
    assert lists == {"E2": f"'{titles[UNIDADES]}'!$A$2:$A$1048576", "I2": f'"{choices}"'}
    assert people["A1"].value == HEADERS[lang][(PERSONAS, "rut")]
    assert people.column_dimensions["A"].number_format == "@"  # RUTs stay text in Excel
