"""Run one monthly load end to end: validate → archive → plan → guard → quota → apply (SPEC §3–4).

This is the one place that opens the transaction of a load: the data changes, the change log,
the load record and the quota claim commit together or not at all. Outcomes that change no
data (rejected, already applied, no changes, quota exhausted, failed) are recorded in a
transaction of their own, so the history shows every attempt.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from loaders.apply import apply_plan, revert_changes
from loaders.archive import archive_upload, upload_name, upload_sha256
from loaders.limits import Limits
from loaders.plan import ENTITIES, Plan, mass_change_issues, plan_changes
from loaders.quota import (
    QuotaExhaustedError,
    QuotaStatus,
    next_period_start,
    period_of,
    quota_status,
    release_quota,
    take_quota,
)
from loaders.store import (
    Client,
    data_version,
    fetch_current,
    find_applied_by_sha,
    get_client,
    get_load,
    insert_load,
    latest_applied_load,
    lock_client,
    update_load,
)
from loaders.validate import ValidatedUpload, validate_upload
from orgload import clock
from orgload.db import make_engine, reachable
from orgload.errors import DatabaseUnavailableError, NotFoundError, RefusedError
from orgload.settings import Settings
from schemas.messages import Lang
from schemas.report import Issue
from support.incidents import (
    IncidentDraft,
    IncidentRef,
    build_diagnostics,
    get_incident,
    record_incident,
)
from support.notify import queue_notification, send_quietly
from support.spool import spool_incident

log = logging.getLogger(__name__)

EXIT_CODES = {
    "applied": 0,
    "dry_run": 0,
    "already_applied": 0,
    "no_changes": 0,
    "reverted": 0,
    "rejected": 1,
    "quota_exhausted": 3,
    "failed": 4,
}


@dataclass(slots=True)
class LoadRequest:
    """What was asked: a client, its files and the ops options."""

    client_id: str
    paths: Sequence[Path]
    dry_run: bool = False
    allow_mass_change: bool = False
    override_quota: bool = False
    reason: str | None = None
    flow_run_id: str | None = None


@dataclass(slots=True)
class LoadOutcome:
    """What happened; ``to_dict`` is the JSON of ``orgload load --json`` (SPEC §6)."""

    status: str
    client_id: str
    period: str
    quota: QuotaStatus
    load_id: int | None = None
    plan: Plan | None = None
    issues: list[Issue] = field(default_factory=list)
    incident: dict[str, Any] | None = None
    detail: str | None = None  # one line for humans: why it failed, which load it repeats
    failed_step: str | None = None
    exception: BaseException | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def changes(self) -> dict[str, dict[str, int]] | None:
        return self.plan.counts() if self.plan is not None else None

    def to_dict(self, lang: Lang = "es") -> dict[str, Any]:
        errors = sorted((i for i in self.issues if not i.is_warning), key=Issue.sort_key)
        warnings = sorted((i for i in self.issues if i.is_warning), key=Issue.sort_key)
        return {
            "status": self.status,
            "load_id": self.load_id,
            "client_id": self.client_id,
            "period": self.period,
            "changes": self.changes(),
            "errors": [i.to_dict(lang) for i in errors],
            "warnings": [i.to_dict(lang) for i in warnings],
            "incident": self.incident,
            "quota": self.quota.to_dict(),
        }


class _NothingToApplyError(Exception):
    """Internal: under the lock the data turned out to equal the upload already."""


def run_load(settings: Settings, request: LoadRequest, engine: Engine | None = None) -> LoadOutcome:
    """Run one load; bad input and refusals come back as outcomes, never as exceptions."""
    owned = engine is None
    engine = engine or make_engine(settings)
    try:
        return _run(settings, request, engine)
    except DatabaseUnavailableError as exc:
        if request.dry_run:
            raise
        return report_unavailable(settings, request, exc)
    finally:
        if owned:  # close the pool we opened; a caller's engine is the caller's
            engine.dispose()


def _run(settings: Settings, request: LoadRequest, engine: Engine) -> LoadOutcome:
    with reachable(settings):
        with engine.connect() as conn:
            client = get_client(conn, request.client_id)
        now = clock.now(settings)
        period = period_of(now, client.timezone)
        # The client's current data is read on a second connection while the file is being
        # validated: the database and the validation work at the same time. (An invalid file
        # just drops the result.)
        with ThreadPoolExecutor(max_workers=1) as worker:
            current = worker.submit(_read_current, engine, client.id)
            validated = validate_upload(
                request.paths,
                limits=Limits.from_settings(settings),
                on_date=clock.today(settings, client.timezone),
            )
            validated.raw.clear()  # the text as read is only for error workbooks: free it early
            return _run_validated(
                settings, engine, client, request, validated, now, period, current
            )


def _run_validated(
    settings: Settings,
    engine: Engine,
    client: Client,
    request: LoadRequest,
    validated: ValidatedUpload,
    now: datetime,
    period: str,
    current: Future[_Current],
) -> LoadOutcome:
    def quota() -> QuotaStatus:
        with engine.connect() as conn:
            return quota_status(conn, client.id, period, client.timezone)

    def outcome(status: str, **kwargs: Any) -> LoadOutcome:
        return LoadOutcome(
            status, client.id, period, kwargs.pop("quota", None) or quota(), **kwargs
        )

    warnings = validated.report.warnings
    if request.dry_run:
        sha256, archive_path = upload_sha256(request.paths), None
    else:
        archived = archive_upload(settings.home / "archive", request.paths)
        sha256, archive_path = archived.sha256, str(archived.folder)
    record = {
        "client_id": client.id,
        "period": period,
        "file_name": upload_name(request.paths),
        "sha256": sha256,
        "archive_path": archive_path,
        "allow_mass_change": request.allow_mass_change,
        "override_quota": request.override_quota,
        "reason": request.reason,
        "flow_run_id": request.flow_run_id,
        "created_at": now,
    }

    def finish(result: LoadOutcome, changes: Plan | None = None) -> LoadOutcome:
        """Record a non-applied outcome in its own transaction (never for dry runs); a failure
        also opens (or refreshes) its support incident."""
        if request.dry_run:
            return result
        summary = _summary(result)
        with engine.begin() as conn:
            result.load_id = insert_load(
                conn,
                status=result.status,
                changes=changes.counts() if changes is not None else None,
                summary=summary,
                **record,
            )
        if result.status in ("rejected", "failed"):
            result.incident = _open_incident(
                settings, engine, client, request, result, record, summary, now
            )
        return result

    if not validated.valid:
        return finish(outcome("rejected", issues=validated.report.issues, failed_step="validate"))

    if not request.dry_run:
        with engine.connect() as conn:
            previous = find_applied_by_sha(conn, client.id, period, sha256)
        if previous is not None:
            return finish(outcome("already_applied", issues=warnings, detail=f"load {previous}"))

    plan, first_load = _plan(current.result(), validated)
    if plan.empty:
        status = "dry_run" if request.dry_run else "no_changes"
        return finish(outcome(status, plan=plan, issues=warnings), plan)

    allow_mass = request.allow_mass_change or client.allow_mass_change
    guard = [] if allow_mass else mass_change_issues(plan, first_load=first_load)
    if guard:
        return finish(
            outcome("rejected", plan=plan, issues=guard + warnings, failed_step="mass_change"), plan
        )

    status_now = quota()
    if request.dry_run:  # the quota object tells whether a real load would find it used
        return outcome("dry_run", plan=plan, issues=warnings, quota=status_now)
    if status_now.used and not request.override_quota:
        return finish(
            outcome("quota_exhausted", plan=plan, issues=warnings, quota=status_now), plan
        )

    try:
        load_id, plan = _apply(engine, client, request, validated, plan, record, now, period)
    except QuotaExhaustedError:
        return finish(outcome("quota_exhausted", plan=plan, issues=warnings), plan)
    except _NothingToApplyError:
        return finish(outcome("no_changes", plan=None, issues=warnings))
    except _MassChangeError as refused:
        return finish(
            outcome(
                "rejected",
                plan=refused.plan,
                issues=refused.issues + warnings,
                failed_step="mass_change",
            ),
            refused.plan,
        )
    except Exception as exc:
        # The traceback goes to the load record (and the incident), not to the admin's terminal.
        log.error("apply failed for client %s: %s: %s", client.id, type(exc).__name__, exc)
        log.debug("apply traceback", exc_info=True)
        failed = outcome(
            "failed",
            plan=plan,
            issues=warnings,
            detail=f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
            failed_step="apply",
            exception=exc,
        )
        with reachable(settings):
            return finish(failed, plan)
    return outcome("applied", load_id=load_id, plan=plan, issues=warnings)


class _MassChangeError(Exception):
    def __init__(self, plan: Plan, issues: list[Issue]) -> None:
        super().__init__("mass_change")
        self.plan, self.issues = plan, issues


@dataclass(frozen=True, slots=True)
class _Current:
    """A client's data as a plan needs it: every row of each entity and the data version."""

    version: int
    frames: dict[str, pd.DataFrame]

    @property
    def first_load(self) -> bool:
        return self.version == 0


def _current(conn: Connection, client_id: str) -> _Current:
    version = data_version(conn, client_id)
    return _Current(version, {name: fetch_current(conn, client_id, name) for name in ENTITIES})


def _read_current(engine: Engine, client_id: str) -> _Current:
    with engine.connect() as conn:
        return _current(conn, client_id)


def _plan(current: _Current, validated: ValidatedUpload) -> tuple[Plan, bool]:
    """The diff of the upload against ``current``; also whether this is the client's first load."""
    return plan_changes(validated.frames, current.frames, current.version), current.first_load


def _apply(
    engine: Engine,
    client: Client,
    request: LoadRequest,
    validated: ValidatedUpload,
    plan: Plan,
    record: dict[str, Any],
    now: datetime,
    period: str,
) -> tuple[int, Plan]:
    """The load's one transaction. Order matters: lock the client, record the load, claim the
    quota (racers fail here), re-plan if the data moved since planning, then write."""
    with engine.begin() as conn:
        lock_client(conn, client.id)
        moved = data_version(conn, client.id) != plan.base_version
        load_id = insert_load(conn, status="applied", **record)
        if not request.override_quota:
            take_quota(conn, client.id, period, load_id, now)
        if moved:
            plan, first_load = _plan(_current(conn, client.id), validated)
            if plan.empty:
                raise _NothingToApplyError
            allow = request.allow_mass_change or client.allow_mass_change
            guard = [] if allow else mass_change_issues(plan, first_load=first_load)
            if guard:
                raise _MassChangeError(plan, guard)
        apply_plan(conn, client.id, load_id, plan)
        update_load(
            conn,
            load_id,
            changes=plan.counts(),
            summary={"warnings": len(validated.report.warnings)},
        )
    log.info("applied load %s for client %s: %s", load_id, client.id, plan.counts())
    return load_id, plan


FAILED_STEP_CATEGORY = {
    "validate": "validation",
    "mass_change": "mass_change",
    "apply": "apply_error",
}
DIAGNOSTIC_ENTRIES = 200


def _open_incident(
    settings: Settings,
    engine: Engine,
    client: Client,
    request: LoadRequest,
    result: LoadOutcome,
    record: dict[str, Any],
    summary: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Record the incident of a failed load in its own transaction, queue and try its e-mail;
    spool it when the database cannot take it. Returns the load JSON's ``incident``."""
    report = result.to_dict(settings.lang)
    validation = {
        "codes": summary["codes"],
        "errors": report["errors"][:DIAGNOSTIC_ENTRIES],
        "warnings": report["warnings"][:DIAGNOSTIC_ENTRIES],
        "errors_total": len(report["errors"]),
    }
    draft = IncidentDraft(
        category=FAILED_STEP_CATEGORY[result.failed_step or "apply"],
        client_id=client.id,
        period=result.period,
        reported_at=now,
        load_id=result.load_id,
        flow_run_id=request.flow_run_id,
        failed_step=result.failed_step,
        diagnostics=build_diagnostics(
            client_id=client.id,
            period=result.period,
            load_id=result.load_id,
            flow_run_id=request.flow_run_id,
            file_name=record["file_name"],
            sha256=record["sha256"],
            archive_path=record["archive_path"],
            failed_step=result.failed_step,
            exception=summary.get("exception"),
            validation=validation,
        ),
    )
    attachment = json.dumps(
        {"errors": report["errors"], "warnings": report["warnings"]}, ensure_ascii=False
    )
    try:
        with reachable(settings), engine.begin() as conn:
            ref = record_incident(conn, draft, now)
            queue_notification(
                conn,
                get_incident(conn, ref.id),
                "reported" if ref.created else "repeated",
                settings,
                now,
                client.admin_email,
                attachment if ref.level == 1 else None,
            )
    except DatabaseUnavailableError as exc:
        return spool_unavailable(settings, draft, str(exc)).to_dict()
    send_quietly(engine, settings, now, ref.id)
    return ref.to_dict()


def spool_unavailable(settings: Settings, draft: IncidentDraft, reason: str) -> IncidentRef:
    """The database is unreachable: keep the incident on disk as category ``unavailable``."""
    spooled = IncidentDraft(
        category="unavailable",
        client_id=draft.client_id,
        period=draft.period,
        reported_at=draft.reported_at,
        load_id=draft.load_id,
        flow_run_id=draft.flow_run_id,
        failed_step=draft.failed_step,
        diagnostics={
            **draft.diagnostics,
            "original_category": draft.category,
            "unavailable": reason,
        },
        id=draft.id,
    )
    spool_incident(settings.spool_dir, spooled)
    return IncidentRef(spooled.id, spooled.level, spooled.due())


def report_unavailable(
    settings: Settings, request: LoadRequest, error: DatabaseUnavailableError
) -> LoadOutcome:
    """A load that could not reach the database: spool its incident, answer ``failed``."""
    now = clock.now(settings)
    period = period_of(now, settings.timezone)
    paths = list(request.paths)
    draft = IncidentDraft(
        category="unavailable",
        client_id=request.client_id,
        period=period,
        reported_at=now,
        flow_run_id=request.flow_run_id,
        failed_step="connect",
        diagnostics=build_diagnostics(
            client_id=request.client_id,
            period=period,
            load_id=None,
            flow_run_id=request.flow_run_id,
            file_name=upload_name(paths),
            sha256=upload_sha256(paths) if all(p.is_file() for p in paths) else None,
            archive_path=None,
            failed_step="connect",
            exception={"type": type(error).__name__, "message": str(error)},
            validation=None,
        ),
    )
    try:
        archived = archive_upload(settings.home / "archive", paths)
        draft.diagnostics["archive_path"] = str(archived.folder)
    except OSError as exc:
        draft.diagnostics["archive_error"] = str(exc)
    ref = spool_unavailable(settings, draft, str(error))
    quota = QuotaStatus(period, None, next_period_start(period, settings.timezone))
    return LoadOutcome(
        "failed",
        request.client_id,
        period,
        quota,
        incident=ref.to_dict(),
        detail=str(error),
        failed_step="connect",
    )


def _summary(result: LoadOutcome) -> dict[str, Any]:
    codes: dict[str, int] = {}
    for issue in result.issues:
        codes[issue.code] = codes.get(issue.code, 0) + 1
    summary: dict[str, Any] = {"codes": codes}
    if result.detail:
        summary["detail"] = result.detail
    if result.exception is not None:
        summary["exception"] = {
            "type": type(result.exception).__name__,
            "message": str(result.exception)[:2000],
            "traceback": "".join(traceback.format_exception(result.exception))[-20000:],
        }
    return summary


@dataclass(slots=True)
class RevertOutcome:
    load_id: int
    reverted_load_id: int
    changes: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "reverted",
            "load_id": self.load_id,
            "reverted_load_id": self.reverted_load_id,
            "changes": self.changes,
        }


def run_revert(
    settings: Settings, load_id: int, reason: str, engine: Engine | None = None
) -> RevertOutcome:
    """Revert the client's latest applied load in one transaction; older loads are refused."""
    owned = engine is None
    engine = engine or make_engine(settings)
    try:
        return _revert(settings, load_id, reason, engine)
    finally:
        if owned:
            engine.dispose()


def _revert(settings: Settings, load_id: int, reason: str, engine: Engine) -> RevertOutcome:
    now = clock.now(settings)
    with reachable(settings), engine.begin() as conn:
        target = get_load(conn, load_id)
        if target is None:
            raise NotFoundError(f"load {load_id} does not exist")
        client = lock_client(conn, target["client_id"])
        latest = latest_applied_load(conn, client.id)
        if (
            target["kind"] != "load"
            or target["status"] != "applied"
            or target["reverted_by_load_id"]
        ):
            raise RefusedError(
                f"load {load_id} cannot be reverted: its status is {target['status']}"
                + (" (already reverted)" if target["reverted_by_load_id"] else "")
            )
        if latest != load_id:
            raise RefusedError(
                f"load {load_id} is not the latest applied load of client {client.id} "
                f"(that is load {latest}); only the latest can be reverted"
            )
        changes = revert_changes(conn, client.id, load_id)
        revert_id = insert_load(
            conn,
            kind="revert",
            status="reverted",
            client_id=client.id,
            period=period_of(now, client.timezone),
            file_name=target["file_name"],
            sha256=target["sha256"],
            archive_path=target["archive_path"],
            reason=reason,
            changes=changes,
            reverted_load_id=load_id,
            created_at=now,
        )
        update_load(conn, load_id, reverted_by_load_id=revert_id)
        release_quota(conn, load_id)
    return RevertOutcome(revert_id, load_id, changes)
