"""The monthly load quota (SPEC §4): periods in the client's timezone, enforced by a primary key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from orgload.clock import next_period_start, period_of
from orgload.db import quota_periods
from orgload.errors import OrgloadError
from orgload.status import EXIT_CODES, LoadStatus

# The period arithmetic lives in orgload.clock; re-exported for importers not yet moved there
# (loaders/load.py).
__all__ = [
    "QuotaExhaustedError",
    "QuotaStatus",
    "next_period_start",
    "period_of",
    "quota_status",
    "release_quota",
    "take_quota",
]


class QuotaExhaustedError(OrgloadError):
    """The client's one monthly load of this period was already applied."""

    code = LoadStatus.QUOTA_EXHAUSTED
    exit_code = EXIT_CODES[LoadStatus.QUOTA_EXHAUSTED]


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """Whether the period's monthly load is used, and when the next period opens."""

    period: str
    used: bool | None  # None: the database could not be asked
    next_period_starts: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "used": self.used,
            "next_period_starts": self.next_period_starts.isoformat(),
        }


def quota_status(conn: Connection, client_id: str, period: str, timezone: str) -> QuotaStatus:
    taken = conn.execute(
        select(quota_periods.c.load_id).where(
            quota_periods.c.client_id == client_id, quota_periods.c.period == period
        )
    ).first()
    return QuotaStatus(period, taken is not None, next_period_start(period, timezone))


def take_quota(conn: Connection, client_id: str, period: str, load_id: int, now: datetime) -> None:
    """Claim the period for ``load_id`` inside the caller's transaction.

    The primary key (client_id, period) is the guarantee: a concurrent claimer waits for this
    transaction and then fails, whatever the checks before it saw.
    """
    try:
        with conn.begin_nested():
            conn.execute(
                insert(quota_periods).values(
                    client_id=client_id, period=period, load_id=load_id, taken_at=now
                )
            )
    except IntegrityError as exc:
        raise QuotaExhaustedError(
            f"the monthly load of {period} was already applied for client {client_id}"
        ) from exc


def release_quota(conn: Connection, load_id: int) -> None:
    """Give the period back when the load that took it is reverted."""
    conn.execute(delete(quota_periods).where(quota_periods.c.load_id == load_id))
