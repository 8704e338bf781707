"""Flow ``validate-upload``: check one file and publish its report (writes no data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from flows.artifacts import mask_run_logs, publish_validation
from orgload.settings import load_settings
from service.validation import validate_files

mask_run_logs()  # RUTs and e-mail addresses never reach Prefect's logs in clear (SPEC §9)


@task(name="validate-file")
def validate_task(
    client_id: str, file: str, report_dir: str | None
) -> tuple[dict[str, Any], list[str]]:
    settings = load_settings()
    target = None
    if report_dir:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        target = Path(report_dir) / f"{Path(file).stem}.errores.xlsx"
    result = validate_files(settings, [Path(file)], lang=settings.lang, report_path=target)
    return result.to_dict(settings.lang), [str(target)] if target else []


@flow(
    name="validate-upload",
    description="Validate an upload against the file format (SPEC §1-2); writes no data.",
)
def validate_upload_flow(
    client_id: str, file: str, report_dir: str | None = None
) -> dict[str, Any]:
    """Validate ``file`` for ``client_id``.

    Args:
        client_id: Client the file belongs to (used to name the artifacts).
        file: Path to the upload as the worker sees it.
        report_dir: Optional folder where the annotated error workbook is written.
    """
    report, written = validate_task(client_id, file, report_dir)
    publish_validation(report, client_id, Path(file).name, [Path(p) for p in written])
    return report
