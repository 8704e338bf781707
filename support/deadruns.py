"""Incidents for runs that died (SPEC §5, category ``crash``), opened exactly once per run.

A run can be seen dead by its own ``on_crashed``/``on_failure`` hook, or later by the reconciler
that finds it crashed or silent. Both call ``report_run_failure``; the incident id is derived
from the flow run id, and a run that already has an incident (e.g. one opened by the load
itself) gets no second one, so whichever path comes first wins and the other is a no-op.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from loaders.archive import upload_name, upload_sha256
from loaders.load import spool_unavailable
from loaders.quota import period_of
from orgload.db import incidents, make_engine, reachable
from orgload.errors import DatabaseUnavailableError
from orgload.settings import Settings
from support.incidents import (
    IncidentDraft,
    IncidentRef,
    build_diagnostics,
    get_incident,
    record_incident,
)
from support.notify import queue_notification, send_quietly

log = logging.getLogger(__name__)


def run_incident_id(flow_run_id: str) -> str:
    return f"INC-{uuid.UUID(str(flow_run_id)).hex[:12].upper()}"


def report_run_failure(
    settings: Settings,
    *,
    flow_run_id: str,
    client_id: str,
    paths: list[Path],
    state_name: str,
    message: str,
    now: datetime,
    engine: Engine | None = None,
    extra: dict[str, Any] | None = None,
) -> IncidentRef | None:
    """Open the ``crash`` incident of a dead run unless the run already has one."""
    owned = engine is None
    engine = engine or make_engine(settings)
    try:
        return _report(
            settings, engine, flow_run_id, client_id, paths, state_name, message, now, extra
        )
    finally:
        if owned:
            engine.dispose()


def _report(
    settings: Settings,
    engine: Engine,
    flow_run_id: str,
    client_id: str,
    paths: list[Path],
    state_name: str,
    message: str,
    now: datetime,
    extra: dict[str, Any] | None,
) -> IncidentRef | None:
    existing_files = [p for p in paths if p.is_file()]
    period = period_of(now, settings.timezone)
    draft = IncidentDraft(
        category="crash",
        client_id=client_id,
        period=period,
        reported_at=now,
        flow_run_id=str(flow_run_id),
        failed_step="run",
        id=run_incident_id(flow_run_id),
        diagnostics=build_diagnostics(
            client_id=client_id,
            period=period,
            load_id=None,
            flow_run_id=str(flow_run_id),
            file_name=upload_name(paths) if paths else None,
            sha256=upload_sha256(existing_files) if existing_files else None,
            archive_path=None,
            failed_step="run",
            exception={"type": state_name, "message": message},
            validation=None,
            extra=extra,
        ),
    )
    try:
        with reachable(settings), engine.begin() as conn:  # hook and reconciler may race: PK
            taken = conn.execute(
                select(incidents.c.id).where(incidents.c.flow_run_id == str(flow_run_id))
            ).first()
            if taken is not None:
                log.info("run %s already has incident %s", flow_run_id, taken.id)
                return None
            ref = record_incident(conn, draft, now)
            queue_notification(conn, get_incident(conn, ref.id), "reported", settings, now, None)
    except IntegrityError:
        log.info("run %s: the other path opened its incident first", flow_run_id)
        return None
    except DatabaseUnavailableError as exc:
        return spool_unavailable(settings, draft, str(exc))
    send_quietly(engine, settings, now, ref.id)
    return ref
