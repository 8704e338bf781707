"""Test helpers for real databases: the PostgreSQL server of the tests and throwaway databases.

Imported by ``conftest.py`` and by tests alike (tests never import from ``conftest``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

PG_URL = os.environ.get(
    "ORGLOAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_admin() -> Engine:
    """An engine on the tests' PostgreSQL server (autocommit, for CREATE/DROP DATABASE) that
    has answered; when none answers the test skips, or fails in CI (``CI=true``)."""
    import pytest
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server here"
        admin.dispose()
        message = f"PostgreSQL not reachable at {PG_URL}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return admin


@contextmanager
def postgres_database(admin: Engine, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database for one test (a copy of ``template``, else empty): its URL.
    Dropped afterwards."""
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"orgload_t_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the tests' server (its URL), dropped afterwards;
    when the server cannot be reached the test skips, or fails in CI (``postgres_admin``)."""
    admin = postgres_admin()
    try:
        with postgres_database(admin) as url:
            yield url
    finally:
        admin.dispose()
