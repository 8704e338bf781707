"""What a run publishes in Prefect: a markdown summary, a table of errors, links to the reports
— and its logs. Both with personal data masked (SPEC §9): the values of the errors (and the
messages that quote them) by column, RUTs and e-mail addresses anywhere in a log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.exceptions import FailedRun

from orgload.masking import install_log_masking, mask_issues, mask_text

FIRST_ERRORS = 20
TABLE_ROWS = 500
VALUE_WIDTH = 40  # a cell value longer than this is cut: code and message stay on screen
MESSAGE_WIDTH = 160
# Where Prefect's handlers hang: the root (the worker's console), the run loggers and the
# loggers of PREFECT_LOGGING_EXTRA_LOGGERS (which get the handlers of ``prefect.extra``).
PREFECT_LOGGERS = ("", "prefect.flow_runs", "prefect.task_runs", "prefect.extra")


def mask_run_logs() -> None:
    """Mask the logs of the flows in this process (our records and what Prefect's handlers
    emit), and keep restated failures out of them. Called when a flow module is imported,
    after Prefect has set its logging up."""
    install_log_masking(*PREFECT_LOGGERS)
    runs = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, RestatedFailureFilter) for f in runs.filters):
        runs.addFilter(RestatedFailureFilter())


class RestatedFailureFilter(logging.Filter):
    """Drops the traceback Prefect logs when a deployed run *returned* a Failed state.

    The engine of a deployed run asks for the run's result, gets ``FailedRun`` (the state
    the flow chose, e.g. ``InvalidParameters``) and logs it as "Engine execution exited with
    unexpected exception" with a traceback of Prefect's own frames. Nothing unexpected
    happened: the run already logged its one line and "Finished in state ...". A real
    exception (raised, not returned) is another type and is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, FailedRun)


def cut(value: Any, width: int) -> str:
    """``value`` as one line of at most ``width`` characters (an ellipsis marks the cut)."""
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= width else text[: width - 1] + "…"


def md_safe(text: str | None) -> str | None:
    """Text shown through Prefect's markdown: the stars of a masked value (``12.3**.***-1``)
    escaped, so they are not read as bold or italics (the table view renders cells as
    markdown too)."""
    return text.replace("*", "\\*") if text else text


def error_rows(errors: list[dict[str, Any]], limit: int = TABLE_ROWS) -> list[dict[str, Any]]:
    """The first ``limit`` errors as a table: code and message first, then where (sheet,
    Excel row, column and the heading as the file wrote it), then the value; masked (SPEC
    §9) and cut so that a long value never pushes the message off screen. No key is named
    ``header``: Prefect's table view takes such a key for its heading row and loses it."""
    rows = []
    for entry in mask_issues(errors[:limit]):
        rows.append(
            {
                "code": entry.get("code"),
                "message": md_safe(cut(entry.get("message"), MESSAGE_WIDTH)),
                "sheet": entry.get("sheet"),
                "row": entry.get("row"),
                "column": entry.get("column"),
                "heading": md_safe(cut(entry.get("header"), VALUE_WIDTH)) or None,
                "value": md_safe(cut(entry.get("value"), VALUE_WIDTH)),
            }
        )
    return rows


def _key(prefix: str, client_id: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    cleaned = "".join(c if c.isalnum() else "-" for c in client_id.lower()).strip("-")
    return f"{prefix}-{cleaned or 'client'}"[:100]


def _errors_markdown(errors: list[dict[str, Any]]) -> list[str]:
    if not errors:
        return []
    lines = ["", f"### First errors ({min(len(errors), FIRST_ERRORS)} of {len(errors)})", ""]
    lines += ["| code | message | sheet | row | column |", "|---|---|---|---|---|"]
    for e in error_rows(errors, FIRST_ERRORS):
        message = str(e["message"]).replace("|", "\\|")
        lines.append(
            f"| `{e['code']}` | {message} | {e['sheet'] or ''} | {e['row'] or ''} "
            f"| {e['heading'] or e['column'] or ''} |"
        )
    return lines


def rows_read(result: dict[str, Any]) -> dict[str, int] | None:
    """Data rows of the file per sheet, from the plan: every row of the file is inserted,
    updated or unchanged (deactivated rows are the ones it lacks)."""
    changes = result.get("changes")
    if not changes:
        return None
    return {entity: c["inserted"] + c["updated"] + c["unchanged"] for entity, c in changes.items()}


Report = Path | str  # a file on the worker, or ``database:<key>`` in the database store


def _where(path: Report) -> str:
    """A file the run wrote, honestly: a path on the worker's disk, or a key of orgload's
    database store (``ORGLOAD_STORAGE=database``), not a web address."""
    if isinstance(path, str):
        return f"`{path}` (in orgload's database store; the web app serves the client's reports)"
    return f"`{path}` (on the worker, in ORGLOAD_HOME)"


OUTCOME_LINES = {
    "applied": "Applied: the changes below are in the database; the quota of the period is used.",
    "dry_run": "Dry run: nothing was applied; the plan below is what a load would do.",
    "no_changes": "No changes: the file equals the current data; the quota is not used.",
    "already_applied": "Already applied: this very file was applied this period; nothing done.",
    "rejected": "Rejected: nothing was applied; the client's admin has the report.",
    "quota_exhausted": "Refused: the monthly quota of the period is used; nothing was applied.",
    "failed": "Failed: nothing was applied (rolled back); the incident is open.",
}


def load_markdown(
    result: dict[str, Any],
    file_name: str,
    *,
    override_reason: str | None = None,
    reports: list[Report] | None = None,
    counts: dict[str, int] | None = None,
) -> str:
    """The summary of a load: what happened, override and reason, change counts, quota,
    incident, reports written, first errors (masked)."""
    client = result["client_id"]
    status = result["status"]
    kind = "override load" if override_reason else "load"
    lines = [
        f"## orgload {kind} — {client} — {result['period']} — {cut(file_name, 80)}",
        "",
        f"**Status:** `{status}` — {OUTCOME_LINES.get(status, '')}  ",
    ]
    if override_reason:
        reason = md_safe(cut(mask_text(override_reason), 300))
        lines.append(f"**Quota override:** yes — reason: {reason}  ")
    lines += [
        f"**Load id:** {result['load_id'] or '—'}  ",
        f"**Quota {result['quota']['period']}:** "
        f"{'used' if result['quota']['used'] else 'available'}; next period starts "
        f"{result['quota']['next_period_starts']}  ",
    ]
    read = counts or rows_read(result)
    if read:
        lines.append(
            "**Rows read:** " + ", ".join(f"{n} {entity}" for entity, n in read.items()) + "  "
        )
    lines.append(
        f"**Problems:** {len(result['errors'])} errors, {len(result.get('warnings') or [])} "
        "warnings  "
    )
    if result["incident"]:
        inc = result["incident"]
        lines.append(
            f"**Incident:** {inc['id']} (level {inc['level']}, review due "
            f"{inc['review_due_at'] or '—'})  "
        )
    for path in reports or []:
        lines.append(f"**Report for the client:** {_where(path)}  ")
    if result["changes"]:
        verb = "would be" if status != "applied" else "were"
        lines += [
            "",
            f"### Changes ({'applied' if status == 'applied' else f'planned, {verb} applied'})",
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


def publish_load(
    result: dict[str, Any],
    file_name: str,
    *,
    override_reason: str | None = None,
    reports: list[Report] | None = None,
    counts: dict[str, int] | None = None,
) -> None:
    """Summary of a load, its errors' table (both masked) and links to the client's reports."""
    client = result["client_id"]
    create_markdown_artifact(
        load_markdown(
            result, file_name, override_reason=override_reason, reports=reports, counts=counts
        ),
        key=_key("load", client),
        description="Load summary",
    )
    if result["errors"]:
        create_table_artifact(
            error_rows(result["errors"]), key=_key("load-errors", client), description="Errors"
        )
    _link_reports(client, reports or [])


def _link_reports(client_id: str, reports: list[Report]) -> None:
    for path in reports:
        if isinstance(path, str):  # in the database store: no file to link to
            continue
        create_link_artifact(
            path.resolve().as_uri(),
            link_text=f"{path.name} (file on the worker: ORGLOAD_HOME/outbox/{client_id}/)",
            key=_key("report", client_id),
            description="Report written for the client",
        )


def validation_markdown(
    report: dict[str, Any], client_id: str, file_name: str, reports: list[Report] | None = None
) -> str:
    """The summary of a validation: verdict, counts, first errors (masked)."""
    verdict = "valid" if report["valid"] else "invalid"
    lines = [
        f"## orgload validate — {client_id} — {cut(file_name, 80)}",
        "",
        f"**Result:** `{verdict}` — {report['counts']['unidades']} units, "
        f"{report['counts']['personas']} people read; {len(report['errors'])} errors, "
        f"{len(report['warnings'])} warnings  ",
    ]
    for path in reports or []:
        lines.append(f"**Report:** {_where(path)}  ")
    if not report["errors"] and not report["warnings"]:
        lines.append("**Report:** none needed: the file has no problem  ")
    lines += _errors_markdown(report["errors"])
    return "\n".join(lines)


def publish_validation(
    report: dict[str, Any], client_id: str, file_name: str, reports: list[Report] | None = None
) -> None:
    """Summary of a validation, its errors (masked), links to the reports written."""
    create_markdown_artifact(
        validation_markdown(report, client_id, file_name, reports),
        key=_key("validation", client_id),
        description="Validation summary",
    )
    if report["errors"]:
        create_table_artifact(
            error_rows(report["errors"]),
            key=_key("validation-errors", client_id),
            description="Validation errors",
        )
    _link_reports(client_id, reports or [])
