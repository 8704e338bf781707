"""All-or-nothing under stress: racing loads, a killed process, a database error (SPEC §3-4).

These drive the real `orgload` console script in separate processes against SQLite and
PostgreSQL, as ops would run it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from dbfaults import break_person_writes
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from loaders.load import LoadRequest, run_load
from loaders.store import add_client, load_history
from orgload.db import loads, people, quota_periods, units
from orgload.settings import Settings

ORGLOAD = Path(sys.executable).with_name("orgload")
NOV = "organizacion_2026-11.xlsx"
DEC = "organizacion_2026-12.xlsx"
NOW = "2026-11-16T11:00:00-03:00"


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            "units": [
                tuple(r) for r in conn.execute(select(units).order_by(units.c.codigo_unidad))
            ],
            "people": [tuple(r) for r in conn.execute(select(people).order_by(people.c.rut))],
        }


def start(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "ORGLOAD_NOW": NOW, **(env_extra or {})}
    return subprocess.Popen(
        [str(ORGLOAD), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@pytest.fixture
def client(engine: Engine) -> str:
    with engine.begin() as conn:
        add_client(
            conn,
            "acme",
            "ACME",
            "America/Santiago",
            None,
            __import__("datetime").datetime.now().astimezone(),
        )
    return "acme"


def variant(source: Path, target: Path, cargo: str) -> Path:
    """The same organization with a different ``Cargo`` for the first person."""
    workbook = openpyxl.load_workbook(source)
    sheet = next(ws for ws in workbook.worksheets if ws.title.lower() == "personas")
    headers = [c.value for c in sheet[1]]
    sheet.cell(2, headers.index("Cargo") + 1).value = cargo
    workbook.save(target)
    return target


@pytest.mark.slow
def test_six_racing_loads_apply_exactly_one(
    engine: Engine, client: str, samples: Path, tmp_path: Path
) -> None:
    files = [variant(samples / NOV, tmp_path / f"v{i}.xlsx", f"Cargo {i}") for i in range(6)]
    procs = [start("load", "--client", client, str(f), "--json") for f in files]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert "Traceback" not in stderr, stderr
        results.append((proc.returncode, json.loads(stdout)))
    statuses = sorted(r["status"] for _, r in results)
    assert statuses == ["applied"] + ["quota_exhausted"] * 5
    assert sorted(code for code, _ in results) == [0, 3, 3, 3, 3, 3]
    winner = next(i for i, (_, r) in enumerate(results) if r["status"] == "applied")
    for _, r in results:
        if r["status"] == "quota_exhausted":
            assert r["quota"]["next_period_starts"] == "2026-12-01T00:00:00-03:00"
    with engine.connect() as conn:
        claims = conn.execute(select(quota_periods)).all()
        applied = conn.execute(select(loads).where(loads.c.status == "applied")).all()
        cargos = conn.execute(select(people.c.cargo).where(people.c.active)).scalars().all()
        count = len(conn.execute(select(people)).all())
    assert len(claims) == 1
    assert len(applied) == 1
    assert f"Cargo {winner}" in cargos
    assert not any(f"Cargo {i}" in cargos for i in range(6) if i != winner)
    assert count == 250  # one application, not six


def _hold_apply_open(engine: Engine, url: str) -> None:
    """Make the apply pause inside its transaction, after every row is written."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE FUNCTION hold() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(120); "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER hold AFTER UPDATE ON loads FOR EACH ROW EXECUTE FUNCTION hold()"
                )
            )
            # let the server notice a dead client during the sleep, as production would
            database = make_url(url).database
            conn.execute(
                text(
                    f"ALTER DATABASE \"{database}\" SET client_connection_check_interval = '200ms'"
                )
            )
    else:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER hold AFTER UPDATE ON loads BEGIN SELECT count(*) FROM "
                    "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                    "WHERE x < 2000000000) SELECT x FROM c); END"
                )
            )


def _wait_until_held(engine: Engine, url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    if engine.dialect.name == "postgresql":
        database = make_url(url).database
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the load ended before its apply was held: {proc.communicate()}")
            with engine.connect() as conn:
                held = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                        "AND wait_event = 'PgSleep'"
                    ),
                    {"d": database},
                ).scalar()
            if held:
                return
            time.sleep(0.1)
    else:
        path = make_url(url).database
        locked_since = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the load ended before its apply was held: {proc.communicate()}")
            probe = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                locked_since = None
            except sqlite3.OperationalError:
                locked_since = locked_since or time.monotonic()
                if time.monotonic() - locked_since > 2.0:  # only the held apply locks that long
                    return
            finally:
                probe.close()
            time.sleep(0.05)
    pytest.fail("the load never reached its apply")


def _drop_hold(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("DROP TRIGGER hold" + (" ON loads" if engine.dialect.name == "postgresql" else ""))
        )


@pytest.mark.slow
def test_sigkill_mid_apply_leaves_the_previous_snapshot(
    engine: Engine, settings: Settings, database_url: str, client: str, samples: Path
) -> None:
    first = run_load(settings, LoadRequest(client, [samples / NOV]), engine)
    assert first.status == "applied"
    before = snapshot(engine)
    _hold_apply_open(engine, database_url)
    proc = start(
        "load",
        "--client",
        client,
        str(samples / DEC),
        "--override-quota",
        "--reason",
        "fix",
        "--json",
    )
    _wait_until_held(engine, database_url, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    engine.dispose()
    deadline = time.monotonic() + 30
    while True:  # PostgreSQL rolls the orphaned transaction back once it sees the client gone
        try:
            _drop_hold(engine)
            break
        except Exception:  # the orphaned transaction may still hold its locks: retry
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    assert snapshot(engine) == before
    with engine.connect() as conn:
        history = load_history(conn, client)
    assert [h["status"] for h in history] == ["applied"]  # the killed load left no record


def test_database_error_rolls_back_and_records_failed(
    engine: Engine, client: str, samples: Path, database_url: str
) -> None:
    break_person_writes(engine)
    proc = start("load", "--client", client, str(samples / NOV), "--json")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 4
    assert "Traceback" not in stderr
    result = json.loads(stdout)
    assert result["status"] == "failed"
    assert result["quota"]["used"] is False
    assert snapshot(engine) == {"units": [], "people": []}
    with engine.connect() as conn:
        history = load_history(conn, client)
        claims = conn.execute(select(quota_periods)).all()
    assert [h["status"] for h in history] == ["failed"]
    assert "simulated" in history[0]["summary"]["exception"]["message"]
    assert claims == []
