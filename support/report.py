"""The one call through which a failed load reaches the support desk (SPEC §5).

``report_failure`` records the incident in its own transaction, queues and tries its e-mail,
and spools it to disk when the database cannot take it: a failure never loses its incident.

An incident keeps what replication needs (archive path, SHA-256, counts, codes, rows, columns)
but no personal data in clear (SPEC §9): the values of its first errors, the exception message
and the traceback are masked (``orgload.masking``). The archived file holds the full data.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from orgload.db import reachable
from orgload.errors import DatabaseUnavailableError
from orgload.failures import LoadFailure
from orgload.masking import mask_error_text, mask_issues
from orgload.settings import Settings
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


def draft_of(failure: LoadFailure, *, incident_id: str = "") -> IncidentDraft:
    """The incident a failure opens, with its diagnostics bundle."""
    return IncidentDraft(
        category=failure.category,
        client_id=failure.client_id,
        period=failure.period,
        reported_at=failure.reported_at,
        load_id=failure.load_id,
        flow_run_id=failure.flow_run_id,
        failed_step=failure.failed_step,
        id=incident_id,
        diagnostics=build_diagnostics(
            client_id=failure.client_id,
            period=failure.period,
            load_id=failure.load_id,
            flow_run_id=failure.flow_run_id,
            file_name=failure.file_name,
            sha256=failure.sha256,
            archive_path=failure.archive_path,
            failed_step=failure.failed_step,
            exception=_masked_exception(failure.exception),
            validation=_masked_validation(failure.validation),
            extra=_masked_extra(failure.extra),
        ),
    )


def _masked_exception(exception: dict[str, Any] | None) -> dict[str, Any] | None:
    """The type stays; message and traceback lose SQL parameters, RUTs and e-mail addresses."""
    if not exception:
        return exception
    return {
        key: mask_error_text(value) if key != "type" and isinstance(value, str) else value
        for key, value in exception.items()
    }


def _masked_validation(validation: dict[str, Any] | None) -> dict[str, Any] | None:
    """Codes and totals stay; each entry keeps its sheet, row, column and code, its value and
    message masked by column (``orgload.masking.PERSONAL_COLUMNS``)."""
    if not validation:
        return validation
    masked = dict(validation)
    for key in ("errors", "warnings"):
        if isinstance(validation.get(key), list):
            masked[key] = mask_issues(validation[key])
    return masked


def _masked_extra(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    if not extra:
        return None
    return {k: mask_error_text(v) if isinstance(v, str) else v for k, v in extra.items()}


def report_failure(settings: Settings, engine: Engine | None, failure: LoadFailure) -> IncidentRef:
    """Open (or refresh) the incident of ``failure``; spool it if the database is unreachable.

    With no engine at all (the database could not even be opened) the incident is spooled.
    """
    draft = draft_of(failure)
    if engine is None:  # the database could not even be opened: the spool keeps it
        reason = (failure.exception or {}).get("message", "database unreachable")
        return spool_unavailable(settings, draft, str(reason))
    try:
        with reachable(settings), engine.begin() as conn:
            ref = record_incident(conn, draft, failure.reported_at)
            queue_notification(
                conn,
                get_incident(conn, ref.id),
                "reported" if ref.created else "repeated",
                settings,
                failure.reported_at,
                failure.admin_email,
                failure.attachment if ref.level == 1 else None,
            )
    except DatabaseUnavailableError as exc:
        return spool_unavailable(settings, draft, str(exc))
    send_quietly(engine, settings, failure.reported_at, ref.id)
    return ref


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
            "unavailable": mask_error_text(reason),
        },
        id=draft.id,
    )
    spool_incident(settings.spool_dir, spooled)
    return IncidentRef(spooled.id, spooled.level, spooled.due())
