"""A file refused by a limit is refused before it is parsed (issue 15, item 2; SPEC §2).

Two refusals used to cost a parse: a CSV over the row limit was split into a million rows of
cells first (3.4 s, 1.2 GB), and a workbook over it was inflated whole (~550 MB of XML) before
its row 1,000,002 was seen. Now the CSV's records are counted from its bytes, and a sheet whose
dimension declares too many rows is refused from its first bytes when its part could hold
them. Each answer is the one the full read gives (same code, key and figures), and nothing is
refused that the full read accepts. ``bench/bench_refusals.py`` measures the time and memory.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders.limits import Limits, UnreadableUploadError, csv_records, precheck
from loaders.read import read_upload
from loaders.xlsx import inspect_workbook, precheck_workbooks
from orgload.columns import PERSONAS, UNIDADES
from tests.loaders.test_boundary_reading import HEADER_ROW, sheet_xml, text_cell, tiny_workbook

LIMITS = Limits(max_rows=50)

CELL_TEXT = st.text(alphabet='ab ;,"\n\tñ', max_size=8)
WITH_CR = st.text(alphabet='ab ;"\n\r', max_size=8)


@settings(max_examples=300, deadline=None, database=None)
@given(
    rows=st.lists(st.lists(CELL_TEXT, min_size=1, max_size=4), max_size=12),
    terminator=st.sampled_from(["\r\n", "\n"]),
    trailing=st.booleans(),
    chunk=st.integers(1, 64),
)
def test_csv_records_are_the_records_the_csv_reader_reads(
    rows: list[list[str]], terminator: str, trailing: bool, chunk: int
) -> None:
    """Counted from the bytes, a chunk at a time cut anywhere: quoted line breaks and doubled
    quotes included, a last line with or without its line break."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator=terminator).writerows(rows)
    text = buffer.getvalue()
    if not trailing:
        text = text.removesuffix(terminator)
    data = text.encode("utf-8")
    expected = len(list(csv.reader(io.StringIO(text, newline=""), delimiter=";")))
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    assert csv_records(chunks) == expected


@settings(max_examples=200, deadline=None, database=None)
@given(rows=st.lists(st.lists(WITH_CR, min_size=1, max_size=3), max_size=8))
def test_a_lone_carriage_return_is_never_counted_more_than_the_reader_counts(
    rows: list[list[str]],
) -> None:
    """The reader takes a lone CR (old Mac line ends) as a line break; the count does not, so
    it may be low, never high: the precheck then refuses nothing the reader would accept."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    expected = len(list(csv.reader(io.StringIO(text, newline=""), delimiter=";")))
    counted = csv_records([text.encode("utf-8")])
    assert counted is not None
    assert counted <= expected


def test_utf16_csv_is_left_to_the_reader() -> None:
    data = "rut;nombres\n1-9;Ana\n".encode("utf-16")
    assert csv_records([data]) is None


def csv_sheet(rows: int, *, quoted_breaks: bool = False) -> str:
    cell = '"Calle 1\nDepto 2"' if quoted_breaks else "Calle 1"
    return "codigo_unidad;nombre_unidad\n" + "".join(f"U{i};{cell}\n" for i in range(rows))


def reader_refusal(paths: list[Path]) -> list[tuple[str, str | None, str | None, object]]:
    upload = read_upload(paths, LIMITS)
    return [(i.code, i.key, i.sheet, i.params.get("rows")) for i in upload.issues]


def test_a_csv_over_the_row_limit_is_refused_by_the_precheck_as_the_reader_refuses_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "unidades.csv"
    path.write_text(csv_sheet(51), encoding="utf-8")
    issues = precheck([path], LIMITS)
    assert [(i.code, i.key, i.sheet, i.params["rows"]) for i in issues] == [
        ("file_too_large", "file_too_large/rows", UNIDADES, 51)
    ]
    assert reader_refusal([path]) == [("file_too_large", "file_too_large/rows", UNIDADES, 51)]


def test_a_csv_at_the_limit_and_one_whose_lines_are_over_it_only_in_quoted_cells_pass(
    tmp_path: Path,
) -> None:
    at_limit = tmp_path / "unidades.csv"
    at_limit.write_text(csv_sheet(50), encoding="utf-8")
    assert precheck([at_limit], LIMITS) == []
    quoted = tmp_path / "q" / "unidades.csv"
    quoted.parent.mkdir()
    quoted.write_text(csv_sheet(40, quoted_breaks=True), encoding="utf-8")  # 81 lines
    assert precheck([quoted], LIMITS) == []
    assert reader_refusal([quoted]) == []


def test_a_zipped_csv_over_the_limit_is_refused_by_the_precheck(tmp_path: Path) -> None:
    path = tmp_path / "organizacion.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("unidades.csv", csv_sheet(3))
        archive.writestr("personas.csv", "rut;nombres\n" + "1-9;Ana\n" * 60)
    issues = precheck([path], LIMITS)
    assert [(i.key, i.sheet, i.params["rows"]) for i in issues] == [
        ("file_too_large/rows", PERSONAS, 60)
    ]
    assert reader_refusal([path]) == [("file_too_large", "file_too_large/rows", PERSONAS, 60)]


def rows_xml(first: int, last: int) -> str:
    return "".join(
        f'<row r="{r}">{text_cell(f"A{r}", f"U{r}")}{text_cell(f"B{r}", "Unidad")}</row>'
        for r in range(first, last + 1)
    )


def test_a_sheet_declaring_more_rows_than_the_limit_is_refused_from_its_first_bytes(
    tmp_path: Path,
) -> None:
    """Its dimension says row 53 (52 data rows, over 50) and its part is large enough to hold
    them: refused by the precheck (before pandas) and by the inspection (the load's path),
    both naming the declared rows."""
    xml = sheet_xml(HEADER_ROW + rows_xml(2, 53), dimension="A1:B53")
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": xml})
    [issue] = precheck_workbooks([path], LIMITS)
    assert (issue.code, issue.key, issue.sheet) == (
        "file_too_large",
        "file_too_large/declared_rows",
        UNIDADES,
    )
    assert (issue.params["rows"], issue.params["max_rows"]) == (52, 50)
    with pytest.raises(UnreadableUploadError) as caught:
        inspect_workbook(path, LIMITS)
    assert caught.value.issue.key == "file_too_large/declared_rows"
    [read] = read_upload([path], LIMITS).issues
    assert (read.code, read.key) == ("file_too_large", "file_too_large/declared_rows")


def test_a_declared_range_its_part_is_too_small_to_hold_is_not_believed(tmp_path: Path) -> None:
    """A dimension widened for formatting-only cells (or lying) over a small part: the scan
    decides, and a sheet whose cells all lie within the limits is read."""
    xml = sheet_xml(HEADER_ROW + rows_xml(2, 5), dimension="A1:B1048576")
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": xml})
    assert precheck_workbooks([path], LIMITS) == []
    inspect_workbook(path, LIMITS)
    upload = read_upload([path], LIMITS)
    assert upload.issues == []
    assert upload.sheets[UNIDADES].frame.shape[0] == 4


def test_a_sheet_declaring_rows_within_the_limit_is_still_scanned(tmp_path: Path) -> None:
    """A dimension is never trusted to be large enough: one declaring 10 rows over a part with
    a value at row 60 is refused for that cell by the scan."""
    xml = sheet_xml(HEADER_ROW + rows_xml(2, 60), dimension="A1:B10")
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": xml})
    assert precheck_workbooks([path], LIMITS) == []
    with pytest.raises(UnreadableUploadError) as caught:
        inspect_workbook(path, LIMITS)
    assert caught.value.issue.key == "file_too_large/range"


def test_the_reader_refuses_a_csv_over_the_limit_without_splitting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``orgload load`` and the flows read without the precheck: the reader counts the
    records before it parses (a million rows split into cells took 3.4 s and 1.2 GB)."""
    import loaders.read

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the CSV was parsed")

    path = tmp_path / "unidades.csv"
    path.write_text(csv_sheet(51), encoding="utf-8")
    monkeypatch.setattr(loaders.read, "parse_csv", never)
    assert reader_refusal([path]) == [("file_too_large", "file_too_large/rows", UNIDADES, 51)]
