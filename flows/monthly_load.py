"""Flow ``monthly-load``: apply one client's monthly file (thin orchestration over the service)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.runtime import flow_run
from prefect.states import State

from flows.artifacts import mask_run_logs, publish_load, rows_read
from flows.hooks import open_run_incident
from flows.outcomes import (
    DRY_RUN_TAG,
    INVALID_PARAMETERS,
    OVERRIDE_TAG,
    invalid_parameters,
    load_state,
    outcome_tag,
    tag_run,
)
from flows.stages import RunProgress, progress_key, stage_lines, state_message
from orgload.settings import load_settings
from orgload.status import LoadStatus, exit_code
from service.loads import LoadRequest, run_load
from service.operations import (
    ParameterCheck,
    RejectionReport,
    check_load_parameters,
    run_label,
    upload_path,
    write_rejection_report,
)

mask_run_logs()  # RUTs and e-mail addresses never reach Prefect's logs in clear (SPEC §9)


def client_limit(client_id: str) -> str:
    """The Prefect global concurrency limit that allows one load per client at a time."""
    return f"orgload-load-{client_id}"


@task(name="ensure-client-limit", retries=2, retry_delay_seconds=1)
def ensure_client_limit(client_id: str) -> str:
    name = client_limit(client_id)
    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, 1)
        except Exception:  # noqa: BLE001 - a concurrent run created it first
            client.read_global_concurrency_limit_by_name(name)
    return name


@task(name="check-parameters")
def check_parameters_task(
    client_id: str, file: str, override_quota: bool, reason: str, stored_file: str = ""
) -> ParameterCheck:
    return check_load_parameters(
        load_settings(),
        client_id,
        file,
        override_quota=override_quota,
        reason=reason,
        stored_file=stored_file,
    )


@task(name="run-load")
def run_load_task(
    client_id: str,
    files: list[str],
    dry_run: bool,
    allow_mass_change: bool,
    override_quota: bool,
    reason: str | None,
    flow_run_id: str | None,
    stored_file: str = "",
) -> dict[str, Any]:
    settings = load_settings()
    progress = RunProgress(progress_key("load-progress", client_id), get_run_logger())
    with upload_path(settings, client_id, files[0] if files else "", stored_file) as path:
        request = LoadRequest(
            client_id=client_id,
            paths=[path],
            dry_run=dry_run,
            allow_mass_change=allow_mass_change,
            override_quota=override_quota,
            reason=reason,
            flow_run_id=flow_run_id,
        )
        result = run_load(settings, request, progress=progress).to_dict(settings.lang)
    progress.finish(result["status"])
    return result


@task(name="write-report")
def write_report_task(
    client_id: str, file: str, result: dict[str, Any], stored_file: str = ""
) -> RejectionReport:
    settings = load_settings()
    with upload_path(settings, client_id, file, stored_file) as path:
        return write_rejection_report(settings, client_id, [path], result)


def _run_name() -> str:
    """``acme · 2026-12 · organizacion.xlsx`` (``· dry run`` / ``· override`` when so)."""
    params = flow_run.parameters or {}
    suffix = "dry run" if params.get("dry_run") else ""
    if params.get("override_quota"):
        suffix = "override" if not suffix else f"{suffix} · override"
    return run_label(
        load_settings(),
        str(params.get("client_id") or ""),
        str(params.get("file") or params.get("stored_file") or ""),
        suffix=suffix,
    )


@flow(
    name="monthly-load",
    description="Validate, diff and apply a client's monthly organization file (SPEC §3-4).",
    flow_run_name=_run_name,
    on_failure=[open_run_incident],
    on_crashed=[open_run_incident],
    log_prints=False,
)
def monthly_load(
    client_id: str,
    file: str = "",
    dry_run: bool = False,
    allow_mass_change: bool = False,
    override_quota: bool = False,
    reason: str = "",
    stored_file: str = "",
) -> State:
    """Apply ``file`` or ``stored_file`` (an .xlsx, or a .zip of the two CSVs) for ``client_id``.

    Args:
        client_id: Registered client id (e.g. acme).
        file: Path to the upload as the worker sees it (e.g. under ORGLOAD_HOME/inbox/);
            empty when stored_file is given.
        dry_run: Compute and show the plan without applying it.
        allow_mass_change: Allow deactivating more than max(20 %, 10) rows (ops only).
        override_quota: Apply a correction load outside the monthly quota (needs a reason).
        reason: Why the quota is overridden (required with override_quota, else empty);
            recorded on the load.
        stored_file: Key of the upload in orgload's store (e.g. archive/3e/3e2a…/org.xlsx,
            uploads/acme/org.xlsx): any worker can load it. Empty when file is given.
    """
    logger = get_run_logger()
    checked = check_parameters_task(client_id, file, override_quota, reason, stored_file)
    if not checked.ok:
        line = f"parameters refused ({checked.problem}): {checked.message}"
        logger.error(line)  # one line, no traceback, no incident, no concurrency slot
        tag_run(outcome_tag("invalid_parameters"))
        return invalid_parameters(line)
    options = [
        name
        for name, on in (
            ("dry_run", dry_run),
            ("allow_mass_change", allow_mass_change),
            ("override_quota", override_quota),
        )
        if on
    ]
    logger.info(
        "parameters: client %s, period %s, file %s; options: %s",
        checked.client_id,
        checked.period,
        checked.file_name,
        ", ".join(options) or "none",
    )
    # A short lease: a SIGKILLed run cannot release its slot; the lease is renewed while alive.
    with concurrency(ensure_client_limit(client_id), occupy=1, strict=True, lease_duration=60):
        result = run_load_task(
            client_id,
            [file],
            dry_run,
            allow_mass_change,
            override_quota,
            reason.strip() or None,
            str(flow_run.id) if flow_run.id else None,
            stored_file,
        )
    reports: list[Path | str] = []
    counts = rows_read(result)
    if result["status"] == LoadStatus.REJECTED:
        written = write_report_task(client_id, file, result, stored_file)
        reports = [p for p in (written.json_path, written.xlsx_path) if p is not None]
        if any(loc.startswith("database:") for loc in written.locations):
            reports = list(written.locations)  # no file on this worker: the store's keys
        counts = counts or written.counts
    override = reason.strip() if override_quota else None
    for line in stage_lines(result, counts, reports, override):
        logger.info(line)
    publish_load(
        result, checked.file_name, override_reason=override, reports=reports, counts=counts
    )
    tags = [outcome_tag(result["status"])]
    tags += [OVERRIDE_TAG] if override_quota else []
    tags += [DRY_RUN_TAG] if dry_run else []
    tag_run(*tags)
    return load_state(result["status"], state_message(result, override), data=result)


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.monthly_load --client ID FILE``: run the flow here (ephemeral Prefect)."""
    parser = argparse.ArgumentParser(prog="python -m flows.monthly_load", description=__doc__)
    parser.add_argument("--client", required=True)
    parser.add_argument("file")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    state = monthly_load(
        client_id=args.client, file=args.file, dry_run=args.dry_run, return_state=True
    )
    result = state.result(raise_on_failure=False)
    if isinstance(result, dict):
        print(json.dumps(result, ensure_ascii=False))
        return exit_code(result["status"])
    print(f"run ended {state.name}: {state.message}", file=sys.stderr)
    return 2 if state.name == INVALID_PARAMETERS else 4


if __name__ == "__main__":
    sys.exit(main())
