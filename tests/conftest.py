"""Shared fixtures: every test runs with its own ORGLOAD_HOME and no stray ORGLOAD_* settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_data"


@pytest.fixture(autouse=True)
def orgload_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ORGLOAD_HOME per test; settings from the developer's shell never leak in."""
    for name in list(os.environ):
        if name.startswith("ORGLOAD_") and not name.startswith("ORGLOAD_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path / "orgload-home"
    monkeypatch.setenv("ORGLOAD_HOME", str(home))
    return home


@pytest.fixture
def samples() -> Path:
    return SAMPLES
