"""Uploads made in the web app: receive, report, preview, confirm, apply (SPEC §8).

``receive_upload`` validates the files the web app streamed to a scratch folder, archives an
upload within the limits (content-addressed, SHA-256, ``loaders.archive``), writes its reports
(JSON in both languages, the annotated workbook) under the key ``reports/<client>/<id>/`` of
the configured store (``orgload.storage``: ORGLOAD_HOME's folders, or the database every
worker and web process reaches) — a key made of a slug and a number, never of a
client-supplied name — and records it in ``web_uploads``. ``preview_upload`` is the dry
run, paged field by field; ``confirm_upload`` queues it; ``apply_upload`` (a worker of the
web app, or the ``monthly-load`` deployment) runs the load. Staff may queue a rejected or
refused load again with ``allow_mass_change`` or ``override_quota`` and a reason
(``authorize_load``).

Every function takes the client id of the caller's scope and runs under ``tenant(client_id)``:
on PostgreSQL the database refuses another client's rows; on SQLite each query filters by it.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, func, insert, or_, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from loaders.archive import archive_key, archive_upload, archived_files
from loaders.limits import Limits, refused_by_limits
from loaders.load import LoadOutcome, LoadRequest
from loaders.plan import EntityPlan
from loaders.store import FIELDS, get_client, get_load
from loaders.validate import validate_upload
from loaders.writers.annotate import write_annotated_report
from orgload import clock
from orgload.db import engine_for, reading, staff, tenant, web_uploads
from orgload.errors import NotFoundError, RefusedError, UsageError
from orgload.settings import Lang, Settings
from orgload.slugs import check_client_id
from orgload.status import LoadStatus
from orgload.storage import LocalStorage, Storage, open_storage, temp_folder
from schemas.report import Issue
from service.inbox import APPLY_STATUS, is_off_peak, next_off_peak_start
from service.loads import run_load

log = logging.getLogger(__name__)

__all__ = [
    "ChangeRow",
    "Preview",
    "Upload",
    "applies_at",
    "apply_due_uploads",
    "apply_upload",
    "authorize_load",
    "confirm_upload",
    "get_upload",
    "preview_upload",
    "queued_uploads",
    "receive_upload",
    "report_file",
    "upload_files",
    "upload_key",
]

Kind = Literal["inserted", "updated", "deactivated"]
KINDS: tuple[Kind, ...] = ("inserted", "updated", "deactivated")
PAGE_SIZE = 50
ERRORS_SHOWN = 2000  # a page lists this many errors; the workbook and JSON hold them all


@dataclass(frozen=True, slots=True)
class Upload:
    """One web upload and where it stands."""

    id: int
    client_id: str
    file_name: str
    sha256: str
    status: str  # invalid | valid | queued | applying | done
    errors: int
    warnings: int
    counts: dict[str, int] | None
    created_by: str
    created_at: datetime
    confirmed_by: str | None
    allow_mass_change: bool
    override_quota: bool
    reason: str | None
    load_id: int | None
    load_status: str | None
    flow_run_id: str | None
    detail: str | None
    archived: bool
    apply_after: datetime | None = None  # queued for the off-peak window: not before this

    @property
    def finished(self) -> bool:
        return self.status in ("invalid", "done")

    @property
    def waiting_off_peak(self) -> bool:
        """Confirmed in the high-concurrency hours by a client that applies off-peak: queued
        until the window opens at ``apply_after`` (22:00 Chile time)."""
        return self.status == "queued" and self.apply_after is not None

    def _detail_part(self, name: str) -> str | None:
        for part in (self.detail or "").split("; "):
            if part.startswith(f"{name}="):
                return part.removeprefix(f"{name}=")
        return None

    @property
    def incident_id(self) -> str | None:
        """The incident the load opened, if any (recorded in ``detail``)."""
        return self._detail_part("incident")

    @property
    def next_period_starts(self) -> datetime | None:
        """When a load refused by the quota becomes possible (recorded in ``detail``)."""
        value = self._detail_part("next_period_starts")
        return datetime.fromisoformat(value) if value else None


def _upload(row: Any) -> Upload:
    return Upload(
        id=row["id"],
        client_id=row["client_id"],
        file_name=row["file_name"],
        sha256=row["sha256"],
        status=row["status"],
        errors=row["errors"],
        warnings=row["warnings"],
        counts=row["counts"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        confirmed_by=row["confirmed_by"],
        allow_mass_change=row["allow_mass_change"],
        override_quota=row["override_quota"],
        reason=row["reason"],
        load_id=row["load_id"],
        load_status=row["load_status"],
        flow_run_id=row["flow_run_id"],
        detail=row["detail"],
        archived=bool(row["archive_path"]),
        apply_after=row["apply_after"],
    )


def reports_folder(settings: Settings, client_id: str, upload_id: int) -> Path:
    """Where the reports of an upload are in ORGLOAD_HOME's layout (a local store)."""
    return settings.home / reports_key(client_id, upload_id)


def reports_key(client_id: str, upload_id: int) -> str:
    """The store's folder of an upload's reports: a slug and a number."""
    return f"reports/{check_client_id(client_id)}/{int(upload_id)}"


def _write_reports(
    store: Storage,
    settings: Settings,
    client_id: str,
    upload_id: int,
    documents: dict[str, dict[str, Any]],
    workbook: Any = None,
) -> None:
    """Store the JSON reports of an upload and, with ``workbook`` (a function writing the
    annotated workbook to a path), the workbook, written to a temporary file first."""
    folder = reports_key(client_id, upload_id)
    for language, document in documents.items():
        store.put_bytes(
            f"{folder}/report.{language}.json",
            json.dumps(document, ensure_ascii=False).encode("utf-8"),
            client_id=client_id,
        )
    if workbook is not None:
        scratch = temp_folder(settings.home)
        try:
            workbook(scratch / "report.xlsx")
            with (scratch / "report.xlsx").open("rb") as source:
                store.put(f"{folder}/report.xlsx", source, client_id=client_id)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def receive_upload(
    settings: Settings,
    client_id: str,
    paths: list[Path],
    *,
    by: str,
    display_name: str | None = None,
    lang: Lang = "es",
    engine: Engine | None = None,
) -> Upload:
    """Validate an upload (files in a scratch folder of the caller, removed by the caller),
    archive it when it is within the limits, write its reports and record it."""
    check_client_id(client_id)
    if not paths:
        raise UsageError("choose a file: an .xlsx, the two .csv files or a .zip", code="no_file")
    limits = Limits.from_settings(settings)
    now = clock.now(settings)
    with tenant(client_id), engine_for(settings, engine) as bound:
        with reading(bound) as conn:
            client = get_client(conn, client_id)
        validated = validate_upload(
            paths, limits=limits, on_date=clock.today(settings, client.timezone)
        )
        report = validated.report
        store = open_storage(settings, bound)
        archived = None
        if not refused_by_limits(report.issues):
            archived = archive_upload(
                settings.home / "archive",
                paths,
                max_bytes=limits.max_file_bytes,
                storage=store,
                client_id=client_id,
            )
        counts = report.to_dict("es")["counts"]
        name = (display_name or ", ".join(p.name for p in paths))[:500]
        with bound.begin() as conn:
            upload_id = conn.execute(
                insert(web_uploads)
                .values(
                    client_id=client_id,
                    file_name=name,
                    sha256=archived.sha256 if archived else "",
                    archive_path=str(archived.folder) if archived else "",
                    status="valid" if report.valid else "invalid",
                    errors=len(report.errors),
                    warnings=len(report.warnings),
                    counts=counts,
                    created_by=by,
                    created_at=now,
                    allow_mass_change=False,
                    override_quota=False,
                )
                .returning(web_uploads.c.id)
            ).scalar_one()
        # After the record's commit: the store may be this very database (SQLite has one
        # writer at a time). Reports that cannot be stored take their record with them.
        try:
            _write_reports(
                store,
                settings,
                client_id,
                upload_id,
                {language: report.to_dict(language) for language in ("es", "en")},
                (lambda path: write_annotated_report(path, validated, lang))
                if report.issues
                else None,
            )
        except BaseException:
            with bound.begin() as conn:
                conn.execute(web_uploads.delete().where(web_uploads.c.id == upload_id))
            raise
        return get_upload(settings, client_id, upload_id, bound)


def get_upload(
    settings: Settings, client_id: str, upload_id: int, engine: Engine | None = None
) -> Upload:
    """An upload of ``client_id``; another client's id is ``NotFoundError`` (as a missing one)."""
    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        row = (
            conn.execute(
                select(web_uploads).where(
                    web_uploads.c.id == upload_id, web_uploads.c.client_id == client_id
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFoundError(f"upload {upload_id} not found")
    return _upload(row)


def _archive_path(settings: Settings, client_id: str, upload_id: int, engine: Engine | None) -> str:
    get_upload(settings, client_id, upload_id, engine)  # the caller's own upload
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        return str(
            conn.execute(
                select(web_uploads.c.archive_path).where(web_uploads.c.id == upload_id)
            ).scalar_one()
        )


@contextmanager
def upload_files(
    settings: Settings, client_id: str, upload_id: int, engine: Engine | None = None
) -> Iterator[list[Path]]:
    """The archived files of an upload of ``client_id`` as paths for the block (none when
    refused by the limits): the archive's own files on a local store, temporary copies of
    the database's (removed when the block ends)."""
    folder = _archive_path(settings, client_id, upload_id, engine)
    with (
        engine_for(settings, engine) as bound,
        archived_files(
            settings.home, folder, client_id=client_id, storage=open_storage(settings, bound)
        ) as files,
    ):
        yield files


def upload_key(
    settings: Settings, client_id: str, upload_id: int, engine: Engine | None = None
) -> list[str]:
    """The store's keys of an upload's archived files (what a worker anywhere can load)."""
    folder = archive_key(_archive_path(settings, client_id, upload_id, engine) or "")
    if folder is None:
        return []
    with tenant(client_id), engine_for(settings, engine) as bound:
        return open_storage(settings, bound).list_keys(f"{folder}/", client_id=client_id)


@dataclass(frozen=True, slots=True)
class ReportView:
    """The validation report of an upload, errors grouped by sheet (file-level ones first)."""

    valid: bool
    counts: dict[str, int]
    errors_by_sheet: dict[str, list[dict[str, Any]]]
    warnings: list[dict[str, Any]]
    errors_total: int
    shown: int
    has_workbook: bool
    read: bool = True  # False: refused as a whole (unreadable, over a limit) before any sheet


def upload_report(
    settings: Settings, client_id: str, upload_id: int, lang: Lang, engine: Engine | None = None
) -> ReportView:
    upload = get_upload(settings, client_id, upload_id, engine)
    folder = reports_key(client_id, upload.id)
    with tenant(client_id), engine_for(settings, engine) as bound:
        store = open_storage(settings, bound)
        document = json.loads(store.read_bytes(f"{folder}/report.{lang}.json", client_id=client_id))
        has_workbook = store.exists(f"{folder}/report.xlsx", client_id=client_id)
    groups: dict[str, list[dict[str, Any]]] = {}
    errors = document["errors"]
    for entry in errors[:ERRORS_SHOWN]:
        groups.setdefault(entry["sheet"] or "", []).append(entry)
    return ReportView(
        valid=document["valid"],
        counts=document["counts"],
        errors_by_sheet=groups,
        warnings=document["warnings"][:ERRORS_SHOWN],
        errors_total=len(errors),
        shown=min(len(errors), ERRORS_SHOWN),
        has_workbook=has_workbook,
        read=not any(e["sheet"] is None and e["code"] in UNREAD_CODES for e in errors),
    )


UNREAD_CODES = ("unreadable_file", "file_too_large")  # file-level: no sheet was read


def report_file(
    settings: Settings, client_id: str, upload_id: int, engine: Engine | None = None
) -> Path:
    """The annotated workbook of an upload of ``client_id``: its file on a local store; from
    the database, a copy under ORGLOAD_HOME/tmp/ that ``service.housekeeping`` removes once
    it is an hour old (the caller serves it after this function returns)."""
    upload = get_upload(settings, client_id, upload_id, engine)
    key = f"{reports_key(client_id, upload.id)}/report.xlsx"
    with tenant(client_id), engine_for(settings, engine) as bound:
        store = open_storage(settings, bound)
        if not store.exists(key, client_id=client_id):
            raise NotFoundError(f"upload {upload_id} has no annotated workbook")
        if isinstance(store, LocalStorage):
            return store.path(key)
        target = temp_folder(settings.home) / "report.xlsx"
        with store.open(key, client_id=client_id) as source, target.open("xb") as copy:
            shutil.copyfileobj(source, copy)
        return target


# --- preview ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One changed key: its fields before → after (``before`` None for an insert, ``after``
    None for a deactivation)."""

    key: str
    fields: dict[str, tuple[Any, Any]]


@dataclass(slots=True)
class Preview:
    """The dry run of an upload: counts, quota, mass change, and changes page by page."""

    upload: Upload
    outcome: LoadOutcome
    mass_change: list[Issue] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return self.outcome.changes() or {}

    @property
    def quota_used(self) -> bool:
        return bool(self.outcome.quota.used)

    @property
    def nothing_to_apply(self) -> bool:
        plan = self.outcome.plan
        return plan is not None and plan.empty

    def page(self, entity: str, kind: Kind, page: int, size: int = PAGE_SIZE) -> list[ChangeRow]:
        plan = self.outcome.plan
        if plan is None or entity not in plan.entities or kind not in KINDS:
            return []
        return _changes(plan.entities[entity], kind, max(page, 1), size)

    def total(self, entity: str, kind: Kind) -> int:
        return self.counts.get(entity, {}).get(kind, 0)


def _plain(value: Any) -> Any:
    """A plan frame's cell as a page shows it: None for a missing value (NaN included)."""
    return None if value is None or (isinstance(value, float) and value != value) else value


def _changes(plan: EntityPlan, kind: Kind, page: int, size: int) -> list[ChangeRow]:
    start = (page - 1) * size
    rows = []
    names = FIELDS[plan.entity]
    if kind == "inserted":
        for key in plan.inserts.index[start : start + size]:
            new = plan.inserts.loc[key]
            rows.append(
                ChangeRow(
                    str(key),
                    {f: (None, _plain(new[f])) for f in names if _plain(new[f]) is not None},
                )
            )
    elif kind == "updated":
        for key in plan.updates.index[start : start + size]:
            new, old = plan.updates.loc[key], plan.before.loc[key]
            changed: dict[str, tuple[Any, Any]] = {
                f: (_plain(old[f]), _plain(new[f]))
                for f in names
                if _plain(old[f]) != _plain(new[f])
            }
            if not old["active"]:
                changed["active"] = (False, True)
            rows.append(ChangeRow(str(key), changed))
    else:
        for key in plan.deactivations.index[start : start + size]:
            rows.append(ChangeRow(str(key), {"active": (True, False)}))
    return rows


_previews: OrderedDict[tuple[str, int], Preview] = OrderedDict()
_previews_lock = threading.Lock()
PREVIEWS_KEPT = 8  # dry runs kept in memory for paging (each holds a plan)


def preview_upload(
    settings: Settings,
    client_id: str,
    upload_id: int,
    engine: Engine | None = None,
    *,
    fresh: bool = False,
) -> Preview:
    """The dry run of a valid upload against the current data (kept for paging)."""
    upload = get_upload(settings, client_id, upload_id, engine)
    if upload.status == "invalid":
        raise RefusedError(
            f"upload {upload_id} has errors: fix the file and upload it again",
            code="upload_has_errors",
        )
    key = (client_id, upload_id)
    with _previews_lock:
        cached = _previews.get(key)
    if cached is not None and not fresh:
        return cached
    with upload_files(settings, client_id, upload_id, engine) as files:
        outcome = run_load(
            settings, LoadRequest(client_id=client_id, paths=files, dry_run=True), engine
        )
    mass = [i for i in outcome.issues if i.code == "mass_change"]
    plan = outcome.plan
    limits = {name: p.deactivation_limit() for name, p in plan.entities.items()} if plan else {}
    preview = Preview(upload, outcome, mass, limits)
    with _previews_lock:
        _previews[key] = preview
        _previews.move_to_end(key)
        while len(_previews) > PREVIEWS_KEPT:
            _previews.popitem(last=False)
    return preview


def _forget_preview(client_id: str, upload_id: int) -> None:
    with _previews_lock:
        _previews.pop((client_id, upload_id), None)


# --- confirm and apply ------------------------------------------------------------------------


def applies_at(settings: Settings, client_id: str, engine: Engine | None = None) -> datetime | None:
    """When a load confirmed now would be applied: None for at once, or the start of the next
    off-peak window (22:00 Chile time) for a client with ``apply_off_peak`` during the
    high-concurrency hours 06:00-21:59 (SPEC §7, §8)."""
    check_client_id(client_id)
    now = clock.now(settings)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        client = get_client(conn, client_id)
    if not client.apply_off_peak or is_off_peak(now):
        return None
    return next_off_peak_start(now)


def confirm_upload(
    settings: Settings, client_id: str, upload_id: int, *, by: str, engine: Engine | None = None
) -> Upload:
    """Queue a valid upload for its load (``valid`` → ``queued``, once): to be applied at once,
    or from the next off-peak window (``apply_after``) when the client's setting says so and
    the confirm falls in the high-concurrency hours."""
    get_upload(settings, client_id, upload_id, engine)
    after = applies_at(settings, client_id, engine)
    with tenant(client_id), engine_for(settings, engine) as bound, bound.begin() as conn:
        moved = conn.execute(
            update(web_uploads)
            .where(
                web_uploads.c.id == upload_id,
                web_uploads.c.client_id == client_id,
                web_uploads.c.status == "valid",
            )
            .values(
                status="queued",
                confirmed_by=by,
                confirmed_at=clock.now(settings),
                apply_after=after,
            )
        )
        if moved.rowcount != 1:
            raise RefusedError(
                f"upload {upload_id} is not waiting for confirmation", code="upload_not_waiting"
            )
    _forget_preview(client_id, upload_id)
    return get_upload(settings, client_id, upload_id, engine)


def _due(now: datetime) -> ColumnElement[bool]:
    """A queued upload that may be applied at ``now``: at once, or waiting for an off-peak
    window that has opened (a window missed while nothing ran waits for the next one)."""
    if is_off_peak(now):
        return or_(web_uploads.c.apply_after.is_(None), web_uploads.c.apply_after <= now)
    return web_uploads.c.apply_after.is_(None)


def apply_upload(
    settings: Settings,
    client_id: str,
    upload_id: int,
    engine: Engine | None = None,
    *,
    force: bool = False,
    flow_run_id: str | None = None,
) -> Upload:
    """Run the load of a queued upload (claimed ``queued`` → ``applying`` first, so two
    workers never load it twice) and record how it ended. An upload waiting for the off-peak
    window is left queued until the window opens, unless ops ``force`` it. A failure opens
    its incident (``service.loads.run_load``)."""
    now = clock.now(settings)
    with tenant(client_id), engine_for(settings, engine) as bound:
        with bound.begin() as conn:
            claimed = conn.execute(
                update(web_uploads)
                .where(
                    web_uploads.c.id == upload_id,
                    web_uploads.c.client_id == client_id,
                    web_uploads.c.status == "queued",
                    true() if force else _due(now),
                )
                .values(status="applying", claimed_at=now)
            )
        if claimed.rowcount != 1:
            return get_upload(settings, client_id, upload_id, bound)
        upload = get_upload(settings, client_id, upload_id, bound)
        try:
            with upload_files(settings, client_id, upload_id, bound) as files:
                outcome = run_load(
                    settings,
                    LoadRequest(
                        client_id=client_id,
                        paths=files,
                        allow_mass_change=upload.allow_mass_change,
                        override_quota=upload.override_quota,
                        reason=upload.reason,
                        flow_run_id=flow_run_id,
                    ),
                    bound,
                )
            values: dict[str, Any] = {
                "load_id": outcome.load_id,
                "load_status": outcome.status,
                "detail": _detail(outcome),
            }
        except Exception as exc:
            log.exception("web upload %s of %s failed", upload_id, client_id)
            values = {
                "load_status": LoadStatus.FAILED,
                "detail": f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
            }
        with bound.begin() as conn:
            conn.execute(
                update(web_uploads)
                .where(web_uploads.c.id == upload_id)
                .values(status="done", finished_at=clock.now(settings), **values)
            )
        done = get_upload(settings, client_id, upload_id, bound)
    mail_result(settings, done)
    return done


def mail_result(settings: Settings, upload: Upload) -> bool:
    """E-mail whoever confirmed the upload how its load ended (SPEC §8: "status until done and
    an e-mail"). Best effort: the page shows the same, so a failed send is only logged."""
    import smtplib
    from email.message import EmailMessage

    from support.notify import send_message

    to = upload.confirmed_by or upload.created_by
    if not settings.smtp_host or not to:
        return False
    counts = ""
    if upload.load_id is not None:
        counts = f"Carga / load {upload.load_id}\n"
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = f"orgload {upload.client_id}: {upload.load_status} ({upload.file_name})"[
        :200
    ]
    message.set_content(
        f"{upload.file_name}\n{counts}Estado / status: {upload.load_status}\n"
        f"{upload.detail or ''}\n"
    )
    try:
        send_message(message, settings)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not e-mail the result of upload %s: %s", upload.id, exc)
        return False
    return True


def _detail(outcome: LoadOutcome) -> str | None:
    parts = []
    if outcome.status == LoadStatus.QUOTA_EXHAUSTED:
        parts.append(f"next_period_starts={outcome.quota.next_period_starts.isoformat()}")
    if outcome.incident:
        parts.append(f"incident={outcome.incident['id']}")
    if outcome.status == LoadStatus.REJECTED:
        parts.append("codes=" + ",".join(sorted({i.code for i in outcome.issues})))
    if outcome.detail and outcome.status == LoadStatus.FAILED:
        parts.append(outcome.detail)
    return "; ".join(parts)[:500] or None


def _settle_stale(
    settings: Settings, client_id: str, upload: Upload, engine: Engine | None
) -> Upload:
    """An upload ``applying`` for longer than a load attempt may live (its worker died with
    its process) ends as ``crashed``; its load attempt is settled by ``service.attempts``."""
    from datetime import timedelta

    with tenant(client_id), engine_for(settings, engine) as bound, bound.begin() as conn:
        taken = conn.execute(  # when a worker (or a flow run) took it
            select(func.coalesce(web_uploads.c.claimed_at, web_uploads.c.confirmed_at)).where(
                web_uploads.c.id == upload.id
            )
        ).scalar_one()
        limit = timedelta(minutes=settings.attempt_stale_minutes)
        if taken is None or clock.now(settings) - taken < limit:
            return upload
        conn.execute(
            update(web_uploads)
            .where(web_uploads.c.id == upload.id, web_uploads.c.status == "applying")
            .values(
                status="done",
                load_status=LoadStatus.CRASHED,
                detail="the worker applying it stopped",
                finished_at=clock.now(settings),
            )
        )
    return get_upload(settings, client_id, upload.id, engine)


def queued_uploads(
    settings: Settings, engine: Engine | None = None, *, waiting_only: bool = False
) -> list[tuple[str, int]]:
    """Every upload that may be applied now, oldest first, as (client id, upload id): what a
    web app starting up takes over (support's view of every client). Uploads waiting for the
    off-peak window are included once it is open; ``waiting_only`` gives only those."""
    now = clock.now(settings)
    condition = _due(now)
    if waiting_only:
        condition = web_uploads.c.apply_after.is_not(None) & condition
    with staff(), engine_for(settings, engine) as bound, reading(bound) as conn:
        rows = conn.execute(
            select(web_uploads.c.client_id, web_uploads.c.id)
            .where(web_uploads.c.status == "queued", condition)
            .order_by(web_uploads.c.id)
        ).all()
    return [(r[0], r[1]) for r in rows]


def apply_due_uploads(
    settings: Settings,
    *,
    force: bool = False,
    flow_run_id: str | None = None,
    engine: Engine | None = None,
) -> list[dict[str, Any]]:
    """Apply the web uploads queued for the off-peak window, oldest first, if it is open (or
    ops ``force`` it): what the ``scheduled-validation`` job does with them next to the inbox
    queue (``service.schedules.apply_inbox_queue``) and what the web app's worker does when
    no Prefect API is configured. No new load starts once the window has closed. Rows in the
    shape of the inbox's (``status`` applied / skipped / failed, ``load_status``, ``note``)."""
    now = clock.now(settings)
    if not (force or is_off_peak(now)):
        return []
    with staff(), engine_for(settings, engine) as bound:
        with reading(bound) as conn:
            waiting = conn.execute(
                select(web_uploads.c.client_id, web_uploads.c.id)
                .where(
                    web_uploads.c.status == "queued",
                    web_uploads.c.apply_after.is_not(None),
                    true() if force else web_uploads.c.apply_after <= now,
                )
                .order_by(web_uploads.c.apply_after, web_uploads.c.id)
            ).all()
        rows = []
        for client_id, upload_id in waiting:
            if not (force or is_off_peak(clock.now(settings))):
                log.info("the off-peak window closed; the other web uploads wait")
                break
            with tenant(client_id):
                done = apply_upload(
                    settings, client_id, upload_id, bound, force=force, flow_run_id=flow_run_id
                )
            if done.status != "done":
                continue  # another worker had it
            rows.append(_schedule_row(done))
    return rows


def _schedule_row(upload: Upload) -> dict[str, Any]:
    status = APPLY_STATUS.get(upload.load_status or "", "failed")
    return {
        "id": upload.id,
        "client_id": upload.client_id,
        "file_name": upload.file_name,
        "sha256": upload.sha256,
        "status": str(status),
        "load_id": upload.load_id,
        "load_status": upload.load_status,
        "errors": upload.errors,
        "note": "; ".join(filter(None, [f"web upload {upload.id}", upload.detail])),
        "source": "web",
    }


def recent_uploads(
    settings: Settings, client_id: str, engine: Engine | None = None, limit: int = 20
) -> list[Upload]:
    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        rows = conn.execute(
            select(web_uploads)
            .where(web_uploads.c.client_id == client_id)
            .order_by(web_uploads.c.id.desc())
            .limit(limit)
        ).mappings()
        return [_upload(r) for r in rows]


def upload_of_load(
    settings: Settings, client_id: str, load_id: int, engine: Engine | None = None
) -> Upload | None:
    """The web upload whose load this is (None for a load from the CLI, a flow or the inbox)."""
    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        row = (
            conn.execute(
                select(web_uploads)
                .where(web_uploads.c.client_id == client_id, web_uploads.c.load_id == load_id)
                .order_by(web_uploads.c.id.desc())
            )
            .mappings()
            .first()
        )
    return _upload(row) if row is not None else None


# --- staff: authorize a refused load again ----------------------------------------------------

Authorization = Literal["mass_change", "override_quota"]


def authorize_load(
    settings: Settings,
    client_id: str,
    load_id: int,
    *,
    what: Authorization,
    by: str,
    reason: str,
    engine: Engine | None = None,
) -> Upload:
    """Queue a load refused for a mass change (``rejected``) or by the quota
    (``quota_exhausted``) again, with ``allow_mass_change`` or ``override_quota``; the staff
    user and the reason are recorded on the upload and in the load's reason."""
    check_client_id(client_id)
    if not reason.strip():
        raise UsageError("a reason is required", code="reason_required")
    if what not in ("mass_change", "override_quota"):
        raise UsageError("authorize mass_change or override_quota", code="authorize_what")
    now = clock.now(settings)
    with tenant(client_id), engine_for(settings, engine) as bound:
        with reading(bound) as conn:
            load = get_load(conn, load_id)
        if load is None or load["client_id"] != client_id:
            raise NotFoundError(f"load {load_id} is not a load of client {client_id}")
        codes = (load["summary"] or {}).get("codes", {})
        if what == "mass_change" and not (
            load["status"] == LoadStatus.REJECTED and "mass_change" in codes
        ):
            raise RefusedError(
                f"load {load_id} was not rejected for a mass change", code="not_mass_change"
            )
        if what == "override_quota" and load["status"] != LoadStatus.QUOTA_EXHAUSTED:
            raise RefusedError(
                f"load {load_id} was not refused by the quota", code="not_quota_refused"
            )
        folder = archive_key(load["archive_path"] or "")
        store = open_storage(settings, bound)
        if folder is None or not store.list_keys(f"{folder}/", client_id=client_id):
            raise NotFoundError(f"load {load_id} has no archived file")
        with bound.begin() as conn:
            upload_id = conn.execute(
                insert(web_uploads)
                .values(
                    client_id=client_id,
                    file_name=load["file_name"] or "",
                    sha256=load["sha256"] or "",
                    archive_path=load["archive_path"],
                    status="queued",
                    errors=0,
                    warnings=0,
                    created_by=by,
                    created_at=now,
                    confirmed_by=by,
                    confirmed_at=now,
                    allow_mass_change=what == "mass_change",
                    override_quota=what == "override_quota",
                    reason=f"{reason.strip()} — {by}",
                )
                .returning(web_uploads.c.id)
            ).scalar_one()
        empty = {"valid": True, "counts": {}, "errors": [], "warnings": []}
        _write_reports(store, settings, client_id, upload_id, {"es": empty, "en": empty})
        return get_upload(settings, client_id, upload_id, bound)


def discard_scratch(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


# --- Prefect ----------------------------------------------------------------------------------


def trigger_deployment(
    settings: Settings,
    client_id: str,
    upload_id: int,
    deployment: str,
    engine: Engine | None = None,
    *,
    api_url: str | None = None,
) -> bool:
    """Start the ``monthly-load`` deployment for a queued one-file upload (the flow takes one
    stored file, by its key in the store, so any worker can run it); returns False when this
    upload must be applied by the app itself instead.
    ``api_url``: the Prefect API the web app is configured with (else Prefect's own setting)."""
    keys = upload_key(settings, client_id, upload_id, engine)
    if len(keys) != 1:
        return False
    upload = get_upload(settings, client_id, upload_id, engine)
    from contextlib import nullcontext

    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}) if api_url else nullcontext():
        run = run_deployment(
            deployment,
            parameters={
                "client_id": client_id,
                "stored_file": keys[0],
                "allow_mass_change": upload.allow_mass_change,
                "override_quota": upload.override_quota,
                "reason": upload.reason or "",
            },
            timeout=0,
        )
    run_id = str(getattr(run, "id", ""))  # synchronous here (no event loop in this thread)
    with tenant(client_id), engine_for(settings, engine) as bound, bound.begin() as conn:
        conn.execute(
            update(web_uploads)
            .where(web_uploads.c.id == upload_id, web_uploads.c.status == "queued")
            .values(status="applying", flow_run_id=run_id, claimed_at=clock.now(settings))
        )
    return True


def follow_upload(
    settings: Settings, client_id: str, upload_id: int, engine: Engine | None = None
) -> Upload:
    """An upload, its status brought up to date from the load its flow run recorded."""
    from orgload.db import loads

    upload = get_upload(settings, client_id, upload_id, engine)
    if upload.status == "applying" and not upload.flow_run_id:
        return _settle_stale(settings, client_id, upload, engine)
    if upload.status != "applying" or not upload.flow_run_id:
        return upload
    with tenant(client_id), engine_for(settings, engine) as bound, bound.begin() as conn:
        row = conn.execute(
            select(loads.c.id, loads.c.status)
            .where(loads.c.client_id == client_id, loads.c.flow_run_id == upload.flow_run_id)
            .order_by(loads.c.id.desc())
        ).first()
        if row is None or row[1] == "running":
            return upload
        conn.execute(
            update(web_uploads)
            .where(web_uploads.c.id == upload_id)
            .values(
                status="done", load_id=row[0], load_status=row[1], finished_at=clock.now(settings)
            )
        )
    return get_upload(settings, client_id, upload_id, engine)
