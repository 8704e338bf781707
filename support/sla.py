"""The contractual SLA clock: hours counted only inside support coverage (SPEC §5).

Coverage is Monday–Friday, 09:00–18:00 wall-clock time in ``America/Santiago``, excluding
Chilean public holidays. A level ≥ 2 incident must be reviewed within 6 coverage hours of being
reported (or escalated): :func:`review_due_at`.

Conventions
-----------
* Every function here is pure: no I/O, no clock, no database. Instants must be timezone-aware
  (any offset or zone); a naive datetime raises :class:`ValueError` rather than being guessed.
* A coverage day is the half-open interval ``[09:00, 18:00)`` local time: 09:00 is covered,
  18:00 is not (:func:`is_coverage_time`). A deadline that uses up the last minute of a day
  lands *on* 18:00 of that day, not on 09:00 of the next business day.
* Holidays come from ``holidays.country_holidays("CL")`` (public category), which knows
  Chile's movable holidays (Easter, San Pedro y San Pablo, Encuentro de Dos Mundos, the
  Reformation day, Fiestas Patrias bridge days such as 2027-09-17, ...). They are computed once
  per year and cached.
* DST: Chile switches clocks at local midnight between a Saturday and a Sunday (April and
  September), never inside the coverage window, so a coverage day is always 9 real hours.
  Opening and closing instants are nevertheless built per day with :mod:`zoneinfo`, and all
  arithmetic is done in UTC: adding a ``timedelta`` to a datetime carrying a ``ZoneInfo`` is
  wall-clock arithmetic in Python and would be wrong across a switch.
* Complexity is O(days spanned), never O(minutes).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from orgload.clock import CHILE, CHILE_TZ_NAME

__all__ = [
    "COVERAGE_CLOSE",
    "COVERAGE_OPEN",
    "COVERAGE_TZ",
    "REVIEW_SLA_HOURS",
    "add_coverage_hours",
    "coverage_hours_between",
    "is_business_day",
    "is_coverage_time",
    "review_due_at",
]

COVERAGE_TZ = CHILE_TZ_NAME
"""IANA zone in which the coverage window is defined: Chile official time."""

COVERAGE_OPEN = time(9, 0)
"""Local wall-clock opening time (inclusive)."""

COVERAGE_CLOSE = time(18, 0)
"""Local wall-clock closing time (exclusive)."""

REVIEW_SLA_HOURS = 6.0
"""Coverage hours between reporting a level ≥ 2 incident and its review deadline."""

_ZONE = CHILE
_ONE_DAY = timedelta(days=1)
_ONE_HOUR = timedelta(hours=1)


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    """Chilean public holidays of ``year`` (cached: building the calendar is not free)."""
    return frozenset(holidays.country_holidays("CL", years=year).keys())


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def _window_utc(day: date) -> tuple[datetime, datetime]:
    """The coverage window of local ``day`` as a ``(open, close)`` pair of UTC instants."""
    opens = datetime.combine(day, COVERAGE_OPEN, tzinfo=_ZONE).astimezone(UTC)
    closes = datetime.combine(day, COVERAGE_CLOSE, tzinfo=_ZONE).astimezone(UTC)
    return opens, closes


def is_business_day(day: date) -> bool:
    """Whether ``day`` (a Chilean calendar date) is Monday–Friday and not a public holiday.

    A :class:`datetime` is refused with :class:`TypeError`: which calendar day an instant falls
    on depends on its zone, so convert it first (or use :func:`is_coverage_time`).
    """
    if isinstance(day, datetime):
        raise TypeError("is_business_day takes a date; use is_coverage_time for an instant")
    return day.weekday() < 5 and day not in _holidays(day.year)


def is_coverage_time(instant: datetime) -> bool:
    """Whether the aware ``instant`` falls inside coverage (``[09:00, 18:00)`` Santiago time)."""
    _require_aware("instant", instant)
    local = instant.astimezone(_ZONE)
    return is_business_day(local.date()) and COVERAGE_OPEN <= local.time() < COVERAGE_CLOSE


def add_coverage_hours(start: datetime, hours: float) -> datetime:
    """The instant that is ``hours`` of coverage time after ``start``, in America/Santiago.

    A ``start`` outside coverage begins counting at the next opening (so ``hours=0`` returns the
    next instant at which coverage is running, or ``start`` itself when it is already inside).
    A deadline that exhausts a day exactly lands on that day's 18:00. Fractional hours are
    honoured to the microsecond.

    Raises:
        ValueError: ``start`` is naive, or ``hours`` is negative, NaN or infinite.
    """
    _require_aware("start", start)
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"hours must be a finite number >= 0, got {hours!r}")
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(_ZONE).date()
    while True:
        if is_business_day(day):
            opens, closes = _window_utc(day)
            begin = max(cursor, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(_ZONE)
                remaining -= available
        day += _ONE_DAY


def review_due_at(reported_at: datetime) -> datetime:
    """Review deadline of a level ≥ 2 incident reported (or escalated) at ``reported_at``.

    SPEC §5 example: reported Mon 2026-12-07 17:00 Chile time → 1 h that day, Tue 2026-12-08
    is a holiday → due Wed 2026-12-09 14:00 Chile time.
    """
    return add_coverage_hours(reported_at, REVIEW_SLA_HOURS)


def coverage_hours_between(start: datetime, end: datetime) -> float:
    """Coverage hours elapsed from ``start`` to ``end`` (0.0 when ``end <= start``).

    The inverse of :func:`add_coverage_hours`: for any ``h >= 0``,
    ``coverage_hours_between(s, add_coverage_hours(s, h)) == h`` (to the microsecond). Use it
    for "how much SLA time is left": ``REVIEW_SLA_HOURS - coverage_hours_between(reported, now)``.

    Raises:
        ValueError: either instant is naive.
    """
    _require_aware("start", start)
    _require_aware("end", end)
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    if hi <= lo:
        return 0.0
    total = timedelta(0)
    day = lo.astimezone(_ZONE).date()
    last = hi.astimezone(_ZONE).date()
    while day <= last:
        if is_business_day(day):
            opens, closes = _window_utc(day)
            begin, finish = max(lo, opens), min(hi, closes)
            if begin < finish:
                total += finish - begin
        day += _ONE_DAY
    # timedelta / timedelta divides integer microseconds: one correctly rounded float.
    return total / _ONE_HOUR
