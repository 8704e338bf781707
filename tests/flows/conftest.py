"""Flow tests run against Prefect's test harness: a temporary local API, one per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    # a busy 2-core machine can take minutes to boot a fresh Prefect server
    with prefect_test_harness(server_startup_timeout=600):
        yield
