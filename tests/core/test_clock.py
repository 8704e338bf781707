"""Chile time, periods and the engine of one call (orgload/clock.py, orgload/db.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orgload.clock import CHILE, CHILE_TZ_NAME, chile_iso, in_chile, next_period_start, period_of
from orgload.db import engine_for, make_engine
from orgload.settings import Settings


def test_chile_is_america_santiago():
    assert CHILE_TZ_NAME == "America/Santiago"
    assert CHILE.key == CHILE_TZ_NAME
    assert Settings().timezone == CHILE_TZ_NAME


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        (datetime(2026, 12, 9, 17, 0, tzinfo=UTC), "2026-12-09T14:00:00-03:00"),  # summer time
        (datetime(2026, 7, 1, 12, 30, tzinfo=UTC), "2026-07-01T08:30:00-04:00"),  # standard time
        (datetime.fromisoformat("2026-12-09T14:00:00.5-03:00"), "2026-12-09T14:00:00.500000-03:00"),
        (None, None),
    ],
)
def test_chile_iso_shows_chile_time_with_its_offset(instant, shown):
    assert chile_iso(instant) == shown


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="UTC offset"):
        in_chile(datetime(2026, 12, 9, 14, 0))


@pytest.mark.parametrize(
    ("instant", "zone", "period", "next_start"),
    [
        ("2026-12-01T02:30:00+00:00", CHILE_TZ_NAME, "2026-11", "2026-12-01T00:00:00-03:00"),
        ("2026-12-01T02:30:00+00:00", "UTC", "2026-12", "2027-01-01T00:00:00+00:00"),
        ("2027-04-30T23:59:00-04:00", CHILE_TZ_NAME, "2027-04", "2027-05-01T00:00:00-04:00"),
    ],
)
def test_periods_are_calendar_months_in_the_client_timezone(instant, zone, period, next_start):
    assert period_of(datetime.fromisoformat(instant), zone) == period
    assert next_period_start(period, zone).isoformat() == next_start


def test_engine_for_leaves_the_callers_engine_alone_and_disposes_its_own(tmp_path: Path):
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    given = make_engine(settings)
    pool = given.pool
    with engine_for(settings, given) as engine:
        assert engine is given
    assert given.pool is pool  # not disposed: dispose() replaces the pool
    with engine_for(settings) as own:
        assert own is not given
        pool = own.pool
    assert own.pool is not pool
    given.dispose()
