"""Loads as use cases: run (or preview) a load, the quota, the history, revert, replay (SPEC §3-6).

A failed load reaches the support desk here, in one call (``support.report.report_failure``):
the pipeline describes the failure, the support desk opens the incident, neither imports the
other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from loaders.archive import archive_upload, archived_files, upload_digest, upload_name
from loaders.limits import Limits
from loaders.load import LoadOutcome, LoadRequest, RevertOutcome, import_pipeline, run_revert
from loaders.load import run_load as run_pipeline
from loaders.progress import Progress
from loaders.quota import QuotaStatus
from loaders.store import get_client, get_load
from orgload import clock
from orgload.clock import next_period_start, period_of
from orgload.db import engine_for, reading, staff, tenant
from orgload.errors import DatabaseUnavailableError, NotFoundError, RefusedError, UsageError
from orgload.failures import LoadFailure
from orgload.settings import Settings, ensure_home
from orgload.slugs import check_client_id
from orgload.status import LoadStatus
from orgload.storage import open_storage
from service.attempts import settle_attempts
from service.database import connected
from service.history import History, HistoryEntry, client_history, client_quota
from service.housekeeping import sweep_leftovers
from support.incidents import get_incident
from support.report import report_failure

if TYPE_CHECKING:
    from schemas.report import Issue

__all__ = [
    "History",
    "HistoryEntry",
    "LoadOutcome",
    "LoadRequest",
    "RevertOutcome",
    "client_history",
    "client_quota",
    "import_pipeline",
    "replay_incident",
    "revert_load",
    "run_load",
]


def run_load(
    settings: Settings,
    request: LoadRequest,
    engine: Engine | None = None,
    *,
    progress: Progress | None = None,
    prechecked: Sequence[Issue] | None = None,
) -> LoadOutcome:
    """Run (or, with ``dry_run``, preview) one load; refusals and failures come back as
    outcomes, never as exceptions. A failure opens its incident; an unreachable database
    spools it. ``engine`` None: the database is opened (and its spool imported) here.
    ``progress`` is told each stage as it starts or advances (``loaders.progress.Step``).
    ``prechecked``: ``service.validation.refusals`` of these files, when the caller asked
    already (None: the load asks)."""
    check_client_id(request.client_id)
    if request.override_quota and not (request.reason and request.reason.strip()):
        raise UsageError("--override-quota needs --reason TEXT")
    if not request.dry_run:
        ensure_home(settings)  # the archive and the spool live there: refuse before starting
        sweep_leftovers(settings)  # of writes interrupted before (a killed process)
    try:
        with tenant(request.client_id), connected(settings, engine) as bound:
            settle_attempts(settings, bound, request.client_id)  # attempts killed before
            outcome = run_pipeline(
                settings, request, bound, progress=progress, prechecked=prechecked
            )
            if outcome.failure is not None:
                outcome.incident = report_failure(settings, bound, outcome.failure).to_dict()
            return outcome
    except DatabaseUnavailableError as exc:
        if request.dry_run:
            raise
        return report_unavailable(settings, request, exc)


def report_unavailable(
    settings: Settings, request: LoadRequest, error: DatabaseUnavailableError
) -> LoadOutcome:
    """A load that could not reach the database: archive the file, spool its incident,
    answer ``failed``."""
    now = clock.now(settings)
    period = period_of(now, settings.timezone)
    paths = list(request.paths)
    max_bytes = Limits.from_settings(settings).max_file_bytes  # never read past the limits
    failure = LoadFailure(
        client_id=request.client_id,
        period=period,
        reported_at=now,
        failed_step="connect",
        flow_run_id=request.flow_run_id,
        file_name=upload_name(paths),
        sha256=upload_digest(paths, max_bytes),
        exception={"type": type(error).__name__, "message": str(error)},
    )
    try:
        archived = archive_upload(settings.home / "archive", paths, max_bytes=max_bytes)
        failure.archive_path = str(archived.folder)
    except OSError as exc:  # too large to keep, or the archive is not writable
        failure.extra["archive_error"] = str(exc)
    ref = report_failure(settings, None, failure)
    quota = QuotaStatus(period, None, next_period_start(period, settings.timezone))
    return LoadOutcome(
        LoadStatus.FAILED,
        request.client_id,
        period,
        quota,
        incident=ref.to_dict(),
        detail=str(error),
        failed_step="connect",
    )


def revert_load(
    settings: Settings,
    client_id: str,
    load_id: int,
    reason: str,
    engine: Engine | None = None,
) -> RevertOutcome:
    """Revert ``client_id``'s latest applied load (recorded, with its reason; frees the quota).

    The load must be that client's: a load id typed wrong never reaches another client.
    """
    check_client_id(client_id)
    if not reason.strip():
        raise UsageError("--reason must not be empty")
    with tenant(client_id), engine_for(settings, engine) as bound:
        with reading(bound) as conn:
            get_client(conn, client_id)
            target = get_load(conn, load_id)
        if target is None or target["client_id"] != client_id:
            raise RefusedError(
                f"load {load_id} is not a load of client {client_id}; "
                "only the client's latest applied load can be reverted"
            )
        return run_revert(settings, load_id, reason, bound)


def replay_incident(
    settings: Settings,
    incident_id: str,
    engine: Engine | None = None,
    *,
    client_id: str | None = None,
) -> LoadOutcome:
    """The archived file of an incident as a dry run against the current data (SPEC §5);
    with ``client_id``, only an incident of that client."""
    with engine_for(settings, engine) as bound:
        with staff(), reading(bound) as conn:
            row = get_incident(conn, incident_id)
        if client_id is not None and row["client_id"] != check_client_id(client_id):
            raise NotFoundError(f"incident {incident_id} is not an incident of client {client_id}")
        folder = row["diagnostics"].get("archive_path")
        owner = row["client_id"]
        # wherever it was archived: this worker's folders, or the database (docs/storage.md)
        with (
            tenant(owner),
            archived_files(
                settings.home, folder, client_id=owner, storage=open_storage(settings, bound)
            ) as files,
        ):
            if not files:
                raise NotFoundError(
                    f"incident {incident_id} has no archived file to replay ({folder})"
                )
            request = LoadRequest(client_id=owner, paths=files, dry_run=True)
            return run_load(settings, request, bound)
