"""Disk faults during a load (issue 12): the archive cannot be written, ORGLOAD_HOME is on a
full filesystem. The load fails before touching data and its incident is recorded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from loaders.store import add_client
from orgload.db import incidents, people, quota_periods
from orgload.settings import Settings, load_settings
from service.loads import LoadRequest, run_load

NOV = "organizacion_2026-11.xlsx"


@pytest.fixture
def client(engine: Engine) -> str:
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    return "acme"


def _assert_failed_cleanly(engine: Engine, settings: Settings, outcome) -> None:
    assert outcome.status == "failed"
    assert outcome.exit_code == 4
    assert outcome.incident is not None
    assert outcome.incident["level"] == 3
    with engine.connect() as conn:
        assert conn.execute(select(people)).all() == []  # nothing applied
        assert conn.execute(select(quota_periods)).all() == []  # the quota is not used
        found = conn.execute(select(incidents)).mappings().all()
    assert [(i["category"], i["failed_step"]) for i in found] == [("unavailable", "archive")]
    assert found[0]["id"] == outcome.incident["id"]


def test_an_archive_that_cannot_be_written_fails_the_load_with_a_level_3_incident(
    engine: Engine, settings: Settings, client: str, samples: Path
) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "archive").write_text("not a folder")  # fails for root too
    outcome = run_load(settings, LoadRequest(client, [samples / NOV]), engine)
    _assert_failed_cleanly(engine, settings, outcome)
    assert "archive" in (outcome.detail or "")


@pytest.fixture
def full_home(full_filesystem: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ORGLOAD_HOME on a full filesystem (its archive folder made before it filled up)."""
    monkeypatch.setenv("ORGLOAD_HOME", str(full_filesystem))
    return full_filesystem


def test_a_full_filesystem_fails_the_load_with_a_level_3_incident(
    engine: Engine, database_url: str, client: str, samples: Path, full_home: Path
) -> None:
    settings = load_settings()
    assert settings.home == full_home
    outcome = run_load(settings, LoadRequest(client, [samples / NOV]), engine)
    _assert_failed_cleanly(engine, settings, outcome)
    assert not any((full_home / "archive").iterdir())  # nothing half-written is left behind
