"""Registered clients: add and list (SPEC §6 ``orgload clients``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine

from loaders.store import Client, add_client, list_clients
from orgload import clock
from orgload.db import engine_for
from orgload.errors import UsageError
from orgload.settings import Settings

__all__ = ["Client", "register_client", "registered_clients"]

CLIENT_ID_MAX = 64


def register_client(
    settings: Settings,
    client_id: str,
    name: str,
    *,
    timezone: str | None = None,
    admin_email: str | None = None,
    allow_mass_change: bool = False,
    engine: Engine | None = None,
) -> Client:
    """Register a client; its timezone decides its monthly period (default: the settings')."""
    if not client_id.strip() or len(client_id) > CLIENT_ID_MAX:
        raise UsageError(f"client id must be 1-{CLIENT_ID_MAX} characters")
    zone = timezone or settings.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"unknown timezone {zone!r}") from exc
    with engine_for(settings, engine) as bound, bound.begin() as conn:
        return add_client(
            conn, client_id, name, zone, admin_email, clock.now(settings), allow_mass_change
        )


def registered_clients(settings: Settings, engine: Engine | None = None) -> list[Client]:
    """Every registered client, by id."""
    with engine_for(settings, engine) as bound, bound.connect() as conn:
        return list_clients(conn)
