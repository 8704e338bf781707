"""Run one monthly load end to end: validate → archive → plan → quota → guard → apply (SPEC §3–4).

This is the one place that opens the transaction of a load: the data changes, the change log,
the load record and the quota claim commit together or not at all. A (non-dry-run) attempt is
recorded ``running`` in a short transaction of its own as soon as its client is known; how it
ends replaces that status in the same row: ``applied`` inside the apply transaction, any
outcome that changes no data (rejected, already applied, no changes, quota exhausted, failed)
in a transaction of its own. So the history shows every attempt, and one whose process died
stays ``running`` until the next command for the client finds it (``service/attempts.py``).
The named points of ``orgload.stages`` are where a test can kill a load (docs/reliability.md).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from loaders.archive import archive_upload, upload_digest, upload_name
from loaders.limits import Limits, refused_by_limits
from loaders.progress import Progress, Step
from loaders.quota import (
    QuotaExhaustedError,
    QuotaStatus,
    period_of,
    quota_status,
    release_quota,
    take_quota,
)
from loaders.store import (
    Client,
    attempt_owner,
    data_version,
    find_applied_by_sha,
    get_client,
    get_load,
    insert_load,
    latest_applied_load,
    load_status,
    lock_client,
    update_load,
)
from loaders.xlsx import precheck_upload
from orgload import clock
from orgload.db import engine_for, reachable, reading
from orgload.errors import DatabaseUnavailableError, NotFoundError, RefusedError
from orgload.failures import LoadFailure
from orgload.settings import Settings
from orgload.stages import reached
from orgload.status import RUNNING, LoadStatus, exit_code
from orgload.storage import open_storage
from schemas.messages import Lang
from schemas.report import Issue, Report

if TYPE_CHECKING:  # pandas and the modules built on it are imported only by a load that parses
    import pandas as pd

    from loaders.plan import Plan
    from loaders.validate import ValidatedUpload

log = logging.getLogger(__name__)


def import_pipeline() -> None:
    """Import what a load parses, plans and applies with (pandas, pandera, pyarrow). The load
    imports these itself when it needs them; a caller may import them ahead, e.g. while the
    workbook is parsed in the background (``orgload load``). A load refused before parsing
    never does (``precheck_upload``): its answer costs well under 100 MB (issue 15)."""
    import loaders.apply
    import loaders.current
    import loaders.plan
    import loaders.validate  # noqa: F401


@dataclass(frozen=True, slots=True)
class _Refused:
    """An upload refused by a limit before it was parsed: a report and nothing else."""

    report: Report
    valid: bool = False


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
    incident: dict[str, Any] | None = None  # filled in by the support desk (service layer)
    detail: str | None = None  # one line for humans: why it failed, which load it repeats
    failed_step: str | None = None
    exception: BaseException | None = None
    failure: LoadFailure | None = None  # what the support desk needs, for rejected and failed

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)

    def changes(self) -> dict[str, dict[str, int]] | None:
        return self.plan.counts() if self.plan is not None else None

    def preview(self) -> dict[str, dict[str, Any]] | None:
        """A dry run's first inserted, updated (field by field) and deactivated keys per entity."""
        if self.plan is None:
            return None
        return {name: entity.preview() for name, entity in self.plan.entities.items()}

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

    def __init__(self, plan: Plan) -> None:
        super().__init__("no_changes")
        self.plan = plan


def run_load(
    settings: Settings,
    request: LoadRequest,
    engine: Engine | None = None,
    *,
    progress: Progress | None = None,
    prechecked: Sequence[Issue] | None = None,
) -> LoadOutcome:
    """Run one load; bad input and refusals come back as outcomes, never as exceptions.

    A rejected or failed load is recorded and carries its ``failure`` for the support desk;
    opening the incident is the caller's (``service.loads.run_load``). An unreachable database
    raises ``DatabaseUnavailableError``. ``progress`` is told each stage (``loaders.progress``).
    ``prechecked``: what ``precheck_upload`` answered for these files when the caller already
    asked it (None: it is asked here). A refusal there is recorded without parsing anything.
    """
    with engine_for(settings, engine) as bound:
        return _run(settings, request, bound, progress or _quiet, prechecked)


def _quiet(_step: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The ``running`` record of a load under way, and the process that runs it."""

    load_id: int
    owner: dict[str, Any]


def _start_attempt(
    engine: Engine, client: Client, request: LoadRequest, now: datetime, period: str
) -> _Attempt:
    """Record the attempt as ``running`` (committed at once), with the pid and host that run it:
    should this process die, the next command for the client can tell (service/attempts.py)."""
    owner = attempt_owner()
    with engine.begin() as conn:
        load_id = insert_load(
            conn,
            status=RUNNING,
            client_id=client.id,
            period=period,
            file_name=upload_name(request.paths),
            allow_mass_change=request.allow_mass_change,
            override_quota=request.override_quota,
            reason=request.reason,
            flow_run_id=request.flow_run_id,
            created_at=now,
            summary={"attempt": owner},
        )
    return _Attempt(load_id, owner)


def _abandon(engine: Engine, attempt: _Attempt, exc: BaseException) -> None:
    """An unexpected error escapes the load: record the attempt ``failed`` rather than leave it
    ``running`` in a process that may live on (a web worker). Best effort: the error itself
    is what the caller sees."""
    try:
        with engine.begin() as conn:
            update_load(
                conn,
                attempt.load_id,
                status=LoadStatus.FAILED,
                summary={
                    "attempt": attempt.owner,
                    "detail": f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
                    "exception": _exception(exc),
                },
            )
    except Exception:
        log.warning("could not record load %s as failed", attempt.load_id, exc_info=True)


def _run(
    settings: Settings,
    request: LoadRequest,
    engine: Engine,
    progress: Progress,
    prechecked: Sequence[Issue] | None,
) -> LoadOutcome:
    limits = Limits.from_settings(settings)
    with reachable(settings):
        with reading(engine) as conn:
            client = get_client(conn, request.client_id)
        now = clock.now(settings)
        period = period_of(now, client.timezone)
        attempt = None if request.dry_run else _start_attempt(engine, client, request, now, period)
        try:
            refused = (
                list(prechecked)
                if prechecked is not None
                else precheck_upload(request.paths, limits)
            )
            if refused:  # over a limit: recorded and answered without parsing (SPEC §2)
                return _run_validated(
                    settings,
                    engine,
                    client,
                    request,
                    _Refused(Report(issues=refused)),
                    now,
                    period,
                    None,
                    attempt,
                    progress,
                )
            from loaders.validate import validate_upload

            # The client's current data is read on a second connection while the file is being
            # validated: the database and the validation work at the same time. (An invalid
            # file just drops the result.)
            with ThreadPoolExecutor(max_workers=1) as worker:
                # the reader's thread runs in this context: same tenant scope (orgload.db.tenant)
                current = worker.submit(copy_context().run, _read_current, engine, client.id)
                validated = validate_upload(
                    request.paths,
                    limits=limits,
                    on_date=clock.today(settings, client.timezone),
                    progress=_both(reached, progress),  # "reading" and "validating"
                )
                validated.raw.clear()  # the text as read is only for error workbooks: free it
                return _run_validated(
                    settings,
                    engine,
                    client,
                    request,
                    validated,
                    now,
                    period,
                    current,
                    attempt,
                    progress,
                )
        except DatabaseUnavailableError:
            raise  # the row stays running: unreachable now, it is settled once reachable
        except Exception as exc:
            if attempt is not None:
                _abandon(engine, attempt, exc)
            raise


def _run_validated(
    settings: Settings,
    engine: Engine,
    client: Client,
    request: LoadRequest,
    validated: ValidatedUpload | _Refused,
    now: datetime,
    period: str,
    current: Future[_Current] | None,
    attempt: _Attempt | None,
    progress: Progress,
) -> LoadOutcome:
    def quota() -> QuotaStatus:
        with reading(engine) as conn:
            return quota_status(conn, client.id, period, client.timezone)

    def outcome(status: str, **kwargs: Any) -> LoadOutcome:
        return LoadOutcome(
            status, client.id, period, kwargs.pop("quota", None) or quota(), **kwargs
        )

    warnings = validated.report.warnings
    limits = Limits.from_settings(settings)
    # Only an upload within the limits is archived (SPEC §3); one refused unread (a FIFO, a
    # folder) or past the size limit is not even hashed: archive_path and sha256 null.
    # The archive hashes while it copies: the upload is read once on the common path.
    archived, archive_error = None, None
    if not (request.dry_run or refused_by_limits(validated.report.issues)):
        try:
            archived = archive_upload(
                settings.home / "archive",
                request.paths,
                max_bytes=limits.max_file_bytes,
                storage=open_storage(settings, engine),  # this load's, on its engine
                client_id=client.id,
            )
        except OSError as exc:  # a full or read-only file store: nothing is applied
            archive_error = exc
    sha256: str | None = archived.sha256 if archived is not None else None
    archive_path = str(archived.folder) if archived is not None else None
    if archived is None:
        sha256 = upload_digest(request.paths, limits.max_file_bytes)
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
        also carries what its support incident needs."""
        if request.dry_run or attempt is None:
            return result
        summary = _summary(result)
        with engine.begin() as conn:
            update_load(
                conn,
                attempt.load_id,
                status=result.status,
                changes=changes.counts() if changes is not None else None,
                summary={**summary, "attempt": attempt.owner},
                **record,
            )
        result.load_id = attempt.load_id
        if result.status in (LoadStatus.REJECTED, LoadStatus.FAILED):
            result.failure = _failure(settings, client, request, result, record, summary, now)
        return result

    def repeated() -> LoadOutcome | None:
        """``already_applied`` when this very upload stands applied in this period."""
        if sha256 is None:  # never read: refused before anything could apply
            return None
        with reading(engine) as conn:
            previous = find_applied_by_sha(conn, client.id, period, sha256)
        if previous is None:
            return None
        return finish(
            outcome(LoadStatus.ALREADY_APPLIED, issues=warnings, detail=f"load {previous}")
        )

    if archive_error is not None:  # SPEC §5: the file store is unreachable (level 3)
        return finish(
            outcome(
                LoadStatus.FAILED,
                issues=warnings,
                detail=f"the archive cannot be written: {archive_error}".splitlines()[0][:500],
                failed_step="archive",
                exception=archive_error,
            )
        )

    if not validated.valid:
        return finish(
            outcome(LoadStatus.REJECTED, issues=validated.report.issues, failed_step="validate")
        )
    assert not isinstance(validated, _Refused)  # a refusal is never valid
    assert current is not None

    if not request.dry_run and (done := repeated()) is not None:
        return done

    reached("planning")
    progress(Step("planning", total=sum(validated.report.counts.values())))
    plan, first_load = _plan(current.result(), validated)
    if plan.empty:  # no_changes whatever the quota (SPEC §4)
        status = LoadStatus.DRY_RUN if request.dry_run else LoadStatus.NO_CHANGES
        return finish(outcome(status, plan=plan, issues=warnings), plan)

    # There is something to apply: the quota first, then the guard (SPEC §3). A load that
    # cannot apply this period is quota_exhausted, never mass_change.
    status_now = quota()
    quota_refuses = bool(status_now.used) and not request.override_quota
    guard = _guard(request, client, plan, first_load)
    if request.dry_run:
        # A dry run never uses the quota; its quota object tells whether the real load would
        # find it used. When it would, the real load stops at the quota and the guard is only
        # news: the answer stays dry_run, with the mass_change errors explaining it.
        if guard and not quota_refuses:
            return outcome(
                LoadStatus.REJECTED,
                plan=plan,
                issues=guard + warnings,
                failed_step="mass_change",
                quota=status_now,
            )
        return outcome(LoadStatus.DRY_RUN, plan=plan, issues=guard + warnings, quota=status_now)
    if quota_refuses:
        return finish(
            outcome(LoadStatus.QUOTA_EXHAUSTED, plan=plan, issues=warnings, quota=status_now), plan
        )
    if guard:
        return finish(
            outcome(
                LoadStatus.REJECTED,
                plan=plan,
                issues=guard + warnings,
                failed_step="mass_change",
                quota=status_now,
            ),
            plan,
        )

    assert attempt is not None  # only dry runs have none, and they returned above
    try:
        load_id, plan = _apply(
            engine, client, request, validated, plan, record, now, period, attempt, progress
        )
    except QuotaExhaustedError:
        # Overtaken: another load took the period after the checks above (a race). Answer
        # what this load gets arriving after that one, never a guard verdict: the same upload
        # is already_applied, the same data no_changes, anything else quota_exhausted.
        if (done := repeated()) is not None:
            return done
        plan, _ = _plan(_read_current(engine, client.id), validated)
        status = LoadStatus.NO_CHANGES if plan.empty else LoadStatus.QUOTA_EXHAUSTED
        return finish(outcome(status, plan=plan, issues=warnings), plan)
    except _NothingToApplyError as nothing:
        return finish(
            outcome(LoadStatus.NO_CHANGES, plan=nothing.plan, issues=warnings), nothing.plan
        )
    except _MassChangeError as refused:
        return finish(
            outcome(
                LoadStatus.REJECTED,
                plan=refused.plan,
                issues=refused.issues + warnings,
                failed_step="mass_change",
            ),
            refused.plan,
        )
    except Exception as exc:
        if _committed(engine, attempt.load_id):
            # The commit reached the server and only its answer was lost with the connection:
            # the load is applied (its record turned `applied` in the same transaction).
            log.warning(
                "the connection was lost as load %s committed; it is applied (%s)",
                attempt.load_id,
                type(exc).__name__,
            )
            reached("committed")
            return outcome(LoadStatus.APPLIED, load_id=attempt.load_id, plan=plan, issues=warnings)
        # The traceback goes to the load record (and the incident), not to the admin's terminal.
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        # One line at ERROR (a driver's message runs on with the SQL and its CONTEXT).
        log.error("apply failed for client %s: %s", client.id, detail)
        log.debug("apply traceback", exc_info=True)
        failed = outcome(
            LoadStatus.FAILED,
            plan=plan,
            issues=warnings,
            detail=detail,
            failed_step="apply",
            exception=exc,
        )
        with reachable(settings):
            return finish(failed, plan)
    reached("committed")
    return outcome(LoadStatus.APPLIED, load_id=load_id, plan=plan, issues=warnings)


def _both(first: Progress, second: Progress) -> Progress:
    def told(step: str) -> None:
        first(step)
        second(step)

    return told


def _rows_to_write(plan: Plan) -> int:
    """The entity rows an apply writes: inserted, updated and deactivated."""
    return sum(c["inserted"] + c["updated"] + c["deactivated"] for c in plan.counts().values())


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
    from loaders.current import fetch_current
    from loaders.plan import ENTITIES

    version = data_version(conn, client_id)
    return _Current(version, {name: fetch_current(conn, client_id, name) for name in ENTITIES})


def _committed(engine: Engine, load_id: int) -> bool:
    """Whether the apply of ``load_id`` committed although its connection failed: only that
    transaction turns the record ``applied``. False too when the database cannot tell."""
    try:
        with reading(engine) as conn:
            return load_status(conn, load_id) == LoadStatus.APPLIED
    except Exception:  # still unreachable: the failure path reports that
        log.debug("could not check whether load %s committed", load_id, exc_info=True)
        return False


def _read_current(engine: Engine, client_id: str) -> _Current:
    with reading(engine) as conn:
        return _current(conn, client_id)


def _plan(current: _Current, validated: ValidatedUpload) -> tuple[Plan, bool]:
    """The diff of the upload against ``current``; also whether this is the client's first load.
    Optional columns the upload does not have keep their stored values (SPEC §1)."""
    from loaders.plan import plan_changes

    plan = plan_changes(validated.frames, current.frames, current.version, validated.headers)
    return plan, current.first_load


def _guard(request: LoadRequest, client: Client, plan: Plan, first_load: bool) -> list[Issue]:
    """The mass-change errors of ``plan``: none when ops or the client setting allow it, none
    on a client's first load. Callers ask only once the quota let the load through."""
    from loaders.plan import mass_change_issues

    if request.allow_mass_change or client.allow_mass_change:
        return []
    return mass_change_issues(plan, first_load=first_load)


def _apply(
    engine: Engine,
    client: Client,
    request: LoadRequest,
    validated: ValidatedUpload,
    plan: Plan,
    record: dict[str, Any],
    now: datetime,
    period: str,
    attempt: _Attempt,
    progress: Progress,
) -> tuple[int, Plan]:
    """The load's one transaction. Order matters: lock the client, claim the quota for the
    attempt's record (racers fail here: QuotaExhaustedError), and only then, if the data moved
    since planning, plan again and guard the new plan; then write the data and the change log,
    and last turn the record ``applied`` — all of it commits together or not at all.

    A racer that waited for the winner's commit thus loses on the quota before its plan
    against the winner's data is ever guarded: quota_exhausted, never mass_change (SPEC §3).
    """
    from loaders.apply import apply_plan

    load_id = attempt.load_id
    with engine.begin() as conn:
        lock_client(conn, client.id)
        reached("apply.begin")
        moved = data_version(conn, client.id) != plan.base_version
        if not request.override_quota:
            take_quota(conn, client.id, period, load_id, now)
        if moved:
            plan, first_load = _plan(_current(conn, client.id), validated)
            if plan.empty:
                raise _NothingToApplyError(plan)
            guard = _guard(request, client, plan, first_load)
            if guard:
                raise _MassChangeError(plan, guard)
        total = _rows_to_write(plan)
        progress(Step("applying", done=0, total=total))
        written = 0

        def wrote(rows: int) -> None:  # after each COPY or batch of rows, never per row
            nonlocal written
            written += rows
            progress(Step("applying", done=min(written, total), total=total))

        apply_plan(conn, client.id, load_id, plan, wrote=wrote)
        update_load(
            conn,
            load_id,
            status=LoadStatus.APPLIED,
            changes=plan.counts(),
            summary={"warnings": len(validated.report.warnings), "attempt": attempt.owner},
            **record,
        )
        reached("apply.commit")
    log.info("applied load %s for client %s: %s", load_id, client.id, plan.counts())
    return load_id, plan


DIAGNOSTIC_ENTRIES = 200


def _failure(
    settings: Settings,
    client: Client,
    request: LoadRequest,
    result: LoadOutcome,
    record: dict[str, Any],
    summary: dict[str, Any],
    now: datetime,
) -> LoadFailure:
    """What the support desk needs to open the incident of a recorded rejection or failure."""
    report = result.to_dict(settings.lang)
    return LoadFailure(
        client_id=client.id,
        period=result.period,
        reported_at=now,
        failed_step=result.failed_step or "apply",
        load_id=result.load_id,
        flow_run_id=request.flow_run_id,
        file_name=record["file_name"],
        sha256=record["sha256"],
        archive_path=record["archive_path"],
        exception=summary.get("exception"),
        validation={
            "codes": summary["codes"],
            "errors": report["errors"][:DIAGNOSTIC_ENTRIES],
            "warnings": report["warnings"][:DIAGNOSTIC_ENTRIES],
            "errors_total": len(report["errors"]),
        },
        admin_email=client.admin_email,
        attachment=json.dumps(
            {"errors": report["errors"], "warnings": report["warnings"]}, ensure_ascii=False
        ),
    )


def _summary(result: LoadOutcome) -> dict[str, Any]:
    codes: dict[str, int] = {}
    for issue in result.issues:
        codes[issue.code] = codes.get(issue.code, 0) + 1
    summary: dict[str, Any] = {"codes": codes}
    if result.detail:
        summary["detail"] = result.detail
    if result.exception is not None:
        summary["exception"] = _exception(result.exception)
    return summary


def _exception(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": "".join(traceback.format_exception(exc))[-20000:],
    }


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
    with engine_for(settings, engine) as bound:
        return _revert(settings, load_id, reason, bound)


def _revert(settings: Settings, load_id: int, reason: str, engine: Engine) -> RevertOutcome:
    from loaders.apply import revert_changes

    now = clock.now(settings)
    with reachable(settings), engine.begin() as conn:
        target = get_load(conn, load_id)
        if target is None:
            raise NotFoundError(f"load {load_id} does not exist")
        client = lock_client(conn, target["client_id"])
        latest = latest_applied_load(conn, client.id)
        if (
            target["kind"] != "load"
            or target["status"] != LoadStatus.APPLIED
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
            status=LoadStatus.REVERTED,
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
