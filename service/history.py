"""A client's quota and load history (SPEC §4, §6): records only, so ``orgload quota`` and
``orgload history`` import neither the pipeline nor pandas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from loaders.quota import QuotaStatus, quota_status
from loaders.store import get_client, load_history
from orgload import clock
from orgload.clock import period_of
from orgload.db import engine_for, reading, tenant
from orgload.settings import Settings
from orgload.slugs import check_client_id
from service.attempts import settle_attempts

__all__ = ["History", "HistoryEntry", "client_history", "client_quota"]


def client_quota(settings: Settings, client_id: str, engine: Engine | None = None) -> QuotaStatus:
    """This period's quota of a client and when the next period starts (SPEC §4)."""
    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound:
        settle_attempts(settings, bound, client_id)
        with reading(bound) as conn:
            client = get_client(conn, client_id)
            return quota_status(
                conn, client.id, period_of(clock.now(settings), client.timezone), client.timezone
            )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded load or revert of a client."""

    load_id: int
    status: str
    period: str
    file_name: str | None
    sha256: str | None
    created_at: datetime  # in the client's timezone
    changes: dict[str, Any] | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "status": self.status,
            "period": self.period,
            "file_name": self.file_name,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
            "changes": self.changes,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class History:
    """A client's loads, newest first; ``to_dict`` is the JSON of ``orgload history``."""

    client_id: str
    entries: list[HistoryEntry]

    def to_dict(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entries]


def client_history(settings: Settings, client_id: str, engine: Engine | None = None) -> History:
    """Every recorded attempt of a client (all statuses; dry runs are never recorded)."""
    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound:
        settle_attempts(settings, bound, client_id)  # a killed attempt shows as crashed
        with reading(bound) as conn:
            client = get_client(conn, client_id)
            rows = load_history(conn, client.id)
    zone = ZoneInfo(client.timezone)
    return History(
        client.id,
        [
            HistoryEntry(
                load_id=r["id"],
                status=r["status"],
                period=r["period"],
                file_name=r["file_name"],
                sha256=r["sha256"],
                created_at=r["created_at"].astimezone(zone),
                changes=r["changes"],
                reason=r["reason"],
            )
            for r in rows
        ],
    )
