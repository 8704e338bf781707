"""Read an upload (.xlsx, CSV files or a .zip of CSVs) into text frames keyed by Excel row number.

Nothing here interprets values: every cell becomes the text Excel shows (numbers that are codes
stay codes, dates become ``yyyy-mm-dd``), so that validation sees one kind of input whatever
the file type. Limits are checked before anything is parsed; any unreadable input becomes an
``Issue`` in the result, never an exception.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import python_calamine
from pandas.api.types import infer_dtype

from loaders.limits import (
    ZIP_MAGIC,
    Limits,
    UnreadableUploadError,
    check_expansion,
    check_file,
    refuse,
)
from schemas.columns import SHEETS, canonical_column, canonical_sheet
from schemas.report import Issue

log = logging.getLogger(__name__)

Rows = list[list[Any]]
SheetRows = tuple[str, str, Rows]  # (sheet name as written, label for messages, rows)

OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, or an encrypted .xlsx
PDF_MAGIC = b"%PDF"
CSV_CELL_LIMIT = 1_000_000
_PASSTHROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)


@dataclass(slots=True)
class RawSheet:
    """One sheet as read: text cells in canonical columns, indexed by the Excel row number."""

    name: str
    source: str
    frame: pd.DataFrame
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def present(self) -> set[str]:
        """Canonical columns that the file actually has (the others are filled with NA)."""
        return set(self.headers)


@dataclass(slots=True)
class RawUpload:
    """Everything read from the files of one upload, plus what made parts of it unreadable."""

    files: list[Path]
    sheets: dict[str, RawSheet] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    found_sheets: list[str] = field(default_factory=list)


def read_upload(paths: Sequence[Path], limits: Limits | None = None) -> RawUpload:
    """Read every file of an upload; problems are collected in ``RawUpload.issues``."""
    limits = limits or Limits()
    upload = RawUpload(files=list(paths))
    for path in paths:
        try:
            for sheet_name, source, rows in _read_file(path, limits):
                _add_sheet(upload, sheet_name, source, rows, limits)
        except UnreadableUploadError as refused:
            upload.issues.append(refused.issue)
        except _PASSTHROUGH:
            raise
        except BaseException as exc:
            log.warning("unexpected error reading %s", path, exc_info=True)
            upload.issues.append(
                Issue(
                    code="unreadable_file",
                    key="unreadable_file/corrupt",
                    params={"file": path.name, "detail": type(exc).__name__},
                )
            )
    return upload


def _add_sheet(upload: RawUpload, sheet_name: str, source: str, rows: Rows, limits: Limits) -> None:
    upload.found_sheets.append(source)
    canonical = canonical_sheet(sheet_name)
    if canonical is None:
        return
    if canonical in upload.sheets:
        upload.issues.append(
            Issue(
                code="unreadable_file",
                sheet=canonical,
                key="unreadable_file/twice",
                params={"file": source},
            )
        )
        return
    if len(rows) - 1 > limits.max_rows:
        upload.issues.append(
            Issue(
                code="file_too_large",
                sheet=canonical,
                key="file_too_large/rows",
                params={"rows": len(rows) - 1, "max_rows": limits.max_rows},
            )
        )
        return
    sheet, issues = build_sheet(canonical, source, rows)
    upload.sheets[canonical] = sheet
    upload.issues.extend(issues)


def build_sheet(name: str, source: str, rows: Rows) -> tuple[RawSheet, list[Issue]]:
    """Turn raw rows (row 1 = header) into a ``RawSheet`` and the header issues found."""
    spec = SHEETS[name]
    issues: list[Issue] = []
    header_row = [cell_text(v) for v in rows[0]] if rows else []
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    for position, written in enumerate(header_row):
        label = " ".join(written.split())
        if not label:
            continue
        column = canonical_column(name, label)
        if column is None:
            issues.append(Issue(code="unknown_column", sheet=name, row=1, header=label))
        elif column in positions:
            issues.append(
                Issue(
                    code="duplicate",
                    key="duplicate/header",
                    sheet=name,
                    row=1,
                    column=column,
                    header=label,
                )
            )
        else:
            positions[column] = position
            headers[column] = label
    for required in spec.columns:
        if required.required and required.name not in positions:
            issues.append(Issue(code="missing_column", sheet=name, column=required.name))

    data = rows[1:]
    width = len(header_row)
    grid = np.empty((len(data), max(width, 1)), dtype=object)
    grid[:] = ""
    if data and width:
        if all(len(r) == width for r in data):
            grid[:, :width] = np.array(data, dtype=object).reshape(len(data), -1)[:, :width]
        else:
            for i, r in enumerate(data):
                grid[i, : min(len(r), width)] = r[:width]
    texts = {j: column_text(grid[:, j]) for j in range(width) if header_row[j].strip()}
    index = pd.RangeIndex(2, len(data) + 2, name="row")
    frame = pd.DataFrame(
        {c: texts[positions[c]] if c in positions else "" for c in spec.column_names},
        index=index,
        dtype="str",
    )
    if texts:
        filled = np.zeros(len(data), dtype=bool)
        for values in texts.values():
            filled |= pd.Series(values, dtype="str").str.strip().str.len().to_numpy() > 0
        frame = frame[filled]
    else:
        frame = frame.iloc[0:0]
    return RawSheet(name=name, source=source, frame=frame, headers=headers), issues


def cell_text(value: object) -> str:
    """The text Excel shows for a cell value read by calamine or csv."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def column_text(values: np.ndarray) -> np.ndarray:
    """``cell_text`` over a column, skipping the per-cell work when it is already all text."""
    if infer_dtype(values, skipna=False) in ("string", "empty"):
        return values
    return np.array([cell_text(v) for v in values], dtype=object)


def _read_file(path: Path, limits: Limits) -> Iterable[SheetRows]:
    name = path.name
    size = check_file(path, limits)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(ZIP_MAGIC):
        return _read_zip(path, size, limits)
    if head.startswith(OLE_MAGIC):
        raise refuse("unreadable_file", "unreadable_file/xls", name)
    if head.startswith(PDF_MAGIC):
        raise refuse("unreadable_file", "unreadable_file/pdf", name)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return [(path.stem, name, parse_csv(path.read_bytes(), name))]
    raise refuse("unreadable_file", "unreadable_file/type", name)


def _read_zip(path: Path, size: int, limits: Limits) -> list[SheetRows]:
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            check_expansion(name, size, sum(m.file_size for m in members), limits)
            names = {m.filename for m in members}
            if "xl/workbook.xml" in names:
                return _read_xlsx(path)
            csvs = [
                m
                for m in members
                if m.filename.lower().endswith(".csv") and not m.filename.startswith("__MACOSX/")
            ]
            if not csvs:
                raise refuse("unreadable_file", "unreadable_file/zip_empty", name)
            result: list[SheetRows] = []
            for member in csvs:
                if member.flag_bits & 0x1:
                    raise refuse("unreadable_file", "unreadable_file/xls", name)
                with archive.open(member) as handle:
                    data = handle.read(limits.max_uncompressed_bytes + 1)
                check_expansion(name, size, len(data), limits)
                label = f"{name} › {member.filename}"
                result.append((Path(member.filename).stem, label, parse_csv(data, label)))
            return result
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise refuse(
            "unreadable_file", "unreadable_file/corrupt", name, detail=type(exc).__name__
        ) from exc


def _read_xlsx(path: Path) -> list[SheetRows]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise refuse("unreadable_file", "unreadable_file/xls", path.name) from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise refuse(
            "unreadable_file", "unreadable_file/corrupt", path.name, detail=str(exc)[:120]
        ) from exc
    result: list[SheetRows] = []
    try:
        for meta in workbook.sheets_metadata:
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            label = f"{path.name} › {meta.name}"
            if canonical_sheet(meta.name) is None:
                result.append((meta.name, label, []))
                continue
            sheet = workbook.get_sheet_by_name(meta.name)
            result.append((meta.name, label, sheet.to_python(skip_empty_area=False)))
    finally:
        workbook.close()
    return result


def decode_text(data: bytes, name: str) -> str:
    """Decode CSV bytes: UTF-8 (with or without BOM), else Windows-1252 (Spanish Excel)."""
    if b"\x00" in data[:65536]:
        raise refuse("unreadable_file", "unreadable_file/binary", name)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise refuse("unreadable_file", "unreadable_file/binary", name) from exc


def sniff_delimiter(text: str) -> str:
    """The separator of a CSV export: the most frequent of ``;`` ``,`` tab in the header line."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_csv(data: bytes, name: str) -> Rows:
    """Parse CSV bytes into rows of text (row 1 = header), whatever the locale of the export."""
    text = decode_text(data, name)
    delimiter = sniff_delimiter(text)
    csv.field_size_limit(CSV_CELL_LIMIT)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise refuse("unreadable_file", "unreadable_file/csv", name, detail=str(exc)) from exc
