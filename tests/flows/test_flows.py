"""The flows under the Prefect test harness, on both databases: states, artifacts, incidents."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from dbfaults import break_person_writes
from sqlalchemy import Engine, select

from flows.monthly_load import monthly_load
from flows.validate_upload import validate_upload_flow
from loaders.store import add_client
from orgload.db import incidents, loads

NOV = "organizacion_2026-11.xlsx"
INVALID = "organizacion_invalida.xlsx"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORGLOAD_NOW", "2026-12-07T17:00:00-03:00")
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    return "acme"


def _artifacts(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as api:
        return api.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def test_monthly_load_applies_and_publishes_its_summary(
    engine: Engine, client: str, samples: Path
) -> None:
    state = monthly_load(client_id=client, file=str(samples / NOV), return_state=True)
    result = state.result()
    assert state.is_completed()
    assert result["status"] == "applied"
    with engine.connect() as conn:
        record = conn.execute(select(loads).where(loads.c.id == result["load_id"])).one()
    assert record.flow_run_id == str(state.state_details.flow_run_id)
    artifacts = _artifacts(state.state_details.flow_run_id)
    summary = next(a for a in artifacts if a.type == "markdown")
    assert "`applied`" in summary.data
    assert "| personas | 250 | 0 | 0 | 0 |" in summary.data


def test_rejected_file_completes_with_errors_and_a_level_1_incident(
    engine: Engine, client: str, samples: Path
) -> None:
    state = monthly_load(client_id=client, file=str(samples / INVALID), return_state=True)
    result = state.result()
    assert state.is_completed()
    assert result["status"] == "rejected"
    run_id = str(state.state_details.flow_run_id)
    with engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
    assert [(r.category, r.level, r.flow_run_id) for r in rows] == [("validation", 1, run_id)]
    kinds = {a.type for a in _artifacts(state.state_details.flow_run_id)}
    assert kinds == {"markdown", "table"}


def test_failed_apply_fails_the_run_with_exactly_one_incident(
    engine: Engine, client: str, samples: Path
) -> None:
    break_person_writes(engine)
    state = monthly_load(client_id=client, file=str(samples / NOV), return_state=True)
    assert state.is_failed()
    with engine.connect() as conn:
        rows = conn.execute(select(incidents)).all()
    assert [(r.category, r.level) for r in rows] == [("apply_error", 2)]
    assert rows[0].flow_run_id == str(state.state_details.flow_run_id)


def test_override_without_reason_fails_early(engine: Engine, client: str, samples: Path) -> None:
    state = monthly_load(
        client_id=client, file=str(samples / NOV), override_quota=True, return_state=True
    )
    assert state.is_failed()
    assert "reason" in (state.message or "")


def test_validate_upload_flow_writes_the_workbook_and_links_it(
    client: str, samples: Path, tmp_path: Path
) -> None:
    state = validate_upload_flow(
        client_id=client, file=str(samples / INVALID), report_dir=str(tmp_path), return_state=True
    )
    report = state.result()
    assert report["valid"] is False
    assert (tmp_path / "organizacion_invalida.errores.xlsx").is_file()
    artifacts = _artifacts(state.state_details.flow_run_id)
    assert sorted(a.type for a in artifacts) == ["markdown", "markdown", "table"]
    link = next(a for a in artifacts if a.key and a.key.startswith("report-"))
    assert "organizacion_invalida.errores.xlsx" in link.data  # Prefect stores links as markdown
