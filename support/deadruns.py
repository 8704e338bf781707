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
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from orgload.clock import period_of
from orgload.db import engine_for, incidents, reachable
from orgload.errors import DatabaseUnavailableError
from orgload.failures import LoadFailure
from orgload.settings import Settings
from support.incidents import IncidentRef, get_incident, record_incident
from support.notify import queue_notification, send_quietly
from support.report import draft_of, spool_unavailable

log = logging.getLogger(__name__)


def run_incident_id(flow_run_id: str) -> str:
    return f"INC-{uuid.UUID(str(flow_run_id)).hex[:12].upper()}"


def report_run_failure(
    settings: Settings,
    *,
    flow_run_id: str,
    client_id: str,
    file_name: str | None,
    sha256: str | None,
    state_name: str,
    message: str,
    now: datetime,
    engine: Engine | None = None,
    extra: dict[str, Any] | None = None,
) -> IncidentRef | None:
    """Open the ``crash`` incident of a dead run unless the run already has one."""
    failure = LoadFailure(
        client_id=client_id,
        period=period_of(now, settings.timezone),
        reported_at=now,
        failed_step="run",
        flow_run_id=str(flow_run_id),
        file_name=file_name,
        sha256=sha256,
        exception={"type": state_name, "message": message},
        extra=extra or {},
    )
    with engine_for(settings, engine) as bound:
        return _record_once(settings, bound, failure)


def _record_once(settings: Settings, engine: Engine, failure: LoadFailure) -> IncidentRef | None:
    flow_run_id, now = str(failure.flow_run_id), failure.reported_at
    draft = draft_of(failure, incident_id=run_incident_id(flow_run_id))
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
