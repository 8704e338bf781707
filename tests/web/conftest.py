"""Fixtures of the web app tests: a migrated database (SQLite and PostgreSQL, the ``settings``
and ``engine`` fixtures of tests/conftest.py), two clients with one admin each, a staff user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.web.helpers import ADMIN_A, ADMIN_B, PASSWORD, STAFF, Site

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orgload.settings import Settings


@pytest.fixture
def site(settings: Settings, engine: Engine) -> Iterator[Site]:
    """Clients ``acme`` and ``beta``, an admin of each and a staff user, passwords set."""
    from service.clients import register_client
    from service.users import add_user, set_password

    register_client(settings, "acme", "Acme SpA", admin_email=ADMIN_A)
    register_client(settings, "beta", "Beta Ltda", admin_email=ADMIN_B)
    for email, client_id in ((ADMIN_A, "acme"), (ADMIN_B, "beta"), (STAFF, None)):
        added = add_user(settings, email, client_id=client_id, staff_user=client_id is None)
        set_password(settings, added.token, PASSWORD)
    return Site(settings, engine)
