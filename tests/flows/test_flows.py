"""The flows under the Prefect test harness, on both databases: states, artifacts, incidents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dbfaults import break_person_writes
from sqlalchemy import Engine, select

from flows.monthly_load import monthly_load
from flows.validate_upload import validate_upload_flow
from orgload.db import incidents, loads

NOV = "organizacion_2026-11.xlsx"
DEC = "organizacion_2026-12.xlsx"
INVALID = "organizacion_invalida.xlsx"

pytestmark = pytest.mark.usefixtures("prefect_harness")


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
    assert kinds == {"markdown", "table", "progress"}


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


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"client_id": "nope"}, "unknown_client"),
        ({"client_id": "Not A Slug"}, "invalid_client_id"),
        ({"file": "/no/such/file.xlsx"}, "file_not_found"),
        ({"file": "."}, "not_a_regular_file"),
        ({"override_quota": True}, "reason_required"),
        ({"override_quota": True, "reason": "   "}, "reason_required"),
        ({"reason": "no override asked"}, "reason_without_override"),
        ({"file": "", "stored_file": "uploads/acme/none.xlsx"}, "file_not_found"),
        ({"file": "", "stored_file": "../etc/passwd"}, "file_not_found"),
        ({"stored_file": "uploads/acme/none.xlsx"}, "file_and_stored_file"),
    ],
)
def test_operator_mistakes_fail_the_run_at_once_with_one_line_and_no_incident(
    engine: Engine, client: str, samples: Path, parameters: dict, problem: str
) -> None:
    from prefect.client.orchestration import get_client

    given = {"client_id": client, "file": str(samples / NOV), **parameters}
    state = monthly_load(**given, return_state=True)
    assert state.is_failed()
    assert state.name == "InvalidParameters"
    assert (state.message or "").startswith(f"parameters refused ({problem}): ")
    assert "\n" not in (state.message or "")
    with engine.connect() as conn:
        assert conn.execute(select(incidents)).all() == []
        assert conn.execute(select(loads)).all() == []
    with get_client(sync_client=True) as api:
        names = {limit.name for limit in api.read_global_concurrency_limits(limit=200)}
    if given["client_id"] != client:  # other runs of the session load acme
        assert f"orgload-load-{given['client_id']}" not in names


def test_runs_are_named_by_client_period_and_file(client: str, samples: Path) -> None:
    from prefect.client.orchestration import get_client

    state = monthly_load(client_id=client, file=str(samples / NOV), dry_run=True, return_state=True)
    with get_client(sync_client=True) as api:
        run = api.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"acme · 2026-12 · {NOV} · dry run"  # ORGLOAD_NOW is in 2026-12
    assert "outcome:dry-run" in run.tags


def test_quota_refusal_ends_quota_exhausted_and_an_override_names_itself_and_its_reason(
    engine: Engine, client: str, samples: Path
) -> None:
    first = monthly_load(client_id=client, file=str(samples / NOV), return_state=True)
    assert first.name == "Completed"
    refused = monthly_load(client_id=client, file=str(samples / DEC), return_state=True)
    assert refused.is_completed()
    assert refused.name == "QuotaExhausted"
    assert refused.result()["status"] == "quota_exhausted"
    reason = "planilla de noviembre por error (ticket 4521, ana@empresa.cl)"
    override = monthly_load(
        client_id=client,
        file=str(samples / DEC),
        override_quota=True,
        reason=reason,
        return_state=True,
    )
    assert override.result()["status"] == "applied"
    assert "quota override: planilla de noviembre" in (override.message or "")
    assert "ana@empresa.cl" not in (override.message or "")  # masked (SPEC §9)
    summary = next(
        a.data for a in _artifacts(override.state_details.flow_run_id) if a.type == "markdown"
    )
    assert "orgload override load" in summary
    assert "**Quota override:** yes — reason: planilla de noviembre" in summary
    with engine.connect() as conn:
        recorded = conn.execute(select(loads.c.reason).where(loads.c.status == "applied")).all()
    assert (reason,) in recorded


def test_rejected_load_writes_its_report_to_the_outbox_and_links_it(
    client: str, samples: Path, orgload_env: Path
) -> None:
    state = monthly_load(client_id=client, file=str(samples / INVALID), return_state=True)
    assert state.name == "Rejected"
    outbox = orgload_env / "outbox" / client
    (report,) = outbox.glob("organizacion_invalida.*.load.json")
    (workbook,) = outbox.glob("organizacion_invalida.*.errores.xlsx")
    links = [a for a in _artifacts(state.state_details.flow_run_id) if a.key == "report-acme"]
    assert sorted(Path(str(a.data).split("](")[1].rstrip(")")).name for a in links) == sorted(
        [report.name, workbook.name]
    )


def test_validate_upload_of_a_clean_file_writes_no_error_workbook(
    client: str, samples: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    state = validate_upload_flow(
        client_id=client, file=str(samples / NOV), report_dir=str(reports), return_state=True
    )
    assert state.result()["valid"] is True
    assert list(reports.glob("*.xlsx")) == []
    summary = next(
        a.data for a in _artifacts(state.state_details.flow_run_id) if a.type == "markdown"
    )
    assert "none needed" in summary


def test_validate_upload_flow_writes_the_workbook_and_links_it(
    client: str, samples: Path, tmp_path: Path
) -> None:
    state = validate_upload_flow(
        client_id=client, file=str(samples / INVALID), report_dir=str(tmp_path), return_state=True
    )
    report = state.result()
    assert state.name == "Invalid"
    assert report["valid"] is False
    assert (tmp_path / "organizacion_invalida.errores.xlsx").is_file()
    artifacts = _artifacts(state.state_details.flow_run_id)
    assert sorted(a.type for a in artifacts) == ["markdown", "markdown", "progress", "table"]
    link = next(a for a in artifacts if a.key and a.key.startswith("report-"))
    assert "organizacion_invalida.errores.xlsx" in link.data  # Prefect stores links as markdown


def test_scheduled_validation_counts_a_quota_skip_as_skipped_not_applied(
    client: str, samples: Path, orgload_env: Path
) -> None:
    import os
    import shutil

    from prefect.client.orchestration import get_client

    from flows.scheduled_validation import scheduled_validation

    inbox = orgload_env / "inbox" / client
    inbox.mkdir(parents=True)
    for name in (NOV, DEC):
        target = inbox / name
        shutil.copy(samples / name, target)
        os.utime(target, (1, 1))  # long settled
        state = scheduled_validation(apply_now=True, return_state=True)
        done = {(a["file_name"], a["status"]) for a in state.result()["applied"]}
        assert done == {(name, "applied" if name == NOV else "skipped")}
    artifacts = _artifacts(state.state_details.flow_run_id)
    summary = next(a.data for a in artifacts if a.type == "markdown")
    assert "1 taken: 0 applied, 1 skipped, 0 failed (quota_exhausted ×1)" in summary
    (table,) = [a.data for a in artifacts if a.type == "table"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert [(r["step"], r["status"], r["load_status"]) for r in rows] == [
        ("scan", "queued", None),
        ("apply", "skipped", "quota_exhausted"),
    ]
    with get_client(sync_client=True) as api:
        run = api.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "inbox · 2026-12 · 07 Dec 17:00 · apply now"


def test_incident_sla_watch_is_named_by_its_time_and_runs(client: str) -> None:
    from prefect.client.orchestration import get_client

    from flows.incident_sla_watch import incident_sla_watch

    state = incident_sla_watch(return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as api:
        run = api.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "sla watch · 2026-12 · 07 Dec 17:00"


@pytest.mark.parametrize("storage", ["local", "database"])
def test_a_run_loads_a_stored_file_named_by_its_key(
    engine: Engine, client: str, samples: Path, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stored_file``: the upload comes from the store (any worker can run it); a rejected
    one's reports go back to the store, named in the run's artifacts."""
    from orgload.db import tenant
    from orgload.settings import load_settings
    from orgload.storage import open_storage

    monkeypatch.setenv("ORGLOAD_STORAGE", storage)
    settings = load_settings()
    store = open_storage(settings)
    for name in (NOV, INVALID):
        with tenant(client), (samples / name).open("rb") as source:
            store.put(f"uploads/{client}/{name}", source, client_id=client)
    state = monthly_load(client_id=client, stored_file=f"uploads/{client}/{NOV}", return_state=True)
    assert state.is_completed()
    assert state.result()["status"] == "applied"
    with engine.connect() as conn:
        record = conn.execute(select(loads).where(loads.c.id == state.result()["load_id"])).one()
    assert record.file_name == NOV
    rejected = monthly_load(
        client_id=client, stored_file=f"uploads/{client}/{INVALID}", return_state=True
    )
    assert rejected.name == "Rejected"
    with tenant(client):
        reports = store.list_keys(f"outbox/{client}/", client_id=client)
    assert [k.rsplit(".", 2)[-2] for k in reports] == ["errores", "load"]
    summary = next(
        a for a in _artifacts(rejected.state_details.flow_run_id) if a.type == "markdown"
    )
    where = "database:outbox/acme/" if storage == "database" else f"{settings.home}/outbox/acme/"
    assert where in summary.data
    assert not (settings.home / "tmp").exists() or not list((settings.home / "tmp").iterdir())
