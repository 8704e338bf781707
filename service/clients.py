"""Registered clients: add and list (SPEC §6 ``orgload clients``)."""

from __future__ import annotations

import unicodedata
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, update

from loaders.store import Client, add_client, get_client, list_clients
from orgload import clock
from orgload.db import clients, engine_for, reading, staff
from orgload.errors import UsageError, shown
from orgload.settings import Settings
from orgload.slugs import check_client_id

__all__ = ["Client", "register_client", "registered_clients"]

NAME_MAX = 200  # the columns of the clients table (orgload/db.py)
EMAIL_MAX = 254


def register_client(
    settings: Settings,
    client_id: str,
    name: str,
    *,
    timezone: str | None = None,
    admin_email: str | None = None,
    allow_mass_change: bool = False,
    apply_off_peak: bool = False,
    engine: Engine | None = None,
) -> Client:
    """Register a client; its timezone decides its monthly period (default: the settings').
    ``apply_off_peak``: a load confirmed in the web app during the high-concurrency hours
    waits for the next off-peak window (22:00 Chile time) instead of applying at once."""
    check_client_id(client_id)
    _check_text("--name", name, NAME_MAX)
    if admin_email is not None:
        _check_text("--admin-email", admin_email, EMAIL_MAX, spaces=False)
    zone = timezone or settings.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise UsageError(f"unknown timezone {shown(zone, repr_=True)}") from exc
    with staff(), engine_for(settings, engine) as bound, bound.begin() as conn:
        client = add_client(
            conn, client_id, name, zone, admin_email, clock.now(settings), allow_mass_change
        )
        if apply_off_peak:
            conn.execute(
                update(clients).where(clients.c.id == client_id).values(apply_off_peak=True)
            )
            client = get_client(conn, client_id)
        return client


def _check_text(option: str, value: str, limit: int, *, spaces: bool = True) -> None:
    """A name or address typed on the command line: not blank, within the column's length,
    no control characters (they break the workbooks we write later)."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if not value.strip() or len(value) > limit:
        raise UsageError(f"{option} must be 1-{limit} characters")
    if bad is not None or (not spaces and any(c.isspace() for c in value)):
        found = f"U+{ord(bad):04X}" if bad is not None else "a space"
        raise UsageError(f"{option} must not contain {found}")


def registered_clients(settings: Settings, engine: Engine | None = None) -> list[Client]:
    """Every registered client, by id."""
    with staff(), engine_for(settings, engine) as bound, reading(bound) as conn:
        return list_clients(conn)
