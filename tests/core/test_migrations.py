"""Migrations: the tables in orgload/db.py are exactly what Alembic builds, on both databases,
and the schema check that every command runs knows the newest revision."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from orgload.db import make_engine, metadata
from orgload.errors import ConfigurationError
from orgload.migrate import (
    SCHEMA_REVISION,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from orgload.settings import Settings
from tests.databases import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no schema at all."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        engine = make_engine(Settings(database_url=url, home=tmp_path))
        yield engine
        engine.dispose()
        return
    admin, _template = request.getfixturevalue("postgres_template")
    with postgres_database(admin) as url:
        engine = make_engine(Settings(database_url=url), owner=True)
        yield engine
        engine.dispose()


def test_schema_revision_is_alembics_head() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_the_tables_in_code_match_the_migrated_schema(empty_engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_commands_refuse_a_database_without_schema_or_behind(empty_engine: Engine) -> None:
    with pytest.raises(ConfigurationError, match="has no orgload schema"):
        ensure_current(empty_engine)
    upgrade(empty_engine, "0003")
    with pytest.raises(ConfigurationError, match="is at revision 0003"):
        ensure_current(empty_engine)
    upgrade(empty_engine)
    ensure_current(empty_engine)
    assert current_revision(empty_engine) == SCHEMA_REVISION


def test_0004_keeps_the_change_log_and_can_be_undone(empty_engine: Engine) -> None:
    """The change log's documents survive the move from JSONB to json, and back."""
    upgrade(empty_engine, "0003")
    document = {"nombres": 'Ñusta \\ "Ana"', "fecha_ingreso": None}
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO clients (id, name, timezone, allow_mass_change, created_at) "
                "VALUES ('c', 'C', 'America/Santiago', false, '2026-11-01T00:00:00+00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO loads (id, client_id, kind, status, period, allow_mass_change, "
                "override_quota, created_at) VALUES (1, 'c', 'load', 'applied', '2026-11', "
                "false, false, '2026-11-01T00:00:00+00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO change_log (load_id, entity, key, action, before, after) "
                "VALUES (1, 'personas', '1-9', 'update', :doc, :doc)"
            ),
            {"doc": json.dumps(document)},
        )

    def logged() -> list[object]:
        with empty_engine.connect() as conn:
            row = conn.execute(text("SELECT before, after FROM change_log")).one()
        return [json.loads(v) if isinstance(v, str) else v for v in row]

    upgrade(empty_engine, "0004")
    assert logged() == [document, document]
    from alembic import command

    from orgload.migrate import alembic_config

    config = alembic_config()
    with empty_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert logged() == [document, document]
    assert current_revision(empty_engine) == "0003"
