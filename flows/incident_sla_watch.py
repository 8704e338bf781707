"""Flow ``incident-sla-watch``: SLA deadlines, e-mail retries, and dead runs turned into
incidents (SPEC §5, §7)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.artifacts import mask_run_logs
from flows.reconcile import reconcile_dead_runs
from orgload import clock
from orgload.clock import in_chile
from orgload.settings import load_settings
from service.incidents import watch_sla

mask_run_logs()  # RUTs and e-mails never reach a run log (SPEC §9)


@task(name="sla-watch")
def sla_watch_task() -> dict[str, Any]:
    return watch_sla(load_settings())


@task(name="reconcile-dead-runs")
def reconcile_task() -> list[dict[str, Any]]:
    return reconcile_dead_runs(clock.now(load_settings()))


def _run_name() -> str:
    """``sla watch · 2026-12 · 01 Dec 11:15``."""
    try:
        settings = load_settings()
        now = clock.now(settings)
        return f"sla watch · {clock.period_of(now, settings.timezone)} · " + in_chile(now).strftime(
            "%d %b %H:%M"
        )
    except Exception:  # noqa: BLE001 - a name must not cost a run
        return "sla watch"


@flow(
    name="incident-sla-watch",
    flow_run_name=_run_name,
    description="Overdue and soon-due incidents, e-mail retries, crashed or silent runs → "
    "incidents.",
)
def incident_sla_watch() -> dict[str, Any]:
    """Check review deadlines, retry queued e-mails and open incidents for dead runs."""
    logger = get_run_logger()
    reconciled = reconcile_task()
    logger.info("reconcile: %d dead runs given their incident", len(reconciled))
    watch = sla_watch_task()
    logger.info(
        "sla: %d overdue, %d due soon; e-mails %d sent, %d still queued",
        len(watch["overdue"]),
        len(watch["due_soon"]),
        watch["notifications"]["sent"],
        watch["notifications"]["failed"],
    )
    lines = [
        "## orgload SLA watch",
        "",
        f"**Overdue:** {len(watch['overdue'])}  **Due soon:** {len(watch['due_soon'])}",
        f"**E-mails:** {watch['notifications']['sent']} sent, "
        f"{watch['notifications']['failed']} still queued",
        f"**Dead runs reconciled:** {len(reconciled)}",
    ]
    create_markdown_artifact("\n".join(lines), key="sla-watch")
    if watch["overdue"] or watch["due_soon"]:
        rows = [{"deadline": "overdue", **i} for i in watch["overdue"]]
        rows += [{"deadline": "due soon", **i} for i in watch["due_soon"]]
        create_table_artifact(
            rows, key="sla-incidents", description="Overdue and soon-due incidents"
        )
    return {"watch": watch, "reconciled": reconciled}
