"""Flow ``scheduled-validation``: validate new inbox uploads, check live data quality, and apply
the queued valid files inside the off-peak window (SPEC §7)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.artifacts import cut, mask_run_logs
from flows.hooks import open_run_incident
from orgload import clock
from orgload.clock import in_chile
from orgload.settings import load_settings
from service.schedules import apply_inbox_queue, check_quality, is_off_peak_now, scan_uploads

mask_run_logs()  # RUTs and e-mails never reach a run log (SPEC §9)

NOTE_WIDTH = 120


def _run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None


def _run_name() -> str:
    """``inbox · 2026-12 · 01 Dec 22:00`` (``· apply now`` when ops force the apply)."""
    try:
        settings = load_settings()
        now = clock.now(settings)
        period = clock.period_of(now, settings.timezone)
        at = in_chile(now).strftime("%d %b %H:%M")
    except Exception:  # noqa: BLE001 - a name must not cost a run
        period, at = "?", "?"
    apply_now = bool((flow_run.parameters or {}).get("apply_now"))
    return f"inbox · {period} · {at}" + (" · apply now" if apply_now else "")


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
    flow_run_name=_run_name,
    on_failure=[open_run_incident],
    on_crashed=[open_run_incident],
)
def scheduled_validation(apply_now: bool = False) -> dict[str, Any]:
    """One pass over ORGLOAD_HOME/inbox/.

    Args:
        apply_now: Apply the queued valid files now, even outside the off-peak window (ops).
    """
    logger = get_run_logger()
    scanned = scan_inbox_task()
    logger.info("scan: %s", scan_line(scanned))
    quality = quality_task()
    logger.info("quality: %s", quality_line(quality))
    in_window = is_off_peak_now(load_settings())
    applying = apply_now or in_window
    applied = apply_queued_task(apply_now) if applying else []
    logger.info(
        "apply: %s",
        apply_line(applied) if applying else "off-peak window closed; queued files wait",
    )
    _publish(scanned, quality, applied, in_window, apply_now)
    return {"scanned": scanned, "quality": quality, "applied": applied, "off_peak": in_window}


def scan_line(scanned: list[dict[str, Any]]) -> str:
    """``3 new uploads: 2 queued, 1 invalid`` — each status the scan gave, counted."""
    if not scanned:
        return "no new uploads"
    by_status = Counter(s["status"] for s in scanned)
    parts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
    return f"{len(scanned)} new upload{'s' if len(scanned) != 1 else ''}: {parts}"


def apply_line(applied: list[dict[str, Any]]) -> str:
    """What the apply pass did with each file it took: ``1 taken: 0 applied, 1 skipped
    (quota_exhausted)`` — never "applied" for a file that was not."""
    if not applied:
        return "nothing queued"
    count = Counter(a["status"] for a in applied)
    why = Counter(a["load_status"] for a in applied if a["status"] != "applied")
    reasons = f" ({', '.join(f'{s} ×{n}' for s, n in sorted(why.items()) if s)})" if why else ""
    return (
        f"{len(applied)} taken: {count.get('applied', 0)} applied, "
        f"{count.get('skipped', 0)} skipped, {count.get('failed', 0)} failed{reasons}"
    )


def quality_line(quality: dict[str, Any]) -> str:
    if quality.get("error"):
        return f"could not run: {cut(quality['error'], 200)}"
    clients = quality.get("clients") or []
    failed = [c["client_id"] for c in clients if not c.get("success")]
    verdict = "pass" if quality.get("success") else "FAIL"
    tail = f"; failing: {', '.join(failed)}" if failed else ""
    return f"{verdict} ({len(clients)} clients checked){tail}"


def inbox_rows(
    scanned: list[dict[str, Any]], applied: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The table of the run: what step, whose file, its status first; long values cut; the
    SHA-256 shortened and last (the full one is in the database and the report's name)."""
    rows = []
    for step, items in (("scan", scanned), ("apply", applied)):
        for item in items:
            reports = [item.get("report_json_path"), item.get("report_xlsx_path")]
            rows.append(
                {
                    "step": step,
                    "client": item["client_id"],
                    "file": cut(item["file_name"], 60),
                    "status": item["status"],
                    "load_status": item.get("load_status"),
                    "errors": item.get("errors"),
                    "load_id": item.get("load_id"),
                    "note": cut(item.get("note"), NOTE_WIDTH) or None,
                    "reports": ", ".join(str(r).rsplit("/", 1)[-1] for r in reports if r) or None,
                    "sha256": str(item.get("sha256") or "")[:12],
                }
            )
    return rows


def _publish(
    scanned: list[dict[str, Any]],
    quality: dict[str, Any],
    applied: list[dict[str, Any]],
    window: bool,
    apply_now: bool,
) -> None:
    if window or apply_now:
        why = "window open" if window else "apply_now by ops"
        apply_text = f"{why}; {apply_line(applied)}"
    else:
        apply_text = "window closed (22:00-05:59 Chile time); queued files wait"
    lines = [
        "## orgload scheduled validation",
        "",
        f"**New uploads:** {scan_line(scanned)}  ",
        f"**Off-peak apply:** {apply_text}  ",
        f"**Live data quality:** {quality_line(quality)}  ",
    ]
    if quality.get("docs_index"):
        lines.append(
            f"**Data Docs:** a static site written on the worker's disk at "
            f"`{quality['docs_index']}` (under ORGLOAD_HOME/outbox/_data_docs/): open it on "
            "that machine or from the shared ORGLOAD_HOME; it is not served over HTTP  "
        )
    elif quality.get("docs_error"):
        lines.append(f"**Data Docs:** not built: {cut(quality['docs_error'], 200)}  ")
    create_markdown_artifact("\n".join(lines), key="scheduled-validation")
    rows = inbox_rows(scanned, applied)
    if rows:
        create_table_artifact(rows, key="inbox-files", description="Uploads seen and applied")
