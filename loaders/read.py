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

import codecs
import csv
import difflib
import html
import io
import logging
import posixpath
import re
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import chain, islice, zip_longest
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import python_calamine

from loaders.limits import (
    ZIP_MAGIC,
    Inflation,
    Limits,
    NotRegularFileError,
    UnreadableUploadError,
    check_expansion,
    check_file,
    csv_records,
    open_regular,
    open_zip,
    read_file,
    read_head,
    refuse,
)
from loaders.xlsx import ErrorCellScanner, worksheets
from orgload.columns import COLUMN_LOOKUP, SHEETS, canonical_column, canonical_sheet, match_key
from schemas.report import Issue, preview
from schemas.text import INVISIBLE, TEXT, flags, series, show_controls, string_bytes

log = logging.getLogger(__name__)

Rows = list[list[Any]]

OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, or an encrypted .xlsx
PDF_MAGIC = b"%PDF"
HEAD_BYTES = 4096  # read to tell a file's type
LISTING_CHARS = 160  # a list of file or sheet names in a message stays this short
LABEL_CHARS = 80
# Rows turned into columns at a time: a million cells never exist as Python objects at once,
# which keeps the peak memory low and the cyclic garbage collector's passes cheap.
CHUNK_ROWS = 500
# Cells that are not all text (dates, numbers) are converted together, but no more than this
# many of a column wait as Python objects (at 1,000,000 rows a date column would be ~80 MB).
SETTLE_CELLS = 65_536
# The header may be below title rows, within the first rows of a sheet (SPEC §1).
HEADER_SEARCH_ROWS = 10
KNOWN_HEADERS = frozenset(key for lookup in COLUMN_LOOKUP.values() for key in lookup)
SUGGEST_MAX = 80  # headers longer than this (once folded) get no suggestion
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
# Excel error cells, read from the sheet XML (``excel_error_cells``).
_SCAN_CHUNK = 1 << 20
_SMALL_PART = 8 << 20  # the workbook part and its relationships; larger ones are not read
_WORKBOOK, _WORKBOOK_RELS = "xl/workbook.xml", "xl/_rels/workbook.xml.rels"
_ATTRIBUTE = re.compile(rb"([\w:.-]+)\s*=\s*[\"']([^\"']*)[\"']")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_SHEET_ENTRY = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")
_PASSTHROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)


@dataclass(slots=True)
class Grid:
    """A sheet's cells as read, column by column: what ``sheet_of_grid`` makes a frame of.

    ``rows`` counts the rows of the sheet's range, header included (the row limit counts them).
    ``columns`` holds, for each position under a non-blank header, the data cells as Arrow text
    ("" for an empty cell). Sheets that will not be used (not an upload sheet, over the row
    limit) are not read: their grid has no header. ``header_row`` is the Excel row number of
    the header (1 unless title rows come first, see ``find_header``); data rows follow it.
    """

    rows: int
    header: list[str] = field(default_factory=list)
    columns: dict[int, pa.Array] = field(default_factory=dict)
    data_rows: int = 0
    header_row: int = 1


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
    upload.found_sheets = _shortened(upload.found_sheets)  # messages list them
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
    unknown: list[str] = []
    at = grid.header_row
    for position, written in enumerate(grid.header):
        label = header_label(written)
        if not label:
            continue
        column = canonical_column(name, label)
        if column is None:
            unknown.append(label)
        elif column in positions:
            issues.append(
                Issue(
                    code="duplicate",
                    key="duplicate/header",
                    sheet=name,
                    row=at,
                    column=column,
                    header=preview(label),
                )
            )
        else:
            positions[column] = position
            headers[column] = label
    for label in unknown:
        suggestion = suggest_column(name, label, exclude=set(positions))
        issues.append(
            Issue(
                code="unknown_column",
                key="unknown_column/suggest" if suggestion else None,
                sheet=name,
                row=at,
                header=preview(label),
                params={"suggestion": suggestion} if suggestion else {},
            )
        )
    # No known header at all: the header row is not where it may be (SPEC §1); say so.
    for required in spec.columns:
        if required.required and required.name not in positions:
            issues.append(
                Issue(
                    code="missing_column",
                    sheet=name,
                    column=required.name,
                    key=None if positions else "missing_column/no_header",
                    params={} if positions else {"rows": HEADER_SEARCH_ROWS},
                )
            )

    columns = grid.columns
    index: pd.Index = pd.RangeIndex(at + 1, at + 1 + grid.data_rows, name="row")
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


def header_label(written: str) -> str:
    """A header cell as matched and reported: invisible formatting characters removed,
    whitespace collapsed, control characters shown as ``<U+001B>`` (never echoed raw)."""
    return show_controls(" ".join(_INVISIBLE.sub("", written).split()))


def suggest_column(sheet: str, header: str, exclude: Collection[str] = ()) -> str | None:
    """The column of ``sheet`` an unknown header most likely means (None if none is close):
    the closest header name or alias (``difflib``, on names folded as they are matched), else
    a name all of whose words the header holds (``Cargo actual`` → ``cargo``). Columns in
    ``exclude`` (those the sheet already has) are not suggested."""
    key = match_key(header)
    if not key or len(key) > SUGGEST_MAX:
        return None
    names = {name: column for name, column in COLUMN_LOOKUP[sheet].items() if column not in exclude}
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    if close:
        return names[close[0]]
    words = set(key.split("_"))
    within = [name for name in names if set(name.split("_")) <= words]
    return names[max(within, key=len)] if within else None


def _known_headers(cells: Sequence[Any]) -> tuple[int, int]:
    """How many of a row's cells are known headers (of either sheet), and how many are not
    blank."""
    labels = [header_label(cell_text(v)) for v in cells]
    written = [label for label in labels if label]
    return sum(match_key(label) in KNOWN_HEADERS for label in written), len(written)


def find_header(head: Sequence[Sequence[Any]]) -> int | None:
    """Which of the first rows of a sheet (row 1 first) is its header: a position in
    ``head``, or None.

    Excel row 1 is the header when any of its cells is a known header (SPEC §1: header in row
    1). Otherwise a title row may come first: the header is the first of the rows up to row
    ``HEADER_SEARCH_ROWS`` where most cells (or at least three) are known headers.
    """
    for position, cells in enumerate(head):
        known, written = _known_headers(cells)
        if not known:
            continue
        if position == 0 or known >= 3 or 2 * known >= written:
            return position
    return None


def read_grid(rows: Iterable[Sequence[Any]], count: int) -> Grid:
    """The grid of ``rows`` (row 1 first; ``count`` of them), read a chunk of rows at a time.

    The header is the first row, unless title rows come before it (``find_header``); rows
    above the header are not read. Short rows are padded with empty cells and cells beyond
    the header are ignored. Columns under a blank header are not read at all. A chunk of a
    column that is all text becomes Arrow text at once; the others (numbers, dates) are kept
    and converted together at the end.
    """
    iterator = iter(rows)
    head = list(islice(iterator, HEADER_SEARCH_ROWS))
    found = find_header(head) or 0
    iterator = chain(head[found + 1 :], iterator)
    header = [cell_text(v) for v in (head[found] if head else ())]
    header_row = found + 1
    wanted = [j for j, written in enumerate(header) if written.strip()]
    if not wanted:
        return Grid(count, header, header_row=header_row)
    chunks: dict[int, list[pa.Array | Sequence[Any]]] = {j: [] for j in wanted}
    unsettled = dict.fromkeys(wanted, 0)  # cells of each column kept as Python objects
    data_rows = 0
    for block in _blocks(iterator):
        data_rows += len(block)
        cells = list(zip_longest(*block, fillvalue=""))  # the block's columns
        for j in wanted:
            chunk = _text_or_cells(cells[j]) if j < len(cells) else _blanks(len(block))
            chunks[j].append(chunk)
            if not isinstance(chunk, pa.Array):
                unsettled[j] += len(chunk)
                if unsettled[j] >= SETTLE_CELLS:
                    _settle(chunks[j])
                    unsettled[j] = 0
    # Each column's chunks are let go as soon as it is one array: the grid never exists twice.
    columns = {j: _column(chunks.pop(j)) for j in wanted}
    return Grid(count, header, columns, data_rows, header_row)


def _text_or_cells(values: Sequence[Any]) -> pa.Array | Sequence[Any]:
    """Cells as Arrow text when they are all text (one C conversion), else as they are."""
    try:
        array = pa.array(values, type=TEXT)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return values
    return array.fill_null("") if array.null_count else array  # None is an empty cell


def _column(chunks: list[pa.Array | Sequence[Any]]) -> pa.Array:
    """One column from its chunks, converting the ones not yet text all at once."""
    _settle(chunks)
    return pa.concat_arrays(chunks) if chunks else _blanks(0)


def _settle(chunks: list[pa.Array | Sequence[Any]]) -> None:
    """Turn the chunks of a column not yet text into text, all at once, in place."""
    pending = [chunk for chunk in chunks if not isinstance(chunk, pa.Array)]
    if pending:
        texts = text_array(list(chain.from_iterable(pending)))
        start = 0
        for i, chunk in enumerate(chunks):
            if not isinstance(chunk, pa.Array):
                chunks[i], start = texts.slice(start, len(chunk)), start + len(chunk)


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
    if isinstance(value, datetime):  # a date-time cell counts as its date (SPEC §1)
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def text_array(values: Sequence[Any]) -> pa.Array:
    """``cell_text`` over a column, as Arrow text.

    Cells are grouped by kind: text, dates (calamine gives a ``date`` for an Excel date at
    midnight, the common case) and date-times are converted in C, only the other kinds cell by
    cell.
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
        elif kind is datetime:
            stamps = pa.array(cells[where], type=pa.timestamp("us"))
            parts.append(stamps.cast(pa.date32()).cast(TEXT))
        else:
            parts.append(pa.array([cell_text(v) for v in cells[where]], type=TEXT))
    order = np.empty(len(values), dtype=np.intp)  # where each cell's text is in ``parts``
    order[np.concatenate(positions)] = np.arange(len(values))
    return pa.concat_arrays(parts).take(order)


def excel_error_cells(path: Path, budget: int) -> dict[str, dict[tuple[int, int], str]]:
    """The error cells (``#N/A``, ``#REF!``…) of a workbook's upload sheets: per sheet name,
    (row, column) from A1, 0-based → the error as Excel shows it.

    python-calamine reads an error cell as an empty one, which would turn a failed formula into
    a blank value; this reads them from the sheet XML instead. Best effort and bounded: at most
    ``budget`` bytes are inflated and ``MAX_ERROR_CELLS`` kept per sheet; whatever goes wrong
    (the reader reports a damaged file itself) gives no error cells.
    """
    found: dict[str, dict[tuple[int, int], str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name, part in _sheet_parts(archive).items():
                if canonical_sheet(name) is None:
                    continue
                cells, budget = _error_cells(archive, part, budget)
                if cells:
                    found[name] = cells
    except Exception:  # best effort: the calamine parse reports a damaged file itself
        log.debug("no error cells read from %s", path.name, exc_info=True)
    return found


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its XML part, from the workbook and its relationships (small parts)."""
    workbook, rels = (_small_part(archive, p) for p in (_WORKBOOK, _WORKBOOK_RELS))
    targets: dict[bytes, str] = {}
    for tag in _RELATIONSHIP.finditer(rels):
        attrs = dict(_ATTRIBUTE.findall(tag.group()))
        target = html.unescape(attrs.get(b"Target", b"").decode("utf-8", "replace"))
        targets[attrs.get(b"Id", b"")] = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
        )
    parts: dict[str, str] = {}
    for tag in _SHEET_ENTRY.finditer(workbook):
        attrs = dict(_ATTRIBUTE.findall(tag.group()))
        rid = next((v for k, v in attrs.items() if k.endswith(b":id")), b"")
        if b"name" in attrs and rid in targets:
            parts[html.unescape(attrs[b"name"].decode("utf-8", "replace"))] = targets[rid]
    return parts


def _small_part(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return b""
    if info.file_size > _SMALL_PART:
        return b""
    with archive.open(info) as handle:
        return handle.read(_SMALL_PART)


def _error_cells(
    archive: zipfile.ZipFile, part: str, budget: int
) -> tuple[dict[tuple[int, int], str], int]:
    """The error cells of one sheet part, and what is left of the byte budget."""
    scanner = ErrorCellScanner()
    with archive.open(part) as handle:
        while budget > 0 and not scanner.full:
            chunk = handle.read(min(_SCAN_CHUNK, budget))
            if not chunk:
                break
            budget -= len(chunk)
            scanner.feed(chunk)
    return scanner.cells, budget


def with_error_cells(grid: Grid, cells: dict[tuple[int, int], str], first_column: int) -> Grid:
    """``grid`` with its error cells (``excel_error_cells``) holding the error's text, as Excel
    shows them; ``first_column`` is the sheet's first used column (where the grid starts)."""
    placed: dict[int, list[tuple[int, str]]] = {}
    for (row, column), text in cells.items():  # error cells only: rare, and bounded
        position, at = column - first_column, row - grid.header_row  # row of the data, 0-based
        if position in grid.columns and 0 <= at < grid.data_rows:
            placed.setdefault(position, []).append((at, text))
    for position, values in placed.items():
        values.sort()
        mask = np.zeros(grid.data_rows, dtype=bool)
        mask[[at for at, _ in values]] = True
        texts = pa.array([text for _, text in values], TEXT)
        grid.columns[position] = pc.replace_with_mask(grid.columns[position], mask, texts)
    return grid


def _scan_error_cells(path: Path, budget: int) -> Future[dict[str, dict[tuple[int, int], str]]]:
    """``excel_error_cells`` in a thread: inflating the sheet XML releases the GIL, so the scan
    runs while the main thread turns the parsed cells into text."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="error-cells")
    try:
        return executor.submit(excel_error_cells, path, budget)
    finally:
        executor.shutdown(wait=False)


def _read_file(path: Path, limits: Limits) -> list[SheetGrid]:
    """The sheets of one file, its type told by its content (the extension only picks CSV)."""
    name = path.name
    size = check_file(path, limits)
    try:
        head = read_head(path, HEAD_BYTES)
    except NotRegularFileError as exc:
        raise refuse("unreadable_file", f"unreadable_file/{exc.kind}", name) from exc
    except OSError as exc:  # no permission to read it, say
        raise refuse(
            "unreadable_file", "unreadable_file/unopened", name, detail=exc.strerror or "OSError"
        ) from exc
    if head.startswith(ZIP_MAGIC):
        return _read_zip(path, size, limits)
    if head.startswith(OLE_MAGIC):
        raise refuse("unreadable_file", f"unreadable_file/{_ole_kind(path, limits)}", name)
    if head.startswith(PDF_MAGIC):
        raise refuse("unreadable_file", "unreadable_file/pdf", name)
    markup = _markup_kind(head)
    if markup is not None:
        raise refuse("unreadable_file", f"unreadable_file/{markup}", name)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        if canonical_sheet(path.stem) is None:
            return [(path.stem, name, Grid(0))]  # not a sheet of ours: listed, not read
        data = read_file(path, limits)
        return [(path.stem, name, _csv_grid(path.stem, data, name, limits))]
    raise refuse("unreadable_file", "unreadable_file/type", name)


def _read_zip(path: Path, size: int, limits: Limits) -> list[SheetGrid]:
    """A workbook (any .xlsx is a zip), or CSV files inside a .zip; other zip-based formats
    (OpenDocument, .xlsb, Numbers, Word…) are named for what they are."""
    name = path.name
    try:
        with open_regular(path) as handle, open_zip(handle, name) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            check_expansion(name, size, sum(m.file_size for m in members), limits)
            kind = _zip_kind(archive, members, path)
            if kind == "xlsx":
                return _read_xlsx(path, limits)
            if kind is not None:
                raise refuse("unreadable_file", f"unreadable_file/{kind}", name)
            csvs = [
                m
                for m in members
                if m.filename.lower().endswith(".csv") and not m.filename.startswith("__MACOSX/")
            ]
            if not csvs:
                raise refuse("unreadable_file", "unreadable_file/zip_empty", name)
            return _zip_csvs(name, Inflation(name, handle, size, limits), csvs, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise refuse(
            "unreadable_file", "unreadable_file/corrupt", name, detail=type(exc).__name__
        ) from exc


def _zip_csvs(
    name: str, inflation: Inflation, csvs: Sequence[zipfile.ZipInfo], limits: Limits
) -> list[SheetGrid]:
    """The CSV members of a .zip: the first one of each sheet is inflated (against the
    archive's byte budget) and read; the others are only listed, so that a zip of thousands
    of members costs no more than its two sheets and its report stays short."""
    result: list[SheetGrid] = []
    repeated: dict[str, list[str]] = {}
    seen: set[str] = set()
    for member in csvs:
        label = f"{name} › {member.filename}"
        stem = PurePosixPath(member.filename.replace("\\", "/")).stem
        sheet = canonical_sheet(stem)
        if sheet is None:
            result.append((stem, label, Grid(0)))
        elif sheet in seen:
            repeated.setdefault(sheet, []).append(label)
        else:
            seen.add(sheet)
            data = inflation.read(member)
            result.append((stem, label, _csv_grid(stem, data, label, limits)))
    for sheet, labels in repeated.items():  # reported once per sheet, as given twice
        result.append((sheet, listing(labels), Grid(0)))
    return result


def _zip_kind(
    archive: zipfile.ZipFile, members: Sequence[zipfile.ZipInfo], path: Path
) -> str | None:
    """What a zip-based file is: ``xlsx``, another format named by its message key, or None
    for a plain .zip (which may hold CSV files)."""
    names = {m.filename for m in members}
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "mimetype" in names:
        try:
            with archive.open("mimetype") as handle:
                mimetype = handle.read(100)
        except (RuntimeError, NotImplementedError, zlib.error):  # encrypted, odd compression
            mimetype = b""
        if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
            return "ods"
        if mimetype.startswith(b"application/vnd.oasis.opendocument."):
            return "odf"
    if path.suffix.lower() == ".numbers" or any(
        n.startswith("Index/") and n.endswith(".iwa") for n in names
    ):
        return "numbers"
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    return None


# Names of the streams that tell an OLE compound file apart, as its directory holds them
# (UTF-16LE, NUL-terminated); the first one found names the file.
_OLE_STREAMS = (
    ("EncryptedPackage", "encrypted"),  # an .xlsx (or .docx) saved with a password
    ("WordDocument", "doc"),
    ("Workbook", "old_xls"),  # Excel 97-2003
    ("Book", "old_xls"),  # Excel 5/95
)


def _ole_kind(path: Path, limits: Limits) -> str:
    """The message key of an OLE compound file (the size limit bounds the search)."""
    data = read_file(path, limits)
    for stream, kind in _OLE_STREAMS:
        if (stream + "\0").encode("utf-16-le") in data:
            return kind
    return "xls"  # the old .xls format or a password: the message names both


def _markup_kind(head: bytes) -> str | None:
    """``html`` for a web page (what many systems save as ".xls"), ``xml2003`` for an Excel
    2003 XML spreadsheet; None for anything else."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<table")) or b"<html" in text[:512]:
        return "html"
    if text.startswith(b"<?xml") and (
        b"urn:schemas-microsoft-com:office:spreadsheet" in text or b"excel.sheet" in text
    ):
        return "xml2003"
    return None


def listing(labels: Sequence[str], max_chars: int = LISTING_CHARS) -> str:
    """``a, b, c … (+N)``: the first labels that fit in ``max_chars`` (at least one) and how
    many more there are, so that a message naming thousands of files stays short."""
    return ", ".join(_shortened(labels, max_chars))


def _shortened(labels: Sequence[str], max_chars: int = LISTING_CHARS) -> list[str]:
    """The first labels that fit in ``max_chars`` (at least one, each cut to ``LABEL_CHARS``),
    then ``… (+N)`` for the N others."""
    shown: list[str] = []
    used = 0
    for label in labels:
        label = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        if shown and used + len(label) + 2 > max_chars:
            break
        shown.append(label)
        used += len(label) + 2
    more = len(labels) - len(shown)
    return [*shown, f"… (+{more})"] if more else shown


def _read_xlsx(path: Path, limits: Limits) -> list[SheetGrid]:
    # Parsed by calamine, maybe ahead; the error cells (which calamine reads blank) were found
    # while the sheet XML was inspected, else they are scanned for here (loaders/xlsx.py).
    sheets, found = worksheets(path, limits)
    scan = _scan_error_cells(path, limits.max_uncompressed_bytes) if found is None else None
    result: list[SheetGrid] = []
    while sheets:
        name, label, sheet = sheets.pop(0)
        grid = Grid(0) if sheet is None else _worksheet_grid(sheet, limits)
        check_cell_chars(grid, path.name, name, limits)
        if sheet is not None and sheet.start is not None and grid.columns:
            cells = (scan.result() if scan is not None else found or {}).get(name, {})
            grid = with_error_cells(grid, cells, sheet.start[1])
        result.append((name, label, grid))
        del sheet  # calamine's copy of the cells (~50 MB at 100,000 rows): free it now
    return result


def check_cell_chars(grid: Grid, file: str, sheet: str, limits: Limits) -> None:
    """Refuse a workbook with a cell longer than ``max_cell_chars`` (Excel itself holds at
    most 32,767 characters in a cell, so no workbook Excel saved has one): one vectorized
    pass over each column read."""
    limit = limits.max_cell_chars
    longest = [(len(written), position) for position, written in enumerate(grid.header)]
    over = [(length, position, -1) for length, position in longest if length > limit]
    for position, values in grid.columns.items():
        if _most_bytes(values) <= limit:
            continue  # no more characters than bytes: no cell can be over
        lengths = pc.utf8_length(values)
        if len(values) and pc.max(lengths).as_py() > limit:
            at = pc.index(pc.greater(lengths, limit), True).as_py()
            over.append((lengths[at].as_py(), position, at))
    if not over:
        return
    length, position, at = min(over, key=lambda found: found[2])
    raise UnreadableUploadError(
        Issue(
            code="file_too_large",
            key="file_too_large/cell",
            sheet=canonical_sheet(sheet),
            params={
                "file": file,
                "sheet_name": sheet[:60],
                "row": grid.header_row + 1 + at,
                "header": header_label(grid.header[position])[:60] or "—",
                "length": length,
                "max_chars": limit,
            },
        )
    )


def _most_bytes(values: pa.Array) -> int:
    """The byte length of the longest value of a text column, read from its offsets (an upper
    bound of its characters); any other column type counts as unbounded."""
    if not len(values):
        return 0
    if values.type != TEXT:
        return 1 << 62
    _, offsets = string_bytes(values)
    return int(np.diff(offsets).max())


def _worksheet_grid(sheet: python_calamine.CalamineSheet, limits: Limits) -> Grid:
    """The grid of a worksheet, laid out from cell A1 (``to_python(skip_empty_area=False)``).

    ``iter_rows`` starts at the first used column rather than at column A: that changes
    nothing, columns are found by their header. Rows start at row 1; the header is looked for
    in the first ``HEADER_SEARCH_ROWS`` of them (``find_header``): when they are all empty
    there is no header, and nothing else of the sheet is read.
    """
    start, end = sheet.start, sheet.end
    count = end[0] + 1 if end is not None else 0
    if start is None or start[0] >= HEADER_SEARCH_ROWS or count - 1 > limits.max_rows:
        return Grid(count)
    return read_grid(sheet.iter_rows(), count)


def _csv_grid(sheet_name: str, data: bytes, label: str, limits: Limits) -> Grid:
    # too many rows: refused from the bytes, before a million rows are split into cells (no
    # more records than line breaks + 1: only a CSV with more line breaks than the limit is
    # counted with its quotes, so a CSV within it costs one bytes.count)
    if data.count(b"\n") > limits.max_rows:
        records = csv_records([data])
        if records is not None and records - 1 > limits.max_rows:
            return Grid(records)
    rows = parse_csv(data, label, limits)
    if len(rows) - 1 > limits.max_rows:  # the reader stopped there: count the lines instead
        return Grid(_lines(data))
    return read_grid(rows, len(rows))


def _lines(data: bytes) -> int:
    """The lines of CSV bytes (rows, unless quoted cells hold line breaks)."""
    return data.count(b"\n") + (not data.endswith(b"\n"))


# UTF-8 sequences of what Spanish text holds beyond ASCII (Latin-1 letters, typographic
# punctuation and €, any 3- or 4-byte character): in Windows-1252 bytes they are all but
# impossible ("Ã" then a symbol), so bytes holding one are UTF-8, however damaged.
_UTF8_TEXT = re.compile(
    rb"[\xc2-\xc5][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def decode_text(data: bytes, name: str) -> str:
    """Decode CSV bytes: UTF-16 with its BOM (Excel's "Unicode text"), UTF-8 with or without
    BOM, else Windows-1252 (Spanish Excel).

    Bytes that are UTF-8 but for a stray byte are refused (``unreadable_file/utf8``, naming
    its line and offset) rather than read as Windows-1252, which would turn every "María"
    into "MarÃ­a" without a single error. Only bytes with no UTF-8 text at all are read as
    Windows-1252.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise refuse("unreadable_file", "unreadable_file/binary", name) from exc
    if b"\x00" in data[:65536]:
        raise refuse("unreadable_file", "unreadable_file/binary", name)
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        if bom or _UTF8_TEXT.search(data) is not None:
            at = bom + exc.start
            raise refuse(
                "unreadable_file",
                "unreadable_file/utf8",
                name,
                line=data.count(b"\n", 0, at) + 1,
                offset=at,
                byte=f"0x{data[at]:02X}",
            ) from exc
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise refuse("unreadable_file", "unreadable_file/binary", name) from exc


def _header_line(text: str) -> str:
    """The first line that is not blank (``""`` if none), found without splitting the text."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        if line.strip():
            return line
        start = end + 1
    return ""


SNIFF_LINES = 10  # a header may sit below title rows (SPEC §1): look at as many lines


def sniff_delimiter(text: str) -> str:
    """The separator of a CSV export: the most frequent of ``;`` ``,`` tab in the line that has
    most of them among the first non-blank lines (a title line above the header has none)."""
    best, most = ",", 0
    for line in _first_lines(text, SNIFF_LINES):
        counts = {d: line.count(d) for d in (";", ",", "\t")}
        candidate = max(counts, key=lambda d: counts[d])
        if counts[candidate] > most:
            best, most = candidate, counts[candidate]
    return best


def _first_lines(text: str, count: int) -> list[str]:
    """The first ``count`` non-blank lines, found without splitting the whole text."""
    lines: list[str] = []
    start = 0
    while start < len(text) and len(lines) < count:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if text[start:end].strip():
            lines.append(text[start:end])
        start = end + 1
    return lines


def parse_csv(data: bytes, name: str, limits: Limits | None = None) -> Rows:
    """Parse CSV bytes into rows of text (row 1 = header), whatever the locale of the export.

    Bounded: a header wider than ``max_columns`` is refused before anything is split, a cell
    longer than ``max_cell_chars`` stops the parser, and no more rows than the row limit
    (plus one, to tell) are ever built.
    """
    limits = limits or Limits()
    text = decode_text(data, name)
    delimiter = sniff_delimiter(text)
    _check_header_width(text, delimiter, name, limits)
    csv.field_size_limit(limits.max_cell_chars)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = list(islice(reader, limits.max_rows + 2))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise refuse(
                "file_too_large",
                "file_too_large/csv_cell",
                name,
                line=reader.line_num,
                max_chars=limits.max_cell_chars,
            ) from exc
        raise refuse("unreadable_file", "unreadable_file/csv", name, detail=str(exc)) from exc
    if rows and max(map(len, rows)) > limits.max_columns:
        row = next(i for i, cells in enumerate(rows, 1) if len(cells) > limits.max_columns)
        raise refuse(
            "file_too_large",
            "file_too_large/columns",
            name,
            row=row,
            columns=len(rows[row - 1]),
            max_columns=limits.max_columns,
        )
    return rows


def _check_header_width(text: str, delimiter: str, name: str, limits: Limits) -> None:
    """Refuse a header row wider than ``max_columns`` before the CSV is split into cells (a
    header of millions of columns would take gigabytes once split)."""
    header = _header_line(text)
    if header.count(delimiter) < limits.max_columns:
        return
    field, at = _csv_field(delimiter), text.find(header)
    for _ in range(limits.max_columns):  # fields followed by a delimiter, quotes honoured
        found = field.match(text, at)
        if found is None:
            return
        at = found.end()
    raise refuse(
        "file_too_large",
        "file_too_large/columns",
        name,
        row=1,
        columns=f"> {limits.max_columns}",
        max_columns=limits.max_columns,
    )


@lru_cache(maxsize=4)
def _csv_field(delimiter: str) -> re.Pattern[str]:
    """One field of a header row and its delimiter; a line break ends the search."""
    d = re.escape(delimiter)
    return re.compile(rf'(?:"(?:[^"]|"")*"|[^{d}"\r\n]*){d}')
