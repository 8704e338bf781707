"""Flow ``incident-sla-watch``: SLA deadlines, e-mail retries, and dead runs turned into
incidents (SPEC §5, §7)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.artifacts import mask_run_logs
from flows.reconcile import reconcile_dead_runs
from orgload import clock
from orgload.settings import load_settings
from service.incidents import watch_sla

mask_run_logs()  # RUTs and e-mails never reach a run log (SPEC §9)


@task(name="sla-watch")
def sla_watch_task() -> dict[str, Any]:
    return watch_sla(load_settings())


@task(name="reconcile-dead-runs")
def reconcile_task() -> list[dict[str, Any]]:
    return reconcile_dead_runs(clock.now(load_settings()))


@flow(
    name="incident-sla-watch",
    description="Overdue and soon-due incidents, e-mail retries, crashed or silent runs → "
    "incidents.",
)
def incident_sla_watch() -> dict[str, Any]:
    """Check review deadlines, retry queued e-mails and open incidents for dead runs."""
    reconciled = reconcile_task()
    watch = sla_watch_task()
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
        create_table_artifact(watch["overdue"] + watch["due_soon"], key="sla-incidents")
    return {"watch": watch, "reconciled": reconciled}
