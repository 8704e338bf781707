"""The validation report and its messages (schemas/report.py, schemas/messages.py)."""

from __future__ import annotations

import string

import pytest

from schemas.messages import CODES, MESSAGES, WARNING_CODES, render
from schemas.report import VALUE_PREVIEW, Issue, Report, preview

ENTRY_KEYS = {"sheet", "row", "column", "header", "value", "code", "message"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("abc", "abc"),
        (12, "12"),
        ("x" * VALUE_PREVIEW, "x" * VALUE_PREVIEW),
        ("x" * (VALUE_PREVIEW + 1), "x" * VALUE_PREVIEW + "…"),
        ("y" * 40_000, "y" * VALUE_PREVIEW + "…"),
    ],
)
def test_preview_cuts_long_values(value, expected):
    assert preview(value) == expected


@pytest.mark.parametrize("code", CODES)
def test_every_code_has_a_message(code):
    assert any(key.split("/")[0] == code for key in MESSAGES)


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_is_of_a_known_code_in_both_languages(key):
    assert key.split("/")[0] in CODES
    spanish, english = MESSAGES[key]["es"], MESSAGES[key]["en"]
    assert spanish.strip()
    assert english.strip()
    assert spanish != english


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_use_the_same_placeholders(key):
    fields = {
        lang: {f for _, f, _, _ in string.Formatter().parse(text) if f}
        for lang, text in MESSAGES[key].items()
    }
    assert fields["es"] == fields["en"]
    params = dict.fromkeys(fields["es"], 1)
    assert render(key, "es", params)
    assert render(key, "en", params)


def test_only_unknown_column_is_a_warning():
    assert {"unknown_column"} == WARNING_CODES
    assert Issue(code="unknown_column", sheet="unidades", row=1, header="x").is_warning
    assert not Issue(code="required", sheet="unidades", row=2, column="nombre_unidad").is_warning


def test_cell_issue_has_the_entry_fields_of_the_spec():
    issue = Issue(
        code="required",
        sheet="personas",
        row=7,
        column="email",
        header="Correo Electrónico",
    )
    entry = issue.to_dict("es")
    assert set(entry) == ENTRY_KEYS
    assert entry["sheet"] == "personas"
    assert entry["row"] == 7
    assert entry["column"] == "email"
    assert entry["header"] == "Correo Electrónico"
    assert entry["value"] is None
    assert entry["code"] == "required"
    assert "Correo Electrónico" in entry["message"]


def test_file_issue_has_null_sheet_row_and_column():
    issue = Issue(code="unreadable_file", key="unreadable_file/empty", params={"file": "a.xlsx"})
    entry = issue.to_dict("en")
    assert (entry["sheet"], entry["row"], entry["column"]) == (None, None, None)
    assert entry["code"] == "unreadable_file"
    assert "a.xlsx" in entry["message"]


def test_message_uses_the_variant_key_and_falls_back_to_the_template_header():
    issue = Issue(code="self_reference", key="self_reference/unit", value="TI")
    assert issue.message("es") != issue.message("en")
    assert "TI" in issue.message("en")
    unnamed = Issue(code="required", sheet="unidades", row=2, column="nombre_unidad")
    assert "Nombre Unidad" in unnamed.message("es")  # the template's header, in each language
    assert "Unit Name" in unnamed.message("en")


def test_report_is_valid_with_warnings_only():
    report = Report()
    assert report.valid
    report.add(Issue(code="unknown_column", sheet="unidades", row=1, header="Notas"))
    assert report.valid
    assert [i.code for i in report.warnings] == ["unknown_column"]
    assert report.errors == []
    report.add(Issue(code="required", sheet="unidades", row=2, column="nombre_unidad"))
    assert not report.valid


def test_errors_are_ordered_file_first_then_sheet_row_and_column_order():
    issues = [
        Issue(code="required", sheet="personas", row=3, column="email"),
        Issue(code="invalid_rut", sheet="personas", row=3, column="rut"),
        Issue(code="required", sheet="personas", row=2, column="email"),
        Issue(code="invalid_code", sheet="unidades", row=9, column="codigo_unidad"),
        Issue(code="missing_column", sheet="personas", column="nombres"),
        Issue(code="missing_sheet", params={"sheet": "unidades", "found": "—"}),
    ]
    report = Report()
    report.extend(issues)
    ordered = [(i.code, i.sheet, i.row, i.column) for i in report.errors]
    assert ordered == [
        ("missing_sheet", None, None, None),
        ("invalid_code", "unidades", 9, "codigo_unidad"),
        ("missing_column", "personas", None, "nombres"),
        ("required", "personas", 2, "email"),
        ("invalid_rut", "personas", 3, "rut"),
        ("required", "personas", 3, "email"),
    ]


def test_report_to_dict_has_the_json_shape_of_orgload_validate():
    report = Report(counts={"unidades": 2, "personas": 5})
    report.add(Issue(code="unknown_column", sheet="personas", row=1, header="Notas"))
    report.add(Issue(code="invalid_email", sheet="personas", row=4, column="email", value="x@"))
    result = report.to_dict("en")
    assert set(result) == {"valid", "counts", "errors", "warnings"}
    assert result["valid"] is False
    assert result["counts"] == {"unidades": 2, "personas": 5}
    assert [e["code"] for e in result["errors"]] == ["invalid_email"]
    assert [e["code"] for e in result["warnings"]] == ["unknown_column"]
    assert all(set(e) == ENTRY_KEYS for e in result["errors"] + result["warnings"])


def test_default_counts_are_zero_for_both_sheets():
    assert Report().counts == {"unidades": 0, "personas": 0}
