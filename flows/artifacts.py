"""What a run publishes in Prefect: a markdown summary, a table of errors, links to the reports
— and its logs. Both with personal data masked (SPEC §9): the values of the errors (and the
messages that quote them) by column, RUTs and e-mail addresses anywhere in a log line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from orgload.masking import install_log_masking, mask_issues

FIRST_ERRORS = 20
TABLE_ROWS = 500
# Where Prefect's handlers hang: the root (the worker's console), the run loggers and the
# loggers of PREFECT_LOGGING_EXTRA_LOGGERS (which get the handlers of ``prefect.extra``).
PREFECT_LOGGERS = ("", "prefect.flow_runs", "prefect.task_runs", "prefect.extra")


def mask_run_logs() -> None:
    """Mask the logs of the flows in this process (our records and what Prefect's handlers
    emit). Called when a flow module is imported, after Prefect has set its logging up."""
    install_log_masking(*PREFECT_LOGGERS)


def error_rows(errors: list[dict[str, Any]], limit: int = TABLE_ROWS) -> list[dict[str, Any]]:
    """The first ``limit`` errors as published: values and messages masked."""
    return mask_issues(errors[:limit])


def _key(prefix: str, client_id: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    cleaned = "".join(c if c.isalnum() else "-" for c in client_id.lower()).strip("-")
    return f"{prefix}-{cleaned or 'client'}"[:100]


def _errors_markdown(errors: list[dict[str, Any]]) -> list[str]:
    if not errors:
        return []
    lines = ["", f"### First errors ({min(len(errors), FIRST_ERRORS)} of {len(errors)})", ""]
    lines += ["| sheet | row | column | code | message |", "|---|---|---|---|---|"]
    for e in error_rows(errors, FIRST_ERRORS):
        message = str(e["message"]).replace("|", "\\|")
        lines.append(
            f"| {e['sheet'] or ''} | {e['row'] or ''} | {e['header'] or e['column'] or ''} "
            f"| `{e['code']}` | {message} |"
        )
    return lines


def load_markdown(result: dict[str, Any], file_name: str) -> str:
    """The summary of a load: status, change counts, quota, incident, first errors (masked)."""
    client = result["client_id"]
    lines = [
        f"## orgload load — {client} — {result['period']}",
        "",
        f"**Status:** `{result['status']}`  ",
        f"**File:** {file_name}  ",
        f"**Load id:** {result['load_id'] or '—'}  ",
        f"**Quota {result['quota']['period']}:** "
        f"{'used' if result['quota']['used'] else 'available'}; next period starts "
        f"{result['quota']['next_period_starts']}",
    ]
    if result["incident"]:
        inc = result["incident"]
        lines.append(
            f"**Incident:** {inc['id']} (level {inc['level']}, review due "
            f"{inc['review_due_at'] or '—'})"
        )
    if result["changes"]:
        lines += [
            "",
            "| entity | inserted | updated | deactivated | unchanged |",
            "|---|---|---|---|---|",
        ]
        for entity, c in result["changes"].items():
            lines.append(
                f"| {entity} | {c['inserted']} | {c['updated']} | {c['deactivated']} "
                f"| {c['unchanged']} |"
            )
    lines += _errors_markdown(result["errors"])
    return "\n".join(lines)


def publish_load(result: dict[str, Any], file_name: str) -> None:
    """Summary of a load and, if it has errors, their table (both masked)."""
    client = result["client_id"]
    create_markdown_artifact(
        load_markdown(result, file_name), key=_key("load", client), description="Load summary"
    )
    if result["errors"]:
        create_table_artifact(
            error_rows(result["errors"]), key=_key("load-errors", client), description="Errors"
        )


def validation_markdown(report: dict[str, Any], client_id: str, file_name: str) -> str:
    """The summary of a validation: verdict, counts, first errors (masked)."""
    verdict = "valid" if report["valid"] else "invalid"
    lines = [
        f"## orgload validate — {client_id} — {file_name}",
        "",
        f"**Result:** `{verdict}` — {report['counts']['unidades']} units, "
        f"{report['counts']['personas']} people; {len(report['errors'])} errors, "
        f"{len(report['warnings'])} warnings",
    ]
    lines += _errors_markdown(report["errors"])
    return "\n".join(lines)


def publish_validation(
    report: dict[str, Any], client_id: str, file_name: str, reports: list[Path] | None = None
) -> None:
    """Summary of a validation, its errors (masked), links to the reports written."""
    create_markdown_artifact(
        validation_markdown(report, client_id, file_name),
        key=_key("validation", client_id),
        description="Validation summary",
    )
    if report["errors"]:
        create_table_artifact(
            error_rows(report["errors"]),
            key=_key("validation-errors", client_id),
            description="Validation errors",
        )
    for path in reports or []:
        create_link_artifact(
            path.resolve().as_uri(),
            link_text=path.name,
            key=_key("report", client_id),
            description="Report written for the client",
        )
