"""Flow ``scheduled-validation``: validate new inbox uploads, check live data quality, and apply
the queued valid files inside the off-peak window (SPEC §7)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.artifacts import mask_run_logs
from flows.hooks import open_run_incident
from orgload.settings import load_settings
from service.schedules import apply_inbox_queue, check_quality, is_off_peak_now, scan_uploads

mask_run_logs()  # RUTs and e-mails never reach a run log (SPEC §9)


def _run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None


@task(name="scan-inbox")
def scan_inbox_task() -> list[dict[str, Any]]:
    return scan_uploads(load_settings(), _run_id())


@task(name="data-quality")
def quality_task() -> dict[str, Any]:
    return check_quality(load_settings())


@task(name="apply-queued")
def apply_queued_task(force: bool) -> list[dict[str, Any]]:
    return apply_inbox_queue(load_settings(), force=force, flow_run_id=_run_id())


@flow(
    name="scheduled-validation",
    description="Validate pending inbox uploads, check live data quality, apply queued files "
    "in the off-peak window (22:00-05:59 Chile time).",
    on_failure=[open_run_incident],
    on_crashed=[open_run_incident],
)
def scheduled_validation(apply_now: bool = False) -> dict[str, Any]:
    """One pass over ORGLOAD_HOME/inbox/.

    Args:
        apply_now: Apply the queued valid files now, even outside the off-peak window (ops).
    """
    scanned = scan_inbox_task()
    quality = quality_task()
    in_window = is_off_peak_now(load_settings())
    applied = apply_queued_task(apply_now) if (apply_now or in_window) else []
    _publish(scanned, quality, applied, in_window)
    return {"scanned": scanned, "quality": quality, "applied": applied, "off_peak": in_window}


def _publish(
    scanned: list[dict[str, Any]],
    quality: dict[str, Any],
    applied: list[dict[str, Any]],
    window: bool,
) -> None:
    lines = [
        "## orgload scheduled validation",
        "",
        f"**New uploads:** {len(scanned)} — "
        f"{sum(1 for s in scanned if s['status'] == 'queued')} queued, "
        f"{sum(1 for s in scanned if s['status'] == 'invalid')} invalid",
        f"**Off-peak window:** {'open' if window else 'closed'}; applied now: {len(applied)}",
        f"**Live data quality:** {'pass' if quality.get('success') else 'FAIL'}",
    ]
    if quality.get("docs_index"):
        lines.append(f"**Data Docs:** {quality['docs_index']}")
    create_markdown_artifact("\n".join(lines), key="scheduled-validation")
    rows = scanned + applied
    if rows:
        create_table_artifact(rows, key="inbox-files", description="Uploads seen and applied")
