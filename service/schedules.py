"""The scheduled jobs as use cases: scan the inbox, apply the queue, check live data quality."""

from __future__ import annotations

from typing import Any

from orgload import clock
from orgload.db import engine_for, staff
from orgload.settings import Settings
from quality.suites import check_live_quality
from service.inbox import apply_queued, is_off_peak, scan_inbox

__all__ = ["apply_inbox_queue", "check_quality", "is_off_peak_now", "scan_uploads"]


def scan_uploads(settings: Settings, flow_run_id: str | None = None) -> list[dict[str, Any]]:
    """Validate each new upload of ``inbox/<client>/`` once; reports go to ``outbox/``."""
    with staff(), engine_for(settings) as engine:
        return [i.to_dict() for i in scan_inbox(engine, settings, clock.now(settings), flow_run_id)]


def apply_inbox_queue(
    settings: Settings, *, force: bool = False, flow_run_id: str | None = None
) -> list[dict[str, Any]]:
    """Apply the queued valid uploads (inside the off-peak window unless ``force``): the
    inbox's, then the web app's confirmed for the off-peak window (``source: web``)."""
    from service.uploads import apply_due_uploads

    with staff(), engine_for(settings) as engine:
        rows = [
            i.to_dict()
            for i in apply_queued(
                engine, settings, clock.now(settings), force=force, flow_run_id=flow_run_id
            )
        ]
        return rows + apply_due_uploads(
            settings, force=force, flow_run_id=flow_run_id, engine=engine
        )


def check_quality(settings: Settings) -> dict[str, Any]:
    """The Great Expectations suites on every client's live tables, with Data Docs."""
    with staff(), engine_for(settings) as engine:
        docs = settings.home / "outbox" / "_data_docs"
        return check_live_quality(engine, settings, docs_dir=docs).to_dict()


def is_off_peak_now(settings: Settings) -> bool:
    return is_off_peak(clock.now(settings))
