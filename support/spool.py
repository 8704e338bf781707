"""Incidents that could not reach the database wait here, one JSON file each (SPEC §5).

Writes are atomic (temporary file, fsync, rename). Import is exactly once: an incident keeps
its id, the import skips ids already stored, and a file is deleted only after its incident is
committed — a crash in between leaves a file whose next import is a no-op.

Every command that reaches the database imports the spool, so several may race for one file:
each import takes a lock first (PostgreSQL: a transaction-level advisory lock; SQLite: its
write lock, taken by every write transaction), so the check for a stored id and the insert
are one step, and a file that another importer deleted meanwhile is simply done.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from orgload.errors import IncidentNotRecordedError
from orgload.settings import Settings
from support.incidents import IncidentDraft, get_incident, incident_exists, record_incident
from support.notify import queue_notification

log = logging.getLogger(__name__)


def spool_incident(spool_dir: Path, draft: IncidentDraft) -> Path:
    """Write ``draft`` to the spool; a spool that cannot be written (ORGLOAD_HOME read-only,
    under a file, disk full) is an ``IncidentNotRecordedError`` naming the incident (exit 4),
    never a crash."""
    target = spool_dir / f"{draft.id}.json"
    temporary = spool_dir / f".{draft.id}.{os.getpid()}.tmp"
    try:
        spool_dir.mkdir(parents=True, exist_ok=True)
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(draft.to_dict(), handle, ensure_ascii=False, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)  # a half-written file never stays behind
        raise IncidentNotRecordedError(
            f"the database is unreachable and incident {draft.id} could not be spooled to "
            f"{spool_dir} ({exc.strerror or exc}): it is recorded nowhere; make ORGLOAD_HOME "
            "writable"
        ) from exc
    log.warning("database unreachable: incident %s spooled to %s", draft.id, target)
    return target


def spooled_files(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("INC-*.json")) if spool_dir.is_dir() else []


def import_spool(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """Store every spooled incident not stored yet (and queue its e-mail); returns their ids."""
    imported = []
    for path in spooled_files(settings.spool_dir):
        try:
            draft = IncidentDraft.from_dict(json.loads(path.read_text("utf-8")))
        except FileNotFoundError:
            continue  # another command imported it first
        except (OSError, ValueError, TypeError, KeyError):
            log.error("unreadable spool file %s left in place", path)
            continue
        with engine.begin() as conn:
            _one_importer(conn)
            if not incident_exists(conn, draft.id):
                record_incident(conn, draft, now)
                queue_notification(
                    conn, get_incident(conn, draft.id), "reported", settings, now, None
                )
                imported.append(draft.id)
        path.unlink(missing_ok=True)
    return imported


# pg_advisory_xact_lock key of the spool import (any constant unique to this use).
SPOOL_IMPORT_LOCK = 0x6F72_676C_7370  # "orglsp"


def _one_importer(conn: Connection) -> None:
    """Wait until no other transaction is importing the spool (until this one commits)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SPOOL_IMPORT_LOCK})
