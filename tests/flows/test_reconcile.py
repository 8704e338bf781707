"""``reconcile_dead_runs`` under Prefect's test harness, on SQLite and PostgreSQL.

Runs are created through the API in the state a dead run leaves behind (Crashed, or Running
with nobody beating); "now" is moved forward instead of waiting out the silence window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.worker import EventsWorker
from prefect.states import Crashed, Failed, Running, State
from sqlalchemy import Engine, select

from flows.monthly_load import monthly_load
from flows.reconcile import HEARTBEAT_EVENT, reconcile_dead_runs
from orgload.db import incidents
from orgload.settings import Settings
from service.incidents import report_dead_run, run_incident_id

pytestmark = pytest.mark.usefixtures("prefect_harness")

NOV = "organizacion_2026-11.xlsx"


@flow(name="not-watched")
def not_watched() -> None:
    """Stands for a flow the reconciler does not watch."""


class Runs:
    """Flow runs made for one test, deleted afterwards: the harness API is shared."""

    def __init__(self, client: SyncPrefectClient) -> None:
        self.client = client
        self.made: list[FlowRun] = []

    def make(self, state: State[Any], parameters: dict[str, Any], of: Any = monthly_load) -> str:
        run = self.client.create_flow_run(of, parameters=parameters, state=state)
        self.made.append(run)
        return str(run.id)

    def state_of(self, run_id: str) -> StateType | None:
        state = self.client.read_flow_run(UUID(run_id)).state
        return state.type if state else None


@pytest.fixture
def runs() -> Iterator[Runs]:
    with get_client(sync_client=True) as client:
        made = Runs(client)
        yield made
        for run in made.made:
            client.delete_flow_run(run.id)


@pytest.fixture
def params(samples: Path) -> dict[str, Any]:
    return {"client_id": "acme", "file": str(samples / NOV)}


def _incidents(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(incidents)).all())


def _later(seconds: float) -> datetime:
    return datetime.now().astimezone() + timedelta(seconds=seconds)


def test_crashed_run_gets_one_crash_incident_and_a_second_pass_does_nothing(
    engine: Engine, runs: Runs, params: dict[str, Any]
) -> None:
    run_id = runs.make(Crashed(message="exit code -9"), params)
    done = reconcile_dead_runs(_later(1))
    assert [(d["flow_run_id"], d["seen_as"], d["marked_crashed"]) for d in done] == [
        (run_id, "CRASHED", False)
    ]
    assert done[0]["incident_id"] == run_incident_id(run_id)
    assert done[0]["client_id"] == "acme"
    rows = _incidents(engine)
    assert [(r.category, r.level, r.flow_run_id, r.client_id) for r in rows] == [
        ("crash", 2, run_id, "acme")
    ]
    assert rows[0].diagnostics["file_name"] == NOV
    assert rows[0].diagnostics["exception"]["message"] == "exit code -9"
    assert reconcile_dead_runs(_later(2)) == []
    assert len(_incidents(engine)) == 1


def test_silent_running_run_is_marked_crashed_with_one_incident(
    engine: Engine, runs: Runs, params: dict[str, Any]
) -> None:
    run_id = runs.make(Running(), params)
    done = reconcile_dead_runs(_later(200))
    assert [(d["flow_run_id"], d["seen_as"], d["marked_crashed"]) for d in done] == [
        (run_id, "RUNNING", True)
    ]
    assert runs.state_of(run_id) == StateType.CRASHED
    rows = _incidents(engine)
    assert [(r.category, r.flow_run_id) for r in rows] == [("crash", run_id)]
    assert "No heartbeat" in rows[0].diagnostics["exception"]["message"]
    assert reconcile_dead_runs(_later(300)) == []  # now Crashed, and already reported
    assert len(_incidents(engine)) == 1


def test_running_run_inside_the_window_is_left_alone(
    engine: Engine, runs: Runs, params: dict[str, Any]
) -> None:
    run_id = runs.make(Running(), params)
    assert reconcile_dead_runs(_later(60)) == []
    assert runs.state_of(run_id) == StateType.RUNNING
    assert _incidents(engine) == []


def test_a_recent_heartbeat_keeps_a_run_alive(
    engine: Engine, runs: Runs, params: dict[str, Any]
) -> None:
    run_id = runs.make(Running(), params)
    time.sleep(3)
    emit_event(
        event=HEARTBEAT_EVENT, resource={"prefect.resource.id": f"prefect.flow-run.{run_id}"}
    )
    EventsWorker.drain_all()
    deadline = time.monotonic() + 60
    while (beat := _stored_heartbeat(runs.client, run_id)) is None:  # persisted in batches
        assert time.monotonic() < deadline, "the heartbeat never reached the API"
        time.sleep(0.5)
    # the Running state is 3 s older than the heartbeat: only the heartbeat keeps it alive
    assert reconcile_dead_runs(beat + timedelta(seconds=2), silent_after_seconds=2.5) == []
    assert runs.state_of(run_id) == StateType.RUNNING
    done = reconcile_dead_runs(beat + timedelta(seconds=30), silent_after_seconds=2.5)
    assert [d["flow_run_id"] for d in done] == [run_id]
    assert len(_incidents(engine)) == 1


def _stored_heartbeat(client: SyncPrefectClient, run_id: str) -> datetime | None:
    page = client.read_events(
        filter=EventFilter(
            event=EventNameFilter(name=[HEARTBEAT_EVENT]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
        ),
        limit=1,
    )
    return page.events[0].occurred if page.events else None


def test_a_run_whose_hook_opened_the_incident_gets_no_second(
    engine: Engine, settings: Settings, runs: Runs, params: dict[str, Any]
) -> None:
    run_id = runs.make(Crashed(), params)
    report_dead_run(  # what the on_crashed hook does when the worker survives
        settings,
        flow_run_id=run_id,
        client_id="acme",
        paths=[Path(params["file"])],
        state_name="Crashed",
        message="hook",
        now=_later(0),
    )
    assert reconcile_dead_runs(_later(1)) == []
    assert [r.flow_run_id for r in _incidents(engine)] == [run_id]


def test_other_flows_and_other_end_states_are_ignored(
    engine: Engine, runs: Runs, params: dict[str, Any]
) -> None:
    runs.make(Crashed(), {}, of=not_watched)
    runs.make(Running(), {}, of=not_watched)
    runs.make(Failed(), params)
    assert reconcile_dead_runs(_later(200)) == []
    assert _incidents(engine) == []


def test_crashed_runs_older_than_the_lookback_are_not_revisited(
    engine: Engine, runs: Runs, params: dict[str, Any]
) -> None:
    runs.make(Crashed(), params)
    assert reconcile_dead_runs(_later(3 * 86400), crashed_since=timedelta(days=1)) == []
    assert _incidents(engine) == []
