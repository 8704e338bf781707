"""What a load run says in its log, one line per stage, and in its state message (SPEC §7).

Counts and codes only; the one free text (an override's reason) is masked (SPEC §9), and so is
every line on its way to Prefect (``flows.artifacts.mask_run_logs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orgload.masking import mask_text
from orgload.status import LoadStatus

REASON_WIDTH = 120


def _codes(errors: list[dict[str, Any]], most: int = 4) -> str:
    """``cycle ×6, duplicate ×2, invalid_rut ×1, … 9 more``: the most frequent codes first."""
    found: dict[str, int] = {}
    for e in errors:
        found[str(e.get("code"))] = found.get(str(e.get("code")), 0) + 1
    ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
    text = ", ".join(f"{code} ×{n}" for code, n in ranked[:most])
    return text + (f", … {len(ranked) - most} more codes" if len(ranked) > most else "")


def _plan(changes: dict[str, dict[str, int]]) -> str:
    return "; ".join(
        f"{entity} +{c['inserted']} inserted, ~{c['updated']} updated, "
        f"-{c['deactivated']} deactivated, ={c['unchanged']} unchanged"
        for entity, c in changes.items()
    )


def _reason(reason: str) -> str:
    text = " ".join(mask_text(reason).split())
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"


def stage_lines(
    result: dict[str, Any],
    counts: dict[str, int] | None,
    reports: list[Path | str],
    override_reason: str | None = None,
) -> list[str]:
    """read → validate → plan → apply (or refuse) → report: one line each."""
    errors, warnings = result.get("errors") or [], result.get("warnings") or []
    status = result["status"]
    lines = [
        "read: "
        + (", ".join(f"{n} {sheet} rows" for sheet, n in counts.items()) if counts else "—")
    ]
    validation = f"validate: {len(errors)} errors, {len(warnings)} warnings"
    lines.append(validation + (f" ({_codes(errors)})" if errors else ""))
    changes = result.get("changes")
    if changes:
        lines.append(f"plan: {_plan(changes)}")
    elif status == LoadStatus.REJECTED:
        lines.append("plan: not made (the file did not pass validation)")
    else:
        lines.append("plan: not made")
    lines.append(f"apply: {state_message(result, override_reason)}")
    if status == LoadStatus.REJECTED:
        lines.append(
            "report: " + (", ".join(str(p) for p in reports) if reports else "none written")
        )
    return lines


def _verdict(result: dict[str, Any]) -> str:
    status = result["status"]
    incident = result.get("incident")
    quota = result["quota"]
    tail = f"; incident {incident['id']} (level {incident['level']})" if incident else ""
    if status == LoadStatus.APPLIED:
        return f"applied as load {result['load_id']}; quota {quota['period']} used"
    if status == LoadStatus.DRY_RUN:
        return "dry run: nothing applied"
    if status == LoadStatus.NO_CHANGES:
        return "nothing to apply (no_changes); quota not used"
    if status == LoadStatus.ALREADY_APPLIED:
        return f"already_applied: this file is load {result['load_id']}; nothing done"
    if status == LoadStatus.QUOTA_EXHAUSTED:
        return (
            f"refused: quota_exhausted, {quota['period']} already has its load; next period "
            f"starts {quota['next_period_starts']}"
        )
    if status == LoadStatus.REJECTED:
        errors = result.get("errors") or []
        return f"refused: rejected, {len(errors)} errors ({_codes(errors)}){tail}"
    return f"failed, rolled back{tail}"


def state_message(result: dict[str, Any], override_reason: str | None) -> str:
    """The run's state message: the outcome in one line, with the override and its reason."""
    message = _verdict(result)
    if override_reason:
        message += f" — quota override: {_reason(override_reason)}"
    return message


# How far a run is, in percent, when each stage starts; applying runs from 70 to 99 by rows.
PROGRESS_AT = {"reading": 5.0, "validating": 35.0, "planning": 60.0, "applying": 70.0}
PROGRESS_STEP = 5.0  # percent between two updates of the artifact (one API call each)


def progress_key(prefix: str, client_id: str) -> str:
    """A progress artifact's key (lowercase letters, digits and dashes only)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in client_id.lower()).strip("-")
    return f"{prefix}-{cleaned or 'client'}"[:100]


class RunProgress:
    """The stages of a run (``loaders.progress``) as one Prefect progress artifact, created at
    the first stage, updated as the run advances (every ``PROGRESS_STEP`` percent at most: the
    rows written are told per COPY or batch) and set to 100 by ``finish``. The description
    says the stage and its counts: ``applying: 40,000 of 100,000 rows written``. Counts only,
    never a value (SPEC §9). An API that fails is logged once and never fails the run."""

    def __init__(self, key: str, logger: Any | None = None) -> None:
        self.key = key
        self.logger = logger
        self.artifact_id: Any = None
        self.percent = -1.0
        self.stage: str | None = None
        self.failed = False

    def __call__(self, step: str) -> None:
        name = str(step)
        done, total = getattr(step, "done", None), getattr(step, "total", None)
        percent = PROGRESS_AT.get(name, max(self.percent, 0.0))
        if name == "applying" and total:
            percent += 29.0 * min(done or 0, total) / total
        if name == self.stage and percent - self.percent < PROGRESS_STEP:
            return
        self.stage = name
        self._publish(percent, _described(name, done, total))

    def finish(self, status: str) -> None:
        """The run's work is over, whatever its outcome: 100 %."""
        self._publish(100.0, f"done: {status}")

    def _publish(self, percent: float, description: str) -> None:
        if self.failed:
            return
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        try:
            if self.artifact_id is None:
                self.artifact_id = create_progress_artifact(
                    percent, key=self.key, description=description
                )
            else:
                update_progress_artifact(self.artifact_id, percent, description=description)
            self.percent = percent
        except Exception as exc:  # noqa: BLE001 - progress must never fail the run
            self.failed = True
            if self.logger is not None:
                self.logger.warning("progress artifact not updated: %s", type(exc).__name__)


def _described(stage: str, done: int | None, total: int | None) -> str:
    if stage == "validating" and done is not None:
        return f"validating: {done:,} rows read"
    if stage == "planning" and total is not None:
        return f"planning: {total:,} rows against the current data"
    if stage == "applying" and total is not None:
        return f"applying: {done or 0:,} of {total:,} rows written"
    return f"{stage}…"
