"""Database faults during a load (issue 12, SPEC §3 and §5), on PostgreSQL, where a connection
can die under a live server: the backend ended by an administrator in the middle of the apply,
the connection cut as the apply commits, every connection ended after the commit. Each ends
with a clear exit, the right incident (or none) and the data either unchanged or fully applied.

The server refusing connections and a DNS failure are in tests/cli/test_unavailable.py and
tests/support/test_spool.py (spooled, imported exactly once)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from dbfaults import CommitDropper, hold_writes, pause_env, release_writes, wait_for_marker
from dbfaults import start as start_orgload
from sqlalchemy import Engine, func, select, text

from loaders.store import add_client, load_history
from orgload.db import incidents, people, quota_periods

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]

NOV = "organizacion_2026-11.xlsx"
NOW = "2026-11-16T11:00:00-03:00"
TIMEOUT = 120


@pytest.fixture
def client(engine: Engine) -> str:
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    return "acme"


def _state(engine: Engine, client: str) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            "people": conn.execute(select(func.count()).select_from(people)).scalar_one(),
            "quota_claims": conn.execute(
                select(func.count()).select_from(quota_periods)
            ).scalar_one(),
            "incidents": [
                (i.category, i.level, i.failed_step) for i in conn.execute(select(incidents))
            ],
            "history": [h["status"] for h in load_history(conn, client)],
        }


def _finish(proc) -> tuple[int, dict, str]:
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert "Traceback" not in stderr, stderr
    assert all(len(line) <= 300 for line in stderr.splitlines()), stderr  # one short line each
    return proc.returncode, json.loads(stdout), stderr


def _terminate_held_backend(engine: Engine) -> int:
    """Wait for the apply held by ``hold_writes`` and end its backend as an administrator
    would (``pg_terminate_backend``); how many backends were ended."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event = 'PgSleep'"
                )
            ).scalar_one()
        if ended:
            return int(ended)
        time.sleep(0.1)
    pytest.fail("the load never reached its apply")


def test_a_backend_terminated_mid_apply_rolls_back_with_a_level_2_incident(
    engine: Engine, client: str, samples: Path
) -> None:
    hold_writes(engine, "apply.copy", seconds=TIMEOUT)  # the people are being written
    proc = start_orgload("load", "--client", client, str(samples / NOV), "--json", now=NOW)
    assert _terminate_held_backend(engine) == 1
    code, result, _ = _finish(proc)
    release_writes(engine, "apply.copy", timeout=30)

    assert (code, result["status"], result["quota"]["used"]) == (4, "failed", False)
    assert result["incident"]["level"] == 2
    assert _state(engine, client) == {
        "people": 0,  # rolled back: nothing of the load is left
        "quota_claims": 0,
        "incidents": [("apply_error", 2, "apply")],
        "history": ["failed"],
    }
    # and the next load of that client works
    again = start_orgload("load", "--client", client, str(samples / NOV), "--json", now=NOW)
    assert _finish(again)[:2][0] == 0


@pytest.fixture
def dropper(database_url: str) -> Iterator[CommitDropper]:
    proxy = CommitDropper(database_url)
    yield proxy
    proxy.close()


def test_a_connection_cut_as_the_apply_commits_reports_the_load_applied(
    engine: Engine, client: str, samples: Path, dropper: CommitDropper, tmp_path: Path
) -> None:
    """The COMMIT reaches the server, its answer never reaches the process: the load is
    applied, so the answer is `applied` — not a `failed` that would contradict the data."""
    marker = tmp_path / "paused"
    proc = start_orgload(
        "load",
        "--client",
        client,
        str(samples / NOV),
        "--json",
        now=NOW,
        env_extra={"ORGLOAD_DATABASE_URL": dropper.url, **pause_env("apply.commit", marker)},
    )
    wait_for_marker(marker, lambda: None if proc.poll() is None else "exited", TIMEOUT)
    dropper.arm()
    marker.unlink()  # go on: the next COMMIT is the apply's
    code, result, stderr = _finish(proc)

    assert dropper.dropped.is_set()
    assert (code, result["status"], result["incident"]) == (0, "applied", None)
    assert result["quota"]["used"] is True
    assert "connection was lost" in stderr
    assert _state(engine, client) == {
        "people": 250,
        "quota_claims": 1,
        "incidents": [],
        "history": ["applied"],
    }


def test_connections_ended_after_the_commit_leave_the_load_applied(
    engine: Engine, client: str, samples: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "paused"
    proc = start_orgload(
        "load",
        "--client",
        client,
        str(samples / NOV),
        "--json",
        now=NOW,
        env_extra=pause_env("committed", marker),
    )
    wait_for_marker(marker, lambda: None if proc.poll() is None else "exited", TIMEOUT)
    with engine.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert ended >= 1  # the process's pooled connections
    marker.unlink()
    code, result, _ = _finish(proc)

    assert (code, result["status"], result["incident"]) == (0, "applied", None)
    assert _state(engine, client) == {
        "people": 250,
        "quota_claims": 1,
        "incidents": [],
        "history": ["applied"],
    }
