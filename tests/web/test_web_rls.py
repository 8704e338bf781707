"""On PostgreSQL the database itself keeps the web app's tables apart per client: users,
sessions and web uploads under row-level security for the application role (SPEC §9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from orgload.db import make_engine, sessions, staff, tenant, users, web_uploads
from tests.web.helpers import ADMIN_A, Site, sign_in, upload


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_application_role_sees_only_its_tenants_users_sessions_and_uploads(
    site: Site, samples: Path
) -> None:
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)  # a session of acme's admin
        upload(client, csrf, samples / "organizacion_invalida.xlsx")
    app = make_engine(site.settings)  # as the application connects: orgload_app, no owner
    try:

        def count(table: object) -> int:
            with app.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        with tenant("beta"):
            assert count(users) == 1  # beta's admin only; no staff, no acme
            assert count(sessions) == 0
            assert count(web_uploads) == 0
            with app.connect() as conn:
                emails = conn.execute(select(users.c.email)).scalars().all()
            assert emails == ["admin@beta.cl"]
        with tenant("acme"):
            assert count(users) == 1
            assert count(sessions) == 1
            assert count(web_uploads) == 1
        with staff():
            assert count(users) == 3
        assert count(users) == 0  # no scope: nothing at all
        with tenant("beta"), app.begin() as conn:  # nor can beta write acme's rows
            changed = conn.execute(
                web_uploads.update().where(web_uploads.c.client_id == "acme").values(status="x")
            )
            assert changed.rowcount == 0
    finally:
        app.dispose()
