"""Dead runs turned into ``crash`` incidents: crashed runs, and runs whose worker died too.

A run killed while its worker lives is marked Crashed by the worker, which also runs the
``on_crashed`` hook (``flows/hooks.py``). When the machine or the worker dies with it, nobody is
left to do either: the run stays Running and stops sending heartbeats. The zombie automation
(``ops/stack.py``) marks such a run Crashed after 90 s of silence, but a server-side state change
runs no hook. ``reconcile_dead_runs`` closes both gaps from outside the dead process; the
``incident-sla-watch`` flow calls it on its schedule and whenever a watched run crashes.

It relies on heartbeats every 30 s (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, set for every run in
``prefect.yaml``): ``silent_after_seconds`` must be well above that period, or live runs would
look dead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.states import Crashed
from sqlalchemy import Engine

from flows.artifacts import mask_run_logs
from orgload.db import engine_for
from orgload.settings import Settings, load_settings
from service.incidents import dead_run_has_incident, report_dead_run

mask_run_logs()  # RUTs and e-mails never reach a run log (SPEC §9)

log = logging.getLogger(__name__)

WATCHED_FLOWS = ("monthly-load", "scheduled-validation")
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
CRASHED_LOOKBACK = timedelta(days=7)
PAGE = 200


def reconcile_dead_runs(
    now: datetime,
    *,
    silent_after_seconds: float = 90,
    crashed_since: timedelta = CRASHED_LOOKBACK,
) -> list[dict[str, Any]]:
    """Open the ``crash`` incident of every dead run of the watched flows, once per run.

    Dead means Crashed (runs expected to start within ``crashed_since`` before ``now``, so a
    pass stays small), or Running with no heartbeat for more than ``silent_after_seconds``
    before ``now`` (the state's time stands in when the run never beat). A silent run is first
    forced to Crashed, so the UI and the automations see it dead too.

    Returns one entry per run acted on (a state changed or an incident opened); runs already
    reconciled are left out, so a second pass over the same runs returns ``[]``.
    """
    settings = load_settings()
    done: list[dict[str, Any]] = []
    with engine_for(settings) as engine, get_client(sync_client=True) as client:
        names = _flow_names(client)
        running = _runs(client, StateType.RUNNING)
        crashed = _runs(client, StateType.CRASHED, after=now - crashed_since)
        for run in running:
            last_sign = _last_sign_of_life(client, run, now)
            silent = (now - last_sign).total_seconds()
            if silent <= silent_after_seconds or not _still_in(client, run):
                continue
            message = (
                f"No heartbeat for {silent:.0f} s (last sign of life {last_sign.isoformat()}):"
                " the run and its worker are gone. Marked Crashed by the reconciler."
            )
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            log.warning("run %s (%s): %s", run.id, run.name, message)
            entry = _entry(run, names, "RUNNING", marked_crashed=True)
            entry["incident_id"] = _report(settings, engine, run, names, message, now)
            done.append(entry)
        unreported = [
            run for run in crashed if not dead_run_has_incident(settings, str(run.id), engine)
        ]
        for run in unreported:
            message = (run.state.message if run.state else None) or "The run crashed."
            entry = _entry(run, names, "CRASHED", marked_crashed=False)
            entry["incident_id"] = _report(settings, engine, run, names, message, now)
            if entry["incident_id"] is not None:
                done.append(entry)
    return done


def _flow_names(client: SyncPrefectClient) -> dict[UUID, str]:
    flows = client.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=[*WATCHED_FLOWS])))
    return {f.id: f.name for f in flows}


def _runs(
    client: SyncPrefectClient, state: StateType, after: datetime | None = None
) -> list[FlowRun]:
    by_state = FlowRunFilterState(type=FlowRunFilterStateType(any_=[state]))
    run_filter = (
        FlowRunFilter(state=by_state)
        if after is None
        else FlowRunFilter(
            state=by_state,
            expected_start_time=FlowRunFilterExpectedStartTime.model_validate({"after_": after}),
        )
    )
    found: list[FlowRun] = []
    while True:
        page = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[*WATCHED_FLOWS])),
            flow_run_filter=run_filter,
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=PAGE,
            offset=len(found),
        )
        found += page
        if len(page) < PAGE:
            return found


def _last_sign_of_life(client: SyncPrefectClient, run: FlowRun, now: datetime) -> datetime:
    """The latest heartbeat of ``run``, or when it entered its state if it never beat."""
    entered = (run.state.timestamp if run.state else None) or run.start_time or now
    beats = client.read_events(
        filter=EventFilter(
            occurred=EventOccurredFilter.model_validate({"since": entered - timedelta(minutes=1)}),
            event=EventNameFilter(name=[HEARTBEAT_EVENT]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"]),
        ),
        limit=1,
    )
    latest = max((e.occurred for e in beats.events), default=None)
    return max(latest, entered) if latest else entered


def _still_in(client: SyncPrefectClient, run: FlowRun) -> bool:
    """Whether ``run`` is still in the state it was read in (forcing must not undo an end)."""
    current = client.read_flow_run(run.id).state
    return current is not None and run.state is not None and current.id == run.state.id


def _entry(
    run: FlowRun, names: dict[UUID, str], seen_as: str, *, marked_crashed: bool
) -> dict[str, Any]:
    params = dict(run.parameters or {})
    return {
        "flow_run_id": str(run.id),
        "flow_run_name": run.name,
        "flow_name": names.get(run.flow_id, "?"),
        "client_id": params.get("client_id"),
        "seen_as": seen_as,
        "marked_crashed": marked_crashed,
    }


def _report(
    settings: Settings,
    engine: Engine,
    run: FlowRun,
    names: dict[UUID, str],
    message: str,
    now: datetime,
) -> str | None:
    """The incident opened for ``run``, or None when it already had one."""
    params = dict(run.parameters or {})
    files = params.get("files") or ([params["file"]] if params.get("file") else [])
    ref = report_dead_run(
        settings,
        flow_run_id=str(run.id),
        client_id=str(params.get("client_id") or "unknown"),
        paths=[Path(f) for f in files],
        state_name="Crashed",
        message=message[:2000],
        now=now,
        engine=engine,
        extra={"flow_name": names.get(run.flow_id), "hook": "reconciler"},
    )
    return ref.id if ref else None
