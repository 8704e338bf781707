"""Read an upload (.xlsx, CSV files or a .zip of CSVs) into text frames keyed by Excel row number.

Nothing here interprets values: every cell becomes the text Excel shows (numbers that are codes
stay codes, dates become ``yyyy-mm-dd``), so that validation sees one kind of input whatever
the file type. Limits are checked before anything is parsed; any unreadable input becomes an
``Issue`` in the result, never an exception.

Cells are read a chunk of rows at a time into one Arrow text array per column, which the
frames then hold as pandas "str" columns without a copy: a 100,000-row sheet never exists as
a million Python objects at once.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import chain, islice, zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import python_calamine

from loaders.limits import (
    ZIP_MAGIC,
    Limits,
    UnreadableUploadError,
    check_expansion,
    check_file,
    refuse,
)
from loaders.xlsx import worksheets
from orgload.columns import SHEETS, canonical_column, canonical_sheet
from schemas.report import Issue
from schemas.text import TEXT, flags, series

log = logging.getLogger(__name__)

Rows = list[list[Any]]

OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, or an encrypted .xlsx
PDF_MAGIC = b"%PDF"
CSV_CELL_LIMIT = 1_000_000
# Rows turned into columns at a time: a million cells never exist as Python objects at once,
# which keeps the peak memory low and the cyclic garbage collector's passes cheap.
CHUNK_ROWS = 500
_PASSTHROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)


@dataclass(slots=True)
class Grid:
    """A sheet's cells as read, column by column: what ``sheet_of_grid`` makes a frame of.

    ``rows`` counts the rows of the sheet's range, header included (the row limit counts them).
    ``columns`` holds, for each position under a non-blank header, the data cells as Arrow text
    ("" for an empty cell). Sheets that will not be used (not an upload sheet, over the row
    limit) are not read: their grid has no header.
    """

    rows: int
    header: list[str] = field(default_factory=list)
    columns: dict[int, pa.Array] = field(default_factory=dict)
    data_rows: int = 0


SheetGrid = tuple[str, str, Grid]  # (sheet name as written, label for messages, cells)


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
            for sheet_name, source, grid in _read_file(path, limits):
                _add_sheet(upload, sheet_name, source, grid, limits)
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


def _add_sheet(upload: RawUpload, sheet_name: str, source: str, grid: Grid, limits: Limits) -> None:
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
    if grid.rows - 1 > limits.max_rows:
        upload.issues.append(
            Issue(
                code="file_too_large",
                sheet=canonical,
                key="file_too_large/rows",
                params={"rows": grid.rows - 1, "max_rows": limits.max_rows},
            )
        )
        return
    sheet, issues = sheet_of_grid(canonical, source, grid)
    upload.sheets[canonical] = sheet
    upload.issues.extend(issues)


def build_sheet(name: str, source: str, rows: Rows) -> tuple[RawSheet, list[Issue]]:
    """Turn raw rows (row 1 = header) into a ``RawSheet`` and the header issues found."""
    return sheet_of_grid(name, source, read_grid(rows, len(rows)))


def sheet_of_grid(name: str, source: str, grid: Grid) -> tuple[RawSheet, list[Issue]]:
    """Turn a sheet's cells into a ``RawSheet`` and the header issues found."""
    spec = SHEETS[name]
    issues: list[Issue] = []
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    for position, written in enumerate(grid.header):
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

    columns = grid.columns
    index: pd.Index = pd.RangeIndex(2, grid.data_rows + 2, name="row")
    if columns:
        # A row is blank when every column under a header is empty or whitespace (any column,
        # known or not, counts): blank rows are dropped, the others keep their Excel number.
        # Each column is only looked at in the rows that all the previous ones left blank.
        keep = np.zeros(grid.data_rows, dtype=bool)
        for values in columns.values():
            blank = np.flatnonzero(~keep)
            if not len(blank):
                break
            keep[blank] = flags(_non_blank(values.take(blank) if keep.any() else values))
        if not keep.all():
            index = index.take(np.flatnonzero(keep))
            columns = {j: values.filter(keep) for j, values in columns.items()}
    else:
        index = index[:0]
    absent = _blanks(len(index))
    frame = pd.DataFrame(
        {
            c: series(columns[positions[c]] if c in positions else absent, index)
            for c in spec.column_names
        }
    )
    return RawSheet(name=name, source=source, frame=frame, headers=headers), issues


def _non_blank(values: pa.Array) -> pa.Array:
    return pc.not_equal(pc.utf8_trim_whitespace(values), "")


def read_grid(rows: Iterable[Sequence[Any]], count: int) -> Grid:
    """The grid of ``rows`` (header first; ``count`` of them), read a chunk of rows at a time.

    Short rows are padded with empty cells and cells beyond the header are ignored. Columns
    under a blank header are not read at all. A chunk of a column that is all text becomes
    Arrow text at once; the others (numbers, dates) are kept and converted together at the end.
    """
    iterator = iter(rows)
    header = [cell_text(v) for v in next(iterator, ())]
    wanted = [j for j, written in enumerate(header) if written.strip()]
    if not wanted:
        return Grid(count, header)
    chunks: dict[int, list[pa.Array | Sequence[Any]]] = {j: [] for j in wanted}
    data_rows = 0
    for block in _blocks(iterator):
        data_rows += len(block)
        cells = list(zip_longest(*block, fillvalue=""))  # the block's columns
        for j in wanted:
            chunks[j].append(_text_or_cells(cells[j]) if j < len(cells) else _blanks(len(block)))
    return Grid(count, header, {j: _column(parts) for j, parts in chunks.items()}, data_rows)


def _text_or_cells(values: Sequence[Any]) -> pa.Array | Sequence[Any]:
    """Cells as Arrow text when they are all text (one C conversion), else as they are."""
    try:
        array = pa.array(values, type=TEXT)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return values
    return array.fill_null("") if array.null_count else array  # None is an empty cell


def _column(chunks: list[pa.Array | Sequence[Any]]) -> pa.Array:
    """One column from its chunks, converting the ones not yet text all at once."""
    pending = [chunk for chunk in chunks if not isinstance(chunk, pa.Array)]
    if pending:
        texts = text_array(list(chain.from_iterable(pending)))
        start = 0
        for i, chunk in enumerate(chunks):
            if not isinstance(chunk, pa.Array):
                chunks[i], start = texts.slice(start, len(chunk)), start + len(chunk)
    return pa.concat_arrays(chunks) if chunks else _blanks(0)


def _blocks(rows: Iterator[Sequence[Any]]) -> Iterator[list[Sequence[Any]]]:
    while block := list(islice(rows, CHUNK_ROWS)):
        yield block


def _blanks(count: int) -> pa.Array:
    return pa.repeat(pa.scalar("", TEXT), count)


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


def text_array(values: Sequence[Any]) -> pa.Array:
    """``cell_text`` over a column, as Arrow text.

    Cells are grouped by kind: text and dates (calamine gives a ``date`` for an Excel date at
    midnight, the common case) are converted in C, only the other kinds cell by cell.
    """
    if not values:
        return _blanks(0)
    kinds = np.fromiter(map(type, values), dtype=object, count=len(values))
    cells = np.empty(len(values), dtype=object)
    cells[:] = values
    parts, positions = [], []
    for kind in set(map(type, values)):
        where = np.flatnonzero(kinds == kind)
        positions.append(where)
        if kind is str:
            parts.append(pa.array(cells[where], type=TEXT))
        elif kind is date:
            parts.append(pa.array(cells[where], type=pa.date32()).cast(TEXT))
        else:
            parts.append(pa.array([cell_text(v) for v in cells[where]], type=TEXT))
    order = np.empty(len(values), dtype=np.intp)  # where each cell's text is in ``parts``
    order[np.concatenate(positions)] = np.arange(len(values))
    return pa.concat_arrays(parts).take(order)


def _read_file(path: Path, limits: Limits) -> list[SheetGrid]:
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
        return [(path.stem, name, _csv_grid(path.stem, path.read_bytes(), name, limits))]
    raise refuse("unreadable_file", "unreadable_file/type", name)


def _read_zip(path: Path, size: int, limits: Limits) -> list[SheetGrid]:
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            check_expansion(name, size, sum(m.file_size for m in members), limits)
            names = {m.filename for m in members}
            if "xl/workbook.xml" in names:
                return _read_xlsx(path, limits)
            csvs = [
                m
                for m in members
                if m.filename.lower().endswith(".csv") and not m.filename.startswith("__MACOSX/")
            ]
            if not csvs:
                raise refuse("unreadable_file", "unreadable_file/zip_empty", name)
            result: list[SheetGrid] = []
            for member in csvs:
                if member.flag_bits & 0x1:
                    raise refuse("unreadable_file", "unreadable_file/xls", name)
                with archive.open(member) as handle:
                    data = handle.read(limits.max_uncompressed_bytes + 1)
                check_expansion(name, size, len(data), limits)
                label = f"{name} › {member.filename}"
                stem = Path(member.filename).stem
                result.append((stem, label, _csv_grid(stem, data, label, limits)))
            return result
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise refuse(
            "unreadable_file", "unreadable_file/corrupt", name, detail=type(exc).__name__
        ) from exc


def _read_xlsx(path: Path, limits: Limits) -> list[SheetGrid]:
    sheets = worksheets(path)  # parsed by calamine, maybe ahead (loaders/xlsx.py)
    result: list[SheetGrid] = []
    while sheets:
        name, label, sheet = sheets.pop(0)
        result.append((name, label, Grid(0) if sheet is None else _worksheet_grid(sheet, limits)))
        del sheet  # calamine's copy of the cells (~50 MB at 100,000 rows): free it now
    return result


def _worksheet_grid(sheet: python_calamine.CalamineSheet, limits: Limits) -> Grid:
    """The grid of a worksheet, laid out from cell A1 (``to_python(skip_empty_area=False)``).

    ``iter_rows`` starts at the first used column rather than at column A: that changes
    nothing, columns are found by their header. When row 1 is empty there is no header, and
    nothing else of the sheet is read.
    """
    start, end = sheet.start, sheet.end
    count = end[0] + 1 if end is not None else 0
    if start is None or start[0] > 0 or count - 1 > limits.max_rows:
        return Grid(count)
    return read_grid(sheet.iter_rows(), count)


def _csv_grid(sheet_name: str, data: bytes, label: str, limits: Limits) -> Grid:
    rows = parse_csv(data, label)
    if canonical_sheet(sheet_name) is None or len(rows) - 1 > limits.max_rows:
        return Grid(len(rows))
    return read_grid(rows, len(rows))


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
