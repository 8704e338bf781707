"""Formula injection helpers (SPEC §9): which text could run as a formula, the CSV apostrophe
and its removal on reading, and the workbook text that reads back exactly."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest
import python_calamine
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from loaders.inert import (
    LEADING,
    TRIGGERS,
    formula_like,
    inert,
    inert_text,
    is_formula_like,
    needs_care,
    uninert,
    unmarked_text,
)
from loaders.writers.inert import cell_value, set_text, xml_text
from schemas.text import TEXT

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "+1",
    "-2",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1",
    "\nx",
    " =1+1",
    "\u00a0-1",
    "\u00a0 +56 9 1234 5678",
    "\u200b=x",
    "- Jefe",
    "-Ana",
    "=",
    "-",
]
HARMLESS = ["Ana", "", "O'Higgins", "a=b", "1-2", "ana@empresa.cl", "'", "'abc", "12345678-5"]


def column(values: list[str | None]) -> pa.Array:
    return pa.array(values, type=TEXT)


@pytest.mark.parametrize("value", HOSTILE)
def test_values_beginning_with_a_trigger_even_after_spaces_are_formula_like(value: str) -> None:
    assert is_formula_like(value)
    assert formula_like(column([value])).tolist() == [True]


@pytest.mark.parametrize("value", HARMLESS)
def test_other_values_are_not_formula_like(value: str) -> None:
    assert not is_formula_like(value)
    assert formula_like(column([value])).tolist() == [False]


def test_every_trigger_and_leading_space_is_recognized() -> None:
    for trigger in TRIGGERS:
        assert is_formula_like(trigger + "x")
        for space in LEADING:
            assert is_formula_like(space * 2 + trigger + "x"), repr(space + trigger)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ('\'=HYPERLINK("http://x","y")', '=HYPERLINK("http://x","y")'),
        ("'-Ana", "-Ana"),
        ("'+56 9 1234 5678", "+56 9 1234 5678"),
        ("'@SUM(A1)", "@SUM(A1)"),
        ("'\tx", "\tx"),
        ("' =1", " =1"),
        ("'\u00a0-1", "\u00a0-1"),
        ("''=x", "'=x"),  # one apostrophe is ours, the other the client's
        ("'abc", "'abc"),  # not before a trigger: the client's own apostrophe stays
        ("O'Higgins", "O'Higgins"),
        ("'", "'"),
        (" '=x", " '=x"),  # the mark is the first character or it is not ours
        ("=x", "=x"),
    ],
)
def test_reading_takes_the_apostrophe_off_exactly_before_a_trigger(written: str, read: str) -> None:
    assert uninert(column([written])).to_pylist() == [read]


def test_reading_a_column_without_a_leading_apostrophe_returns_it_as_is() -> None:
    values = column(["Ana", "O'Higgins", None, "=x"])
    assert uninert(values) is values
    assert uninert(column([])).to_pylist() == []
    assert uninert(column(["'=x", None])).to_pylist() == ["=x", None]


@pytest.mark.parametrize("value", HOSTILE)
def test_the_csv_field_of_a_formula_like_value_gets_one_apostrophe(value: str) -> None:
    assert inert_text(value) == "'" + value
    assert inert(column([value])).to_pylist() == ["'" + value]


@pytest.mark.parametrize("value", HARMLESS)
def test_the_csv_field_of_another_value_is_the_value(value: str) -> None:
    assert inert_text(value) == value
    assert needs_care(column([value])).tolist() == [False]


def test_a_value_already_beginning_with_the_mark_gets_one_more_so_it_reads_back() -> None:
    assert inert_text("'=x") == "''=x"
    assert unmarked_text("'=x") == "''=x"  # workbook text: reading takes one off there too
    assert unmarked_text("=x") == "=x"  # a workbook marks it by style, not by an apostrophe


_TEXT = st.text(
    alphabet=st.sampled_from(list(TRIGGERS + LEADING[:4] + "'aZ0 \"';,\u00e9\x01_x0041")),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, max_size=8))
def test_reading_what_we_write_gives_back_every_text(values: list[str]) -> None:
    assert uninert(column([inert_text(v) for v in values])).to_pylist() == values
    assert uninert(inert(column(values))).to_pylist() == values
    assert uninert(column([unmarked_text(v) for v in values])).to_pylist() == values


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("Ana", "Ana"),
        ("a\x01b", "a_x0001_b"),
        ("\x00\x1f", "_x0000__x001F_"),
        ("_x0041_", "_x005F_x0041_"),
        ("A_x00e9_", "A_x005F_x00e9_"),
        ("_x0041", "_x0041"),  # not an escape: left alone
        ("tab\tand\nline", "tab\tand\nline"),  # XML holds these
        ("a\r\nb", "a_x000D_\nb"),  # a parser would turn CR into LF
    ],
)
def test_workbook_text_escapes_what_xml_cannot_hold(text: str, held: str) -> None:
    assert xml_text(text) == held


def test_workbook_cells_read_back_as_the_text_written_with_calamine(tmp_path: Path) -> None:
    texts = [*HOSTILE, *HARMLESS[:-1], "a\x01b", "\x1f", "_x0041_", "''=x", "'=x", "x\ufffe"]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("s")
    sheet.append([cell_value(sheet, t) for t in texts])
    workbook.save(tmp_path / "t.xlsx")
    read = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "t.xlsx"))
    (row,) = read.get_sheet_by_name("s").to_python()
    # what calamine gives is the text written, once reading took our marks off
    assert uninert(column([str(v) for v in row])).to_pylist() == [
        t.replace("\ufffe", "_xFFFE_") if t == "x\ufffe" else t for t in texts
    ]


def test_set_text_makes_a_text_cell_never_a_formula(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    for position, text in enumerate(HOSTILE, start=1):
        set_text(sheet.cell(row=1, column=position), text)
    set_text(sheet.cell(row=2, column=1), 42)
    workbook.save(tmp_path / "t.xlsx")
    cells = openpyxl.load_workbook(tmp_path / "t.xlsx").active[1]
    assert [c.data_type for c in cells] == ["s"] * len(HOSTILE)
    assert all(c.quotePrefix for c in cells)
    assert openpyxl.load_workbook(tmp_path / "t.xlsx").active["A2"].value == 42
