"""Create or migrate the database schema with Alembic (``orgload db upgrade``).

Every other command only checks the schema, without importing Alembic (a quarter of a second
of start-up): it compares the ``alembic_version`` row with ``SCHEMA_REVISION``, the newest
migration, which a test keeps equal to Alembic's own head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from orgload.db import reading

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCHEMA_REVISION = "0007"  # the newest file in migrations/versions/


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (idempotent)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no orgload schema."""
    with reading(engine) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(value) if value is not None else None


def head_revision() -> str | None:
    """Alembic's head, read from the migration scripts (slow: for upgrades and tests)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def ensure_current(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or behind the code."""
    from orgload.errors import ConfigurationError

    current = current_revision(engine)
    if current != SCHEMA_REVISION:
        state = "has no orgload schema" if current is None else f"is at revision {current}"
        raise ConfigurationError(f"the database {state}; run `orgload db upgrade` first")
