"""The database as a use case sees it: reachable, at the current schema, its spool imported.

Every surface gets its engine here (``open_database``) and hands it to the service functions,
which also accept ``None`` and then make and dispose an engine of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orgload import clock
from orgload.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OpenDatabase:
    """An engine ready for use, and the spooled incidents its opening imported."""

    engine: Engine
    imported_spool: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.engine.dispose()


def open_database(settings: Settings) -> OpenDatabase:
    """Make the engine, check the database is reachable and its schema current, then import
    the incidents spooled while it was down (exactly once: the import skips stored ids)."""
    from orgload.db import check_connection, make_engine, reachable, staff
    from orgload.migrate import ensure_current
    from support.spool import import_spool, spooled_files

    engine = make_engine(settings)
    try:
        check_connection(settings, engine)
        with reachable(settings), staff():  # the spool holds every client's incidents
            ensure_current(engine)
            imported = (
                import_spool(engine, settings, clock.now(settings))
                if spooled_files(settings.spool_dir)
                else []
            )
    except BaseException:
        engine.dispose()
        raise
    return OpenDatabase(engine, imported)


@contextmanager
def connected(settings: Settings, engine: Engine | None = None) -> Iterator[Engine]:
    """The caller's engine as it is, or one opened here (``open_database``) and disposed after."""
    if engine is not None:
        yield engine
        return
    database = open_database(settings)
    if database.imported_spool:
        log.warning(
            "imported %d spooled incident(s): %s",
            len(database.imported_spool),
            ", ".join(database.imported_spool),
        )
    try:
        yield database.engine
    finally:
        database.close()


def upgrade_database(settings: Settings) -> str | None:
    """Create or migrate the schema (Alembic); returns the revision now in force."""
    from orgload.db import check_connection, make_engine, reachable
    from orgload.migrate import current_revision, upgrade

    engine = make_engine(settings, owner=True)  # the migration owner keeps DDL
    try:
        with reachable(settings):
            check_connection(settings, engine)
            upgrade(engine)
            return current_revision(engine)
    finally:
        engine.dispose()
