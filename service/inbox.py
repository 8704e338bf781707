"""The inbox and outbox (SPEC §7): find dropped uploads, validate each once, apply them off-peak.

Uploads are dropped in ``ORGLOAD_HOME/inbox/<client_id>/``. ``scan_inbox`` validates every new
upload, writes its report (JSON + annotated workbook) to ``ORGLOAD_HOME/outbox/<client_id>/``,
moves it to ``inbox/<client_id>/.processed/<sha256[:16]>/`` (so what is left in the client's
folder is exactly what is still pending) and records it in ``inbox_files``. ``apply_queued``
runs the valid ones through ``run_load`` during the off-peak window (22:00–05:59 Chile time), or
at once when ops force it. Plain functions: the Prefect flows call them, tests call them directly.

Status of an inbox file:

- ``invalid``  — validation found errors; the outbox report says which. Final: the admin fixes
  the file and drops a new one.
- ``queued``   — valid; waits for the next off-peak window.
- ``applying`` — claimed by one ``apply_queued`` run (``claimed_at``). A claim older than
  ``STALE_CLAIM`` (its worker died) is taken over by the next run; running the load again is
  safe because a load of the same file is ``already_applied`` and the quota is a database
  constraint.
- ``applied``  — ``run_load`` applied it (``load_id``).
- ``skipped``  — nothing was applied, by design: the client folder is not a registered client
  (note ``unknown_client``; the file stays in the inbox and is validated as soon as the client
  is registered), the entry is not a regular file (note ``not_regular_file``: a symbolic link,
  a folder, a FIFO or a device is never opened nor followed; its report says so and it is set
  aside), or the load answered ``already_applied``, ``no_changes`` or ``quota_exhausted``
  (``load_status``; the note says more).
- ``failed``   — the load answered ``rejected`` (e.g. ``mass_change``) or ``failed``; ``run_load``
  opened the support incident and the note names it.

Only regular files are read, and only by their own name in the client folder: a symbolic link
there (to a server file, say) is neither followed nor read, so nothing of its target reaches a
report. A file replaced while it is being read (another inode, or changed: size, times) is
left for the next scan and gets no report. An entry that is never read has no content digest;
its ``sha256`` is the digest of what identifies it (name, kind, inode, times), so that it is
recorded once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import stat
import time as wallclock
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from loaders.archive import upload_name, upload_sha256
from loaders.limits import Limits, file_kind, open_regular
from loaders.store import Client, list_clients
from loaders.validate import ValidatedUpload, validate_upload
from loaders.writers.annotate import write_annotated_report
from orgload.clock import CHILE, in_chile
from orgload.columns import SHEETS, canonical_sheet
from orgload.db import inbox_files, reachable, reading
from orgload.errors import DatabaseUnavailableError, shown
from orgload.settings import Settings
from orgload.slugs import is_client_id
from orgload.status import LoadStatus
from orgload.storage import open_storage, temp_folder
from schemas.messages import Lang
from schemas.report import Issue, Report
from service.housekeeping import sweep_leftovers
from service.loads import LoadOutcome, LoadRequest, run_load

log = logging.getLogger(__name__)

OFF_PEAK_START = time(22, 0)  # the window is 22:00–05:59 Chile time (SPEC §0 and §7)
OFF_PEAK_END = time(6, 0)

SETTLE_SECONDS = 5.0  # a file modified more recently may still be being copied in
STALE_CLAIM = timedelta(hours=6)
PROCESSED = ".processed"
TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")  # what loaders.read parses as CSV
CSV_PAIR_STEM = "unidades-personas"
UNKNOWN_CLIENT = "unknown_client"
NOT_REGULAR = "not_regular_file"


class InboxStatus(StrEnum):
    """The status of an inbox file (meanings in the module docstring); stored as the string."""

    INVALID = "invalid"
    QUEUED = "queued"
    APPLYING = "applying"
    APPLIED = "applied"
    SKIPPED = "skipped"
    FAILED = "failed"


# Load outcome → inbox status.
APPLY_STATUS: dict[str, InboxStatus] = {
    LoadStatus.APPLIED: InboxStatus.APPLIED,
    LoadStatus.ALREADY_APPLIED: InboxStatus.SKIPPED,
    LoadStatus.NO_CHANGES: InboxStatus.SKIPPED,
    LoadStatus.QUOTA_EXHAUSTED: InboxStatus.SKIPPED,
    LoadStatus.REJECTED: InboxStatus.FAILED,
    LoadStatus.FAILED: InboxStatus.FAILED,
}

_UNKNOWN_CLIENT_MESSAGE = {
    "es": "El cliente {client} no está registrado. El archivo queda en la bandeja de entrada y se "
    "validará cuando soporte lo registre (orgload clients add {client}).",
    "en": "Client {client} is not registered. The file stays in the inbox and is validated once "
    "support registers it (orgload clients add {client}).",
}


@dataclass(slots=True)
class InboxItem:
    """One upload found in the inbox and what became of it; ``to_dict`` is the artifact row."""

    id: int
    client_id: str
    file_name: str
    sha256: str
    path: str
    status: str
    load_id: int | None = None
    load_status: str | None = None
    errors: int | None = None
    note: str | None = None
    report_json_path: str | None = None
    report_xlsx_path: str | None = None
    seen_at: datetime | None = None
    validated_at: datetime | None = None
    claimed_at: datetime | None = None
    applied_at: datetime | None = None
    flow_run_id: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> InboxItem:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "file_name": self.file_name,
            "sha256": self.sha256,
            "status": self.status,
            "load_id": self.load_id,
            "load_status": self.load_status,
            "errors": self.errors,
            "note": self.note,
            "report_json_path": self.report_json_path,
            "report_xlsx_path": self.report_xlsx_path,
            "path": self.path,
            "seen_at": _iso(self.seen_at),
            "applied_at": _iso(self.applied_at),
        }


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


# --- the off-peak window ----------------------------------------------------------------------


def is_off_peak(instant: datetime) -> bool:
    """Whether ``instant`` falls in 22:00–05:59 Chile time, when bulk applies may run."""
    local = in_chile(instant)
    return local.time() >= OFF_PEAK_START or local.time() < OFF_PEAK_END


def next_off_peak_start(instant: datetime) -> datetime:
    """The 22:00 (Chile time, with its offset) that opens the next window strictly after
    ``instant``. Inside a window this is the following one: check ``is_off_peak`` first."""
    local = in_chile(instant)
    # 22:00 exists exactly once every day in Santiago: Chile changes its clocks at midnight.
    start = datetime.combine(local.date(), OFF_PEAK_START, tzinfo=CHILE)
    if start <= local:
        start = datetime.combine(local.date() + timedelta(days=1), OFF_PEAK_START, CHILE)
    return start


# --- finding uploads ----------------------------------------------------------------------------


def find_uploads(folder: Path, *, settle_seconds: float = SETTLE_SECONDS) -> list[tuple[Path, ...]]:
    """The uploads waiting in one client folder, oldest first.

    Each file is one upload, except CSVs named after a sheet (``unidades.csv``, ``personas.csv``
    or an alias): they are one upload together, taken once every sheet has its file. Temporary
    names (``~$…``, ``.…``, ``*.part``…) and files modified in the last ``settle_seconds`` are
    left for a later scan, since they may still be being written.
    """
    files = sorted(p for p in folder.iterdir() if not _is_temporary(p.name) and _is_regular(p))
    sheet_csvs = tuple(
        p for p in files if p.suffix.lower() in CSV_SUFFIXES and canonical_sheet(p.stem)
    )
    uploads: list[tuple[Path, ...]] = [(p,) for p in files if p not in sheet_csvs]
    if {canonical_sheet(p.stem) for p in sheet_csvs} >= set(SHEETS):
        uploads.append(sheet_csvs)
    elif sheet_csvs:
        log.info("%s: waiting for the rest of the CSV pair", ", ".join(map(str, sheet_csvs)))
    cutoff = wallclock.time() - settle_seconds
    modified = {p: _mtime(p) for upload in uploads for p in upload}
    settled = [u for u in uploads if all(modified[p] <= cutoff for p in u)]
    return sorted(settled, key=lambda upload: max(modified[p] for p in upload))


def find_irregular(folder: Path) -> list[Path]:
    """The entries of a client folder that are not regular files (symbolic links, folders,
    FIFOs, devices), temporary names apart: never opened, never followed."""
    return sorted(p for p in folder.iterdir() if not _is_temporary(p.name) and not _is_regular(p))


def _is_regular(path: Path) -> bool:
    """A regular file itself, not through a symbolic link (``lstat``)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:  # vanished meanwhile
        return False


def _is_temporary(name: str) -> bool:
    return name.startswith(("~$", ".")) or name.lower().endswith(TEMPORARY_SUFFIXES)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:  # vanished meanwhile: never settled
        return float("inf")


def upload_paths(path: Path) -> list[Path]:
    """The files of a recorded upload: the file itself, or those of its folder (a CSV pair)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not _is_temporary(p.name))
    return [path]


# --- scanning -------------------------------------------------------------------------------


def scan_inbox(
    engine: Engine,
    settings: Settings,
    now: datetime,
    flow_run_id: str | None = None,
    *,
    settle_seconds: float = SETTLE_SECONDS,
) -> list[InboxItem]:
    """Validate every upload not seen before, write its reports, set it aside and record it.

    Returns what this scan recorded (``invalid``, ``queued``, or ``skipped`` for an unknown
    client). A bad file never raises: it gets a report. A database outage propagates (as
    ``DatabaseUnavailableError``) so that the calling flow fails and opens its incident.
    """
    sweep_leftovers(settings)  # of reports and archive copies interrupted before
    inbox = settings.home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    with reachable(settings), reading(engine) as conn:
        clients = {c.id: c for c in list_clients(conn)}
    items = []
    for folder in sorted(inbox.iterdir()):
        if _is_temporary(folder.name) or not folder.is_dir():
            continue
        if folder.is_symlink() or (folder / PROCESSED).is_symlink():
            # a client folder (or its set-aside folder) leading elsewhere is never scanned
            log.warning("%s: a symbolic link in the inbox; not scanned", shown(folder.name))
            continue
        if not is_client_id(folder.name):
            # outbox/<client_id>/ must stay a slug path (SPEC §6): such a folder is left alone
            log.warning("inbox folder %s is not a client id; left alone", shown(folder.name))
            continue
        for entry in find_irregular(folder):
            item = _skip_irregular(engine, settings, now, folder, entry, flow_run_id)
            if item is not None:
                items.append(item)
        for paths in find_uploads(folder, settle_seconds=settle_seconds):
            item = _scan_upload(
                engine, settings, now, folder, clients.get(folder.name), paths, flow_run_id
            )
            if item is not None:
                items.append(item)
    return items


def _scan_upload(
    engine: Engine,
    settings: Settings,
    now: datetime,
    folder: Path,
    client: Client | None,
    paths: Sequence[Path],
    flow_run_id: str | None,
) -> InboxItem | None:
    client_id = folder.name
    try:
        identity = _identity(paths)
        sha = upload_sha256(paths, follow_symlinks=False)
    except OSError:
        log.info("%s vanished while being read; left for the next scan", upload_name(paths))
        return None
    with reachable(settings), reading(engine) as conn:
        seen = _find(conn, client_id, sha)
    waiting_for_client = (
        seen is not None and seen.note == UNKNOWN_CLIENT and seen.status == InboxStatus.SKIPPED
    )
    if seen is not None and not (waiting_for_client and client is not None):
        if not waiting_for_client:  # the same content again: keep one copy, validate nothing
            log.info("%s is inbox file %s (%s) again", upload_name(paths), seen.id, seen.status)
            try:
                _set_aside(paths, folder / PROCESSED / sha[:16], duplicate=True)
            except OSError as exc:
                log.warning("could not set %s aside: %s", upload_name(paths), exc)
        return None

    values: dict[str, Any] = {
        "client_id": client_id,
        "file_name": upload_name(paths),
        "sha256": sha,
        "seen_at": now,
        "flow_run_id": flow_run_id,
    }
    stem = _stem(paths)
    outbox = settings.home / "outbox" / client_id
    json_path = outbox / f"{stem}.{sha[:8]}.report.json"
    if client is None:
        _write_json(settings, json_path, _unknown_client_report(client_id, settings.lang))
        values |= {
            "path": str(paths[0] if len(paths) == 1 else folder),
            "status": InboxStatus.SKIPPED,
            "note": UNKNOWN_CLIENT,
            "report_json_path": str(json_path),
        }
        log.warning("%s: client %r is not registered", upload_name(paths), client_id)
        return _record(engine, settings, values, paths=None, target=None)

    validated = _validate(settings, client, paths, now)
    if _changed(paths, identity):
        # replaced or rewritten while being read: what was validated may not be what was
        # hashed (or not the client's file at all), so no report is written from it
        log.warning("%s changed while being read; left for the next scan", upload_name(paths))
        return None
    # The annotated workbook only where it has something to show: a clean file gets its JSON.
    xlsx_path = outbox / f"{stem}.{sha[:8]}.errores.xlsx" if validated.report.issues else None
    _write_json(settings, json_path, validated.report.to_dict(settings.lang))
    if xlsx_path is not None:
        _write_workbook(settings, xlsx_path, validated, settings.lang)
    target = folder / PROCESSED / sha[:16]
    values |= {
        "path": str(target / paths[0].name if len(paths) == 1 else target),
        "status": InboxStatus.QUEUED if validated.valid else InboxStatus.INVALID,
        "errors": len(validated.report.errors),
        "note": None,
        "report_json_path": str(json_path),
        "report_xlsx_path": str(xlsx_path) if xlsx_path is not None else None,
        "validated_at": now,
    }
    log.info("%s for client %s: %s", values["file_name"], client_id, values["status"])
    if validated.valid and not _shared(settings, client_id, sha, paths):
        return None  # left in the inbox for the next scan
    return _record(engine, settings, values, paths=paths, target=target, replaces=seen)


def queue_key(client_id: str, sha256: str) -> str:
    """Where a queued upload waits in the database store, for whichever worker applies it."""
    return f"queue/{client_id}/{sha256[:16]}"


def _shared(settings: Settings, client_id: str, sha: str, paths: Sequence[Path]) -> bool:
    """With the database store, a valid upload is stored before it is queued: the off-peak
    apply may run on another worker, whose disk does not hold this inbox. False (and a
    warning) when it cannot be stored; a local store needs nothing."""
    if settings.storage != "database":
        return True
    store = open_storage(settings)
    try:
        for path in paths:
            with open_regular(path, follow_symlinks=False) as source:
                store.put(f"{queue_key(client_id, sha)}/{path.name}", source, client_id=client_id)
    except OSError as exc:
        log.warning("could not store %s for the queue (%s); it stays for the next scan", sha, exc)
        return False
    return True


_Identity = tuple[int, int, int, int, int]


def _identity(paths: Sequence[Path]) -> list[_Identity]:
    """What tells each file of an upload apart: device, inode, size, modification and change
    times (a rename or a new link changes the change time); ``OSError`` for a symbolic link
    or anything but a regular file."""
    identities = []
    for path in paths:
        status = path.lstat()
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path.name} is no longer a regular file")
        identities.append(
            (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        )
    return identities


def _changed(paths: Sequence[Path], identity: list[_Identity]) -> bool:
    try:
        return _identity(paths) != identity
    except OSError:
        return True


def _skip_irregular(
    engine: Engine,
    settings: Settings,
    now: datetime,
    folder: Path,
    entry: Path,
    flow_run_id: str | None,
) -> InboxItem | None:
    """Record, once, an entry of a client folder that is not a regular file, with a report
    saying so; set it aside. Nothing is opened or followed: a symbolic link is moved as the
    link it is, and its report never names its target."""
    try:
        status = entry.lstat()
    except OSError:
        return None  # vanished meanwhile
    kind = file_kind(status.st_mode)
    seen = f"{entry.name}\0{kind}\0{status.st_dev}\0{status.st_ino}\0{status.st_mtime_ns}"
    sha = hashlib.sha256(f"orgload:not-a-regular-file\0{seen}".encode()).hexdigest()
    with reachable(settings), reading(engine) as conn:
        if _find(conn, folder.name, sha) is not None:
            return None
    issue = Issue(
        code="unreadable_file", key=f"unreadable_file/{kind}", params={"file": entry.name}
    )
    json_path = settings.home / "outbox" / folder.name / f"{entry.name}.{sha[:8]}.report.json"
    _write_json(
        settings, json_path, {**Report(issues=[issue]).to_dict(settings.lang), "note": NOT_REGULAR}
    )
    target = folder / PROCESSED / sha[:16]
    values: dict[str, Any] = {
        "client_id": folder.name,
        "file_name": entry.name,
        "sha256": sha,
        "seen_at": now,
        "flow_run_id": flow_run_id,
        "path": str(target / entry.name),
        "status": InboxStatus.SKIPPED,
        "errors": 1,
        "note": NOT_REGULAR,
        "report_json_path": str(json_path),
    }
    log.warning("%s of client %s is a %s: not read", entry.name, folder.name, kind)
    return _record(engine, settings, values, paths=[entry], target=target)


def _record(
    engine: Engine,
    settings: Settings,
    values: dict[str, Any],
    *,
    paths: Sequence[Path] | None,
    target: Path | None,
    replaces: InboxItem | None = None,
) -> InboxItem | None:
    """Record the upload and move it out of the inbox in one go: the row commits only once the
    files are set aside, so an applier never sees a queued row whose file is not there yet."""
    try:
        with reachable(settings), engine.begin() as conn:
            if replaces is None:
                row_id = conn.execute(
                    insert(inbox_files).values(**values).returning(inbox_files.c.id)
                ).scalar_one()
            else:  # an unknown client's upload, now that the client is registered
                claimed = conn.execute(
                    update(inbox_files)
                    .where(
                        inbox_files.c.id == replaces.id, inbox_files.c.status == InboxStatus.SKIPPED
                    )
                    .values(**values)
                )
                if claimed.rowcount != 1:
                    raise _TakenError
                row_id = replaces.id
            if paths is not None and target is not None:
                _set_aside(paths, target)
            row = conn.execute(select(inbox_files).where(inbox_files.c.id == row_id)).mappings()
            return InboxItem.from_row(row.one())
    except (IntegrityError, _TakenError):
        log.info("%s was recorded by another scan", values["file_name"])
        return None
    except OSError as exc:
        log.warning(
            "could not set %s aside (%s); it stays for the next scan", values["file_name"], exc
        )
        return None


class _TakenError(Exception):
    """Internal: another scan recorded this upload first."""


def _find(conn: Connection, client_id: str, sha256: str) -> InboxItem | None:
    row = (
        conn.execute(
            select(inbox_files).where(
                inbox_files.c.client_id == client_id, inbox_files.c.sha256 == sha256
            )
        )
        .mappings()
        .first()
    )
    return InboxItem.from_row(row) if row is not None else None


def _validate(
    settings: Settings, client: Client, paths: Sequence[Path], now: datetime
) -> ValidatedUpload:
    try:
        return validate_upload(
            paths,
            limits=Limits.from_settings(settings),
            on_date=now.astimezone(ZoneInfo(client.timezone)).date(),
        )
    except Exception as exc:  # one odd file must not stop the scan of the others
        log.exception("validating %s failed unexpectedly", upload_name(paths))
        issue = Issue(
            code="unreadable_file",
            key="unreadable_file/corrupt",
            params={"file": upload_name(paths), "detail": type(exc).__name__},
        )
        return ValidatedUpload(Report(issues=[issue]))


def _set_aside(paths: Sequence[Path], target: Path, *, duplicate: bool = False) -> None:
    """Move the files into ``target``; all or none. A file whose name is already there holds
    the same bytes (same digest), so a duplicate is simply removed."""
    target.mkdir(parents=True, exist_ok=True)
    moved: list[tuple[Path, Path]] = []
    try:
        for path in paths:
            destination = target / path.name
            if duplicate and destination.exists():
                continue
            path.rename(destination)
            moved.append((path, destination))
    except OSError:
        for source, destination in reversed(moved):
            destination.rename(source)
        raise
    if duplicate:
        for path in paths:
            path.unlink(missing_ok=True)


def _stem(paths: Sequence[Path]) -> str:
    return paths[0].stem if len(paths) == 1 else CSV_PAIR_STEM


def _outbox_key(settings: Settings, path: Path) -> tuple[str, str]:
    """The store's key of a report under ``ORGLOAD_HOME/outbox/<client>/`` and its owner."""
    key = path.relative_to(settings.home).as_posix()
    return key, key.split("/")[1]


def _write_json(settings: Settings, path: Path, document: dict[str, Any]) -> None:
    """Store a JSON report, complete or not at all (``orgload.storage``: a temporary name
    renamed into place, or one database transaction)."""
    key, owner = _outbox_key(settings, path)
    data = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    open_storage(settings).put_bytes(key, data, client_id=owner)


def _write_workbook(settings: Settings, path: Path, validated: ValidatedUpload, lang: Lang) -> None:
    """Store the annotated workbook, written to a temporary file first."""
    key, owner = _outbox_key(settings, path)
    scratch = temp_folder(settings.home)
    try:
        write_annotated_report(scratch / path.name, validated, lang)
        with (scratch / path.name).open("rb") as source:
            open_storage(settings).put(key, source, client_id=owner)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _unknown_client_report(client_id: str, lang: Lang) -> dict[str, Any]:
    """The validate-shaped JSON for a folder that is no registered client."""
    entry = {
        "sheet": None,
        "row": None,
        "column": None,
        "header": None,
        "value": client_id,
        "code": UNKNOWN_CLIENT,
        "message": _UNKNOWN_CLIENT_MESSAGE[lang].format(client=client_id),
    }
    report = Report().to_dict(lang)
    return {**report, "valid": False, "errors": [entry], "note": UNKNOWN_CLIENT}


# --- applying -------------------------------------------------------------------------------


def apply_queued(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    force: bool = False,
    flow_run_id: str | None = None,
    stale_after: timedelta = STALE_CLAIM,
) -> list[InboxItem]:
    """Load every queued upload, oldest first, if ``now`` is off-peak or ops ``force`` it.

    Each row is claimed (``queued`` → ``applying``) by a conditional UPDATE before its load
    runs, so concurrent appliers never load the same file. Without ``force``, no new load
    starts once the window has closed (06:00) while the run goes on; the rest wait for the
    next night. ``run_load`` reads the clock itself (``ORGLOAD_NOW`` in tests) and opens the
    incident of a rejected or failed load.
    """
    if not (force or is_off_peak(now)):
        log.info(
            "outside the off-peak window; queued uploads wait for %s", next_off_peak_start(now)
        )
        return []
    with reachable(settings), reading(engine) as conn:
        candidates = (
            conn.execute(
                select(inbox_files.c.id)
                .where(_claimable(now - stale_after))
                .order_by(inbox_files.c.seen_at, inbox_files.c.id)
            )
            .scalars()
            .all()
        )
    started = wallclock.monotonic()

    def current() -> datetime:  # ``now`` moved on by the time this run has taken
        return now + timedelta(seconds=wallclock.monotonic() - started)

    items = []
    for row_id in candidates:
        at = current()
        if not (force or is_off_peak(at)):
            log.info("the off-peak window closed at %s; the rest wait", at.isoformat())
            break
        item = claim(engine, settings, row_id, at, flow_run_id, stale_after=stale_after)
        if item is not None:
            items.append(_apply(engine, settings, item, current, flow_run_id))
    return items


def claim(
    engine: Engine,
    settings: Settings,
    row_id: int,
    now: datetime,
    flow_run_id: str | None = None,
    *,
    stale_after: timedelta = STALE_CLAIM,
) -> InboxItem | None:
    """Take one queued row for this run, or None when another run has it (checked by rowcount:
    on PostgreSQL the second UPDATE waits for the first and then matches nothing)."""
    values: dict[str, Any] = {"status": InboxStatus.APPLYING, "claimed_at": now}
    if flow_run_id is not None:
        values["flow_run_id"] = flow_run_id
    with reachable(settings), engine.begin() as conn:
        result = conn.execute(
            update(inbox_files)
            .where(inbox_files.c.id == row_id, _claimable(now - stale_after))
            .values(**values)
        )
        if result.rowcount != 1:
            return None
        row = conn.execute(select(inbox_files).where(inbox_files.c.id == row_id)).mappings()
        return InboxItem.from_row(row.one())


def _claimable(stale_before: datetime) -> ColumnElement[bool]:
    return or_(
        inbox_files.c.status == InboxStatus.QUEUED,
        and_(inbox_files.c.status == InboxStatus.APPLYING, inbox_files.c.claimed_at < stale_before),
    )


def _apply(
    engine: Engine,
    settings: Settings,
    item: InboxItem,
    current: Callable[[], datetime],
    flow_run_id: str | None,
) -> InboxItem:
    try:
        with _queued_files(settings, item) as paths:
            request = LoadRequest(item.client_id, paths, flow_run_id=flow_run_id)
            outcome = run_load(settings, request, engine)
    except DatabaseUnavailableError:
        raise  # the row stays claimed; a later run takes it over once the claim is stale
    except Exception as exc:
        # Record why, then fail the caller's flow (its hook opens the incident with the trace).
        note = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        try:
            _finish(engine, settings, item, current(), status=InboxStatus.FAILED, note=note)
        except DatabaseUnavailableError:
            log.warning("could not record the failure of inbox file %s", item.id)
        raise
    return _finish(
        engine,
        settings,
        item,
        current(),
        status=APPLY_STATUS.get(outcome.status, InboxStatus.FAILED),
        load_id=outcome.load_id,
        load_status=outcome.status,
        note=_outcome_note(outcome),
    )


@contextmanager
def _queued_files(settings: Settings, item: InboxItem) -> Iterator[list[Path]]:
    """The files of a queued upload: where the scan set them aside when this worker holds
    them, else temporary copies from the database store (another worker scanned them)."""
    path = Path(item.path)
    if settings.storage == "database" and not path.exists():
        store = open_storage(settings)
        keys = store.list_keys(
            f"{queue_key(item.client_id, item.sha256)}/", client_id=item.client_id
        )
        if keys:
            with store.local_copies(keys, client_id=item.client_id) as copies:
                yield copies
            return
    yield upload_paths(path)


def _finish(
    engine: Engine, settings: Settings, item: InboxItem, now: datetime, **values: Any
) -> InboxItem:
    """Store the outcome, unless another run took the row over meanwhile (its claim differs)."""
    with reachable(settings), engine.begin() as conn:
        result = conn.execute(
            update(inbox_files)
            .where(
                inbox_files.c.id == item.id,
                inbox_files.c.status == InboxStatus.APPLYING,
                inbox_files.c.claimed_at == item.claimed_at,
            )
            .values(applied_at=now, **values)
        )
        if result.rowcount != 1:
            log.warning("inbox file %s was taken over by another run", item.id)
        row = conn.execute(select(inbox_files).where(inbox_files.c.id == item.id)).mappings()
        return InboxItem.from_row(row.one())


def _outcome_note(outcome: LoadOutcome) -> str | None:
    parts = []
    if outcome.detail:
        parts.append(outcome.detail)
    if outcome.status == LoadStatus.QUOTA_EXHAUSTED:
        parts.append(f"next period starts {outcome.quota.next_period_starts.isoformat()}")
    if outcome.status == LoadStatus.REJECTED:
        parts.append(", ".join(sorted({i.code for i in outcome.issues if not i.is_warning})))
    if outcome.incident:
        parts.append(f"incident {outcome.incident['id']}")
    return "; ".join(parts)[:500] or None


# --- reading --------------------------------------------------------------------------------


def list_inbox(
    conn: Connection, *, client_id: str | None = None, status: str | None = None
) -> list[InboxItem]:
    """Recorded inbox files, oldest first, optionally of one client and/or status."""
    query = select(inbox_files).order_by(inbox_files.c.seen_at, inbox_files.c.id)
    if client_id is not None:
        query = query.where(inbox_files.c.client_id == client_id)
    if status is not None:
        query = query.where(inbox_files.c.status == status)
    return [InboxItem.from_row(r) for r in conn.execute(query).mappings()]
