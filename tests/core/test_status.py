"""Load statuses and their exit codes (orgload/status.py)."""

from __future__ import annotations

import json

import pytest

from orgload.status import EXIT_CODES, LoadStatus, exit_code


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("applied", 0),
        ("dry_run", 0),
        ("already_applied", 0),
        ("no_changes", 0),
        ("reverted", 0),
        ("rejected", 1),
        ("quota_exhausted", 3),
        ("failed", 4),
    ],
)
def test_every_status_has_its_exit_code(status, code):
    assert exit_code(status) == code
    assert exit_code(LoadStatus(status)) == code


def test_every_status_has_an_exit_code_and_nothing_else_does():
    assert set(EXIT_CODES) == set(LoadStatus)
    with pytest.raises(ValueError):
        exit_code("mass_change")


def test_a_status_is_its_plain_string():
    assert LoadStatus.QUOTA_EXHAUSTED == "quota_exhausted"
    assert f"{LoadStatus.DRY_RUN}" == "dry_run"
    assert json.dumps({"status": LoadStatus.APPLIED}) == '{"status": "applied"}'
