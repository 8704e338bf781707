"""The SLA watch (SPEC §5): spooled incidents imported, deadlines checked, e-mails retried.

One plain function, run by ``orgload incidents watch`` and by the ``incident-sla-watch`` flow.
An incident past its review deadline gets one "plazo vencido" e-mail to support, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from orgload.db import notifications
from orgload.settings import Settings
from support.incidents import incident_summary, sla_watch
from support.notify import queue_notification, send_pending
from support.spool import import_spool


def run_sla_watch(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    imported = import_spool(engine, settings, now)
    with engine.begin() as conn:
        watched = sla_watch(conn, now, settings.sla_soon_hours)
        warned = set(
            conn.execute(
                select(notifications.c.incident_id).where(notifications.c.kind == "overdue")
            ).scalars()
        )
        newly_overdue = []
        for item in watched["overdue"]:
            if item.incident["id"] not in warned:
                queue_notification(conn, item.incident, "overdue", settings, now, None)
                newly_overdue.append(item.incident["id"])
    mail = send_pending(engine, settings, now)
    return {
        "checked_at": now.isoformat(),
        "imported_from_spool": imported,
        "overdue": [
            {**incident_summary(i.incident), "coverage_hours_late": round(-i.hours_left, 2)}
            for i in watched["overdue"]
        ],
        "due_soon": [
            {**incident_summary(i.incident), "coverage_hours_left": round(i.hours_left, 2)}
            for i in watched["due_soon"]
        ],
        "overdue_notified": newly_overdue,
        "notifications": mail,
    }
