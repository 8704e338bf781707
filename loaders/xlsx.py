"""Parse .xlsx worksheets with calamine, now or ahead of time in a background thread.

``orgload load`` and ``orgload validate`` call ``parse_ahead`` first thing: calamine's Rust
parser releases the GIL, so a 100,000-row workbook is parsed while the main thread imports
pandas and SQLAlchemy and connects to the database, instead of after (the two took ~0.7 s
each). Only the parse happens ahead: the parsed sheets are turned into text columns by
``loaders.read`` in the main thread. This module stays free of pandas for that reason. Only a
workbook that passes the size checks ``loaders.read`` applies is parsed ahead; anything else —
no call, another file, a file changed since — is parsed when ``loaders.read`` asks for it, and
a parse that failed ahead raises the same error when its result is taken.

Before calamine sees a workbook, ``inspect_workbook`` reads the parts calamine will read in one
bounded streaming pass: every part is inflated from its raw deflate stream against the archive's
byte budget (declared sizes may lie; calamine inflates the real stream), and the worksheets of
the upload are scanned for cells beyond the row and column limits. calamine lays a sheet out as
one dense block from its first to its last cell holding something, so one value at
``XFD200000`` would make it allocate ~200,000 × 16,384 cells and abort the process; the
shared-string table's ``uniqueCount`` is reserved up front the same way. The sheet's
``<dimension>`` is not trusted: calamine ignores it, it may be small while a cell lies far away,
and Excel widens it for cells that only carry formatting, which calamine skips. It is used one
way only: a sheet declaring more rows than the limit, over a part large enough to hold them, is
refused from its first bytes (``_refuse_declared``), so that a 1,000,001-row workbook costs no
inflation of its ~550 MB of XML.

The inspection is on the parse's critical path (calamine may not start before it ends), so
large parts are screened a chunk at a time with one RE2 pass that releases the GIL
(``_fast_screen``); the exact Python expressions only search the chunks it matches in, and the
part is inflated while the main thread is still importing pyarrow (``_inflated_ahead``).
"""

from __future__ import annotations

import html
import re
import struct
import sys
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NoReturn

import python_calamine

import loaders.limits as limits_module
from loaders.limits import (
    ZIP_MAGIC,
    Inflation,
    Limits,
    UnreadableUploadError,
    check_expansion,
    check_file,
    open_regular,
    open_zip,
    precheck,
    read_head,
    refuse,
)
from orgload.columns import canonical_sheet
from schemas.report import Issue

# (sheet name as written, label for messages, the parsed sheet; None for a sheet that is not
# one of ours, which is listed but not parsed)
Worksheet = tuple[str, str, python_calamine.CalamineSheet | None]
# per sheet name: (row, column) from A1, 0-based → the error as Excel shows it; None when the
# inspection could not tell (a sheet written unusually): the reader then scans for them itself
ErrorCells = dict[str, dict[tuple[int, int], str]] | None
Parsed = tuple[list[Worksheet], ErrorCells]

_Stamp = tuple[int, int]  # size and modification time: the file parsed is the file read
_ahead: dict[Path, tuple[_Stamp, Limits, Future[Parsed]]] = {}
_lock = threading.Lock()


def worksheets(path: Path, limits: Limits | None = None) -> Parsed:
    """The worksheets of a workbook, parsed, and their error cells; taken from ``parse_ahead``
    when it parsed this very file under the same limits."""
    limits = limits or Limits()
    with _lock:
        started = _ahead.pop(path.resolve(), None)
    if started is not None:
        stamp, ahead_limits, future = started
        if stamp == _stamp(path) and ahead_limits == limits:
            return future.result()
    return _parse(path, limits)


def parse_ahead(paths: Sequence[Path], limits: Limits) -> None:
    """Start parsing, in a daemon thread each, the workbooks among ``paths`` that are within
    the limits; never raises (problems are reported when the upload is read)."""
    for path in paths:
        try:
            if not _is_workbook(path, limits):
                continue
            key, stamp = path.resolve(), _stamp(path)
        except Exception:  # noqa: BLE001 - loaders.read reports whatever is wrong
            continue
        future: Future[Parsed] = Future()
        with _lock:
            if key in _ahead:
                continue
            _ahead[key] = (stamp, limits, future)
        threading.Thread(
            target=_run, args=(future, path, limits), name=f"parse {path.name}", daemon=True
        ).start()


def _run(future: Future[Parsed], path: Path, limits: Limits) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(_parse(path, limits))
    except BaseException as exc:  # noqa: BLE001 - handed to the reader, which reports it
        future.set_exception(exc)


def _stamp(path: Path) -> _Stamp:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _is_workbook(path: Path, limits: Limits) -> bool:
    """An .xlsx within the size limits (the checks ``loaders.read`` makes before parsing)."""
    size = check_file(path, limits)
    if not read_head(path, 4).startswith(ZIP_MAGIC):
        return False
    with open_regular(path) as handle, open_zip(handle, path.name) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        check_expansion(path.name, size, sum(m.file_size for m in members), limits)
        return any(m.filename == "xl/workbook.xml" for m in members)


def _parse(path: Path, limits: Limits) -> Parsed:
    errors = inspect_workbook(path, limits)  # raises before calamine could allocate too much
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise refuse("unreadable_file", "unreadable_file/encrypted", path.name) from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise refuse(
            "unreadable_file", "unreadable_file/corrupt", path.name, detail=str(exc)[:120]
        ) from exc
    result: list[Worksheet] = []
    try:
        for meta in workbook.sheets_metadata:
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue
            label = f"{path.name} › {meta.name}"
            if canonical_sheet(meta.name) is None:
                result.append((meta.name, label, None))
                continue
            result.append((meta.name, label, workbook.get_sheet_by_name(meta.name)))
    finally:
        workbook.close()
    return result, errors


# --- the bounded inspection ---------------------------------------------------------------

WORKSHEETS = "xl/worksheets/"  # calamine reads a worksheet only from under this folder
# Bytes of a chunk's end scanned again with the next chunk, so that no tag is missed where a
# chunk is cut; a cell reference longer than this is not one calamine could place anyway.
_OVERLAP = 256
_BEHIND = 16  # and bytes kept before it, for look-behinds (``</x:c>`` is no unusual cell)
_PART_SUFFIXES = (".xml", ".rels")
# The namespace prefix of a worksheet's root element (``x:`` in files of the OpenXML SDK);
# its cells are expected to carry the same one.
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet[\s>/]")
_ROOT_WITHIN = 4096  # bytes of a part the root element is looked for in
_SST_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sst\b([^>]*)>")
_UNIQUE_COUNT = re.compile(rb"""\suniqueCount\s*=\s*["']\s*([0-9]+)""")
_SHEET_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheet\b([^>]*)>")
_RELATIONSHIP_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])([^>]*)>")
_REFERENCE = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]*)([0-9]*)["']""")
_WORKBOOK_PART_MAX = 16_000_000  # workbook.xml and its relationships are small
# A shared-string table may declare this many strings unchecked (calamine reserves ~24 bytes
# each up front: 24 MB); more must be there, counted.
_STRINGS_TRUSTED = 1_000_000


@dataclass(frozen=True, slots=True)
class _Far:
    """The first cell found beyond the limits in a worksheet part."""

    row: int  # 1-based, as Excel numbers it
    column: int  # 1-based

    @property
    def cell(self) -> str:
        return f"{column_letters(self.column)}{self.row}"


def inspect_workbook(path: Path, limits: Limits) -> ErrorCells:
    """Refuse, before calamine parses anything, a workbook that would take it past the limits:
    parts inflating past the archive's budget, a worksheet of the upload holding a cell beyond
    ``max_columns`` or ``max_rows`` data rows, a shared-string table declaring more strings
    than it holds. Reads each part once, a chunk at a time; never raises for a good workbook.
    Returns the error cells of the upload's sheets, found in the same pass (None when a sheet
    had to be counted through, or its name could not be told).
    """
    errors: dict[str, dict[tuple[int, int], str]] = {}
    complete = True
    name = path.name
    with open_regular(path) as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        try:
            archive = open_zip(handle, name)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
            raise refuse(
                "unreadable_file", "unreadable_file/corrupt", name, detail=type(exc).__name__
            ) from exc
        with archive:
            inflation = Inflation(name, handle, size, limits)
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len({m.filename for m in members}) != len(members):
                # Readers disagree on which copy of a repeated part they take; Excel never
                # writes one.
                raise refuse(
                    "unreadable_file", "unreadable_file/corrupt", name, detail="repeated parts"
                )
            sheets, read = _sheet_parts(archive, inflation)
            complete = bool(sheets)
            for member in members:
                part = member.filename.replace("\\", "/").lower()
                if member.filename in read:
                    continue
                if part.startswith(WORKSHEETS) and not part.endswith(".rels"):
                    # whatever its extension: a relationship may name any part there
                    sheet, used = sheets.get(part, (member.filename, True))
                    if used:
                        scanner = ErrorCellScanner()
                        if _check_worksheet(inflation, member, sheet, limits, scanner):
                            if scanner.cells:
                                errors[sheet] = scanner.cells
                        else:
                            complete = False
                    continue  # a sheet of no use to the upload: calamine never reads it
                if part.endswith("sharedstrings.xml"):
                    _check_shared_strings(inflation, member)
                    continue
                if not part.endswith(_PART_SUFFIXES):
                    continue  # images, printer settings, VBA: calamine never reads them
                for _ in inflation.chunks(member):  # counted against the budget
                    pass
    return errors if complete else None


def _sheet_parts(
    archive: zipfile.ZipFile, inflation: Inflation
) -> tuple[dict[str, tuple[str, bool]], set[str]]:
    """Each worksheet part (lower-cased name) → (its sheet's name, whether the upload uses
    it), resolved as calamine resolves them; also the parts read to tell. Empty when that
    cannot be told for sure: then every worksheet part is checked."""
    try:
        workbook = archive.getinfo("xl/workbook.xml")
        relations = archive.getinfo("xl/_rels/workbook.xml.rels")
    except KeyError:
        return {}, set()
    read: set[str] = set()
    relations_xml = _read_small(inflation, relations)
    if relations_xml is None:
        return {}, read
    read.add(relations.filename)
    targets: dict[bytes, str] = {}
    for attributes in _RELATIONSHIP_TAG.findall(relations_xml):
        values = _attributes(attributes)
        if b"Id" in values and b"Target" in values:
            targets[values[b"Id"]] = html.unescape(values[b"Target"].decode("utf-8", "replace"))
    workbook_xml = _read_small(inflation, workbook)
    if workbook_xml is None:
        return {}, read
    read.add(workbook.filename)
    parts: dict[str, tuple[str, bool]] = {}
    for attributes in _SHEET_TAG.findall(workbook_xml):
        values = _attributes(attributes)
        relation = values.get(b"r:id", values.get(b"relationships:id"))
        if relation is None or relation not in targets or b"name" not in values:
            return {}, read
        part = _resolve(targets[relation]).lower()
        sheet = html.unescape(values[b"name"].decode("utf-8", "replace"))
        # a name written with entities is checked whatever it says: readers may unescape
        # it differently
        used = canonical_sheet(sheet) is not None or b"&" in values[b"name"]
        known, was_used = parts.get(part, (sheet, False))
        parts[part] = (sheet if used else known, was_used or used)
    return parts, read


def _read_small(inflation: Inflation, member: zipfile.ZipInfo) -> bytes | None:
    """A small part whole (the workbook, its relationships), or None past
    ``_WORKBOOK_PART_MAX``."""
    parts, size = [], 0
    for data in inflation.chunks(member):
        size += len(data)
        if size > _WORKBOOK_PART_MAX:
            return None
        parts.append(data)
    return b"".join(parts)


def _resolve(target: str) -> str:
    """A relationship target as calamine turns it into a part name."""
    if target.startswith("/xl/"):
        return target[1:]
    if target.startswith("xl/"):
        return target
    return f"xl/{target}"


def _attributes(text: bytes) -> dict[bytes, bytes]:
    return {m[1]: m[2] or m[3] for m in _ATTRIBUTE.finditer(text)}


def _check_worksheet(
    inflation: Inflation,
    member: zipfile.ZipInfo,
    sheet: str,
    limits: Limits,
    scanner: ErrorCellScanner,
) -> bool:
    """Refuse the sheet if any cell holding something lies beyond the limits.

    Cells are ``<c r="B7" …>``; self-closing ones hold only formatting, and calamine skips
    them. One regular expression finds a reference beyond the limits, so a cell costs no
    Python work; a part with cells written otherwise is counted through instead (then
    False: its error cells are left to the reader). Each chunk also feeds ``scanner``.
    """
    spent = inflation.spent
    if member.file_size >= limits.max_rows * _ROW_BYTES_AT_LEAST:  # before inflating ahead
        _refuse_declared(_head(inflation, member), inflation.name, sheet, member, limits)
        inflation.spent = spent  # the head is inflated again below
    carry, start = b"", 0  # the end of the previous chunk; where the new bytes start in it
    patterns: _CellPatterns | None = None
    screen: _Screen | None = None
    for data in _inflated_ahead(inflation, member):
        if screen is not None and not (screen(data) or screen(carry + data[:_OVERLAP])):
            # nothing in this chunk (nor where it meets the previous one: no match is longer
            # than the overlap) could be a far or unusual cell or an error cell: the exact
            # searches would find nothing. The carry is what it is below, without a copy of
            # the whole chunk.
            scanner.feed(data, marked=False)
            limit = max(len(carry) + len(data) - _OVERLAP, start)
            keep = max(limit - _BEHIND, 0)
            carry = data[keep - len(carry) :] if keep >= len(carry) else carry[keep:] + data
            start = limit - keep
            continue
        buffer = carry + data
        if patterns is None:
            if len(buffer) < _ROOT_WITHIN:
                scanner.feed(data)
                carry = buffer
                continue
            patterns = _patterns_of(buffer, limits)
            screen = _fast_screen(patterns, member)
            if screen is not None and not screen(buffer):
                scanner.feed(data, marked=False)
                limit = max(len(buffer) - _OVERLAP, start)
                keep = max(limit - _BEHIND, 0)
                carry, start = buffer[keep:], limit - keep
                continue
        scanner.feed(data)
        limit = max(len(buffer) - _OVERLAP, start)  # a match starting after it: next time
        if _scan(buffer, start, limit, patterns, inflation.name, sheet, limits):
            break
        keep = max(limit - _BEHIND, 0)  # a few bytes before, for the look-behinds
        carry, start = buffer[keep:], limit - keep
    else:
        patterns = patterns or _patterns_of(carry, limits)
        if not _scan(carry, start, len(carry), patterns, inflation.name, sheet, limits):
            return True
    inflation.spent = spent  # the part is inflated again, not twice over the budget
    _check_by_counting(inflation, member, sheet, limits)
    return False


_Screen = Callable[[bytes], bool]
# A worksheet part this large (compressed) is screened with RE2 (``_fast_screen``); smaller
# ones, and any part when pyarrow cannot be imported, with Python's ``re`` alone.
FAST_SCREEN_MIN_BYTES = 1 << 18


def _inflated_ahead(inflation: Inflation, member: zipfile.ZipInfo) -> Iterator[bytes]:
    """The part's chunks; for a part that gets the RE2 screen, inflated ahead while pyarrow
    is not imported yet (up to ``_AHEAD_BYTES``).

    ``orgload validate`` inspects a workbook while its main thread imports pandas, and with
    it pyarrow: inflating (which releases the GIL) while that import goes on, rather than
    after, takes the inflation off the parse's critical path. The chunks are handed on in
    order, and an error met ahead (the budget spent, a damaged stream) is raised where it
    would have been, after the chunks before it: the answer is the same."""
    if member.compress_size < FAST_SCREEN_MIN_BYTES:
        yield from inflation.chunks(member)
        return
    chunks = inflation.chunks(member, SCREEN_CHUNKS * limits_module.INFLATE_CHUNK)
    ahead: deque[bytes] = deque()
    held = 0
    failure: Exception | None = None
    try:
        while not _arrow_imported() and held < _AHEAD_BYTES:
            data = next(chunks, None)
            if data is None:
                break
            ahead.append(data)
            held += len(data)
    except Exception as exc:  # noqa: BLE001 - raised below, after the chunks read before it
        failure = exc
    while ahead:
        yield ahead.popleft()
    if failure is not None:
        raise failure
    yield from chunks


_AHEAD_BYTES = 64 << 20
# A large part is inflated and screened this much at a time. The inspection runs beside the
# main thread's imports, which hold the GIL: each chunk costs a few returns of the GIL (after
# inflating, after the screen), and each return waits for the importing thread to let go of
# it. With 1 MB chunks a 55 MB sheet spent more time waiting than working (0.55 s of wall for
# 0.19 s of CPU); 16 MB chunks take it to ~0.3 s.
SCREEN_CHUNKS = 16  # of INFLATE_CHUNK


def _arrow_imported() -> bool:
    return "pyarrow.compute" in sys.modules


def _fast_screen(patterns: _CellPatterns, member: zipfile.ZipInfo) -> _Screen | None:
    """A test of a chunk for anything the exact searches of ``_scan`` or the error-cell
    scanner could find, run by RE2 (pyarrow's ``match_substring_regex``, which reads binary
    data byte by byte and releases the GIL): one pass at C speed instead of several of
    Python's ``re``, which hold the GIL while the main thread imports. Only a chunk it
    matches in is searched exactly, so a part is refused, counted through or has its error
    cells read exactly as without it. None for parts written with a prefix, small parts, or
    when pyarrow cannot be imported here."""
    if patterns.fast is None or member.compress_size < FAST_SCREEN_MIN_BYTES:
        return None
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except Exception:  # noqa: BLE001 - an import racing the main thread's: screen in Python
        return None
    pattern, binary = patterns.fast, pa.large_binary()

    def screen(buffer: bytes) -> bool:
        offsets = pa.py_buffer(_OFFSETS.pack(0, len(buffer)))
        array = pa.Array.from_buffers(binary, 1, [None, offsets, pa.py_buffer(buffer)])
        return bool(pc.match_substring_regex(array, pattern)[0].as_py())

    return screen


_OFFSETS = struct.Struct("<qq")


def _patterns_of(head: bytes, limits: Limits) -> _CellPatterns:
    root = _ROOT.search(head, 0, _ROOT_WITHIN)
    return _cell_patterns(limits, (root[1] or b"") if root is not None else b"")


def _scan(
    buffer: bytes,
    start: int,
    limit: int,
    patterns: _CellPatterns,
    name: str,
    sheet: str,
    limits: Limits,
) -> bool:
    """Refuse a cell of ``buffer`` (starting from ``start``, before ``limit``) beyond the
    limits; True when the part turns out to be written unusually, and must be counted
    through."""

    def before_limit(pattern: re.Pattern[bytes]) -> bool:
        found = pattern.search(buffer, start)
        return found is not None and found.start() < limit

    if any(before_limit(other) for other in patterns.other_prefixes):
        return True
    if not before_limit(patterns.screen):
        return False
    if before_limit(patterns.unusual):
        return True
    for match in patterns.far.finditer(buffer, start):
        if match.start() >= limit:
            break
        if _holds_value(buffer, match.end()):
            _refuse_far(name, sheet, _cell_at(buffer, match.start()), limits)
    return False


def _holds_value(buffer: bytes, start: int) -> bool:
    """Whether the tag going on at ``start`` is an opening tag (``<c …>``), not ``<c …/>``;
    a tag whose end is not in sight counts as holding a value."""
    end = buffer.find(b">", start)
    return end < 0 or buffer[end - 1 : end] != b"/"


def _cell_at(buffer: bytes, start: int) -> _Far:
    found = _REFERENCE.search(buffer, start, start + _OVERLAP)
    if found is None:
        return _Far(0, 0)
    return _Far(_row_number(found[2]), _column_number(found[1]))


_HUGE = 10**12  # a reference this far is beyond any limit; longer ones are not converted


def _row_number(digits: bytes) -> int:
    digits = digits.lstrip(b"0")
    return int(digits) if len(digits) <= 12 else _HUGE


def _column_number(letters: bytes) -> int:
    return column_number(letters.decode("ascii")) if len(letters) <= 8 else _HUGE


def _check_by_counting(
    inflation: Inflation, member: zipfile.ZipInfo, sheet: str, limits: Limits
) -> None:
    """The slow, exact pass for parts written unusually (cells without a reference, a
    namespace prefix): follows rows and cells as calamine places them (a row without ``r``
    follows the previous one; a cell without ``r`` takes the next column)."""
    row, column = 0, 0  # 0-based, as calamine counts

    def place(tags: list[tuple[bytes, bytes, bytes]]) -> None:
        nonlocal row, column
        for closing, tag, attributes in tags:
            if tag == b"row":
                if not closing:
                    found = _REFERENCE.search(attributes)
                    if found is not None and found[2]:
                        row = _row_number(found[2]) - 1
                if closing or attributes.endswith(b"/"):
                    row, column = row + 1, 0
                continue
            if closing:
                continue
            found = _REFERENCE.search(attributes)
            at_row, at_column = row, column
            if found is not None:
                if found[2]:
                    at_row = _row_number(found[2]) - 1
                if found[1]:
                    at_column = column = _column_number(found[1]) - 1
            column += 1
            if attributes.endswith(b"/"):
                continue  # formatting only
            if at_row > limits.max_rows or at_column >= limits.max_columns:
                _refuse_far(inflation.name, sheet, _Far(at_row + 1, at_column + 1), limits)

    carry = b""
    for data in inflation.chunks(member):
        buffer = carry + data
        cut = buffer.rfind(b"<")
        if cut < 0 or len(buffer) - cut > _OVERLAP:
            cut = len(buffer)
        place(_TAG.findall(buffer, 0, cut))
        carry = buffer[cut:]
    place(_TAG.findall(carry))


def _refuse_far(name: str, sheet: str, far: _Far, limits: Limits) -> NoReturn:
    raise UnreadableUploadError(
        Issue(
            code="file_too_large",
            key="file_too_large/range",
            sheet=canonical_sheet(sheet),
            params={
                "file": name,
                "sheet_name": sheet[:60],
                "cell": far.cell,
                "max_columns": limits.max_columns,
                "max_column": column_letters(limits.max_columns),
                "max_rows": limits.max_rows,
            },
        )
    )


# ``<dimension ref="A1:F1000002"/>``: the sheet's used range as its writer declares it, near
# the part's start
_DIMENSION = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?dimension\s[^>]*?\bref\s*=\s*[\"']\s*"
    rb"\$?[A-Za-z]{1,3}\$?[0-9]{1,12}\s*:\s*\$?([A-Za-z]{1,3})\$?([0-9]{1,12})"
)
# A part holding N data rows takes at least this many bytes a row (``<row r="…"><c r="…">``
# and a value): a dimension declaring more rows than its part could hold is not believed
_ROW_BYTES_AT_LEAST = 20


def _refuse_declared(
    head: bytes, name: str, sheet: str, member: zipfile.ZipInfo, limits: Limits
) -> None:
    """Refuse, from its first bytes, a sheet whose dimension declares more data rows than the
    limit, when its part is large enough to hold them: so a 1,000,001-row workbook is refused
    at once instead of after inflating its ~550 MB of XML. A smaller part declaring that much
    (a lie, or a range Excel widened for cells that only carry formatting) is left to the scan,
    which refuses only a cell that holds something."""
    found = _DIMENSION.search(head, 0, _ROOT_WITHIN)
    if found is None:
        return
    last_row = int(found[2])
    if last_row <= limits.max_rows + 1 or member.file_size < (
        limits.max_rows * _ROW_BYTES_AT_LEAST
    ):
        return
    raise UnreadableUploadError(
        Issue(
            code="file_too_large",
            key="file_too_large/declared_rows",
            sheet=canonical_sheet(sheet),
            params={
                "file": name,
                "sheet_name": sheet[:60],
                "rows": min(last_row, _HUGE) - 1,
                "max_rows": limits.max_rows,
            },
        )
    )


def _head(inflation: Inflation, member: zipfile.ZipInfo) -> bytes:
    """The first ``_ROOT_WITHIN`` bytes of a part (fewer if it is shorter)."""
    head = b""
    for data in inflation.chunks(member, _ROOT_WITHIN):
        head += data
        if len(head) >= _ROOT_WITHIN:
            break
    return head


def precheck_workbooks(paths: Sequence[Path], limits: Limits) -> list[Issue]:
    """The sheets of the workbooks among ``paths`` that declare more rows than the limit
    (``_refuse_declared``), found from the first bytes of each sheet: what ``orgload
    validate`` can answer before it imports pandas. Anything else wrong is left to the reader."""
    issues: list[Issue] = []
    for path in paths:
        try:
            if not _is_workbook(path, limits):
                continue
            with open_regular(path) as handle:
                size = handle.seek(0, 2)
                with open_zip(handle, path.name) as archive:
                    inflation = Inflation(path.name, handle, size, limits)
                    sheets, _ = _sheet_parts(archive, inflation)
                    for member in archive.infolist():
                        sheet, used = sheets.get(member.filename.lower(), ("", False))
                        if used and member.file_size >= limits.max_rows * _ROW_BYTES_AT_LEAST:
                            head = _head(inflation, member)
                            _refuse_declared(head, path.name, sheet, member, limits)
        except UnreadableUploadError as refused:
            issues.append(refused.issue)
        except Exception:  # noqa: BLE001 - the reader reports a damaged file with more detail
            continue
    return issues


def precheck_upload(paths: Sequence[Path], limits: Limits) -> list[Issue]:
    """The refusals of an upload found before it is parsed: every file's size, expansion and
    CSV record count (``loaders.limits.precheck``), then the workbooks' declared rows. Empty
    when nothing is refused yet; the reader still checks everything else. Cheap whatever the
    file (< 1 s, < 100 MB; ``bench/bench_refusals.py``), and free of pandas."""
    return precheck(paths, limits) or precheck_workbooks(paths, limits)


def _check_shared_strings(inflation: Inflation, member: zipfile.ZipInfo) -> None:
    """calamine reserves room for ``uniqueCount`` strings before reading one: a table that
    declares more strings than it holds is refused (it is no table Excel wrote)."""
    declared: int | None = None
    held = 0
    head = b""
    for data in inflation.chunks(member):
        if declared is None:
            head += data
            start = _SST_START.search(head)
            if start is not None:
                count = _UNIQUE_COUNT.search(start[1])
                declared = int(count[1]) if count is not None else -1
            elif len(head) > 1 << 16:
                declared = -1
        if declared is None or declared > _STRINGS_TRUSTED:
            # ``<si`` opens a string, prefixed or not; an overcount only makes this laxer
            held += data.count(b"<si") + data.count(b":si")
    if declared is not None and declared > max(held + 1024, _STRINGS_TRUSTED):
        raise refuse(
            "unreadable_file",
            "unreadable_file/corrupt",
            inflation.name,
            detail=f"the shared strings declare {declared} strings and hold {held}",
        )


# --- cell references ----------------------------------------------------------------------


def column_letters(number: int) -> str:
    """Excel's letters of a 1-based column number (1 → A, 200 → GR, 16384 → XFD)."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_number(letters: str) -> int:
    """The 1-based column number of Excel's letters, in either case (0 for none)."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


@dataclass(frozen=True, slots=True)
class _CellPatterns:
    """The regular expressions a worksheet part is scanned with, for cells written
    ``<c r="…`` (or ``<x:c r="…`` throughout). Each starts with a literal, which ``re``
    finds fast; no Python work is done per cell.

    ``screen`` finds, in one pass, any cell tag worth a closer look: a reference that may lie
    beyond the limits (a few letters or many digits), or a tag written otherwise. Only a
    chunk it finds something in is searched with ``far`` (a reference beyond ``max_columns``
    or ``max_rows`` data rows, the header being row 1) and ``unusual`` (no reference, another
    attribute first), after which the part is counted through. ``other_prefixes`` finds cell
    tags under another namespace prefix: always searched.
    """

    screen: re.Pattern[bytes]
    far: re.Pattern[bytes]
    unusual: re.Pattern[bytes]
    other_prefixes: tuple[re.Pattern[bytes], ...]
    fast: str | None  # RE2: a superset of all of the above, and of error cells; unprefixed only


@lru_cache(maxsize=8)
def _cell_patterns(limits: Limits, prefix: bytes) -> _CellPatterns:
    tag = b"<" + re.escape(prefix) + b"c"
    letters = len(column_letters(limits.max_columns))
    digits = len(str(limits.max_rows + 1))
    maybe_far = b"[A-Za-z]{%d}" % letters
    if letters > 1:
        maybe_far += b"|[A-Za-z]{1,%d}[0-9]{%d}" % (letters - 1, digits)
    written_otherwise = rb'[\t\n\r>/]| (?!r=")'
    beyond_column = _letters_above(column_letters(limits.max_columns))
    beyond_row = _number_above(limits.max_rows + 1)
    others: tuple[re.Pattern[bytes], ...]
    fast: str | None = None
    if prefix:
        name = re.escape(prefix[:-1])
        other = rb":c(?<!<" + name + rb":c)(?<!/" + name + rb":c)[\t\n\r >/]"
        others = (re.compile(other), re.compile(rb"<c[\t\n\r >/]"))
    else:
        others = (re.compile(rb":c[\t\n\r >/]"),)
        # RE2 has no look-around: `` (?!r=")`` is spelt out. A tag cut at the chunk's end is
        # not matched: ``_scan`` would not look at it there either (it starts past the
        # chunk's limit), and the screen of where the chunk meets the next one sees it whole.
        otherwise = r'[\t\n\r>/]| (?:[^r]|r[^=]|r=[^"])'
        fast = (
            f'<c(?: r="(?:{maybe_far.decode()})|{otherwise})'
            r"|:c[\t\n\r >/]"  # a cell under another prefix
            r"""|t="e"|t='e'"""  # an error cell (``ErrorCellScanner.feed``)
        )
    return _CellPatterns(
        screen=re.compile(tag + rb'(?: r="(?:' + maybe_far + rb")|" + written_otherwise + b")"),
        far=re.compile(tag + rb' r="(?:' + beyond_column + rb"|[A-Za-z]++" + beyond_row + rb")"),
        unusual=re.compile(tag + b"(?:" + written_otherwise + b")"),
        other_prefixes=others,
        fast=fast,
    )


def _letters_above(limit: str) -> bytes:
    """A run of column letters (either case) naming a column after ``limit``; the run must be
    followed by a digit, as in a reference."""
    width = len(limit)
    options = [b"[A-Za-z]{%d}" % (width + 1)]
    for i, letter in enumerate(limit):
        if letter == "Z":
            continue
        same = b"".join(b"[%s%s]" % (c.encode(), c.lower().encode()) for c in limit[:i])
        after = chr(ord(letter) + 1)
        rest = width - i - 1
        options.append(
            same
            + b"[%s-Z%s-z]" % (after.encode(), after.lower().encode())
            + (b"[A-Za-z]{%d}" % rest if rest else b"")
            + b"[0-9]"
        )
    return b"(?:" + b"|".join(options) + b")"


def _number_above(limit: int) -> bytes:
    """A run of digits (leading zeros allowed) for a number greater than ``limit``."""
    digits = str(limit)
    options = [b"[1-9][0-9]{%d}" % len(digits)]
    for i, digit in enumerate(digits):
        if digit == "9":
            continue
        rest = len(digits) - i - 1
        options.append(
            digits[:i].encode()
            + b"[%d-9]" % (int(digit) + 1)
            + (b"[0-9]{%d}" % rest if rest else b"")
            + b"(?![0-9])"
        )
    return b"0*(?:" + b"|".join(options) + b")"


# --- error cells (#N/A, #REF!…), read while the sheet is inspected ------------------------
#
# python-calamine reads an error cell as an empty one; their text is taken from the sheet XML
# in the same pass that checks the limits, so the sheet is inflated once.

MAX_ERROR_CELLS = 100_000  # per sheet; further error cells read as empty, as calamine gives them
_ERROR_CARRY = 1 << 20
_ERROR_TAG = re.compile(rb"<(?:\w+:)?c\b[^>]*\bt\s*=\s*[\"']e[\"'][^>]*>")
_CELL_REF = re.compile(rb"\br\s*=\s*[\"']\$?([A-Z]{1,3})\$?([0-9]{1,7})[\"']")
_CACHED = re.compile(rb"<(?:\w+:)?v>([^<]{1,64})</(?:\w+:)?v>")
_CELL_END = re.compile(rb"</(?:\w+:)?c>")


class ErrorCellScanner:
    """Finds the error cells of a sheet's XML fed a chunk at a time, in any pass that inflates
    it. Only chunks that mention ``t="e"`` are searched, a whole cell at a time."""

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], str] = {}
        self._carry = b""
        self._carry_marked = False  # whether the bytes waiting mention ``t="e"``

    @property
    def full(self) -> bool:
        return len(self.cells) >= MAX_ERROR_CELLS

    def feed(self, chunk: bytes, *, marked: bool = True) -> None:
        """Take the next chunk; ``marked=False`` tells that neither ``t="e"`` nor ``t='e'``
        occurs in it, nor across its start (the caller screened it), so that it need not be
        searched for them again."""
        was_marked = self._carry_marked
        if not (marked or was_marked):
            # nothing to search: only what waits changes, found in ``chunk`` alone when it
            # closes a cell (the last cell end of ``carry + chunk`` is then in it)
            closed = chunk.rfind(b"</c>")
            if closed >= 0:
                end = max(closed + 4, chunk.rfind(b":c>", closed) + 3)
                self._carry = chunk[end:]
                return
        data = self._carry + chunk
        # Whole cells only (``</c>``, or ``</x:c>`` in a prefixed sheet); the rest waits.
        # (``:c>`` is looked for only after the last ``</c>``: a later one is all that counts.)
        closed = data.rfind(b"</c>")
        end = max(closed + 4, data.rfind(b":c>", max(closed, 0)) + 3)
        if end < 4:
            self._carry = data[-_ERROR_CARRY:]
            self._carry_marked = marked or was_marked
            return
        head, self._carry = data[:end], data[end:]
        if (marked or was_marked) and (b't="e"' in head or b"t='e'" in head):
            _add_error_cells(head, self.cells)
        # what waited holds no cell end, so the bytes left waiting all come from ``chunk``
        self._carry_marked = marked


def _add_error_cells(xml: bytes, cells: dict[tuple[int, int], str]) -> None:
    for tag in _ERROR_TAG.finditer(xml):
        ref = _CELL_REF.search(tag.group())
        if ref is None or tag.group().endswith(b"/>"):
            continue
        close = _CELL_END.search(xml, tag.end())
        value = _CACHED.search(xml, tag.end(), close.start()) if close else None
        if value is None:
            continue
        column = 0
        for letter in ref.group(1):
            column = column * 26 + letter - ord("A") + 1
        cells[(int(ref.group(2)) - 1, column - 1)] = value.group(1).decode("utf-8", "replace")
        if len(cells) >= MAX_ERROR_CELLS:
            return
