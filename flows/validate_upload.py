"""Flow ``validate-upload``: check one file and publish its report (writes no data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.states import Completed, State

from flows.artifacts import mask_run_logs, publish_validation
from flows.outcomes import INVALID, invalid_parameters, outcome_tag, tag_run
from flows.stages import RunProgress, progress_key
from orgload.settings import load_settings
from service.operations import ParameterCheck, check_validation_parameters, run_label
from service.validation import validate_files

mask_run_logs()  # RUTs and e-mail addresses never reach Prefect's logs in clear (SPEC §9)


@task(name="check-parameters")
def check_parameters_task(client_id: str, file: str) -> ParameterCheck:
    return check_validation_parameters(load_settings(), client_id, file)


@task(name="validate-file")
def validate_task(client_id: str, file: str, report_dir: str) -> tuple[dict[str, Any], list[str]]:
    settings = load_settings()
    target = None
    if report_dir:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        target = Path(report_dir) / f"{Path(file).stem}.errores.xlsx"
    progress = RunProgress(progress_key("validation-progress", client_id), get_run_logger())
    result = validate_files(
        settings, [Path(file)], lang=settings.lang, report_path=target, progress=progress
    )
    report = result.to_dict(settings.lang)
    progress.finish("valid" if report["valid"] else "invalid")
    if target is not None and not report["errors"] and not report["warnings"]:
        target.unlink(missing_ok=True)  # a clean file gets no error workbook
        target = None
    return report, [str(target)] if target else []


def _run_name() -> str:
    params = flow_run.parameters or {}
    return run_label(
        load_settings(),
        str(params.get("client_id") or ""),
        str(params.get("file") or ""),
        lookup=False,  # a validation needs no database (SPEC §6)
    )


@flow(
    name="validate-upload",
    description="Validate an upload against the file format (SPEC §1-2); writes no data.",
    flow_run_name=_run_name,
)
def validate_upload_flow(client_id: str, file: str, report_dir: str = "") -> State:
    """Validate ``file`` for ``client_id``.

    Args:
        client_id: Client the file belongs to (used to name the run and the artifacts).
        file: Path to the upload as the worker sees it.
        report_dir: Folder where the annotated error workbook is written (empty: none).
    """
    logger = get_run_logger()
    checked = check_parameters_task(client_id, file)
    if not checked.ok:
        line = f"parameters refused ({checked.problem}): {checked.message}"
        logger.error(line)
        tag_run(outcome_tag("invalid_parameters"))
        return invalid_parameters(line)
    logger.info("parameters: client %s, file %s", client_id, checked.file_name)
    report, written = validate_task(client_id, file, report_dir)
    counts = report["counts"]
    logger.info("read: %s unidades rows, %s personas rows", counts["unidades"], counts["personas"])
    codes = sorted({e["code"] for e in report["errors"]})
    logger.info(
        "validate: %d errors, %d warnings%s",
        len(report["errors"]),
        len(report["warnings"]),
        f" ({', '.join(codes)})" if codes else "",
    )
    logger.info("report: %s", ", ".join(written) if written else "none written")
    publish_validation(report, client_id, Path(file).name, [Path(p) for p in written])
    verdict = "valid" if report["valid"] else "invalid"
    tag_run(outcome_tag(verdict))
    message = f"{verdict}: {len(report['errors'])} errors, {len(report['warnings'])} warnings"
    return Completed(name="Completed" if report["valid"] else INVALID, message=message, data=report)
