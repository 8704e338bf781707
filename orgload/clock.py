"""What time it is: the one place that reads the clock, honouring ORGLOAD_NOW."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from orgload.settings import Settings


def now(settings: Settings) -> datetime:
    """The current instant (timezone-aware), or ORGLOAD_NOW when it is set."""
    return settings.now if settings.now is not None else datetime.now(UTC)


def today(settings: Settings, timezone: str | None = None) -> date:
    """Today's date in ``timezone`` (default: the configured client timezone)."""
    return now(settings).astimezone(ZoneInfo(timezone or settings.timezone)).date()
