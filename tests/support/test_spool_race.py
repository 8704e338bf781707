"""The spool imported under concurrency (issue 16): every command that reaches the database
imports the incidents spooled while it was down, so many commands started at once race for
the same files. Exactly one imports each incident; none of them fails because of the race."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from dbfaults import start
from sqlalchemy import Engine, select

from loaders.store import add_client
from orgload.db import incidents, notifications

NOW = "2026-12-07T17:00:00-03:00"
RACERS = 16


@pytest.mark.slow
def test_sixteen_commands_at_once_import_one_spooled_incident_exactly_once(
    engine: Engine,
    orgload_env: Path,
    samples: Path,
    unused_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORGLOAD_SUPPORT_EMAIL", "soporte@orgload.test")  # level 3: mail queued
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    down = f"postgresql+psycopg://u@127.0.0.1:{unused_port}/db?connect_timeout=5"
    failed = start(
        "load",
        "--client",
        "acme",
        str(samples / "organizacion_2026-11.xlsx"),
        "--json",
        now=NOW,
        env_extra={"ORGLOAD_DATABASE_URL": down},
    )
    stdout, _ = failed.communicate(timeout=120)
    spooled = json.loads(stdout)["incident"]["id"]
    assert [p.name for p in (orgload_env / "spool" / "incidents").iterdir()] == [f"{spooled}.json"]

    racers = [start("quota", "--client", "acme", "--json", now=NOW) for _ in range(RACERS)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in racers]

    for code, out, err in results:
        assert "Traceback" not in err, err
        assert code == 0, err
        assert json.loads(out)["period"] == "2026-12"
    imported = [err for _, _, err in results if "imported 1 spooled incident" in err]
    assert len(imported) == 1  # one importer; the others found nothing left to do
    with engine.connect() as conn:
        assert conn.execute(select(incidents.c.id)).scalars().all() == [spooled]
        assert len(conn.execute(select(notifications)).all()) == 1  # its e-mail queued once
    assert list((orgload_env / "spool" / "incidents").iterdir()) == []
