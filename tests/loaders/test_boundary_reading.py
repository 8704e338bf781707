"""Bad input at the boundary of reading (issue 11): bounded parsing, regular files read once
and archived only within the limits, encodings, file types named right, symlinks in the inbox.

Every case is built here by code: tiny workbooks written part by part, zips whose headers lie,
FIFOs and devices. Tests assert codes and message keys, never wording.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import threading
import tracemalloc
import types
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

import loaders.archive
import loaders.limits
import loaders.xlsx
from loaders.archive import archive_upload, upload_sha256
from loaders.limits import Limits, UnreadableUploadError, check_file, precheck
from loaders.read import decode_text, parse_csv, read_upload
from loaders.store import add_client
from loaders.validate import validate_upload
from loaders.xlsx import column_letters, column_number, inspect_workbook, parse_ahead
from orgload.columns import PERSONAS, UNIDADES
from orgload.db import loads
from orgload.settings import Settings, load_settings
from service.inbox import find_uploads, scan_inbox
from service.loads import LoadRequest, run_load
from tests.builders import csv_bytes, valid_rows, write_csvs, write_xlsx, write_zip
from tests.databases import IN_CI

REPO = Path(__file__).resolve().parents[2]
ORGLOAD = REPO / ".venv" / "bin" / "orgload"
NOW = "2026-11-16T11:00:00-03:00"
MESSAGE_CHARS = 300  # SPEC §2: every message short

# --- tiny workbooks, written part by part -----------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def sheet_xml(rows: str, *, dimension: str = "A1", prefix: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {xmlns}="{MAIN}">'
        f'<{p}dimension ref="{dimension}"/><{p}sheetData>{rows}</{p}sheetData></{p}worksheet>'
    )


def text_cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER_ROW = '<row r="1">' + text_cell("A1", "codigo_unidad") + text_cell("B1", "nombre_unidad")
HEADER_ROW += "</row>"
GOOD_ROW = '<row r="2">' + text_cell("A2", "GER") + text_cell("B2", "Gerencia") + "</row>"


def tiny_workbook(
    path: Path,
    sheets: Mapping[str, str],
    *,
    parts: Mapping[str, bytes | str] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A workbook with one worksheet part per entry (sheet name → its XML)."""
    entries = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(sheets, 1)
    )
    relations = "".join(
        f'<Relationship Id="rId{i}" Type="{RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            '2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
            "</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<?xml version="1.0"?><Relationships xmlns="{PACKAGE_RELS}"><Relationship '
            f'Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>{entries}'
            "</sheets></workbook>",
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0"?><Relationships xmlns="{PACKAGE_RELS}">{relations}'
            "</Relationships>",
        )
        for i, xml in enumerate(sheets.values(), 1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", xml)
        for name, data in (parts or {}).items():
            archive.writestr(name, data)
    return path


def lie_about_sizes(path: Path, declared: int = 1_000) -> Path:
    """Rewrite every member's uncompressed size, local header and central directory, to
    ``declared`` (the CRC is left alone: the lie only shows once inflated)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    for info in infos:
        struct.pack_into("<I", data, info.header_offset + 22, declared)
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        struct.pack_into("<I", data, at + 24, declared)
        at += 4
    path.write_bytes(bytes(data))
    return path


def streamed_member(path: Path, name: str, head: bytes, body: bytes, repeat: int) -> Path:
    """Add ``name`` = head + body × repeat to a zip, written a piece at a time (the test never
    holds the whole member)."""
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w") as member,
    ):
        member.write(head)
        for _ in range(repeat):
            member.write(body)
    return path


class CalamineCalledError(AssertionError):
    pass


@pytest.fixture
def no_calamine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any use of calamine fail the test: the refusal must come before it."""
    real = loaders.xlsx.python_calamine

    def refuse_to_parse(*_args: Any, **_kwargs: Any) -> None:
        raise CalamineCalledError("calamine was asked to parse a workbook beyond the limits")

    stub = types.SimpleNamespace(
        CalamineWorkbook=types.SimpleNamespace(from_path=refuse_to_parse),
        PasswordError=real.PasswordError,
        CalamineError=real.CalamineError,
        SheetTypeEnum=real.SheetTypeEnum,
    )
    monkeypatch.setattr(loaders.xlsx, "python_calamine", stub)


def keys(upload_or_issues: Any) -> list[tuple[str, str | None]]:
    issues = getattr(upload_or_issues, "issues", upload_or_issues)
    return [(i.code, i.key) for i in issues]


def short_messages(issues: Any) -> bool:
    return all(len(i.message(lang)) <= MESSAGE_CHARS for i in issues for lang in ("es", "en"))


# --- 1. bounded parsing: cells beyond the limits never reach calamine -------------------


def test_a_tiny_workbook_with_a_cell_at_xfd200000_is_refused_before_calamine(
    tmp_path: Path, no_calamine: None
) -> None:
    far = '<row r="200000"><c r="XFD200000"><v>1</v></c></row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW + far)})
    assert path.stat().st_size < 2_000

    upload = read_upload([path])

    assert keys(upload) == [("file_too_large", "file_too_large/range")]
    issue = upload.issues[0]
    assert (issue.sheet, issue.params["cell"]) == (UNIDADES, "XFD200000")
    assert (issue.params["max_columns"], issue.params["max_rows"]) == (200, 1_000_000)
    assert short_messages(upload.issues)


def test_orgload_validate_answers_a_workbook_that_would_abort_calamine(tmp_path: Path) -> None:
    """The real command, in its own process: a report and exit 1, not exit 134."""
    far = '<row r="200000"><c r="XFD200000"><v>1</v></c></row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW + far)})
    env = {**os.environ, "ORGLOAD_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [str(ORGLOAD), "validate", "--client", "acme", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert [e["code"] for e in json.loads(done.stdout)["errors"]] == ["file_too_large"]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("cell", "refused"),
    [
        ("C6", False),  # the last column and the last data row allowed
        ("D2", True),  # one column too far
        ("C7", True),  # one data row too many (the header is row 1)
        ("AA2", True),
        ("c7", True),  # calamine reads lower-case references too
        ("A0000007", True),  # leading zeros: still row 7
        ("A99999999999", True),
        ("ZZZZ2", True),  # beyond XFD: calamine goes there too
    ],
)
def test_a_cell_is_refused_exactly_when_it_lies_beyond_the_columns_or_rows(
    tmp_path: Path, cell: str, refused: bool
) -> None:
    rows = HEADER_ROW + f'<row r="9"><c r="{cell}"><v>1</v></c></row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(rows)})
    limits = Limits(max_columns=3, max_rows=5)
    if refused:
        with pytest.raises(UnreadableUploadError) as caught:
            inspect_workbook(path, limits)
        assert caught.value.issue.key == "file_too_large/range"
    else:
        inspect_workbook(path, limits)


@pytest.mark.parametrize(
    ("rows", "refused"),
    [
        # cells written without a reference take the next column, as calamine places them
        ('<row r="2">' + "<c/>" * 3 + "<c><v>1</v></c></row>", True),
        ('<row r="2">' + "<c/>" * 2 + "<c><v>1</v></c></row>", False),
        # rows without a reference follow the previous one
        ("<row/>" * 5 + "<row><c><v>1</v></c></row>", True),
        ("<row/>" * 4 + "<row><c><v>1</v></c></row>", False),
        # another attribute before r=, whitespace around =, a tab
        ('<row r="2"><c s="0" r="D2"><v>1</v></c></row>', True),
        ('<row r="2"><c r = "D2"><v>1</v></c></row>', True),
        ('<row r="2"><c\tr="D2"><v>1</v></c></row>', True),
        ('<row r="2"><c s="0" r="C2"><v>1</v></c></row>', False),
        # references too long to be numbers (Python refuses to convert 4,300 digits)
        ('<row r="2"><c s="0" r="A' + "9" * 5_000 + '"><v>1</v></c></row>', True),
        ('<row r="2"><c r="A' + "9" * 5_000 + '"><v>1</v></c></row>', True),
        ('<row r="2"><c s="0" r="' + "Z" * 5_000 + '2"><v>1</v></c></row>', True),
    ],
)
def test_cells_written_unusually_are_placed_as_calamine_places_them(
    tmp_path: Path, rows: str, refused: bool
) -> None:
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW + rows)})
    limits = Limits(max_columns=3, max_rows=5)
    if refused:
        with pytest.raises(UnreadableUploadError) as caught:
            inspect_workbook(path, limits)
        assert caught.value.issue.key == "file_too_large/range"
    else:
        inspect_workbook(path, limits)


def test_a_namespace_prefix_does_not_hide_a_far_cell(tmp_path: Path, no_calamine: None) -> None:
    rows = '<x:row r="1"><x:c r="XFD9"><x:v>1</x:v></x:c></x:row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(rows, prefix="x")})
    assert keys(read_upload([path])) == [("file_too_large", "file_too_large/range")]


@pytest.mark.parametrize("chunk", [7, 300, 4096])
def test_a_worksheet_written_with_one_prefix_is_scanned_fast_wherever_chunks_are_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """OpenXML SDK files write ``<x:c r="…">`` throughout: no cell-by-cell counting for them."""

    def no_counting(*_args: Any) -> None:
        raise AssertionError("counted cell by cell")

    monkeypatch.setattr(loaders.limits, "INFLATE_CHUNK", chunk)
    monkeypatch.setattr(loaders.xlsx, "_check_by_counting", no_counting)
    rows = "".join(
        f'<x:row r="{r}"><x:c r="A{r}" t="n"><x:v>{r}</x:v></x:c><x:c r="C{r}" s="0"/></x:row>'
        for r in range(1, 60)
    )
    limits = Limits(max_columns=3, max_rows=100, max_ratio=1_000)
    inspect_workbook(
        tiny_workbook(tmp_path / "ok.xlsx", {"Unidades": sheet_xml(rows, prefix="x")}), limits
    )
    far = rows + '<x:row r="70"><x:c r="D70"><x:v>1</x:v></x:c></x:row>'
    with pytest.raises(UnreadableUploadError):
        inspect_workbook(
            tiny_workbook(tmp_path / "far.xlsx", {"Unidades": sheet_xml(far, prefix="x")}), limits
        )


def test_a_cell_under_another_prefix_than_its_sheet_is_still_placed(tmp_path: Path) -> None:
    rows = '<x:row r="1"><y:c r="XFD9"><y:v>1</y:v></y:c><c r="A1"><v>1</v></c></x:row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(rows, prefix="x")})
    assert keys(read_upload([path])) == [("file_too_large", "file_too_large/range")]


CELL_FORMS = st.sampled_from(["ref", "ref-styled", "no-ref", "no-ref-styled", "s-first", "lower"])


@st.composite
def sheet_rows(draw: st.DrawFn) -> str:
    """Rows of a small sheet written every way calamine reads: with and without references,
    formatting-only cells, another attribute first, lower-case references."""
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        number = draw(st.one_of(st.none(), st.integers(1, 14)))
        cells = []
        for _ in range(draw(st.integers(0, 5))):
            form = draw(CELL_FORMS)
            ref = f"{column_letters(draw(st.integers(1, 9)))}{draw(st.integers(1, 14))}"
            cells.append(
                {
                    "ref": f'<c r="{ref}"><v>1</v></c>',
                    "ref-styled": f'<c r="{ref}" s="0"/>',
                    "no-ref": "<c><v>1</v></c>",
                    "no-ref-styled": '<c s="0"/>',
                    "s-first": f'<c s="0" r="{ref}"><v>1</v></c>',
                    "lower": f'<c r="{ref.lower()}"><v>1</v></c>',
                }[form]
            )
        opening = "<row>" if number is None else f'<row r="{number}">'
        rows.append(opening + "".join(cells) + "</row>")
    return "".join(rows)


@settings(max_examples=150, deadline=None, database=None)
@given(rows=sheet_rows(), prefix=st.sampled_from(["", "x"]))
def test_a_sheet_is_refused_exactly_when_calamine_would_lay_it_out_beyond_the_limits(
    tmp_path_factory: pytest.TempPathFactory, rows: str, prefix: str
) -> None:
    """calamine itself is the oracle (the sheets are small enough for it to lay out)."""
    import python_calamine

    if prefix:
        rows = re.sub(r"<(/?)(row|c|v)\b", rf"<\1{prefix}:\2", rows)
    path = tmp_path_factory.mktemp("oracle") / "org.xlsx"
    tiny_workbook(path, {"Unidades": sheet_xml(rows, prefix=prefix)})
    limits = Limits(max_columns=4, max_rows=7, max_ratio=1_000)
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    end = workbook.get_sheet_by_name("Unidades").end
    workbook.close()
    beyond = end is not None and (end[0] + 1 > limits.max_rows + 1 or end[1] + 1 > 4)
    if beyond:
        with pytest.raises(UnreadableUploadError) as caught:
            inspect_workbook(path, limits)
        assert caught.value.issue.key == "file_too_large/range"
    else:
        inspect_workbook(path, limits)


def test_the_dimension_is_neither_trusted_nor_needed(tmp_path: Path) -> None:
    """A dimension claiming the whole sheet with a small table reads; a dimension of A1 with a
    far cell is refused: only the cells holding something count (what calamine lays out)."""
    huge = sheet_xml(HEADER_ROW + GOOD_ROW, dimension="A1:XFD1048576")
    lying = sheet_xml(HEADER_ROW + '<row r="9"><c r="XFD9"><v>1</v></c></row>', dimension="A1")
    read = read_upload([tiny_workbook(tmp_path / "huge.xlsx", {"Unidades": huge})])
    assert read.sheets[UNIDADES].frame["codigo_unidad"].tolist() == ["GER"]
    assert keys(read_upload([tiny_workbook(tmp_path / "lying.xlsx", {"Unidades": lying})])) == [
        ("file_too_large", "file_too_large/range")
    ]


def test_formatting_beyond_the_limits_is_no_data_and_reads(tmp_path: Path) -> None:
    """Self-closing cells only carry a style (Excel writes them for formatted empty cells):
    calamine skips them, so they are no reason to refuse."""
    styled = '<row r="2"><c r="XFD2" s="0"/></row><row r="2000000"><c r="A2000000" s="0"/></row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW + styled)})
    upload = read_upload([path])
    assert ("file_too_large", "file_too_large/range") not in keys(upload)
    assert UNIDADES in upload.sheets


def test_a_sheet_the_upload_does_not_use_is_not_held_to_the_limits(tmp_path: Path) -> None:
    wide = sheet_xml('<row r="1"><c r="XFD1"><v>1</v></c></row>')
    path = tiny_workbook(
        tmp_path / "org.xlsx",
        {"Instrucciones": wide, "Unidades": sheet_xml(HEADER_ROW + GOOD_ROW)},
    )
    upload = read_upload([path])
    assert ("file_too_large", "file_too_large/range") not in keys(upload)
    assert upload.sheets[UNIDADES].frame["codigo_unidad"].tolist() == ["GER"]


@pytest.mark.parametrize("chunk", [7, 64, 300, 4096])
def test_a_far_cell_is_found_wherever_the_inflated_chunks_are_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(loaders.limits, "INFLATE_CHUNK", chunk)
    filler = "".join(
        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" s="0"/></row>' for r in range(2, 60)
    )
    limits = Limits(max_columns=3, max_rows=100, max_ratio=1_000)
    for at in range(60, 80):
        rows = HEADER_ROW + filler + f'<row r="{at}"><c r="D{at}"><v>1</v></c></row>'
        path = tiny_workbook(tmp_path / f"far{at}.xlsx", {"Unidades": sheet_xml(rows)})
        with pytest.raises(UnreadableUploadError):
            inspect_workbook(path, limits)
    inspect_workbook(tiny_workbook(tmp_path / "ok.xlsx", {"Unidades": sheet_xml(filler)}), limits)


def test_a_worksheet_part_under_any_name_is_checked(tmp_path: Path) -> None:
    """A relationship may send calamine to ``xl/worksheets/anything``: it is scanned too."""
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW)})
    odd = tmp_path / "odd.xlsx"
    far = sheet_xml(HEADER_ROW + '<row r="9"><c r="XFD9"><v>1</v></c></row>')
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(odd, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"worksheets/sheet1.xml", b"worksheets/datos.bin")
            if name != "xl/worksheets/sheet1.xml":
                target.writestr(name, data)
        target.writestr("xl/worksheets/datos.bin", far)
    with pytest.raises(UnreadableUploadError) as caught:
        inspect_workbook(odd, Limits())
    assert caught.value.issue.key == "file_too_large/range"


def test_shared_strings_declaring_more_strings_than_they_hold_are_refused(
    tmp_path: Path, no_calamine: None
) -> None:
    """calamine reserves ``uniqueCount`` strings up front: 4e9 of them would abort it."""
    sst = (
        f'<?xml version="1.0"?><sst xmlns="{MAIN}" count="1" uniqueCount="4000000000">'
        "<si><t>codigo_unidad</t></si></sst>"
    )
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    path = tiny_workbook(
        tmp_path / "org.xlsx",
        {"Unidades": sheet_xml(rows)},
        parts={"xl/sharedStrings.xml": sst},
    )
    assert keys(read_upload([path])) == [("unreadable_file", "unreadable_file/corrupt")]


def test_column_letters_and_numbers_are_excels() -> None:
    for number, letters in [(1, "A"), (26, "Z"), (27, "AA"), (200, "GR"), (16_384, "XFD")]:
        assert column_letters(number) == letters
        assert column_number(letters) == column_number(letters.lower()) == number


# --- 1. bounded parsing: zips whose headers lie ------------------------------------------


def peak_bytes(action: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_workbook_whose_sheet_inflates_past_what_it_declares_stops_at_the_budget(
    tmp_path: Path, no_calamine: None
) -> None:
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW)})
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    # rebuild with a worksheet of ~60 MB of cells, then say it is 1 KB
    rebuilt = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rebuilt, "w") as target:
        for name in names:
            if name != "xl/worksheets/sheet1.xml":
                target.writestr(name, source.read(name), zipfile.ZIP_DEFLATED)
    cell = b'<row r="2"><c r="A2"><v>1</v></c></row>'
    streamed_member(rebuilt, "xl/worksheets/sheet1.xml", b"<worksheet><sheetData>", cell, 1_500_000)
    lie_about_sizes(rebuilt)
    size = rebuilt.stat().st_size
    assert size < 1_000_000

    upload, peak = peak_bytes(lambda: read_upload([rebuilt]))

    assert keys(upload) == [("file_too_large", "file_too_large/inflated")]
    assert peak < 20 * size + 16_000_000  # the budget plus a chunk, never the 60 MB


def test_a_zip_of_csvs_whose_headers_lie_is_inflated_within_a_hard_budget(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "org.zip", {"personas.csv": b"rut;nombres\n"})
    body = b"12345678-5;" + b"x" * 80 + b"\n"
    streamed_member(path, "unidades.csv", b"codigo_unidad;nombre_unidad\n", body, 600_000)
    lie_about_sizes(path)
    size = path.stat().st_size

    upload, peak = peak_bytes(lambda: read_upload([path]))

    assert ("file_too_large", "file_too_large/inflated") in keys(upload)
    assert peak < 20 * size + 16_000_000  # ~50 MB inflate to a budget of 20× the file


def test_a_zip_of_ten_thousand_csvs_gets_short_messages(tmp_path: Path) -> None:
    path = tmp_path / "muchos.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(10_000):
            archive.writestr(f"export/hoja_{i:05}.csv", "a;b\n1;2\n")

    report = validate_upload([path]).report

    assert {i.code for i in report.issues} == {"missing_sheet"}
    assert short_messages(report.issues)
    assert "(+" in report.issues[0].message("en")  # a few named, and how many more


def test_a_zip_listing_more_members_than_the_limit_is_refused_before_they_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loaders.limits, "MAX_MEMBERS", 50)
    path = tmp_path / "muchos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(60):
            archive.writestr(f"{i}.csv", b"")
    listed: list[int] = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: listed.append(1))
    upload = read_upload([path])
    assert keys(upload) == [("file_too_large", "file_too_large/members")]
    assert listed == []


def test_the_members_of_a_zip64_are_counted_from_its_end_record(tmp_path: Path) -> None:
    path = tmp_path / "zip64.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(66_000):  # past 65,535: the count is in the zip64 end record
            archive.writestr(f"{i}", b"")
    with path.open("rb") as handle:
        assert loaders.limits._declared_members(handle) == 66_000


def test_a_zip_repeating_a_sheet_thousands_of_times_reports_it_once_and_short(
    tmp_path: Path,
) -> None:
    rows = valid_rows()
    path = tmp_path / "repetido.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("personas.csv", csv_bytes(rows["Personas"]))
        for i in range(5_000):
            archive.writestr(f"copia{i:04}/unidades.csv", csv_bytes(rows["Unidades"]))

    upload = read_upload([path])

    assert keys(upload) == [("unreadable_file", "unreadable_file/twice")]
    assert short_messages(upload.issues)


# --- 1. bounded parsing: CSV columns and cells -------------------------------------------


def test_a_csv_header_of_four_million_columns_is_refused_in_bounded_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "unidades.csv"
    path.write_bytes(b"codigo_unidad," + b",".join([b"ab"] * 4_000_000) + b"\nGER,x\n")
    size = path.stat().st_size

    upload, peak = peak_bytes(lambda: read_upload([path]))

    assert keys(upload) == [("file_too_large", "file_too_large/columns")]
    assert peak < 4 * size + 16_000_000  # bytes, text and a line: never a cell per column
    assert short_messages(upload.issues)


def test_a_csv_header_wider_than_the_limit_is_counted_with_quotes_honoured() -> None:
    limits = Limits(max_columns=3)
    quoted = b'"a;b";"c;d";"e";\n1;2;3\n'  # 4 fields: the last one empty
    with pytest.raises(UnreadableUploadError) as caught:
        parse_csv(quoted, "u.csv", limits)
    assert caught.value.issue.key == "file_too_large/columns"
    assert parse_csv(b'"a;b";"c;d";"e"\n1;2;3\n', "u.csv", limits)[0] == ["a;b", "c;d", "e"]


def test_a_csv_data_row_wider_than_the_limit_is_refused_naming_its_row() -> None:
    data = b"a;b\n1;2\n" + b";" * 10 + b"\n"
    with pytest.raises(UnreadableUploadError) as caught:
        parse_csv(data, "u.csv", Limits(max_columns=5))
    assert caught.value.issue.key == "file_too_large/columns"
    assert caught.value.issue.params["row"] == 3


def test_a_csv_cell_longer_than_excel_holds_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "unidades.csv"
    path.write_bytes(b"codigo_unidad;nombre_unidad\nGER;ok\nTI;" + b"x" * 32_768 + b"\n")
    upload = read_upload([path])
    assert keys(upload) == [("file_too_large", "file_too_large/csv_cell")]
    assert upload.issues[0].params["line"] == 3
    path.write_bytes(b"codigo_unidad;nombre_unidad\nTI;" + b"x" * 32_767 + b"\n")
    assert keys(read_upload([path])) == []


def test_a_workbook_cell_longer_than_the_limit_is_refused_naming_its_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    upload = read_upload([path], Limits(max_cell_chars=10))
    assert keys(upload) == [("file_too_large", "file_too_large/cell")]
    issue = upload.issues[0]
    assert (issue.sheet, issue.params["row"]) == (UNIDADES, 1)  # "codigo_unidad" is 13
    assert short_messages(upload.issues)


def test_a_csv_over_the_row_limit_is_refused_without_reading_every_row(tmp_path: Path) -> None:
    path = tmp_path / "personas.csv"
    path.write_bytes(b"rut;nombres\n" + b"\n" * 2_000_000)  # two million blank lines
    upload, peak = peak_bytes(lambda: read_upload([path], Limits(max_rows=1_000)))
    assert keys(upload) == [("file_too_large", "file_too_large/rows")]
    assert peak < 40_000_000


# --- 2. only regular files, answered at once ---------------------------------------------


def finishes(action: Callable[[], Any], seconds: float = 20) -> Any:
    """Run ``action`` in a thread; fail (instead of hanging the suite) if it blocks."""
    result: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked on a file that is not a regular file"
    if failed:
        raise failed[0]
    return result[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "org.xlsx"
    os.mkfifo(path)
    return path


@pytest.fixture
def not_regular(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    kind = request.param
    if kind == "fifo":
        path = tmp_path / "org.xlsx"
        os.mkfifo(path)
        return path, "unreadable_file/special"
    if kind == "device":
        if not Path("/dev/zero").exists():
            if IN_CI:
                pytest.fail("no /dev/zero on the CI machine")
            pytest.skip("no /dev/zero here")
        return Path("/dev/zero"), "unreadable_file/special"
    path = tmp_path / "org.xlsx"
    path.mkdir()
    return path, "unreadable_file/directory"


@pytest.mark.parametrize("not_regular", ["fifo", "device", "directory"], indirect=True)
def test_a_fifo_a_device_or_a_folder_is_answered_at_once_never_opened(
    not_regular: tuple[Path, str],
) -> None:
    path, key = not_regular
    assert keys(finishes(lambda: read_upload([path]))) == [("unreadable_file", key)]
    assert keys(finishes(lambda: precheck([path], Limits()))) == [("unreadable_file", key)]
    finishes(lambda: parse_ahead([path], Limits()))
    report = finishes(lambda: validate_upload([path]).report)
    assert [i.code for i in report.errors] == ["unreadable_file"]


def test_check_file_never_opens_what_it_refuses(fifo: Path) -> None:
    with pytest.raises(UnreadableUploadError) as caught:
        finishes(lambda: check_file(fifo, Limits()))
    assert caught.value.issue.key == "unreadable_file/special"


def test_archiving_or_hashing_a_fifo_is_refused_without_blocking(
    tmp_path: Path, fifo: Path
) -> None:
    with pytest.raises(OSError):
        finishes(lambda: upload_sha256([fifo]))
    with pytest.raises(OSError):
        finishes(lambda: archive_upload(tmp_path / "archive", [fifo]))
    assert not [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]


def test_orgload_validate_on_a_fifo_answers_a_report_at_once(tmp_path: Path, fifo: Path) -> None:
    env = {**os.environ, "ORGLOAD_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [str(ORGLOAD), "validate", "--client", "acme", str(fifo), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert [e["code"] for e in json.loads(done.stdout)["errors"]] == ["unreadable_file"]


def test_archive_upload_copies_and_hashes_each_file_in_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_csvs(tmp_path, valid_rows())
    expected = upload_sha256(paths)
    opened: list[Path] = []
    real = loaders.archive.open_regular

    def counting(path: Path, **kwargs: Any) -> Any:
        opened.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(loaders.archive, "open_regular", counting)
    archived = archive_upload(tmp_path / "archive", paths)

    assert sorted(opened) == sorted(paths)  # one open, one read, per file
    assert archived.sha256 == expected
    assert [p.read_bytes() for p in archived.files] == [p.read_bytes() for p in sorted(paths)]
    assert not list((tmp_path / "archive").glob(".incoming*"))


def test_archive_upload_refuses_a_file_past_max_bytes_and_keeps_nothing(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    with pytest.raises(loaders.archive.TooLargeToArchiveError):
        archive_upload(tmp_path / "archive", [path], max_bytes=100)
    assert not [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]


# --- 2. loads: archived only within the limits (SQLite and PostgreSQL) ------------------


def register(engine: Engine, client_id: str = "acme") -> None:
    with engine.begin() as conn:
        add_client(conn, client_id, "ACME", "America/Santiago", None, datetime.now().astimezone())


def loaded(settings: Settings, engine: Engine, path: Path) -> tuple[Any, dict[str, Any]]:
    outcome = finishes(lambda: run_load(settings, LoadRequest("acme", [path]), engine), seconds=120)
    with engine.connect() as conn:
        record = conn.execute(select(loads).where(loads.c.id == outcome.load_id)).mappings().one()
    return outcome, dict(record)


def archived_files(settings: Settings) -> list[Path]:
    return [p for p in (settings.home / "archive").rglob("*") if p.is_file()]


@pytest.fixture
def load_settings_now(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ORGLOAD_NOW", NOW)
    return load_settings()


def test_a_file_over_the_size_limit_is_refused_and_never_archived(
    load_settings_now: Settings,
    engine: Engine,
    samples: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(engine)
    monkeypatch.setenv("ORGLOAD_MAX_FILE_MB", "0.01")  # 10 KB; the sample is ~23 KB
    settings = load_settings()

    outcome, record = loaded(settings, engine, samples / "organizacion_2026-11.xlsx")

    assert outcome.status == "rejected"
    assert [i.code for i in outcome.issues] == ["file_too_large"]
    assert (record["archive_path"], record["sha256"]) == (None, None)
    assert archived_files(settings) == []


def test_a_workbook_refused_by_its_cells_is_recorded_with_its_digest_but_not_archived(
    load_settings_now: Settings, engine: Engine, tmp_path: Path
) -> None:
    register(engine)
    far = '<row r="200000"><c r="XFD200000"><v>1</v></c></row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW + far)})

    outcome, record = loaded(load_settings_now, engine, path)

    assert outcome.status == "rejected"
    assert [i.key for i in outcome.issues] == ["file_too_large/range"]
    assert record["archive_path"] is None
    assert record["sha256"] == upload_sha256([path])
    assert archived_files(load_settings_now) == []


@pytest.mark.parametrize("not_regular", ["fifo", "device", "directory"], indirect=True)
def test_a_load_of_a_fifo_a_device_or_a_folder_is_rejected_at_once_and_stores_nothing(
    load_settings_now: Settings, engine: Engine, not_regular: tuple[Path, str]
) -> None:
    register(engine)
    path, key = not_regular

    outcome, record = loaded(load_settings_now, engine, path)

    assert outcome.status == "rejected"
    assert [i.key for i in outcome.issues] == [key]
    assert (record["archive_path"], record["sha256"]) == (None, None)
    assert archived_files(load_settings_now) == []


def test_an_invalid_file_within_the_limits_is_still_archived(
    load_settings_now: Settings, engine: Engine, samples: Path
) -> None:
    register(engine)
    outcome, record = loaded(load_settings_now, engine, samples / "organizacion_invalida.xlsx")
    assert outcome.status == "rejected"
    assert record["archive_path"] is not None
    assert len(archived_files(load_settings_now)) == 1


# --- 2. the inbox never follows a symbolic link (SQLite and PostgreSQL) -----------------

SECRET = "root:x:0:0:SECRETO-DEL-SERVIDOR:/root:/bin/bash\n"


def inbox_folder(settings: Settings, client_id: str = "acme") -> Path:
    folder = settings.home / "inbox" / client_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def outbox_text(settings: Settings) -> str:
    outbox = settings.home / "outbox"
    return "".join(p.read_text("utf-8", "replace") for p in outbox.rglob("*.json"))


def test_a_symlink_in_the_inbox_is_skipped_unread_and_leaks_nothing(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    register(engine)
    secret = tmp_path / "server" / "unidades.csv"
    secret.parent.mkdir()
    secret.write_text("codigo_unidad;nombre_unidad\n" + SECRET)
    folder = inbox_folder(settings)
    (folder / "org.csv").symlink_to(secret)
    (folder / "unidades.csv").symlink_to(secret)
    now = datetime.fromisoformat(NOW)

    items = finishes(lambda: scan_inbox(engine, settings, now, settle_seconds=0))

    assert sorted((i.file_name, i.status, i.note) for i in items) == [
        ("org.csv", "skipped", "not_regular_file"),
        ("unidades.csv", "skipped", "not_regular_file"),
    ]
    assert "SECRETO" not in outbox_text(settings)
    for item in items:
        report = json.loads(Path(item.report_json_path or "").read_text("utf-8"))
        assert [e["code"] for e in report["errors"]] == ["unreadable_file"]
    assert secret.read_text().endswith(SECRET)  # the target is untouched
    assert not [p for p in folder.iterdir() if not p.name.startswith(".")]  # set aside
    assert scan_inbox(engine, settings, now, settle_seconds=0) == []  # recorded once


def test_a_fifo_in_the_inbox_is_skipped_without_blocking_the_scan(
    settings: Settings, engine: Engine, samples: Path
) -> None:
    register(engine)
    folder = inbox_folder(settings)
    os.mkfifo(folder / "org.xlsx")
    good = folder / "organizacion_2026-11.xlsx"
    good.write_bytes((samples / "organizacion_2026-11.xlsx").read_bytes())
    now = datetime.fromisoformat(NOW)

    items = finishes(lambda: scan_inbox(engine, settings, now, settle_seconds=0))

    assert sorted((i.file_name, i.status) for i in items) == [
        ("org.xlsx", "skipped"),
        ("organizacion_2026-11.xlsx", "queued"),
    ]


def test_a_client_folder_that_is_a_symlink_is_not_scanned(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    register(engine)
    elsewhere = tmp_path / "server-files"
    elsewhere.mkdir()
    (elsewhere / "unidades.csv").write_text("codigo_unidad;nombre_unidad\n" + SECRET)
    (settings.home / "inbox").mkdir(parents=True, exist_ok=True)
    (settings.home / "inbox" / "acme").symlink_to(elsewhere, target_is_directory=True)

    items = scan_inbox(engine, settings, datetime.fromisoformat(NOW), settle_seconds=0)

    assert items == []
    assert "SECRETO" not in outbox_text(settings)
    assert (elsewhere / "unidades.csv").exists()


def test_find_uploads_takes_regular_files_only(tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    (tmp_path / "target.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "link.xlsx").symlink_to(tmp_path / "target.xlsx")
    os.mkfifo(folder / "pipe.xlsx")
    (folder / "sub").mkdir()
    (folder / "real.xlsx").write_bytes(b"PK\x03\x04")
    assert find_uploads(folder, settle_seconds=0) == [(folder / "real.xlsx",)]


# --- 3. encoding --------------------------------------------------------------------------


def test_utf8_with_one_stray_byte_is_refused_naming_line_and_byte_never_mojibake() -> None:
    data = "codigo_unidad;nombre_unidad\nGER;María\n".encode() + b"TI;Tecnolog\xeda\n"
    with pytest.raises(UnreadableUploadError) as caught:
        decode_text(data, "unidades.csv")
    issue = caught.value.issue
    assert issue.key == "unreadable_file/utf8"
    assert (issue.params["line"], issue.params["offset"]) == (3, data.index(b"\xed"))
    assert short_messages([issue])


def test_utf8_with_bom_and_a_stray_byte_is_refused_too() -> None:
    data = b"\xef\xbb\xbfcodigo_unidad\nGER\xff\n"
    with pytest.raises(UnreadableUploadError) as caught:
        decode_text(data, "u.csv")
    assert caught.value.issue.params["offset"] == data.index(b"\xff")


@pytest.mark.parametrize(
    "text",
    [
        "codigo_unidad;nombre_unidad\nGER;María Muñoz\n",
        "nombres\nJOSÉ\u00a0PÉREZ\n",  # É then a no-break space: not UTF-8 text
        "cargo\nJefe de Administración y Finanzas – Ñuñoa\n",
    ],
)
def test_windows_1252_without_utf8_text_is_read_as_windows_1252(text: str) -> None:
    assert decode_text(text.encode("cp1252"), "u.csv") == text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_unicode_text_with_its_bom_is_read(tmp_path: Path, encoding: str) -> None:
    """Excel's "Texto Unicode": UTF-16 with a BOM, tab-separated, often saved as .txt."""
    bom = "\ufeff".encode(encoding)
    rows = valid_rows()["Unidades"]
    text = "\r\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)
    path = tmp_path / "unidades.txt"
    path.write_bytes(bom + (text + "\r\n").encode(encoding))
    upload = read_upload([path])
    assert keys(upload) == []
    assert upload.sheets[UNIDADES].frame.loc[3, "nombre_unidad"] == "Tecnología"


# --- 5. the file type is named right ------------------------------------------------------


def zip_of(path: Path, members: Mapping[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def ole(*streams: str) -> bytes:
    directory = b"".join((s + "\0").encode("utf-16-le").ljust(128, b"\0") for s in streams)
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + directory


ODS = b"application/vnd.oasis.opendocument.spreadsheet"
ODT = b"application/vnd.oasis.opendocument.text"
TYPES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("org.ods", lambda p: zip_of(p, {"mimetype": ODS, "content.xml": b"<x/>"}), "ods"),
    ("org.odt", lambda p: zip_of(p, {"mimetype": ODT, "content.xml": b"<x/>"}), "odf"),
    ("org.xlsb", lambda p: zip_of(p, {"xl/workbook.bin": b"\0\1"}), "xlsb"),
    ("org.numbers", lambda p: zip_of(p, {"Index/Document.iwa": b"\0"}), "numbers"),
    ("org.docx", lambda p: zip_of(p, {"word/document.xml": b"<w/>"}), "docx"),
    ("org.pptx", lambda p: zip_of(p, {"ppt/presentation.xml": b"<p/>"}), "pptx"),
    ("org.zip", lambda p: zip_of(p, {"leame.txt": b"hola"}), "zip_empty"),
]


@pytest.mark.parametrize(("name", "build", "kind"), TYPES, ids=[t[0] for t in TYPES])
def test_a_zip_based_file_that_is_no_upload_is_named_for_what_it_is(
    tmp_path: Path, name: str, build: Callable[[Path], Path], kind: str
) -> None:
    upload = read_upload([build(tmp_path / name)])
    assert keys(upload) == [("unreadable_file", f"unreadable_file/{kind}")]
    assert short_messages(upload.issues)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (ole("Root Entry", "Workbook", "SummaryInformation"), "old_xls"),
        (ole("Root Entry", "Book"), "old_xls"),
        (ole("Root Entry", "EncryptionInfo", "EncryptedPackage"), "encrypted"),
        (ole("Root Entry", "WordDocument", "1Table"), "doc"),
        (ole("Root Entry", "Something"), "xls"),
        (b"<!DOCTYPE html><html><body><table><tr><td>1</td></tr></table>", "html"),
        (
            b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n<Workbook '
            b'xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>',
            "xml2003",
        ),
    ],
)
def test_old_office_files_and_markup_are_named_for_what_they_are(
    tmp_path: Path, data: bytes, kind: str
) -> None:
    path = tmp_path / "org.xls"
    path.write_bytes(data)
    upload = read_upload([path])
    assert keys(upload) == [("unreadable_file", f"unreadable_file/{kind}")]
    assert short_messages(upload.issues)


def test_an_html_page_saved_as_csv_is_named_too(tmp_path: Path) -> None:
    path = tmp_path / "unidades.csv"
    path.write_bytes(b"\n<html><body>Informe</body></html>")
    assert keys(read_upload([path])) == [("unreadable_file", "unreadable_file/html")]


def test_every_new_message_exists_in_both_languages() -> None:
    from schemas.messages import MESSAGES

    for key in [
        *(f"unreadable_file/{k}" for k in ("directory", "special", "symlink", "unopened")),
        *(f"unreadable_file/{k}" for k in ("encrypted", "old_xls", "doc", "docx", "pptx")),
        *(f"unreadable_file/{k}" for k in ("xlsb", "ods", "odf", "numbers", "html")),
        "unreadable_file/xml2003",
        "unreadable_file/utf8",
        *(f"file_too_large/{k}" for k in ("range", "cell", "csv_cell", "columns", "inflated")),
        "file_too_large/members",
    ]:
        assert set(MESSAGES[key]) == {"es", "en"}


def test_the_found_sheets_of_a_huge_upload_are_listed_short(tmp_path: Path) -> None:
    paths = []
    for i in range(300):
        path = tmp_path / f"hoja_numero_{i:03}_con_un_nombre_largo.csv"
        path.write_bytes(b"a\n1\n")
        paths.append(path)
    upload = read_upload(paths)
    assert len(", ".join(upload.found_sheets)) < 200
    assert upload.found_sheets[-1] == f"… (+{300 - len(upload.found_sheets) + 1})"
    assert PERSONAS not in upload.sheets
