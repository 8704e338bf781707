"""Personal data in what a run publishes (SPEC §9): artifacts and Prefect logs are masked, the
data applied is not."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from builders import CEO, CTO, bad_rut, set_cell, valid_rows, write_xlsx
from sqlalchemy import Engine, select

from flows.artifacts import error_rows, load_markdown, validation_markdown
from flows.monthly_load import monthly_load
from flows.validate_upload import validate_upload_flow
from orgload.db import people

WRONG_RUT = bad_rut(12345678)  # 12345678-1
BAD_EMAIL = "carla.munoz.empresa.cl"
RAW = (WRONG_RUT, CEO, CTO, BAD_EMAIL, "ana@empresa.cl")


def rejected_rows() -> dict[str, Any]:
    rows = set_cell(valid_rows(), "Personas", 3, "rut", WRONG_RUT)
    rows = set_cell(rows, "Personas", 4, "email", BAD_EMAIL)
    rows = set_cell(rows, "Personas", 5, "email", "ana@empresa.cl")
    return set_cell(rows, "Personas", 2, "rut_jefatura", CEO)


def _entry(column: str, value: str, code: str, message: str, row: int = 3) -> dict[str, Any]:
    return {
        "sheet": "personas",
        "row": row,
        "column": column,
        "header": column,
        "value": value,
        "code": code,
        "message": message,
    }


ERRORS = [
    _entry("rut", WRONG_RUT, "invalid_rut", f"«{WRONG_RUT}» no es un RUT válido."),
    _entry("email", BAD_EMAIL, "invalid_email", f"«{BAD_EMAIL}» no es un correo válido.", 4),
    _entry("rut_jefatura", CEO, "self_reference", f"propia jefatura ({CEO}).", 2),
    _entry("perfil", "gerente", "invalid_choice", "«gerente» no es un valor permitido.", 4),
]


def plain(text: str) -> str:
    """Published text without the markdown escapes of masked values (``\\*`` → ``*``)."""
    return text.replace("\\*", "*")


def test_error_rows_mask_values_and_messages_and_keep_places_and_codes() -> None:
    rows = [
        {k: plain(v) if isinstance(v, str) else v for k, v in r.items()} for r in error_rows(ERRORS)
    ]
    assert [(r["row"], r["column"], r["code"], r["value"]) for r in rows] == [
        (3, "rut", "invalid_rut", "12.3**.***-1"),
        (4, "email", "invalid_email", "c***"),
        (2, "rut_jefatura", "self_reference", "11.1**.***-1"),
        (4, "perfil", "invalid_choice", "gerente"),
    ]
    assert [r["message"] for r in rows[:3]] == [
        "«12.3**.***-1» no es un RUT válido.",
        "«c***» no es un correo válido.",
        "propia jefatura (11.1**.***-1).",
    ]
    assert ERRORS[0]["value"] == WRONG_RUT  # the caller's result is not changed
    assert len(error_rows(ERRORS * 200)) == 500


def test_error_table_puts_code_and_message_first_cuts_long_values_and_has_no_header_key() -> None:
    long_value = "x" * 219  # a value this long pushed code and message off screen
    entry = _entry("nombre_unidad", long_value, "too_long", f"«{long_value}» es muy largo.")
    (row,) = error_rows([{**entry, "sheet": "unidades"}])
    assert list(row)[:2] == ["code", "message"]
    assert "header" not in row  # Prefect's table view takes such a key for its heading row
    assert row["heading"] == "nombre_unidad"
    assert len(row["value"]) == 40
    assert row["value"].endswith("…")
    assert len(row["message"]) <= 160


def test_summaries_mask_the_first_errors() -> None:
    result = {
        "client_id": "acme",
        "period": "2026-12",
        "status": "rejected",
        "load_id": 3,
        "quota": {"period": "2026-12", "used": False, "next_period_starts": "2027-01-01"},
        "incident": None,
        "changes": {},
        "errors": ERRORS,
    }
    counts = {"unidades": 3, "personas": 4}
    report = {"valid": False, "counts": counts, "errors": ERRORS, "warnings": []}
    for markdown in (
        plain(load_markdown(result, "org.xlsx")),
        plain(validation_markdown(report, "acme", "org.xlsx")),
    ):
        assert "| `invalid_rut` | «12.3**.***-1» no es un RUT válido. | personas | 3 | rut |" in (
            markdown
        )
        assert "propia jefatura (11.1**.***-1)" in markdown
        for raw in RAW:
            assert raw not in markdown


# --- published under the Prefect test harness -----------------------------------------------


def _artifacts(flow_run_id: UUID | None) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as api:
        return api.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def _published(flow_run_id: UUID | None) -> tuple[str, list[dict[str, Any]]]:
    artifacts = _artifacts(flow_run_id)
    markdown = "\n".join(a.data for a in artifacts if a.type == "markdown")
    [table] = [a.data for a in artifacts if a.type == "table"]
    return markdown, json.loads(table) if isinstance(table, str) else table


@pytest.mark.usefixtures("prefect_harness")
def test_monthly_load_artifacts_are_masked_and_the_result_is_not(
    engine: Engine, client: str, tmp_path: Path
) -> None:
    upload = write_xlsx(tmp_path / "org.xlsx", rejected_rows())
    state = monthly_load(client_id=client, file=str(upload), return_state=True)
    result = state.result()
    assert result["status"] == "rejected"
    assert WRONG_RUT in {e["value"] for e in result["errors"]}  # the admin's own data
    markdown, table = _published(state.state_details.flow_run_id)
    published = plain(markdown + json.dumps(table, ensure_ascii=False))
    for raw in RAW:
        assert raw not in published
    assert [(r["row"], r["column"], r["code"]) for r in table] == [
        (e["row"], e["column"], e["code"]) for e in result["errors"]
    ]
    assert {"12.3**.***-1", "c***", "a***@empresa.cl"} <= {plain(r["value"]) for r in table}
    assert "12.3\\*\\*.\\*\\*\\*-1" in markdown  # stars escaped: not read as bold


@pytest.mark.usefixtures("prefect_harness")
def test_validate_upload_artifacts_are_masked(client: str, tmp_path: Path) -> None:
    upload = write_xlsx(tmp_path / "org.xlsx", rejected_rows())
    state = validate_upload_flow(client_id=client, file=str(upload), return_state=True)
    assert state.result()["valid"] is False
    markdown, table = _published(state.state_details.flow_run_id)
    for raw in RAW:
        assert raw not in markdown
        assert raw not in json.dumps(table, ensure_ascii=False)
    assert "12.3**.***-1" in plain(markdown)


@pytest.mark.usefixtures("prefect_harness")
def test_applied_data_keeps_the_full_values(engine: Engine, client: str, tmp_path: Path) -> None:
    upload = write_xlsx(tmp_path / "org.xlsx", valid_rows())
    state = monthly_load(client_id=client, file=str(upload), return_state=True)
    assert state.result()["status"] == "applied"
    with engine.connect() as conn:
        stored = dict(conn.execute(select(people.c.rut, people.c.email)).all())
    assert stored[CEO] == "ana@empresa.cl"
    assert stored[CTO] == "bruno@empresa.cl"


@pytest.mark.usefixtures("prefect_harness")
def test_prefect_run_logs_are_masked(tmp_path: Path) -> None:
    from prefect import flow, get_run_logger
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    # what PREFECT_LOGGING_EXTRA_LOGGERS=loaders does: the API handler on our package logger
    ours = logging.getLogger("loaders")
    api_handlers = [
        h for h in logging.getLogger("prefect.extra").handlers if isinstance(h, APILogHandler)
    ]
    assert api_handlers
    level = ours.level
    for handler in api_handlers:
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)

    @flow(name="m6-masked-logs")
    def noisy() -> None:
        logging.getLogger("loaders.m6_module").warning(
            "apply failed for %s (%s)", CTO, "bruno@empresa.cl"
        )
        get_run_logger().info("persona %s, correo %s", CEO, "ana@empresa.cl")

    try:
        state = noisy(return_state=True)
        api_handlers[0].flush()  # the API log worker sends what it holds
    finally:
        for handler in api_handlers:
            ours.removeHandler(handler)
        ours.setLevel(level)
    with get_client(sync_client=True) as api:
        logs = api.read_logs(
            log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    messages = [log.message for log in logs]
    assert "apply failed for 12.3**.***-5 (b***@empresa.cl)" in messages
    assert "persona 11.1**.***-1, correo a***@empresa.cl" in messages
    for raw in (CEO, CTO, "ana@empresa.cl", "bruno@empresa.cl"):
        assert not any(raw in m for m in messages)
