"""Support incidents on SQLite and PostgreSQL: categories, levels, deadlines, lifecycle, spool,
notifications through a real SMTP server (SPEC §5)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dbfaults import break_person_writes, restore_person_writes
from sqlalchemy import Engine, select

from loaders.store import add_client
from orgload.db import incidents, notifications
from orgload.settings import Settings, load_settings
from service.loads import LoadRequest, run_load
from support.incidents import (
    IllegalTransitionError,
    escalate,
    get_incident,
    incident_history_of,
    list_incidents,
    transition,
)
from support.notify import send_pending
from support.spool import import_spool, spooled_files
from support.watch import run_sla_watch

NOV = "organizacion_2026-11.xlsx"
INVALID = "organizacion_invalida.xlsx"
MONDAY_5PM = "2026-12-07T17:00:00-03:00"  # the SPEC example: due Wed 2026-12-09 14:00


def at(iso: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ORGLOAD_NOW", iso)
    return load_settings()


@pytest.fixture
def client(engine: Engine) -> str:
    with engine.begin() as conn:
        add_client(
            conn, "acme", "ACME", "America/Santiago", "admin@acme.cl", datetime.now().astimezone()
        )
    return "acme"


def load(settings: Settings, engine: Engine, path: Path, **options: Any):
    return run_load(settings, LoadRequest("acme", [path], **options), engine)


def test_validation_failure_opens_a_level_1_incident_without_deadline(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = load(at(MONDAY_5PM, monkeypatch), engine, samples / INVALID)
    assert outcome.status == "rejected"
    assert outcome.incident["level"] == 1
    assert outcome.incident["review_due_at"] is None
    with engine.connect() as conn:
        row = get_incident(conn, outcome.incident["id"])
    assert row["category"] == "validation"
    assert row["status"] == "reported"
    diag = row["diagnostics"]
    assert diag["load_id"] == outcome.load_id
    assert diag["file_name"] == INVALID
    assert len(diag["sha256"]) == 64
    assert Path(diag["archive_path"], INVALID).is_file()
    assert diag["failed_step"] == "validate"
    assert diag["validation"]["codes"]["cycle"] == 6
    assert "pandas" in diag["versions"]


def test_repeated_rejection_in_the_period_updates_the_open_incident(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = at(MONDAY_5PM, monkeypatch)
    first = load(settings, engine, samples / INVALID)
    second = load(settings, engine, samples / INVALID)
    assert second.incident["id"] == first.incident["id"]
    with engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
        row = get_incident(conn, first.incident["id"])
        actions = [h["action"] for h in incident_history_of(conn, row["id"])]
    assert len(rows) == 1
    assert row["occurrences"] == 2
    assert row["load_id"] == second.load_id
    assert actions == ["reported", "repeated"]
    next_month = load(at("2027-01-05T10:00:00-03:00", monkeypatch), engine, samples / INVALID)
    assert next_month.incident["id"] != first.incident["id"]


def test_apply_error_opens_level_2_with_the_contract_deadline(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_person_writes(engine)
    outcome = load(at(MONDAY_5PM, monkeypatch), engine, samples / NOV)
    assert outcome.status == "failed"
    assert outcome.exit_code == 4
    assert outcome.incident["level"] == 2
    assert outcome.incident["review_due_at"] == "2026-12-09T14:00:00-03:00"
    with engine.connect() as conn:
        row = get_incident(conn, outcome.incident["id"])
    assert row["category"] == "apply_error"
    assert "simulated failure" in row["diagnostics"]["exception"]["message"]
    assert "Traceback" in row["diagnostics"]["exception"]["traceback"]


def test_mass_change_rejection_is_a_level_1_incident(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openpyxl

    load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)
    workbook = openpyxl.load_workbook(samples / NOV)
    people = workbook["Personas"]
    people.delete_rows(60, people.max_row)
    for sheet in workbook.worksheets:
        column = [c.value for c in sheet[1]].index("RUT Jefatura") + 1
        for row in range(2, sheet.max_row + 1):
            sheet.cell(row, column).value = None
    workbook.save(tmp_path / "small.xlsx")
    outcome = load(at(MONDAY_5PM, monkeypatch), engine, tmp_path / "small.xlsx")
    assert outcome.status == "rejected"
    with engine.connect() as conn:
        row = get_incident(conn, outcome.incident["id"])
    assert (row["category"], row["level"]) == ("mass_change", 1)


def test_dry_runs_and_successes_open_no_incident(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = at(MONDAY_5PM, monkeypatch)
    assert load(settings, engine, samples / INVALID, dry_run=True).incident is None
    assert load(settings, engine, samples / NOV).incident is None
    with engine.connect() as conn:
        assert conn.execute(select(incidents)).all() == []


def test_lifecycle_records_every_transition_and_refuses_illegal_ones(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = at(MONDAY_5PM, monkeypatch)
    incident_id = load(settings, engine, samples / INVALID).incident["id"]
    now = datetime.fromisoformat("2026-12-08T10:00:00-03:00")
    with engine.begin() as conn:
        with pytest.raises(IllegalTransitionError, match="in_review"):
            transition(conn, incident_id, "resolved", by="ana", now=now, correction="data")
        with pytest.raises(IllegalTransitionError, match="closed"):
            transition(conn, incident_id, "closed", by="ana", now=now)
        transition(conn, incident_id, "in_review", by="ana", now=now, comment="replicated")
        with pytest.raises(IllegalTransitionError, match="correction"):
            transition(conn, incident_id, "resolved", by="ana", now=now)
        with pytest.raises(IllegalTransitionError, match="correction"):
            transition(conn, incident_id, "resolved", by="ana", now=now, correction="magic")
        transition(conn, incident_id, "resolved", by="ana", now=now, correction="data")
        transition(conn, incident_id, "closed", by="cliente", now=now, comment="approved")
        with pytest.raises(IllegalTransitionError):
            transition(conn, incident_id, "in_review", by="ana", now=now)
        history = incident_history_of(conn, incident_id)
        row = get_incident(conn, incident_id)
    assert row["status"] == "closed"
    moves = [(h["from_status"], h["to_status"], h["by"], h["correction"]) for h in history[1:]]
    assert moves == [
        ("reported", "in_review", "ana", None),
        ("in_review", "resolved", "ana", "data"),
        ("resolved", "closed", "cliente", None),
    ]
    assert all(h["at"] == now for h in history[1:])


def test_escalation_restarts_the_clock_at_the_escalation(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported = at("2026-12-02T11:00:00-03:00", monkeypatch)
    incident_id = load(reported, engine, samples / INVALID).incident["id"]
    escalated_at = datetime.fromisoformat(MONDAY_5PM)
    with engine.begin() as conn:
        row = escalate(conn, incident_id, "client insists", "ana", escalated_at)
        with pytest.raises(IllegalTransitionError, match="level 2"):
            escalate(conn, incident_id, "again", "ana", escalated_at)
    assert row["level"] == 2
    assert row["review_due_at"] == datetime.fromisoformat("2026-12-09T14:00:00-03:00")


def test_list_filters_and_overdue(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_person_writes(engine)
    failed = load(at(MONDAY_5PM, monkeypatch), engine, samples / NOV).incident["id"]
    restore_person_writes(engine)
    rejected = load(at(MONDAY_5PM, monkeypatch), engine, samples / INVALID).incident["id"]
    before_due = datetime.fromisoformat("2026-12-09T13:59:00-03:00")
    after_due = datetime.fromisoformat("2026-12-09T14:00:00-03:00")
    with engine.connect() as conn:
        assert {r["id"] for r in list_incidents(conn, after_due)} == {failed, rejected}
        assert [r["id"] for r in list_incidents(conn, after_due, level=2)] == [failed]
        assert [r["id"] for r in list_incidents(conn, after_due, level=1)] == [rejected]
        assert list_incidents(conn, before_due, overdue=True) == []
        assert [r["id"] for r in list_incidents(conn, after_due, overdue=True)] == [failed]
        assert list_incidents(conn, after_due, client_id="other") == []
        assert list_incidents(conn, after_due, status="closed") == []


def test_unreachable_database_spools_and_imports_exactly_once(
    engine: Engine, client: str, samples: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", MONDAY_5PM)
    down = Settings(
        home=load_settings().home,
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
        now=datetime.fromisoformat(MONDAY_5PM),
    )
    outcome = run_load(down, LoadRequest("acme", [samples / NOV]))
    assert outcome.status == "failed"
    assert outcome.incident["level"] == 3
    assert outcome.incident["review_due_at"] == "2026-12-09T14:00:00-03:00"
    assert outcome.to_dict()["quota"]["used"] is None
    files = spooled_files(down.spool_dir)
    assert [f.stem for f in files] == [outcome.incident["id"]]
    saved = files[0].read_bytes()

    up = load_settings()
    assert import_spool(engine, up, datetime.fromisoformat(MONDAY_5PM)) == [outcome.incident["id"]]
    assert spooled_files(up.spool_dir) == []
    # a crash after the commit but before the file was removed: the next import is a no-op
    files[0].write_bytes(saved)
    assert import_spool(engine, up, datetime.fromisoformat(MONDAY_5PM)) == []
    assert spooled_files(up.spool_dir) == []
    with engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
        row = get_incident(conn, outcome.incident["id"])
    assert len(rows) == 1
    assert (row["category"], row["level"], row["status"]) == ("unavailable", 3, "reported")
    assert Path(row["diagnostics"]["archive_path"], NOV).is_file()


def test_notifications_reach_a_real_smtp_server(
    engine: Engine, client: str, samples: Path, smtp_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, _ = smtp_server
    settings = at(MONDAY_5PM, monkeypatch)
    rejected = load(settings, engine, samples / INVALID)
    break_person_writes(engine)
    failed = load(settings, engine, samples / NOV)
    by_recipient = {m["To"]: m for m in sink.messages}
    assert set(by_recipient) == {"admin@acme.cl", "soporte@saas.cl"}
    to_client = by_recipient["admin@acme.cl"]
    assert rejected.incident["id"] in to_client["Subject"]
    attachment = next(to_client.iter_attachments())
    assert attachment.get_filename().endswith(".json")
    assert b"invalid_rut" in attachment.get_content()
    to_support = by_recipient["soporte@saas.cl"]
    assert failed.incident["id"] in to_support["Subject"]
    assert "miércoles 09-12-2026 14:00 (hora de Chile)" in to_support.get_content()


def test_refused_smtp_is_retried_and_delivered_once(
    engine: Engine,
    client: str,
    samples: Path,
    smtp_server,
    unused_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, port = smtp_server
    monkeypatch.setenv("ORGLOAD_SMTP_PORT", str(unused_port))  # nothing listens there
    settings = at(MONDAY_5PM, monkeypatch)
    break_person_writes(engine)
    outcome = load(settings, engine, samples / NOV)
    assert outcome.incident is not None  # the incident exists although the mail failed
    with engine.connect() as conn:
        queued = conn.execute(select(notifications)).mappings().all()
    assert [(n["status"], n["attempts"]) for n in queued] == [("pending", 1)]
    assert "Connection" in queued[0]["last_error"] or "refused" in queued[0]["last_error"]
    assert sink.messages == []

    monkeypatch.setenv("ORGLOAD_SMTP_PORT", str(port))
    healthy = load_settings()
    result = run_sla_watch(engine, healthy, datetime.fromisoformat(MONDAY_5PM))
    assert result["notifications"] == {"sent": 1, "failed": 0}
    assert send_pending(engine, healthy, datetime.fromisoformat(MONDAY_5PM)) == {
        "sent": 0,
        "failed": 0,
    }
    assert len(sink.messages) == 1
    assert outcome.incident["id"] in sink.messages[0]["Subject"]


def test_sla_watch_flags_overdue_once(
    engine: Engine, client: str, samples: Path, smtp_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, _ = smtp_server
    break_person_writes(engine)
    incident_id = load(at(MONDAY_5PM, monkeypatch), engine, samples / NOV).incident["id"]
    settings = load_settings()
    soon = run_sla_watch(engine, settings, datetime.fromisoformat("2026-12-09T13:00:00-03:00"))
    assert [i["id"] for i in soon["due_soon"]] == [incident_id]
    assert soon["overdue"] == []
    late = run_sla_watch(engine, settings, datetime.fromisoformat("2026-12-09T15:30:00-03:00"))
    assert [i["id"] for i in late["overdue"]] == [incident_id]
    assert late["overdue"][0]["coverage_hours_late"] == 1.5
    again = run_sla_watch(engine, settings, datetime.fromisoformat("2026-12-09T16:00:00-03:00"))
    assert again["overdue_notified"] == []
    overdue_mails = [m for m in sink.messages if "Plazo vencido" in m["Subject"]]
    assert len(overdue_mails) == 1
