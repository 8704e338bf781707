"""Flow tests run against Prefect's test harness: a temporary local API, one per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine

from loaders.store import add_client


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    # a busy 2-core machine can take minutes to boot a fresh Prefect server
    with prefect_test_harness(server_startup_timeout=600):
        yield


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    """Client ``acme`` registered, "now" a Monday at 17:00 in Chile (2026-12-07)."""
    monkeypatch.setenv("ORGLOAD_NOW", "2026-12-07T17:00:00-03:00")
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    return "acme"
