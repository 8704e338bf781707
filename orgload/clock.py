"""What time it is and which period it is: the one place that reads the clock (honouring
ORGLOAD_NOW), Chile official time, and the monthly periods of the quota (SPEC §0, §4, §5)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # settings imports CHILE_TZ_NAME from here
    from orgload.settings import Settings

CHILE_TZ_NAME = "America/Santiago"
"""Chile official time (UTC-4 standard, UTC-3 summer): support coverage, the off-peak window,
and the default client timezone."""

CHILE = ZoneInfo(CHILE_TZ_NAME)


def now(settings: Settings) -> datetime:
    """The current instant (timezone-aware), or ORGLOAD_NOW when it is set."""
    return settings.now if settings.now is not None else datetime.now(UTC)


def today(settings: Settings, timezone: str | None = None) -> date:
    """Today's date in ``timezone`` (default: the configured client timezone)."""
    return now(settings).astimezone(ZoneInfo(timezone or settings.timezone)).date()


def in_chile(instant: datetime) -> datetime:
    """The same instant on Chile's wall clock. A naive datetime raises ``ValueError``: which
    instant it means cannot be known."""
    if instant.utcoffset() is None:
        raise ValueError("the instant needs a UTC offset")
    return instant.astimezone(CHILE)


def chile_iso(instant: datetime | None) -> str | None:
    """Instants shown to people: ISO-8601 in Chile time with its offset
    (``2026-12-09T14:00:00-03:00``); None stays None."""
    return in_chile(instant).isoformat() if instant is not None else None


def period_of(instant: datetime, timezone: str) -> str:
    """The period (``"2026-11"``) an instant falls in, in the client's timezone."""
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def next_period_start(period: str, timezone: str) -> datetime:
    """Local midnight of the first day of the month after ``period`` (timezone-aware)."""
    year, month = (int(p) for p in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=ZoneInfo(timezone))
