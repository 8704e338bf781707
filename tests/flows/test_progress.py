"""The flows report a run's stages as a Prefect progress artifact that ends at 100 (issue 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.monthly_load import monthly_load
from flows.stages import RunProgress
from flows.validate_upload import validate_upload_flow
from loaders.progress import Step

NOV = "organizacion_2026-11.xlsx"
INVALID = "organizacion_invalida.xlsx"

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _progress_artifacts(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
    )

    with get_client(sync_client=True) as api:
        return api.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                type=ArtifactFilterType(any_=["progress"]),
            )
        )


def test_a_load_run_ends_with_its_progress_artifact_at_100(client: str, samples: Path) -> None:
    state = monthly_load(client_id=client, file=str(samples / NOV), return_state=True)
    assert state.result()["status"] == "applied"
    (artifact,) = _progress_artifacts(state.state_details.flow_run_id)
    assert artifact.key == "load-progress-acme"
    assert float(artifact.data) == 100.0
    assert artifact.description == "done: applied"


def test_a_rejected_load_and_a_validation_end_at_100_too(client: str, samples: Path) -> None:
    rejected = monthly_load(client_id=client, file=str(samples / INVALID), return_state=True)
    assert rejected.result()["status"] == "rejected"
    (artifact,) = _progress_artifacts(rejected.state_details.flow_run_id)
    assert (float(artifact.data), artifact.description) == (100.0, "done: rejected")
    checked = validate_upload_flow(client_id=client, file=str(samples / NOV), return_state=True)
    (artifact,) = _progress_artifacts(checked.state_details.flow_run_id)
    assert artifact.key == "validation-progress-acme"
    assert (float(artifact.data), artifact.description) == (100.0, "done: valid")


def test_the_stages_advance_the_percentage_with_the_rows_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published: list[tuple[float, str]] = []
    progress = RunProgress("load-progress-acme")
    monkeypatch.setattr(progress, "_publish", lambda p, d: published.append((p, d)))
    steps = [
        Step("reading"),
        Step("validating", done=1000, total=1000),
        Step("planning", total=1000),
        Step("applying", done=0, total=1000),
        Step("applying", done=10, total=1000),  # under 5 points: not worth an API call
        Step("applying", done=500, total=1000),
        Step("applying", done=1000, total=1000),
    ]
    for step in steps:
        progress(step)
        if published:
            progress.percent = published[-1][0]
    progress.finish("applied")
    assert published == [
        (5.0, "reading…"),
        (35.0, "validating: 1,000 rows read"),
        (60.0, "planning: 1,000 rows against the current data"),
        (70.0, "applying: 0 of 1,000 rows written"),
        (84.5, "applying: 500 of 1,000 rows written"),
        (99.0, "applying: 1,000 of 1,000 rows written"),
        (100.0, "done: applied"),
    ]
