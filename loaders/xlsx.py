"""Parse .xlsx worksheets with calamine, now or ahead of time in a background thread.

``orgload load`` and ``orgload validate`` call ``parse_ahead`` first thing: calamine's Rust
parser releases the GIL, so a 100,000-row workbook is parsed while the main thread imports
pandas and SQLAlchemy and connects to the database, instead of after (the two took ~0.7 s
each). Only the parse happens ahead: the parsed sheets are turned into text columns by
``loaders.read`` in the main thread. This module stays free of pandas for that reason. Only a
workbook that passes the size checks ``loaders.read`` applies is parsed ahead; anything else —
no call, another file, a file changed since — is parsed when ``loaders.read`` asks for it, and
a parse that failed ahead raises the same error when its result is taken.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import python_calamine

from loaders.limits import ZIP_MAGIC, Limits, check_expansion, check_file, refuse
from orgload.columns import canonical_sheet

# (sheet name as written, label for messages, the parsed sheet; None for a sheet that is not
# one of ours, which is listed but not parsed)
Worksheet = tuple[str, str, python_calamine.CalamineSheet | None]

_Stamp = tuple[int, int]  # size and modification time: the file parsed is the file read
_ahead: dict[Path, tuple[_Stamp, Future[list[Worksheet]]]] = {}
_lock = threading.Lock()


def worksheets(path: Path) -> list[Worksheet]:
    """The worksheets of a workbook, parsed; taken from ``parse_ahead`` when it parsed this
    very file."""
    with _lock:
        started = _ahead.pop(path.resolve(), None)
    if started is not None:
        stamp, future = started
        if stamp == _stamp(path):
            return future.result()
    return _parse(path)


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
        future: Future[list[Worksheet]] = Future()
        with _lock:
            if key in _ahead:
                continue
            _ahead[key] = (stamp, future)
        threading.Thread(
            target=_run, args=(future, path), name=f"parse {path.name}", daemon=True
        ).start()


def _run(future: Future[list[Worksheet]], path: Path) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(_parse(path))
    except BaseException as exc:  # noqa: BLE001 - handed to the reader, which reports it
        future.set_exception(exc)


def _stamp(path: Path) -> _Stamp:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _is_workbook(path: Path, limits: Limits) -> bool:
    """An .xlsx within the size limits (the checks ``loaders.read`` makes before parsing)."""
    size = check_file(path, limits)
    with path.open("rb") as handle:
        if not handle.read(4).startswith(ZIP_MAGIC):
            return False
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        check_expansion(path.name, size, sum(m.file_size for m in members), limits)
        return any(m.filename == "xl/workbook.xml" for m in members)


def _parse(path: Path) -> list[Worksheet]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as exc:
        raise refuse("unreadable_file", "unreadable_file/xls", path.name) from exc
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
    return result
