"""The SLA clock (SPEC §5): coverage hours, Chilean holidays, DST, and a brute-force oracle."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import sla
from support.sla import (
    COVERAGE_TZ,
    add_coverage_hours,
    coverage_hours_between,
    is_business_day,
    is_coverage_time,
    review_due_at,
)

SCL = ZoneInfo("America/Santiago")
SUMMER = timezone(timedelta(hours=-3))  # Chile's DST offset (September → April)
WINTER = timezone(timedelta(hours=-4))  # Chile's standard offset (April → September)
ONE_MINUTE = timedelta(minutes=1)


def scl(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A wall-clock time in Santiago."""
    return datetime(y, mo, d, h, mi, tzinfo=SCL)


def assert_instant(actual: datetime, expected: datetime, offset: timezone) -> None:
    """Same instant, expressed in America/Santiago with the expected UTC offset."""
    assert isinstance(actual.tzinfo, ZoneInfo)
    assert actual.tzinfo.key == COVERAGE_TZ
    assert actual.astimezone(UTC) == expected.astimezone(UTC)
    assert actual.utcoffset() == offset.utcoffset(None)
    assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None)


# --- the SPEC example -------------------------------------------------------------------------


def test_spec_example_monday_17h_skips_the_dec_8_holiday_and_is_due_wednesday_14h() -> None:
    assert holidays.country_holidays("CL", years=2026).get(date(2026, 12, 8)) is not None
    assert not is_business_day(date(2026, 12, 8))

    due = review_due_at(scl(2026, 12, 7, 17))

    assert_instant(due, scl(2026, 12, 9, 14), SUMMER)
    assert due == datetime(2026, 12, 9, 17, tzinfo=UTC)


def test_spec_example_holds_whatever_offset_the_report_time_is_given_in() -> None:
    reported = datetime(2026, 12, 7, 20, tzinfo=UTC)  # = Mon 17:00 in Santiago (-03)
    assert_instant(review_due_at(reported), scl(2026, 12, 9, 14), SUMMER)
    reported_tokyo = reported.astimezone(ZoneInfo("Asia/Tokyo"))
    assert_instant(review_due_at(reported_tokyo), scl(2026, 12, 9, 14), SUMMER)


# --- weekends and holidays --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("friday", "monday", "offset"),
    [
        (date(2026, 3, 13), date(2026, 3, 16), SUMMER),
        (date(2026, 6, 5), date(2026, 6, 8), WINTER),
    ],
)
def test_friday_1730_is_due_next_monday_1430(friday: date, monday: date, offset: timezone) -> None:
    assert friday.weekday() == 4
    assert monday.weekday() == 0
    assert is_business_day(friday)
    assert is_business_day(monday)

    due = review_due_at(scl(friday.year, friday.month, friday.day, 17, 30))

    assert_instant(due, scl(monday.year, monday.month, monday.day, 14, 30), offset)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # Tue 2026-12-08 Inmaculada Concepción, mid-morning → Wed 09:00 + 6 h
        (scl(2026, 12, 8, 10), scl(2026, 12, 9, 15)),
        # Sunday noon → Monday 09:00 + 6 h
        (scl(2026, 3, 15, 12), scl(2026, 3, 16, 15)),
        # Saturday → Monday 2026-06-29 is San Pedro y San Pablo (moved) → Tuesday
        (scl(2026, 6, 27, 12), scl(2026, 6, 30, 15)),
        # Good Friday 2026-04-03 → Holy Saturday → Sunday → Monday
        (scl(2026, 4, 3, 11), scl(2026, 4, 6, 15)),
    ],
    ids=["holiday", "sunday", "saturday-then-monday-holiday", "good-friday"],
)
def test_start_on_a_holiday_or_weekend_counts_from_next_business_day_0900(
    start: datetime, due: datetime
) -> None:
    assert not is_coverage_time(start)
    assert review_due_at(start).astimezone(UTC) == due.astimezone(UTC)
    assert add_coverage_hours(start, 0).astimezone(UTC) == due.astimezone(UTC) - timedelta(hours=6)


def test_package_knows_fiestas_patrias_including_the_2027_bridge_day() -> None:
    cl = holidays.country_holidays("CL", years=[2026, 2027, 2028])
    for day in [
        date(2026, 9, 18),
        date(2026, 9, 19),
        date(2027, 9, 17),  # "National Holiday" bridge (Friday before Sat 18)
        date(2027, 9, 18),
        date(2027, 9, 19),
        date(2028, 9, 18),
        date(2028, 9, 19),
    ]:
        assert day in cl, day
        assert not is_business_day(day)
    assert date(2026, 9, 17) not in cl
    assert is_business_day(date(2026, 9, 17))


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # Thu 17:00 → 1 h; Fri 18 + Sat 19 holidays, Sun → Mon 21 14:00
        (scl(2026, 9, 17, 17), scl(2026, 9, 21, 14)),
        # Thu 17:00 → 1 h; Fri 17 (bridge), Sat 18, Sun 19 → Mon 20 14:00
        (scl(2027, 9, 16, 17), scl(2027, 9, 20, 14)),
        # Fri 17:00 → 1 h; weekend, Mon 18 + Tue 19 holidays → Wed 20 14:00
        (scl(2028, 9, 15, 17), scl(2028, 9, 20, 14)),
    ],
    ids=["2026", "2027-bridge", "2028"],
)
def test_fiestas_patrias_are_skipped(start: datetime, due: datetime) -> None:
    assert_instant(review_due_at(start), due, SUMMER)


def test_is_business_day_is_weekday_and_not_holiday() -> None:
    assert is_business_day(date(2026, 12, 7))  # Monday
    assert not is_business_day(date(2026, 12, 8))  # holiday
    assert not is_business_day(date(2026, 12, 12))  # Saturday
    assert not is_business_day(date(2026, 12, 13))  # Sunday
    assert not is_business_day(date(2027, 1, 1))  # New Year, a Friday
    with pytest.raises(TypeError):
        is_business_day(datetime(2026, 12, 7, 10, tzinfo=SCL))


# --- DST --------------------------------------------------------------------------------------


def _offset_changes(year: int) -> list[date]:
    """Local dates on which America/Santiago's UTC offset changes, scanned hourly in UTC."""
    t = datetime(year, 1, 1, tzinfo=UTC)
    previous = t.astimezone(SCL).utcoffset()
    changes = []
    while t.year == year:
        t += timedelta(hours=1)
        local = t.astimezone(SCL)
        if local.utcoffset() != previous:
            changes.append(local.date())
            previous = local.utcoffset()
    return changes


def test_dst_switch_dates_are_the_ones_used_below() -> None:
    # April: clocks go back at Sat/Sun midnight (Sunday 00:00 -03 becomes Saturday 23:00 -04).
    # September: clocks go forward at Sat/Sun midnight (Sunday 00:00 -04 becomes 01:00 -03).
    assert _offset_changes(2026) == [date(2026, 4, 4), date(2026, 9, 6)]
    assert _offset_changes(2027) == [date(2027, 4, 3), date(2027, 9, 5)]
    assert scl(2026, 4, 3, 12).utcoffset() == SUMMER.utcoffset(None)
    assert scl(2026, 4, 6, 12).utcoffset() == WINTER.utcoffset(None)
    assert scl(2026, 9, 4, 12).utcoffset() == WINTER.utcoffset(None)
    assert scl(2026, 9, 7, 12).utcoffset() == SUMMER.utcoffset(None)


@pytest.mark.parametrize(
    ("start", "due", "offset_before", "offset_after"),
    [
        # Fri 2026-04-03 is Good Friday, so start Thursday: 1 h Thu, Fri holiday, → Mon 14:00
        (scl(2026, 4, 2, 17), scl(2026, 4, 6, 14), SUMMER, WINTER),
        (scl(2026, 9, 4, 17), scl(2026, 9, 7, 14), WINTER, SUMMER),
        (scl(2027, 4, 2, 17), scl(2027, 4, 5, 14), SUMMER, WINTER),
        (scl(2027, 9, 3, 17), scl(2027, 9, 6, 14), WINTER, SUMMER),
    ],
    ids=["2026-04", "2026-09", "2027-04", "2027-09"],
)
def test_due_across_a_dst_switch_is_local_wall_clock_with_the_new_offset(
    start: datetime, due: datetime, offset_before: timezone, offset_after: timezone
) -> None:
    assert start.utcoffset() == offset_before.utcoffset(None)

    result = review_due_at(start)

    assert_instant(result, due, offset_after)
    assert coverage_hours_between(start, result) == 6
    # The weekend's extra/missing hour is not coverage time: Fri 00:00 → Mon 23:59 local.
    friday = start.date() + timedelta(days=(4 - start.weekday()) % 7)
    monday = friday + timedelta(days=3)
    business = [friday, monday] if is_business_day(friday) else [monday]
    span = coverage_hours_between(
        scl(friday.year, friday.month, friday.day), scl(monday.year, monday.month, monday.day, 23)
    )
    assert span == 9 * len(business)


def test_start_on_the_friday_before_a_switch_that_is_good_friday() -> None:
    assert_instant(review_due_at(scl(2026, 4, 3, 17)), scl(2026, 4, 6, 15), WINTER)


# --- edges: 09:00, 18:00, fractions ----------------------------------------------------------


def test_is_coverage_time_is_half_open_0900_to_1800() -> None:
    assert is_coverage_time(scl(2026, 3, 16, 9))
    assert is_coverage_time(scl(2026, 3, 16, 17, 59))
    assert not is_coverage_time(scl(2026, 3, 16, 8, 59))
    assert not is_coverage_time(scl(2026, 3, 16, 18))
    assert not is_coverage_time(scl(2026, 12, 8, 12))  # holiday
    assert is_coverage_time(datetime(2026, 3, 16, 12, tzinfo=UTC))  # 09:00 -03


def test_start_exactly_at_0900_counts_from_0900() -> None:
    start = scl(2026, 3, 16, 9)
    assert_instant(review_due_at(start), scl(2026, 3, 16, 15), SUMMER)
    assert add_coverage_hours(start, 0) == start


def test_a_full_day_from_0900_lands_on_1800_the_same_day_not_0900_the_next() -> None:
    assert_instant(add_coverage_hours(scl(2026, 3, 16, 9), 9), scl(2026, 3, 16, 18), SUMMER)
    assert_instant(add_coverage_hours(scl(2026, 3, 16, 12), 6), scl(2026, 3, 16, 18), SUMMER)
    # Friday 12:00 + 6 h = Friday 18:00, not Monday 09:00.
    assert_instant(add_coverage_hours(scl(2026, 3, 13, 12), 6), scl(2026, 3, 13, 18), SUMMER)


def test_start_exactly_at_1800_counts_from_next_business_day_0900() -> None:
    start = scl(2026, 3, 16, 18)
    assert_instant(review_due_at(start), scl(2026, 3, 17, 15), SUMMER)
    assert_instant(add_coverage_hours(start, 0), scl(2026, 3, 17, 9), SUMMER)
    assert_instant(review_due_at(scl(2026, 3, 13, 18)), scl(2026, 3, 16, 15), SUMMER)


@pytest.mark.parametrize(
    ("hours", "due"),
    [
        (0.5, scl(2026, 3, 16, 9, 30)),
        (1.25, scl(2026, 3, 16, 10, 15)),
        (0.1, scl(2026, 3, 16, 9, 6)),
        (1 / 60, scl(2026, 3, 16, 9, 1)),
        (8.75, scl(2026, 3, 16, 17, 45)),
        (9.5, scl(2026, 3, 17, 9, 30)),
        (27, scl(2026, 3, 18, 18)),
    ],
)
def test_fractional_hours_from_monday_0900(hours: float, due: datetime) -> None:
    result = add_coverage_hours(scl(2026, 3, 16, 9), hours)
    assert_instant(result, due, SUMMER)
    assert coverage_hours_between(scl(2026, 3, 16, 9), result) == pytest.approx(hours, abs=1e-9)


def test_fractional_hours_spill_over_the_close() -> None:
    assert_instant(
        add_coverage_hours(scl(2026, 3, 16, 17, 30), 0.75), scl(2026, 3, 17, 9, 15), SUMMER
    )


# --- coverage_hours_between ------------------------------------------------------------------


def test_coverage_hours_between_is_zero_when_end_is_not_after_start() -> None:
    t = scl(2026, 3, 16, 12)
    assert coverage_hours_between(t, t) == 0.0
    assert coverage_hours_between(t, t - timedelta(hours=5)) == 0.0


def test_coverage_hours_between_gives_the_sla_time_left() -> None:
    reported = scl(2026, 12, 7, 17)
    now = scl(2026, 12, 9, 10, 30)  # 1 h Monday + holiday + 1.5 h Wednesday
    assert coverage_hours_between(reported, now) == 2.5
    assert sla.REVIEW_SLA_HOURS - coverage_hours_between(reported, now) == 3.5
    assert coverage_hours_between(reported, review_due_at(reported)) == 6


def test_coverage_hours_between_counts_whole_weeks_minus_holidays() -> None:
    # December 2026: 23 weekdays, minus Tue 8 and Fri 25 → 21 business days.
    hours = coverage_hours_between(scl(2026, 12, 1), scl(2027, 1, 1))
    assert hours == 21 * 9


# --- validation and complexity ---------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 12, 7, 17)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_coverage_hours(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        review_due_at(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_coverage_time(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        coverage_hours_between(naive, scl(2026, 12, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        coverage_hours_between(scl(2026, 12, 7), naive)


@pytest.mark.parametrize("hours", [-1.0, -1e-9, math.nan, math.inf])
def test_negative_or_non_finite_hours_are_refused(hours: float) -> None:
    with pytest.raises(ValueError, match="hours"):
        add_coverage_hours(scl(2026, 3, 16, 9), hours)


def test_work_is_proportional_to_days_not_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[date] = []
    real = sla.is_business_day

    def counting(day: date) -> bool:
        calls.append(day)
        return real(day)

    monkeypatch.setattr(sla, "is_business_day", counting)
    start = scl(2026, 3, 16, 9)
    due = add_coverage_hours(start, 9 * 250 * 3)  # ~3 years of coverage
    spanned = (due.date() - start.date()).days + 1
    assert len(calls) == spanned
    assert 1000 < spanned < 1200
    monkeypatch.undo()
    assert coverage_hours_between(start, due) == 9 * 250 * 3


# --- properties against an independent brute-force oracle -------------------------------------

_ORACLE_HOLIDAYS = frozenset(holidays.country_holidays("CL", years=range(2025, 2031)))


def _oracle_covered(t: datetime) -> bool:
    local = t.astimezone(SCL)
    return local.weekday() < 5 and local.date() not in _ORACLE_HOLIDAYS and 9 <= local.hour < 18


def oracle_add_minutes(start: datetime, minutes: int) -> datetime:
    """Walk minute by minute in UTC, counting each minute that starts inside coverage.

    ``minutes == 0`` gives the first covered minute at or after ``start``; otherwise the end of
    the ``minutes``-th covered minute.
    """
    t = start.astimezone(UTC)
    counted = 0
    while True:
        if _oracle_covered(t):
            if counted == minutes:
                return t
            counted += 1
            if counted == minutes:
                return t + ONE_MINUTE
        t += ONE_MINUTE


_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
_uniform_starts = st.integers(min_value=0, max_value=3 * 366 * 24 * 60).map(
    lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
)
# Santiago wall-clock times biased towards the coverage edges (08:59, 09:00, 17:59, 18:00, ...).
_edge_starts = st.builds(
    lambda d, h, m: datetime(d.year, d.month, d.day, h, m, tzinfo=SCL),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)),
    st.sampled_from([0, 8, 9, 12, 17, 18, 23]),
    st.sampled_from([0, 1, 30, 59]),
)
starts = st.builds(
    lambda t, tz: t.astimezone(tz), st.one_of(_uniform_starts, _edge_starts), _offsets
)
minutes_0_to_30h = st.one_of(
    st.integers(min_value=0, max_value=30 * 60),
    st.sampled_from([0, 1, 60, 6 * 60, 9 * 60 - 1, 9 * 60, 9 * 60 + 1, 18 * 60, 30 * 60]),
)


@settings(max_examples=200, deadline=None)
@given(start=starts, minutes=minutes_0_to_30h)
def test_add_coverage_hours_matches_minute_by_minute_oracle(start: datetime, minutes: int) -> None:
    expected = oracle_add_minutes(start, minutes)
    actual = add_coverage_hours(start, minutes / 60)
    assert actual.astimezone(UTC) == expected
    assert actual.tzinfo == SCL


@settings(max_examples=200, deadline=None)
@given(start=starts, minutes=minutes_0_to_30h)
def test_coverage_hours_between_inverts_add_coverage_hours(start: datetime, minutes: int) -> None:
    hours = minutes / 60
    assert coverage_hours_between(start, add_coverage_hours(start, hours)) == hours


@settings(max_examples=100, deadline=None)
@given(
    start=starts,
    hours=st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False),
)
def test_coverage_hours_between_inverts_add_coverage_hours_for_any_float(
    start: datetime, hours: float
) -> None:
    # Durations are kept to the microsecond, so arbitrary floats round-trip within 1 µs.
    result = coverage_hours_between(start, add_coverage_hours(start, hours))
    assert result == pytest.approx(hours, abs=1e-6 / 3600)
