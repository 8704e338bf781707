"""Scale-out for real (SPEC §7, issue 15): two process workers on one work pool, each with its
own ORGLOAD_HOME, one PostgreSQL database that is also the file store (``ORGLOAD_STORAGE=
database``). Eight clients' files are stored once, eight ``monthly-load`` runs name them by
their key (``stored_file``), both workers take some, and every run applies.

``ops/stack.py up`` starts the server, the pool, the deployments and worker A; ``ops/stack.py
worker`` with the second home starts worker B. Each worker runs at most two flows at once
(``ORGLOAD_PREFECT_WORKER_LIMIT``), so eight runs cannot all go to the first one that polls.
Every process is stopped at the end, also on failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine, create_engine, func, select

from loaders.store import add_client
from orgload.db import loads, make_engine, people, stored_objects, tenant
from orgload.migrate import upgrade
from orgload.settings import Settings
from orgload.storage import DatabaseStorage
from tests.databases import new_postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOV = REPO / "sample_data" / "organizacion_2026-11.xlsx"
CLIENTS = [f"cliente-{n}" for n in range(1, 9)]
WAIT = 300  # seconds; the machine is shared


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "ops/stack.py", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT + 120,
        check=False,
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with new_postgres_database() as url:
        yield url


def _kill_leftovers(homes: list[Path]) -> None:
    """SIGKILL what ``ops/stack.py down`` left running (only the PIDs it recorded)."""
    import signal

    for home in homes:
        for name in ("worker", "server"):
            try:
                pid = int((home / "prefect" / f"{name}.pid").read_text())
            except (OSError, ValueError):
                continue
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue


def _store_uploads(url: str, scratch: Path) -> dict[str, str]:
    """Each client's file in the database store, as the application role stores it."""
    settings = Settings(home=scratch, database_url=url, storage="database")
    engine = make_engine(settings)
    try:
        store = DatabaseStorage(settings, engine)
        keys = {}
        for client in CLIENTS:
            key = f"uploads/{client}/{NOV.name}"
            with tenant(client), NOV.open("rb") as source:
                store.put(key, source, client_id=client)
            keys[client] = key
        return keys
    finally:
        engine.dispose()


def _taken_by(home: Path, run_ids: list[str]) -> set[str]:
    """The runs whose flow process this worker ran: their output (``View at …/flow-run/ID``)
    is in its log. A submission that lost the race to the other worker is aborted before."""
    log = (home / "prefect" / "worker.log").read_text(errors="replace")
    return {run_id for run_id in run_ids if f"/flow-run/{run_id}" in log}


def test_two_workers_with_their_own_homes_load_eight_clients_from_the_shared_store(
    postgres_url: str, tmp_path: Path
) -> None:
    owner: Engine = create_engine(postgres_url)
    upgrade(owner)
    from datetime import datetime

    now = datetime.now().astimezone()
    with owner.begin() as conn:
        for client in CLIENTS:
            add_client(conn, client, client.title(), "America/Santiago", None, now)
    keys = _store_uploads(postgres_url, tmp_path / "uploader")

    home_a, home_b = tmp_path / "worker-a", tmp_path / "worker-b"
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ORGLOAD_", "PREFECT_"))}
    base.update(
        ORGLOAD_DATABASE_URL=postgres_url,
        ORGLOAD_STORAGE="database",
        ORGLOAD_PREFECT_PORT=str(port),
        ORGLOAD_PREFECT_START_TIMEOUT=str(WAIT),
        ORGLOAD_PREFECT_WORKER_LIMIT="2",
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
    )
    env_a = {**base, "ORGLOAD_HOME": str(home_a), "ORGLOAD_PREFECT_WORKER_NAME": "worker-a"}
    env_b = {**base, "ORGLOAD_HOME": str(home_b), "ORGLOAD_PREFECT_WORKER_NAME": "worker-b"}
    api_url = f"http://127.0.0.1:{port}/api"
    started = time.monotonic()
    try:
        up = _stack("up", env_a)
        assert up.returncode == 0, up.stdout + up.stderr
        second = _stack("worker", env_b)
        assert second.returncode == 0, second.stdout + second.stderr
        ready = time.monotonic() - started

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            runs = [
                run_deployment(
                    "monthly-load/monthly-load",
                    parameters={"client_id": client, "stored_file": keys[client]},
                    timeout=0,
                )
                for client in CLIENTS
            ]
            run_ids = [str(r.id) for r in runs]
            deadline = time.monotonic() + WAIT
            with get_client(sync_client=True) as client:
                while True:
                    finished = [client.read_flow_run(r.id) for r in runs]
                    if all(r.state is not None and r.state.is_final() for r in finished):
                        break
                    if time.monotonic() > deadline:
                        pending = [f"{r.name}: {r.state_name}" for r in finished]
                        pytest.fail(f"runs not finished after {WAIT} s: {pending}")
                    time.sleep(1)
        loaded = time.monotonic() - started - ready

        states = {
            r.name: (r.state_type.value if r.state_type else None, r.state_name) for r in finished
        }
        assert all(state == ("COMPLETED", "Completed") for state in states.values()), states
        by_a, by_b = _taken_by(home_a, run_ids), _taken_by(home_b, run_ids)
        assert by_a, f"worker A took none; worker B took {len(by_b)}"
        assert by_b, f"worker B took none; worker A took {len(by_a)}"
        assert by_a | by_b == set(run_ids)
        assert not by_a & by_b

        with owner.connect() as conn:
            statuses = conn.execute(
                select(loads.c.client_id, loads.c.status, loads.c.flow_run_id).order_by(
                    loads.c.client_id
                )
            ).all()
            assert [(c, s) for c, s, _ in statuses] == [(c, "applied") for c in CLIENTS]
            assert {r for *_, r in statuses} == set(run_ids)
            expected = conn.execute(
                select(func.count()).select_from(people).where(people.c.client_id == CLIENTS[0])
            ).scalar_one()
            assert expected > 0
            per_client = dict(
                conn.execute(
                    select(people.c.client_id, func.count()).group_by(people.c.client_id)
                ).all()
            )
            assert per_client == dict.fromkeys(CLIENTS, expected)
            archived = conn.execute(
                select(stored_objects.c.client_id).where(stored_objects.c.key.like("archive/%"))
            ).scalars()
            assert sorted(archived) == CLIENTS  # each client's archive, in the shared store
        for home in (home_a, home_b):  # nothing of the clients' files stayed on a worker
            assert not (home / "archive").exists()
            copies = list((home / "tmp").glob("copy.*")) if (home / "tmp").exists() else []
            assert copies == []
        print(
            f"stack ready in {ready:.0f} s; 8 loads in {loaded:.0f} s "
            f"(worker A {len(by_a)}, worker B {len(by_b)})"
        )
    finally:
        _stack("down", env_b)
        _stack("down", env_a)
        _kill_leftovers([home_a, home_b])
        owner.dispose()
