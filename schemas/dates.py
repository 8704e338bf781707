"""The allowed range of dates in an upload, which depends on the day of the load."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta

from orgload.clock import CHILE
from schemas.checks import EARLIEST_DATE

FUTURE_DAYS = 366
_load_date: ContextVar[date | None] = ContextVar("orgload_load_date", default=None)


@contextmanager
def load_date(day: date) -> Iterator[None]:
    """Validate as if the load happened on ``day`` (ORGLOAD_NOW, replays)."""
    token = _load_date.set(day)
    try:
        yield
    finally:
        _load_date.reset(token)


def current_load_date() -> date:
    """The load date in force: the one set by ``load_date`` or today in Chile."""
    day = _load_date.get()
    return day if day is not None else datetime.now(CHILE).date()


def hire_date_bounds() -> tuple[str, str]:
    """Earliest and latest accepted ``fecha_ingreso`` as ISO text (1900-01-01 … load + 366 d)."""
    latest = current_load_date() + timedelta(days=FUTURE_DAYS)
    return EARLIEST_DATE, latest.isoformat()
