"""Tenant isolation (SPEC §9): on PostgreSQL the database enforces it for the role the
application acts as; on both databases the service layer scopes every use case by client."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from orgload.db import APP_ROLE, make_engine, staff, tenant
from orgload.errors import NotFoundError, RefusedError
from orgload.settings import Settings
from service.clients import register_client
from service.files import export_client
from service.incidents import escalate_incident, show_incident, transition_incident
from service.loads import LoadRequest, client_history, replay_incident, revert_load, run_load

NOV = "organizacion_2026-11.xlsx"
PROTECTED = (
    "clients",
    "units",
    "people",
    "loads",
    "quota_periods",
    "incidents",
    "inbox_files",
    "change_log",
    "incident_history",
    "notifications",
)


@pytest.fixture
def two_clients(settings: Settings, engine: Engine, samples: Path) -> dict[str, int]:
    """Clients ``alfa`` and ``beta`` with the same organization (the same keys!) loaded, and
    a rejected load of ``beta`` (so beta has an incident, its history and e-mails)."""
    loads = {}
    for client in ("alfa", "beta"):
        register_client(settings, client, client.title(), engine=engine)
        outcome = run_load(settings, LoadRequest(client, [samples / NOV]))
        assert outcome.status == "applied"
        loads[client] = int(outcome.load_id or 0)
    rejected = run_load(settings, LoadRequest("beta", [samples / "organizacion_invalida.xlsx"]))
    assert rejected.incident is not None
    BETA_INCIDENT[settings.resolved_database_url] = rejected.incident["id"]
    return loads


BETA_INCIDENT: dict[str, str] = {}  # database → the id of beta's incident (set by two_clients)


def _counts(conn) -> dict[str, int]:
    return {
        table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
        for table in PROTECTED
    }


# Row-level security is PostgreSQL's: these tests run there only (SQLite's guard, the service
# layer's scoping, is the last test of this module, on both databases).
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def app_engine(settings: Settings) -> Engine:
    """An engine as the application makes it: acting as the application role."""
    assert settings.resolved_database_url.startswith("postgresql")
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@ON_POSTGRES
def test_the_application_role_is_neither_owner_nor_superuser(app_engine: Engine) -> None:
    with staff(), app_engine.connect() as conn:
        user, superuser = conn.execute(
            text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
        owners = set(
            conn.execute(
                text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
    assert user == APP_ROLE
    assert superuser is False
    assert APP_ROLE not in owners


@ON_POSTGRES
def test_a_transaction_with_no_tenant_sees_no_client_rows(
    app_engine: Engine, engine: Engine, two_clients: dict[str, int]
) -> None:
    with engine.connect() as conn:  # the owner sees everything (no inbox in this test)
        owner = _counts(conn)
    assert {table for table, n in owner.items() if n == 0} <= {"inbox_files", "notifications"}
    assert owner["people"] > 0
    with app_engine.connect() as conn:
        assert _counts(conn) == dict.fromkeys(PROTECTED, 0)


@ON_POSTGRES
def test_a_tenant_reads_and_changes_only_its_own_rows_even_unfiltered(
    app_engine: Engine, engine: Engine, two_clients: dict[str, int]
) -> None:
    with engine.connect() as conn:
        alfa_people = conn.execute(
            text("SELECT count(*) FROM people WHERE client_id = 'alfa'")
        ).scalar_one()
    with tenant("alfa"), app_engine.connect() as conn:  # rolled back at the end
        assert set(conn.execute(text("SELECT DISTINCT client_id FROM people")).scalars()) == {
            "alfa"
        }
        assert conn.execute(text("SELECT count(*) FROM people")).scalar_one() == alfa_people
        assert conn.execute(text("SELECT count(*) FROM incidents")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 0
        assert set(conn.execute(text("SELECT id FROM clients")).scalars()) == {"alfa"}
        log = conn.execute(text("SELECT DISTINCT load_id FROM change_log")).scalars().all()
        assert log == [two_clients["alfa"]]
        changed = conn.execute(text("UPDATE people SET cargo = 'x' WHERE client_id = 'beta'"))
        assert changed.rowcount == 0
        own_log = conn.execute(text("SELECT count(*) FROM change_log")).scalar_one()
        deleted = conn.execute(text("DELETE FROM change_log"))  # unfiltered: its own rows only
        assert deleted.rowcount == own_log > 0
        conn.rollback()
    with (
        tenant("alfa"),
        pytest.raises(DBAPIError, match="row-level security"),
        app_engine.begin() as conn,
    ):
        conn.execute(
            text(
                "INSERT INTO quota_periods (client_id, period, load_id, taken_at) "
                "VALUES ('beta', '2030-01', :load, now())"
            ),
            {"load": two_clients["beta"]},
        )
    with staff(), app_engine.connect() as conn:
        assert set(conn.execute(text("SELECT DISTINCT client_id FROM people")).scalars()) == {
            "alfa",
            "beta",
        }


@ON_POSTGRES
def test_two_hundred_alternating_tenants_on_one_pool_never_leak(
    app_engine: Engine, settings: Settings, samples: Path, two_clients: dict[str, int]
) -> None:
    """The tenant is set per transaction: a pooled connection never carries it over."""
    for turn in range(200):
        client = ("alfa", "beta")[turn % 2]
        with tenant(client), app_engine.begin() as conn:
            seen = set(conn.execute(text("SELECT DISTINCT client_id FROM loads")).scalars())
            assert seen == {client}
        with app_engine.connect() as conn:  # and nothing is left behind for the next user
            assert conn.execute(text("SELECT count(*) FROM loads")).scalar_one() == 0
    for turn in range(10):  # real loads through the service, alternating, on the same pool
        client = ("alfa", "beta")[turn % 2]
        outcome = run_load(settings, LoadRequest(client, [samples / NOV]), app_engine)
        assert outcome.status == "already_applied"
        history = client_history(settings, client, app_engine).to_dict()
        assert {e["load_id"] for e in history} >= {two_clients[client]}
        assert two_clients["beta" if client == "alfa" else "alfa"] not in {
            e["load_id"] for e in history
        }


def test_the_service_scopes_every_use_case_by_client(
    settings: Settings, engine: Engine, two_clients: dict[str, int], tmp_path: Path
) -> None:
    """Both databases: another client's load is never reverted, listed or exported."""
    with pytest.raises(RefusedError, match="not a load of client alfa"):
        revert_load(settings, "alfa", two_clients["beta"], "typo")
    assert two_clients["beta"] not in {
        e["load_id"] for e in client_history(settings, "alfa").to_dict()
    }
    exported = export_client(settings, "alfa", "json")
    assert exported.text is not None
    assert '"beta"' not in exported.text
    incident = BETA_INCIDENT[settings.resolved_database_url]
    for attempt in (
        lambda: show_incident(settings, incident, client_id="alfa"),
        lambda: transition_incident(settings, incident, "in_review", client_id="alfa"),
        lambda: escalate_incident(settings, incident, "typo", client_id="alfa"),
        lambda: replay_incident(settings, incident, client_id="alfa"),
    ):
        with pytest.raises(NotFoundError):
            attempt()
    assert show_incident(settings, incident).to_dict()["status"] == "reported"  # unchanged
    assert show_incident(settings, incident, client_id="beta").to_dict()["level"] == 1
    reverted = revert_load(settings, "alfa", two_clients["alfa"], "wrong file")
    assert reverted.reverted_load_id == two_clients["alfa"]
    with engine.connect() as conn:  # beta untouched
        active_beta = conn.execute(
            text("SELECT count(*) FROM people WHERE client_id = 'beta' AND active")
        ).scalar_one()
    assert active_beta > 0
