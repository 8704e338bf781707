"""End to end, as ops run it: ``ops/stack.py up`` starts a real Prefect server on a free loopback
port, creates the work pool, runs ``prefect deploy --all``, creates the zombie automation and
starts a process worker; then loads are triggered through the API, a flow process is killed in
the middle of its apply, and a worker is killed together with its run.

One stack serves the module (starting it is most of the time). Each scenario runs against SQLite
(the worker's own ``ORGLOAD_DATABASE_URL``) and PostgreSQL (the same worker, the database given
in the run's job variables). Each scenario loads its own client, with ids that differ per
database: a run killed while it holds its client's concurrency slot keeps that slot until the
slot's lease expires (300 s), which would stall the next load of the same client.
Every process is stopped at the end, also on failure: ``ops/stack.py down``, then SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbfaults import hold_applies_open, release_hold, wait_until_held
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine, create_engine, func, select

from loaders.store import add_client
from orgload.clock import period_of
from orgload.db import incidents, loads, people, units
from orgload.migrate import upgrade
from tests.databases import IN_CI, new_postgres_database

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOV = REPO / "sample_data" / "organizacion_2026-11.xlsx"
DEC = REPO / "sample_data" / "organizacion_2026-12.xlsx"
WAIT = 300  # seconds; the machine may be shared and busy
CLIENTS = ("acme", "globex", "initech")  # one per scenario: see the module docstring
NOW = datetime.now().astimezone()
PERIOD = period_of(NOW, "America/Santiago")  # the stack runs on the real clock
INVALID = REPO / "sample_data" / "organizacion_invalida.xlsx"
ZOMBIE_SILENCE = 90  # ops/stack.py: a run without a heartbeat for this long is dead


# --- processes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str], env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")  # a zombie is dead


def _kill(pid: int) -> None:
    """SIGKILL ``pid`` and, when it leads one (flow processes do), its process group."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


# --- the stack and the databases -------------------------------------------------------------


@dataclass
class Stack:
    """The running stack, as ``ops/stack.py up`` left it."""

    home: Path
    env: dict[str, str]
    api_url: str
    up_seconds: float

    def pid(self, name: str) -> int:
        return int((self.home / "prefect" / f"{name}.pid").read_text())

    def api(self) -> AbstractContextManager[Any]:
        return temporary_settings(updates={PREFECT_API_URL: self.api_url})

    def wait(self, run_id: Any, until: Callable[[FlowRun], bool]) -> FlowRun:
        deadline = time.monotonic() + WAIT
        with self.api(), get_client(sync_client=True) as client:
            while True:
                run = client.read_flow_run(run_id)
                if until(run):
                    return run
                if time.monotonic() > deadline:
                    pytest.fail(f"run {run.name} still {run.state_name} after {WAIT} s")
                time.sleep(0.5)


@dataclass
class Target:
    """One database the flows load into, with its clients."""

    kind: str
    url: str
    engine: Engine
    job_variables: dict[str, Any]

    def client(self, name: str) -> str:
        return f"{name}-{self.kind}"

    def trigger(self, stack: Stack, **parameters: Any) -> FlowRun:
        with stack.api():
            run = run_deployment(
                "monthly-load/monthly-load",
                parameters=parameters,
                job_variables=self.job_variables,
                timeout=0,
            )
        assert isinstance(run, FlowRun)
        return run

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            return {
                "units": [
                    tuple(r)
                    for r in conn.execute(
                        select(units).order_by(units.c.client_id, units.c.codigo_unidad)
                    )
                ],
                "people": [
                    tuple(r)
                    for r in conn.execute(select(people).order_by(people.c.client_id, people.c.rut))
                ],
                "loads": [tuple(r) for r in conn.execute(select(loads).order_by(loads.c.id))],
            }

    def incidents_of(self, run_id: Any) -> list[Any]:
        with self.engine.connect() as conn:
            query = select(incidents).where(incidents.c.flow_run_id == str(run_id))
            return list(conn.execute(query).all())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("ops-home")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORGLOAD_", "PREFECT_"))}
    env.update(
        ORGLOAD_HOME=str(home),
        ORGLOAD_DATABASE_URL=f"sqlite:///{home / 'orgload.db'}",
        ORGLOAD_PREFECT_PORT=str(port),
        ORGLOAD_PREFECT_START_TIMEOUT=str(WAIT),
        PREFECT_WORKER_QUERY_SECONDS="2",
        # no scheduled runs competing with the tests for the CPU; event triggers stay on
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
    )
    _run([str(BIN / "orgload"), "db", "upgrade"], env)
    started = time.monotonic()
    try:
        _run([sys.executable, "ops/stack.py", "up"], env)
        yield Stack(home, env, f"http://127.0.0.1:{port}/api", time.monotonic() - started)
    finally:
        _stop_everything(home, env)


def _stop_everything(home: Path, env: dict[str, str]) -> None:
    """``ops/stack.py down`` (two SIGTERMs, then SIGKILL); SIGKILL whatever it left behind."""
    pids = []
    for name in ("worker", "server"):
        try:
            pids.append(int((home / "prefect" / f"{name}.pid").read_text()))
        except (OSError, ValueError):
            continue
    subprocess.run(
        [sys.executable, "ops/stack.py", "down"],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    for pid in pids:
        if _running(pid):
            _kill(pid)


def assert_no_data_change(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> None:
    """A killed run changed no data: units and people as they were, every load record as it
    was; the only new record is the killed attempt itself (``running`` until the next
    command for the client settles it as ``crashed``, docs/reliability.md)."""
    assert after["units"] == before["units"]
    assert after["people"] == before["people"]
    assert after["loads"][: len(before["loads"])] == before["loads"]
    status = loads.c.status.name
    index = [c.name for c in loads.columns].index(status)
    assert [r[index] for r in after["loads"][len(before["loads"]) :]] in (
        [],
        ["running"],
        ["crashed"],
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def target(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Target]:
    with new_postgres_database() if request.param == "postgres" else _nothing() as pg_url:
        url = pg_url or stack.env["ORGLOAD_DATABASE_URL"]
        engine = create_engine(url)
        if pg_url:
            upgrade(engine)
        with engine.begin() as conn:
            for name in CLIENTS:
                add_client(conn, f"{name}-{request.param}", name, "America/Santiago", None, NOW)
        # SQLite: the worker's own environment; PostgreSQL: this run's job variables
        job_variables = (
            {"env": {"ORGLOAD_DATABASE_URL": url, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}}
            if pg_url
            else {}
        )
        try:
            yield Target(request.param, url, engine, job_variables)
        finally:
            engine.dispose()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


# --- holding an apply open, so the flow process can be killed inside its transaction ---------


def _held_and_killed(stack: Stack, target: Target, client: str, *, with_worker: bool) -> FlowRun:
    """Trigger a load of ``client``, wait until its apply is held open, SIGKILL its process
    (after the worker's, if ``with_worker``); return the run as it was while running."""
    hold_applies_open(target.engine, seconds=300)
    try:
        run = target.trigger(stack, client_id=client, file=str(NOV))
        running = stack.wait(run.id, _running_or_over)
        assert running.state_type == StateType.RUNNING, running.state
        assert running.infrastructure_pid, "the worker recorded no process for the run"
        pid = int(str(running.infrastructure_pid).rsplit(":", 1)[-1])
        wait_until_held(
            target.engine,
            lambda: None if _running(pid) else "the flow process is gone",
            timeout=WAIT,
        )
        if with_worker:
            _kill(stack.pid("worker"))
        _kill(pid)
    finally:
        release_hold(target.engine, timeout=60)
    return running


def _running_or_over(run: FlowRun) -> bool:
    return run.state_type == StateType.RUNNING or bool(run.state and run.state.is_final())


def _over(run: FlowRun) -> bool:
    return bool(run.state and run.state.is_final())


def _about(run: FlowRun, reconciled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries of ``run``: one Prefect server serves both databases here, so a reconciler
    pointed at one database also sees the other's dead runs."""
    return [entry for entry in reconciled if entry["flow_run_id"] == str(run.id)]


def _state(client: SyncPrefectClient, run_id: Any) -> StateType | None:
    state = client.read_flow_run(run_id).state
    return state.type if state else None


# --- the tests -------------------------------------------------------------------------------


def test_ops_up_deploys_every_flow_of_prefect_yaml_on_one_pool(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print(f"\nops/stack.py up: {stack.up_seconds:.0f} s")
    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    with stack.api(), get_client(sync_client=True) as client:
        for spec in config["deployments"]:
            # deployments are named after their flow (tests/flows/test_prefect_yaml.py)
            deployment = client.read_deployment_by_name(f"{spec['name']}/{spec['name']}")
            assert deployment.entrypoint == spec["entrypoint"]
            assert deployment.work_pool_name == "orgload-pool"
            assert deployment.pull_steps == [
                {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
            ]
            assert {s.slug for s in deployment.schedules} == {
                s["slug"] for s in spec.get("schedules") or []
            }
        (automation,) = client.read_automations_by_name("orgload-crash-silent-runs")
        assert automation.trigger.model_dump()["posture"] == "Proactive"
        workers = client.read_workers_for_work_pool("orgload-pool")
        assert [w.status.value for w in workers] == ["ONLINE"]
    assert "healthy" in _run([sys.executable, "ops/stack.py", "status"], stack.env)


# --- what ops see: names, states, artifacts, no incident for a typo ------------------------

# The operator mistakes the parameter check refuses, each with the code of its one line.
MISTAKES = {
    "unknown_client": {"client_id": "nope", "file": str(NOV)},
    "file_not_found": {"client_id": "umbrella", "file": "/srv/orgload/inbox/umbrella/x.xlsx"},
    "not_a_regular_file": {"client_id": "umbrella", "file": str(REPO / "sample_data")},
    "reason_required": {"client_id": "umbrella", "file": str(NOV), "override_quota": True},
    "reason_without_override": {"client_id": "umbrella", "file": str(NOV), "reason": "typo"},
}
ENDED: dict[str, float] = {}  # when the mistaken runs ended (for the zombie check below)


def _trigger(stack: Stack, **parameters: Any) -> FlowRun:
    with stack.api():
        run = run_deployment("monthly-load/monthly-load", parameters=parameters, timeout=0)
    assert isinstance(run, FlowRun)
    return run


def _artifacts_of(stack: Stack, run_id: Any) -> list[Any]:
    with stack.api(), get_client(sync_client=True) as api:
        return api.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )


def _logs_of(stack: Stack, run_id: Any) -> list[str]:
    """The run's log lines, once its last one ("Finished in state ...") has arrived: a
    run's logs are sent in batches and may come after its final state."""
    deadline = time.monotonic() + 60
    with stack.api(), get_client(sync_client=True) as api:
        while True:
            found = api.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
            if any(
                e.name == "prefect.flow_runs" and e.message.startswith("Finished in state")
                for e in found
            ):
                return [entry.message for entry in found]
            assert time.monotonic() < deadline, f"no final log line for run {run_id}"
            time.sleep(1)


@pytest.fixture(scope="module")
def umbrella(stack: Stack) -> Iterator[Engine]:
    """A client of the worker's own (SQLite) database, for the runs below."""
    engine = create_engine(stack.env["ORGLOAD_DATABASE_URL"])
    with engine.begin() as conn:
        add_client(conn, "umbrella", "Umbrella", "America/Santiago", None, NOW)
    try:
        yield engine
    finally:
        engine.dispose()


def test_rejected_refused_and_mistyped_runs_say_so_in_name_state_tags_and_artifacts(
    stack: Stack, umbrella: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    applied = _trigger(stack, client_id="umbrella", file=str(NOV))
    rejected = _trigger(stack, client_id="umbrella", file=str(INVALID))
    mistaken = {code: _trigger(stack, **params) for code, params in MISTAKES.items()}
    assert stack.wait(applied.id, _over).state_type == StateType.COMPLETED
    refused = _trigger(stack, client_id="umbrella", file=str(DEC))  # the period's load is used

    # a rejected file: Completed named Rejected, its report in the outbox and linked
    done = stack.wait(rejected.id, _over)
    assert (done.state_type, done.state_name) == (StateType.COMPLETED, "Rejected")
    assert done.name == f"umbrella · {PERIOD} · {INVALID.name}"
    assert "outcome:rejected" in done.tags
    outbox = stack.home / "outbox" / "umbrella"
    (report,) = outbox.glob("organizacion_invalida.*.load.json")
    (workbook,) = outbox.glob("organizacion_invalida.*.errores.xlsx")
    assert json.loads(report.read_text("utf-8"))["status"] == "rejected"
    assert workbook.read_bytes()[:2] == b"PK"
    artifacts = _artifacts_of(stack, rejected.id)
    links = " ".join(str(a.data) for a in artifacts if a.key == "report-umbrella")
    assert report.name in links
    assert workbook.name in links
    (table,) = [a.data for a in artifacts if a.type == "table"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert rows
    for row in rows:  # headings Prefect can show: code and message first, no `header` key
        assert list(row)[:2] == ["code", "message"]
        assert "header" not in row
    summary = next(a.data for a in artifacts if a.key == "load-umbrella")
    assert "Rejected: nothing was applied" in summary
    assert report.name in summary

    # a quota refusal: Completed named QuotaExhausted
    done = stack.wait(refused.id, _over)
    assert (done.state_type, done.state_name) == (StateType.COMPLETED, "QuotaExhausted")
    assert done.name == f"umbrella · {PERIOD} · {DEC.name}"
    assert "outcome:quota-exhausted" in done.tags
    assert "quota_exhausted" in (done.state.message if done.state else "")

    # operator mistakes: Failed named InvalidParameters, one line, no traceback, no incident,
    # no concurrency limit
    for code, run in mistaken.items():
        done = stack.wait(run.id, _over)
        message = done.state.message if done.state else ""
        assert (done.state_type, done.state_name) == (StateType.FAILED, "InvalidParameters")
        assert message.startswith(f"parameters refused ({code}): ")
        assert "\n" not in message
        assert "outcome:invalid-parameters" in done.tags
        logs = _logs_of(stack, run.id)
        assert any(line.startswith(f"parameters refused ({code})") for line in logs)
        assert not any("Traceback" in line for line in logs), code
        with umbrella.connect() as conn:
            found = conn.execute(
                select(incidents).where(incidents.c.flow_run_id == str(run.id))
            ).all()
        assert found == [], f"{code}: an operator mistake opened an incident"
        ENDED[str(run.id)] = time.monotonic()
    with stack.api(), get_client(sync_client=True) as api:
        limits = {limit.name for limit in api.read_global_concurrency_limits(limit=200)}
    assert "orgload-load-nope" not in limits
    assert "orgload-load-umbrella" in limits  # the loads that ran took theirs
    with capsys.disabled():
        print(f"\n{len(mistaken) + 3} runs: {time.monotonic() - started:.0f} s")


def test_monthly_load_triggered_through_the_api_completes_with_its_artifacts(
    stack: Stack, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    client = target.client("acme")
    started = time.monotonic()
    run = target.trigger(stack, client_id=client, file=str(NOV))
    done = stack.wait(run.id, _over)
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[{target.kind}] trigger -> {done.state_name}: {elapsed:.1f} s")
    assert done.state_type == StateType.COMPLETED, done.state and done.state.message
    assert done.name == f"{client} · {PERIOD} · {NOV.name}"
    assert done.state_name == "Completed"
    assert "outcome:applied" in done.tags
    with target.engine.connect() as conn:
        record = conn.execute(select(loads).where(loads.c.flow_run_id == str(run.id))).one()
        n_people = conn.execute(
            select(func.count()).where(people.c.client_id == client, people.c.active)
        ).scalar()
        n_units = conn.execute(select(func.count()).where(units.c.client_id == client)).scalar()
    assert (record.client_id, record.status) == (client, "applied")
    assert n_people == 250
    with stack.api(), get_client(sync_client=True) as api:
        artifacts = api.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    summary = next(a.data for a in artifacts if a.type == "markdown")
    assert isinstance(summary, str)
    assert "`applied`" in summary
    assert "| personas | 250 | 0 | 0 | 0 |" in summary
    assert f"| unidades | {n_units} | 0 | 0 | 0 |" in summary


def test_a_web_confirm_triggers_monthly_load_and_the_status_page_follows_it_to_applied(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """SPEC §8: with a Prefect API configured, a confirm in the web app triggers the
    ``monthly-load`` deployment (named by client and period, so ops see it in the UI) and the
    status page follows that run's load to its end. The app shares the worker's ORGLOAD_HOME
    and database (SQLite), as a deployment shares them."""
    from orgload.settings import Settings
    from service.clients import register_client
    from service.uploads import get_upload
    from service.users import add_user, set_password
    from tests.web.helpers import PASSWORD, sign_in, starlette_client_class, upload
    from web.app import create_app
    from web.settings import WebSettings

    settings = Settings(home=stack.home, database_url=stack.env["ORGLOAD_DATABASE_URL"])
    register_client(settings, "wonka", "Wonka SpA")
    added = add_user(settings, "admin@wonka.cl", client_id="wonka")
    set_password(settings, added.token, PASSWORD)
    app = create_app(settings, WebSettings(secure_cookies=False, prefect_api_url=stack.api_url))
    started = time.monotonic()
    with starlette_client_class()(app) as client:
        csrf = sign_in(client, "admin@wonka.cl")
        location = upload(client, csrf, NOV).headers["location"]
        client.post(f"{location}/confirm", data={"csrf": csrf})
        triggered = get_upload(settings, "wonka", int(location.rsplit("/", 1)[-1]))
        assert triggered.status == "applying"
        assert triggered.flow_run_id, "the confirm triggered no flow run"
        done = stack.wait(triggered.flow_run_id, _over)
        assert done.state_type == StateType.COMPLETED, done.state and done.state.message
        assert done.name.startswith(f"wonka · {PERIOD} · ")
        assert "outcome:applied" in done.tags
        page = client.get(f"{location}/status").text
    with capsys.disabled():
        print(f"\n[web] confirm -> {done.state_name}: {time.monotonic() - started:.1f} s")
    assert "Aplicada" in page
    assert 'http-equiv="refresh"' not in page  # followed to its end
    assert triggered.flow_run_id in page
    followed = get_upload(settings, "wonka", triggered.id)
    assert (followed.status, followed.load_status) == ("done", "applied")


def test_killed_flow_process_crashes_the_run_with_one_incident_and_no_data_change(
    stack: Stack, target: Target
) -> None:
    before = target.snapshot()
    run = _held_and_killed(stack, target, target.client("globex"), with_worker=False)
    crashed = stack.wait(run.id, _over)
    assert crashed.state_type == StateType.CRASHED
    # the worker saw its process die and ran the on_crashed hook (a crashed watched run also
    # starts incident-sla-watch, whose reconciler must not open a second incident)
    deadline = time.monotonic() + WAIT
    while not target.incidents_of(run.id):
        assert time.monotonic() < deadline, "no incident for the crashed run"
        time.sleep(1)
    time.sleep(3)
    found = target.incidents_of(run.id)
    assert [(i.category, i.level, i.client_id) for i in found] == [
        ("crash", 2, target.client("globex"))
    ]
    assert found[0].diagnostics["file_name"] == NOV.name
    assert_no_data_change(before, target.snapshot())


def test_killed_worker_leaves_a_silent_run_the_reconciler_crashes_with_one_incident(
    stack: Stack, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.reconcile import reconcile_dead_runs

    monkeypatch.setenv("ORGLOAD_HOME", str(stack.home))
    monkeypatch.setenv("ORGLOAD_DATABASE_URL", target.url)
    client = target.client("initech")
    before = target.snapshot()
    try:
        run = _held_and_killed(stack, target, client, with_worker=True)
        time.sleep(6)  # longer than the silence allowed below, counted from the last heartbeat
        with stack.api(), get_client(sync_client=True) as api:
            assert _state(api, run.id) == StateType.RUNNING  # nobody is left to say otherwise
            done = _about(
                run, reconcile_dead_runs(datetime.now().astimezone(), silent_after_seconds=5)
            )
            assert [(d["seen_as"], d["marked_crashed"]) for d in done] == [("RUNNING", True)]
            assert _state(api, run.id) == StateType.CRASHED
            again = reconcile_dead_runs(datetime.now().astimezone(), silent_after_seconds=5)
            assert _about(run, again) == []
    finally:
        _run([sys.executable, "ops/stack.py", "worker"], stack.env)  # for what comes next
    found = target.incidents_of(run.id)
    assert [(i.category, i.level, i.client_id) for i in found] == [("crash", 2, client)]
    assert found[0].diagnostics["hook"] == "reconciler"
    assert_no_data_change(before, target.snapshot())


# --- last, so that the crash tests above fill most of the automation's silence window ---


def test_zombie_automation_leaves_runs_that_ended_at_once_alone(stack: Stack) -> None:
    """Runs refused for their parameters end within a second of their first heartbeat. The
    zombie automation counts their end (a custom-named state's event) as the sign it waits
    for: more than its silence window later, none of them is Crashed and no automation
    event names them (an action on a finished run would be a failure in the Event Feed)."""
    from prefect.events.filters import EventFilter, EventOccurredFilter, EventResourceFilter

    if not ENDED:  # run alone (-k); in CI the whole module runs, so this is never a skip
        message = "needs the mistaken runs of the test above"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    remaining = max(ENDED.values()) + ZOMBIE_SILENCE + 15 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    with stack.api(), get_client(sync_client=True) as api:
        for run_id in ENDED:
            assert api.read_flow_run(run_id).state_name == "InvalidParameters"
        (zombie,) = api.read_automations_by_name("orgload-crash-silent-runs")
        page = api.read_events(
            filter=EventFilter(
                occurred=EventOccurredFilter.model_validate({"since": NOW}),
                resource=EventResourceFilter(id=[f"prefect.automation.{zombie.id}"]),
            ),
            limit=50,
        )
    fired = [e.model_dump_json() for e in page.events if e.event != "prefect.automation.created"]
    for run_id in ENDED:
        assert not any(run_id in event for event in fired)
