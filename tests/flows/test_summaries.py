"""What the inbox and load summaries say (pure helpers, no Prefect): counts that say what
happened, status before the digest, one line per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.scheduled_validation import apply_line, inbox_rows, scan_line
from flows.stages import stage_lines, state_message

SHA = "4849aed27644" + "0" * 52


def _item(status: str, load_status: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "client_id": "acme",
        "file_name": "organizacion.xlsx",
        "sha256": SHA,
        "status": status,
        "load_id": 7 if load_status else None,
        "load_status": load_status,
        "errors": 0,
        "note": None,
        "report_json_path": "/h/outbox/acme/organizacion.4849aed2.report.json",
        "report_xlsx_path": None,
        "path": "/h/inbox/acme/.processed/x/organizacion.xlsx",
        **extra,
    }


def test_a_file_skipped_as_quota_exhausted_is_not_counted_as_applied() -> None:
    line = apply_line([_item("skipped", "quota_exhausted")])
    assert line == "1 taken: 0 applied, 1 skipped, 0 failed (quota_exhausted ×1)"
    assert apply_line([_item("applied", "applied")]) == "1 taken: 1 applied, 0 skipped, 0 failed"
    assert apply_line([]) == "nothing queued"


def test_scan_counts_each_status() -> None:
    scanned = [_item("queued"), _item("invalid"), _item("queued")]
    assert scan_line(scanned) == "3 new uploads: 1 invalid, 2 queued"
    assert scan_line([]) == "no new uploads"


def test_inbox_table_puts_the_status_first_and_the_short_digest_last() -> None:
    long_note = "x" * 400
    rows = inbox_rows([_item("queued")], [_item("skipped", "quota_exhausted", note=long_note)])
    assert [r["step"] for r in rows] == ["scan", "apply"]
    keys = list(rows[0])
    assert keys.index("status") < keys.index("sha256")
    assert keys[-1] == "sha256"
    assert rows[1]["sha256"] == SHA[:12]
    assert len(rows[1]["note"]) == 120
    assert rows[0]["reports"] == "organizacion.4849aed2.report.json"


RESULT = {
    "status": "applied",
    "load_id": 12,
    "client_id": "acme",
    "period": "2026-12",
    "changes": {
        "unidades": {"inserted": 2, "updated": 1, "deactivated": 0, "unchanged": 19},
        "personas": {"inserted": 8, "updated": 12, "deactivated": 5, "unchanged": 230},
    },
    "errors": [],
    "warnings": [],
    "incident": None,
    "quota": {"period": "2026-12", "used": True, "next_period_starts": "2027-01-01T00:00:00-03:00"},
}


def test_a_load_logs_one_line_per_stage() -> None:
    counts = {"unidades": 22, "personas": 250}
    lines = stage_lines(RESULT, counts, [])
    assert [line.split(":")[0] for line in lines] == ["read", "validate", "plan", "apply"]
    assert lines[0] == "read: 22 unidades rows, 250 personas rows"
    assert "personas +8 inserted, ~12 updated, -5 deactivated, =230 unchanged" in lines[2]
    assert lines[3] == "apply: applied as load 12; quota 2026-12 used"


def test_a_rejected_load_logs_its_codes_and_its_report() -> None:
    errors = [{"code": "cycle"}] * 6 + [{"code": "invalid_rut"}]
    rejected = {**RESULT, "status": "rejected", "changes": None, "errors": errors}
    incident = {"id": "INC-1", "level": 1, "review_due_at": None}
    rejected["incident"] = incident
    lines = stage_lines(rejected, None, [Path("/h/outbox/acme/o.load.json")])
    assert lines[-2] == (
        "apply: refused: rejected, 7 errors (cycle ×6, invalid_rut ×1); incident INC-1 (level 1)"
    )
    assert lines[-1] == "report: /h/outbox/acme/o.load.json"


def test_an_override_names_its_reason_masked() -> None:
    message = state_message(RESULT, "ticket 4521 de ana@empresa.cl")
    assert message.endswith("— quota override: ticket 4521 de a***@empresa.cl")
