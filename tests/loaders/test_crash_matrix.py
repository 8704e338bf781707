"""The crash matrix (SPEC §3): a load SIGKILLed at each stage leaves the old data or the new,
never a mix; uses the quota only if it committed; shows in the history as ``crashed`` (or
``applied``) after the next command, with exactly one crash incident; and the next load works.

Each point is reached for real: a stage of orgload/stages.py (the process pauses there) or a
row trigger that holds the apply inside its transaction mid-COPY or mid-change-log
(tests/dbfaults.py). `make test` runs one trial per point and database; `make soak` runs
``ORGLOAD_SOAK_TRIALS`` (default 20). With ``ORGLOAD_TEST_CRASH_LOG=FILE`` each trial appends
one JSON line (point, database, outcome, seconds) to FILE: the figures of docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dbfaults import (
    HOLD_POINTS,
    hold_writes,
    pause_env,
    release_writes,
    sigkill,
    wait_for_marker,
    wait_until_held,
)
from dbfaults import start as start_orgload
from sqlalchemy import Engine, select

from loaders.store import add_client
from orgload.db import incidents, loads, people, quota_periods, units
from orgload.settings import Settings, load_settings
from orgload.stages import STAGES
from service.loads import LoadRequest, run_load

NOV = "organizacion_2026-11.xlsx"
DEC = "organizacion_2026-12.xlsx"
NOV_NOW = "2026-11-16T11:00:00-03:00"
DEC_NOW = "2026-12-03T11:00:00-03:00"
CLIENT = "acme"

# Every point in the order a load passes it; the two held by a trigger sit inside the apply.
POINTS = (*STAGES[:4], *HOLD_POINTS, *STAGES[4:])
COMMITTED = {"committed"}  # the only point after the commit
TRIALS = int(os.environ.get("ORGLOAD_SOAK_TRIALS", "1"))
TIMEOUT = 120


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The client's data as a comparable value (which load wrote a row left out: the next
    load rewrites the same data under its own id)."""
    with engine.connect() as conn:
        return {
            "units": [
                tuple(v for k, v in r._mapping.items() if k != "load_id")
                for r in conn.execute(select(units).order_by(units.c.codigo_unidad))
            ],
            "people": [
                tuple(v for k, v in r._mapping.items() if k != "load_id")
                for r in conn.execute(select(people).order_by(people.c.rut))
            ],
        }


def december_quota_taken(engine: Engine) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            select(quota_periods).where(
                quota_periods.c.client_id == CLIENT, quota_periods.c.period == "2026-12"
            )
        ).first()
    return row is not None


def crash_incidents(engine: Engine, load_id: int) -> int:
    with engine.connect() as conn:
        rows = conn.execute(
            select(incidents.c.id, incidents.c.level).where(
                incidents.c.load_id == load_id, incidents.c.category == "crash"
            )
        ).all()
    assert all(level == 2 for _, level in rows)
    return len(rows)


def orgload_json(*args: str) -> tuple[int, Any]:
    proc = start_orgload(*args, "--json", now=DEC_NOW)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert "Traceback" not in stderr, stderr
    return proc.returncode, json.loads(stdout)


def kill_at(point: str, engine: Engine, tmp_path: Path, samples: Path) -> float:
    """Start the December load, SIGKILL it at ``point``; the seconds until it was there."""
    marker = tmp_path / f"paused-{point}"
    held = point in HOLD_POINTS
    if held:
        hold_writes(engine, point, seconds=TIMEOUT)
    started = time.monotonic()
    proc = start_orgload(
        "load",
        "--client",
        CLIENT,
        str(samples / DEC),
        "--json",
        now=DEC_NOW,
        env_extra=None if held else pause_env(point, marker),
    )

    def ended() -> str | None:
        return None if proc.poll() is None else str(proc.communicate())

    try:
        if held:
            wait_until_held(engine, ended, timeout=TIMEOUT)
        else:
            wait_for_marker(marker, ended, timeout=TIMEOUT)
        reached = time.monotonic() - started
    finally:
        if proc.poll() is None:
            sigkill(proc)
    if held:
        release_writes(engine, point, timeout=60)
    return reached


def record(point: str, database: str, outcome: str, seconds: dict[str, float]) -> None:
    target = os.environ.get("ORGLOAD_TEST_CRASH_LOG")
    if not target:
        return
    line = {"point": point, "database": database, "outcome": outcome, **seconds}
    with open(target, "a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")


@pytest.fixture
def client(engine: Engine) -> str:
    with engine.begin() as conn:
        add_client(conn, CLIENT, "ACME", "America/Santiago", None, datetime.now().astimezone())
    return CLIENT


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.parametrize("point", POINTS)
def test_a_load_killed_at_each_point_leaves_old_or_new_data_and_a_visible_attempt(
    point: str,
    trial: int,
    engine: Engine,
    settings: Settings,
    client: str,
    samples: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", NOV_NOW)
    first = run_load(load_settings(), LoadRequest(client, [samples / NOV]), engine)
    assert first.status == "applied"
    old = snapshot(engine)
    t0 = time.monotonic()

    reached = kill_at(point, engine, tmp_path, samples)
    killed = snapshot(engine)
    committed = point in COMMITTED
    quota_used = december_quota_taken(engine)

    # the next command for the client settles the attempt
    code, history = orgload_json("history", "--client", client)
    assert code == 0
    assert [h["status"] for h in history] == ["applied" if committed else "crashed", "applied"]
    attempt = history[0]
    assert attempt["file_name"] == DEC
    assert attempt["period"] == "2026-12"
    assert set(attempt) == {
        "load_id",
        "status",
        "period",
        "file_name",
        "sha256",
        "created_at",
        "changes",
        "reason",
    }
    assert crash_incidents(engine, attempt["load_id"]) == (0 if committed else 1)
    code, again = orgload_json("history", "--client", client)  # settled once, not again
    assert again == history
    assert crash_incidents(engine, attempt["load_id"]) == (0 if committed else 1)

    # the next load of the client works: it applies December, or finds it applied
    monkeypatch.setenv("ORGLOAD_NOW", DEC_NOW)
    after = run_load(load_settings(), LoadRequest(client, [samples / DEC]), engine)
    assert after.status == ("already_applied" if committed else "applied")
    new = snapshot(engine)
    assert new != old

    # never a mix: exactly the old snapshot, or exactly the new one once committed
    assert killed == (new if committed else old)
    assert quota_used is committed
    assert december_quota_taken(engine)
    with engine.connect() as conn:
        statuses = conn.execute(select(loads.c.status).order_by(loads.c.id)).scalars().all()
    assert "running" not in statuses
    assert crash_incidents(engine, attempt["load_id"]) == (0 if committed else 1)

    record(
        point,
        engine.dialect.name,
        "applied" if committed else "crashed",
        {"reached_s": round(reached, 2), "trial_s": round(time.monotonic() - t0, 2)},
    )


def test_stage_points_are_a_no_op_unless_named(tmp_path: Path) -> None:
    """Without ORGLOAD_TEST_PAUSE_AT the hook returns at once; with another stage named it
    does not pause either (checked in a fresh interpreter: the variable is read at import)."""
    code = (
        "import time; from orgload.stages import STAGES, reached\n"
        "t = time.perf_counter()\n"
        "for _ in range(100000):\n"
        "    for s in STAGES: reached(s)\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {**os.environ, "ORGLOAD_TEST_PAUSE_AT": "no-such-stage"}
    env.pop("ORGLOAD_TEST_PAUSE_FILE", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 5.0  # 600,000 calls; a pause would be 600 s
    assert not list(tmp_path.iterdir())


# --- how a dangling attempt is told from a running one (service/attempts.py) ------------------


def _owner(**overrides: Any) -> dict[str, Any]:
    from loaders.store import attempt_owner

    return {**attempt_owner(), **overrides}


def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("case", "dead"),
    [
        ("this process", False),
        ("a live process on this host", False),
        ("a process gone on this host", True),
        ("a recycled pid on this host", True),
        ("another host, recent", False),
        ("another host, older than the limit", True),
        ("no owner recorded", True),
    ],
)
def test_a_running_attempt_is_dead_only_when_its_process_is(case: str, dead: bool) -> None:
    from datetime import UTC, timedelta

    from service.attempts import STALE_AFTER, dead_because

    wall = datetime.now(UTC)
    parent = os.getppid()
    owners = {
        "this process": _owner(),
        "a live process on this host": _owner(pid=parent, pid_started=None),
        "a process gone on this host": _owner(pid=_gone_pid()),
        "a recycled pid on this host": _owner(pid=parent, pid_started="1"),
        "another host, recent": _owner(host="elsewhere", started_at=wall.isoformat()),
        "another host, older than the limit": _owner(
            host="elsewhere", started_at=(wall - STALE_AFTER - timedelta(minutes=1)).isoformat()
        ),
        "no owner recorded": {},
    }
    assert (dead_because(owners[case], wall, STALE_AFTER) is not None) is dead
