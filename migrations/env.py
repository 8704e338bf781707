"""Alembic environment: migrates the database orgload is configured for (or the one passed in)."""

from __future__ import annotations

from alembic import context

from orgload.db import make_engine, metadata
from orgload.settings import load_settings

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(load_settings(), owner=True)  # migrations keep DDL
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("orgload migrations run online only: use `orgload db upgrade`")
run_migrations_online()
