"""Parsing workbooks ahead of time: the same result as parsing when read, the file read is
the file parsed, and nothing outside the limits is parsed early."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

import loaders.xlsx
from loaders.limits import Limits
from loaders.read import read_upload
from loaders.xlsx import parse_ahead
from orgload.columns import PERSONAS, UNIDADES
from tests.builders import valid_rows, write_xlsx


def frames(path: Path) -> dict[str, list[list[str]]]:
    upload = read_upload([path])
    assert upload.issues == []
    return {
        name: sheet.frame.astype(object).values.tolist() for name, sheet in upload.sheets.items()
    }


def wait_parsed(path: Path) -> None:
    _stamp, _limits, future = loaders.xlsx._ahead[path.resolve()]
    future.result(timeout=60)


def test_a_workbook_parsed_ahead_reads_exactly_as_one_parsed_when_read(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    expected = frames(path)
    parse_ahead([path], Limits())
    assert path.resolve() in loaders.xlsx._ahead
    assert frames(path) == expected
    assert path.resolve() not in loaders.xlsx._ahead  # taken once, then gone


def test_the_reader_takes_the_parse_made_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    parse_ahead([path], Limits())
    wait_parsed(path)

    def no_second_parse(_path: Path, _limits: Limits) -> None:
        raise AssertionError("parsed twice")

    monkeypatch.setattr(loaders.xlsx, "_parse", no_second_parse)
    assert sorted(frames(path)) == [PERSONAS, UNIDADES]


def test_a_file_changed_after_the_parse_ahead_is_read_as_it_is_now(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    parse_ahead([path], Limits())
    wait_parsed(path)
    rows = valid_rows()
    write_xlsx(path, {**rows, "Personas": rows["Personas"][:2]})  # one person left
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert len(frames(path)[PERSONAS]) == 1


def test_nothing_outside_the_limits_or_not_a_workbook_is_parsed_ahead(tmp_path: Path) -> None:
    big = write_xlsx(tmp_path / "big.xlsx", valid_rows())
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "0" * 5_000_000)
    csv = tmp_path / "personas.csv"
    csv.write_text("rut;nombres\n")
    missing = tmp_path / "missing.xlsx"
    parse_ahead([big], Limits(max_file_bytes=1_000))
    parse_ahead([bomb, csv, missing], Limits())
    assert {big.resolve(), bomb.resolve(), csv.resolve(), missing.resolve()}.isdisjoint(
        loaders.xlsx._ahead
    )
    issues = read_upload([bomb]).issues
    assert [i.code for i in issues] == ["file_too_large"]


def test_a_corrupt_workbook_parsed_ahead_gets_the_same_report(tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "org.xlsx", valid_rows()).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) // 2])
    expected = [(i.code, i.key) for i in read_upload([cut]).issues]
    parse_ahead([cut], Limits())
    assert [(i.code, i.key) for i in read_upload([cut]).issues] == expected


def test_a_workbook_beyond_the_limits_parsed_ahead_is_refused_when_read(
    tmp_path: Path,
) -> None:
    rows = valid_rows()
    wide = [*rows["Unidades"], [None] * 250 + ["far away"]]  # a value in column IS
    path = write_xlsx(tmp_path / "org.xlsx", {**rows, "Unidades": wide})
    parse_ahead([path], Limits())
    assert loaders.xlsx._ahead[path.resolve()][2].exception(timeout=60) is not None
    assert [(i.code, i.key, i.sheet) for i in read_upload([path]).issues] == [
        ("file_too_large", "file_too_large/range", UNIDADES)
    ]


def test_a_parse_made_ahead_under_other_limits_is_not_taken(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    parse_ahead([path], Limits(max_columns=2))  # would refuse the file
    assert loaders.xlsx._ahead[path.resolve()][2].exception(timeout=60) is not None
    assert sorted(frames(path)) == [PERSONAS, UNIDADES]  # read under the default limits
