"""Personal data at the support desk (SPEC §9), on SQLite and PostgreSQL: incidents keep what
replication needs with values masked, e-mails to support are masked, the admin's are not."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from builders import CEO, CTO, bad_rut, set_cell, valid_rows, write_xlsx
from sqlalchemy import Engine, insert, text

from loaders.store import add_client
from orgload.db import notifications
from orgload.failures import LoadFailure
from orgload.settings import Settings, load_settings
from service.incidents import escalate_incident
from service.loads import LoadRequest, run_load
from support.incidents import get_incident
from support.notify import queue_notification, send_pending
from support.report import draft_of, report_failure
from support.spool import spooled_files

MONDAY_5PM = "2026-12-07T17:00:00-03:00"
WRONG_RUT = bad_rut(12345678)  # 12345678-1
LONG_NAME = "Ana María " * 30
BAD_EMAIL = "carla.munoz.empresa.cl"
# Every personal value the rejected file below puts into its errors, as written.
RAW = (WRONG_RUT, CEO, CTO, BAD_EMAIL, "ana@empresa.cl", LONG_NAME.strip()[:40])
REJECTED_NAME = "nomina_12345678-5.xlsx"  # a client may well name a file after a person
TRIGGER_RUT, TRIGGER_EMAIL = CEO, "ana@empresa.cl"


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORGLOAD_NOW", MONDAY_5PM)
    with engine.begin() as conn:
        add_client(
            conn, "acme", "ACME", "America/Santiago", "admin@acme.cl", datetime.now().astimezone()
        )
    return "acme"


def rejected_file(folder: Path) -> Path:
    """Errors in every personal column: a wrong RUT, a bad and a repeated e-mail, a name too
    long, a self-managed person (its RUT in the message), a profile (not personal)."""
    rows = valid_rows()
    rows = set_cell(rows, "Personas", 3, "rut", WRONG_RUT)  # DEV's manager CTO is now missing
    rows = set_cell(rows, "Personas", 4, "email", BAD_EMAIL)
    rows = set_cell(rows, "Personas", 5, "email", "ana@empresa.cl")
    rows = set_cell(rows, "Personas", 2, "rut_jefatura", CEO)
    rows = set_cell(rows, "Personas", 2, "nombres", LONG_NAME)
    rows = set_cell(rows, "Personas", 4, "perfil", "gerente")
    return write_xlsx(folder / REJECTED_NAME, rows)


def fail_person_writes(engine: Engine) -> None:
    """Writes to ``people`` fail with a message that names a person (as a constraint would)."""
    message = f"rechazado {TRIGGER_RUT} {TRIGGER_EMAIL}"
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION m6_reject() RETURNS trigger AS $$ BEGIN "
                    f"RAISE EXCEPTION '{message}'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER m6_reject BEFORE INSERT OR UPDATE ON people "
                    "FOR EACH ROW EXECUTE FUNCTION m6_reject()"
                )
            )
            return
        conn.execute(
            text(
                "CREATE TRIGGER m6_reject BEFORE INSERT ON people "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        )


def load(settings: Settings, engine: Engine, path: Path) -> Any:
    return run_load(settings, LoadRequest("acme", [path]), engine)


def incident(engine: Engine, incident_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return get_incident(conn, incident_id)


def cells(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["sheet"], e["row"], e["column"], e["code"]) for e in entries]


def test_rejection_incident_masks_values_but_keeps_rows_codes_and_archive(
    engine: Engine, client: str, tmp_path: Path
) -> None:
    upload = rejected_file(tmp_path)
    outcome = load(load_settings(), engine, upload)
    assert outcome.status == "rejected"
    diag = incident(engine, outcome.incident["id"])["diagnostics"]
    # the file name is kept as the client wrote it: it names the archived copy
    stored = json.dumps({**diag, "file_name": None}, ensure_ascii=False)
    for raw in RAW:
        assert raw not in stored
    # what replication needs: every entry's place and code, the counts, the file
    admin = outcome.to_dict()
    assert cells(diag["validation"]["errors"]) == cells(admin["errors"])
    assert diag["validation"]["errors_total"] == len(admin["errors"])
    assert sum(diag["validation"]["codes"].values()) == len(admin["errors"]) + len(
        admin["warnings"]
    )
    archived = Path(diag["archive_path"], REJECTED_NAME)
    assert hashlib.sha256(archived.read_bytes()).hexdigest() == diag["sha256"]
    assert archived.read_bytes() == upload.read_bytes()  # the archive keeps the file as sent
    by_cell = {(e["row"], e["column"], e["code"]): e for e in diag["validation"]["errors"]}
    assert by_cell[(3, "rut", "invalid_rut")]["value"] == "12.3**.***-1"
    assert "12.3**.***-1" in by_cell[(3, "rut", "invalid_rut")]["message"]
    assert by_cell[(4, "email", "invalid_email")]["value"] == "c***"
    assert by_cell[(2, "nombres", "too_long")]["value"] == "A***"
    assert by_cell[(4, "perfil", "invalid_choice")]["value"] == "gerente"  # not personal
    assert diag["file_name"] == REJECTED_NAME


def test_load_json_for_the_admin_stays_unmasked(
    engine: Engine, client: str, tmp_path: Path
) -> None:
    outcome = load(load_settings(), engine, rejected_file(tmp_path))
    values = {e["value"] for e in outcome.to_dict()["errors"]}
    assert {WRONG_RUT, BAD_EMAIL, "ana@empresa.cl"} <= values
    assert any(v and v.startswith("Ana María Ana María") for v in values)


def test_apply_error_incident_masks_the_exception_and_drops_sql_parameters(
    engine: Engine, client: str, tmp_path: Path
) -> None:
    fail_person_writes(engine)
    outcome = load(load_settings(), engine, write_xlsx(tmp_path / "ok.xlsx", valid_rows()))
    assert outcome.status == "failed"
    exception = incident(engine, outcome.incident["id"])["diagnostics"]["exception"]
    assert exception["type"]
    for part in (exception["message"], exception["traceback"]):
        assert "rechazado 11.1**.***-1 a***@empresa.cl" in part
        for raw in (TRIGGER_RUT, TRIGGER_EMAIL, CTO, "bruno@empresa.cl", "Muñoz", "Rojas"):
            assert raw not in part
    assert "Traceback" in exception["traceback"]
    assert "[SQL: INSERT INTO people" in exception["message"]  # the statement stays


def _all_text(message: Any) -> str:
    parts = [message["Subject"], message.get_body(("plain",)).get_content()]
    parts += [a.get_content().decode() for a in message.iter_attachments()]
    return "\n".join(parts)


def test_support_mails_are_masked_and_the_admin_mail_is_not(
    engine: Engine, client: str, tmp_path: Path, smtp_server
) -> None:
    sink, _ = smtp_server
    settings = load_settings()
    rejected = load(settings, engine, rejected_file(tmp_path))
    escalate_incident(settings, rejected.incident["id"], "el cliente insiste", engine=engine)
    fail_person_writes(engine)
    failed = load(settings, engine, write_xlsx(tmp_path / "ok.xlsx", valid_rows()))
    to_admin = [m for m in sink.messages if m["To"] == "admin@acme.cl"]
    to_support = [m for m in sink.messages if m["To"] == "soporte@saas.cl"]
    assert len(to_admin) == 1
    assert [rejected.incident["id"] in m["Subject"] for m in to_support] == [True, False]
    assert failed.incident["id"] in to_support[1]["Subject"]
    # the client's own admin gets their own data: the report attached as it is
    admin_text = _all_text(to_admin[0])
    assert WRONG_RUT in admin_text
    assert BAD_EMAIL in admin_text
    assert REJECTED_NAME in admin_text
    # support gets the same incidents masked
    escalated, apply_error = (_all_text(m) for m in to_support)
    assert "nomina_12.3**.***-5.xlsx" in escalated
    assert "rechazado 11.1**.***-1 a***@empresa.cl" in apply_error
    for raw in (*RAW, TRIGGER_EMAIL, "12345678-5"):
        assert raw not in escalated
        assert raw not in apply_error


def test_support_mails_queued_with_personal_data_are_masked_as_sent(
    engine: Engine, client: str, tmp_path: Path, smtp_server
) -> None:
    sink, _ = smtp_server
    settings = load_settings()
    fail_person_writes(engine)
    incident_id = load(settings, engine, write_xlsx(tmp_path / "ok.xlsx", valid_rows())).incident[
        "id"
    ]
    now = datetime.fromisoformat(MONDAY_5PM)
    report = {
        "errors": [
            {
                "sheet": "personas",
                "row": 2,
                "column": "nombres",
                "header": "Nombres",
                "value": "Bruno",
                "code": "duplicate",
                "message": "«Bruno» está repetido.",
            }
        ],
        "warnings": [],
        "note": f"contacto {TRIGGER_EMAIL}",
    }
    with engine.begin() as conn:
        queue_notification(
            conn,
            get_incident(conn, incident_id),
            "repeated",
            settings,
            now,
            None,
            json.dumps(report, ensure_ascii=False),
        )
        # a row queued unmasked (before masking existed, or by hand) is masked when sent
        conn.execute(
            insert(notifications).values(
                incident_id=incident_id,
                kind="reported",
                recipient="soporte@saas.cl",
                subject=f"[orgload] persona {TRIGGER_RUT}",
                body=f"Escribir a {TRIGGER_EMAIL}\n",
                status="pending",
                attempts=0,
                created_at=now,
            )
        )
    send_pending(engine, settings, now)
    texts = [_all_text(m) for m in sink.messages if m["To"] == "soporte@saas.cl"]
    assert len(texts) == 3  # the apply error's own mail, and the two above
    attached = next(t for t in texts if "está repetido" in t)
    assert "«B***» está repetido." in attached
    assert "contacto a***@empresa.cl" in attached
    assert any("[orgload] persona 11.1**.***-1" in t for t in texts)
    for t in texts:
        assert TRIGGER_RUT not in t
        assert TRIGGER_EMAIL not in t
        assert "Bruno" not in t


def _failure(**kw: Any) -> LoadFailure:
    base: dict[str, Any] = {
        "client_id": "acme",
        "period": "2026-12",
        "reported_at": datetime.fromisoformat(MONDAY_5PM),
        "failed_step": "apply",
        "file_name": "org.xlsx",
        "sha256": "0" * 64,
        "archive_path": "/srv/orgload/archive/00/0000",
        "exception": {
            "type": "IntegrityError",
            "message": f"Key (rut)=({TRIGGER_RUT})\n[parameters: [('{TRIGGER_RUT}', 'Bruno')]]",
            "traceback": f"Traceback ...\nIntegrityError: {TRIGGER_EMAIL}",
        },
        "validation": {
            "codes": {"invalid_email": 1},
            "errors": [
                {
                    "sheet": "personas",
                    "row": 9,
                    "column": "email",
                    "header": "Email",
                    "value": BAD_EMAIL,
                    "code": "invalid_email",
                    "message": f"«{BAD_EMAIL}» no es un correo electrónico válido.",
                }
            ],
            "warnings": [],
            "errors_total": 1,
        },
        "extra": {"archive_error": f"cannot write /tmp/{TRIGGER_RUT}.xlsx", "attempt": 7},
    }
    return LoadFailure(**{**base, **kw})


def test_draft_of_masks_exception_validation_and_extra_and_keeps_the_rest() -> None:
    diag = draft_of(_failure()).diagnostics
    assert diag["exception"] == {
        "type": "IntegrityError",
        "message": "Key (rut)=(11.1**.***-1)\n[parameters: (not kept: personal data)]",
        "traceback": "Traceback ...\nIntegrityError: a***@empresa.cl",
    }
    [entry] = diag["validation"]["errors"]
    assert (entry["row"], entry["column"], entry["code"], entry["value"]) == (
        9,
        "email",
        "invalid_email",
        "c***",
    )
    assert entry["message"] == "«c***» no es un correo electrónico válido."
    assert diag["validation"]["codes"] == {"invalid_email": 1}
    assert diag["archive_error"] == "cannot write /tmp/11.1**.***-1.xlsx"
    assert diag["attempt"] == 7
    assert (diag["sha256"], diag["archive_path"], diag["file_name"]) == (
        "0" * 64,
        "/srv/orgload/archive/00/0000",
        "org.xlsx",
    )


def test_a_spooled_incident_is_masked_on_disk(orgload_env: Path) -> None:
    settings = Settings(home=orgload_env)
    failure = _failure(
        failed_step="connect",
        exception={"type": "DatabaseUnavailableError", "message": f"down for {TRIGGER_EMAIL}"},
    )
    ref = report_failure(settings, None, failure)
    [spooled] = spooled_files(settings.spool_dir)
    assert spooled.stem == ref.id
    saved = spooled.read_text("utf-8")
    for raw in (TRIGGER_RUT, TRIGGER_EMAIL, BAD_EMAIL):
        assert raw not in saved
    diagnostics = json.loads(saved)["diagnostics"]
    assert diagnostics["unavailable"] == "down for a***@empresa.cl"
    assert diagnostics["sha256"] == "0" * 64
