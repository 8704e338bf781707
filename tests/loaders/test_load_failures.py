"""All-or-nothing under stress: racing loads, a killed process, a database error (SPEC §3-4).

These drive the real `orgload` console script in separate processes against SQLite and
PostgreSQL, as ops would run it.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import openpyxl
import pytest
from dbfaults import (
    break_person_writes,
    hold_applies_open,
    race_loads,
    release_hold,
    wait_until_held,
)
from dbfaults import start as start_orgload
from sqlalchemy import Engine, select

from loaders.store import add_client, load_history
from orgload.db import loads, people, quota_periods, units
from orgload.settings import Settings
from service.loads import LoadRequest, run_load

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


def start(*args: str) -> subprocess.Popen[str]:
    return start_orgload(*args, now=NOW)


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
    results = race_loads(client, files, now=NOW)
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


@pytest.mark.slow
def test_sigkill_mid_apply_leaves_the_previous_snapshot(
    engine: Engine, settings: Settings, database_url: str, client: str, samples: Path
) -> None:
    first = run_load(settings, LoadRequest(client, [samples / NOV]), engine)
    assert first.status == "applied"
    before = snapshot(engine)
    hold_applies_open(engine, seconds=120)
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
    wait_until_held(
        engine, lambda: None if proc.poll() is None else str(proc.communicate()), timeout=120
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    release_hold(engine, timeout=30)
    assert snapshot(engine) == before
    with engine.connect() as conn:
        history = load_history(conn, client)
    assert [h["status"] for h in history] == ["applied"]  # killed: `crashed` once settled


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
