"""Smoke test of ``prefect.yaml`` (no server): entrypoints import, typed forms build, schedules are
in Chile time and fire when the contract says, one work pool, code runs from this checkout."""

from __future__ import annotations

import asyncio
import inspect
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.server.schemas.schedules import CronSchedule
from prefect.utilities.callables import parameter_schema

from flows.reconcile import WATCHED_FLOWS, reconcile_dead_runs
from service.inbox import is_off_peak

REPO = Path(__file__).resolve().parents[2]
CHILE = ZoneInfo("America/Santiago")
CONFIG = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
DEPLOYMENTS = {d["name"]: d for d in CONFIG["deployments"]}
EXPECTED = {"monthly-load", "validate-upload", "scheduled-validation", "incident-sla-watch"}


def _flow(spec: dict[str, Any]) -> Flow[..., Any]:
    path, function = spec["entrypoint"].split(":")
    return load_flow_from_entrypoint(f"{REPO / path}:{function}")


def _dates(schedule: dict[str, Any], start: datetime, days: int) -> list[datetime]:
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    end = start + timedelta(days=days, seconds=-1)
    found = asyncio.run(cron.get_dates(start=start, end=end))
    return [datetime.fromtimestamp(d.timestamp(), CHILE) for d in found]


def test_every_flow_has_exactly_one_deployment_named_after_it() -> None:
    assert set(DEPLOYMENTS) == EXPECTED
    assert len(CONFIG["deployments"]) == len(EXPECTED)
    for name, spec in DEPLOYMENTS.items():
        assert _flow(spec).name == name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_entrypoint_imports_and_its_typed_form_builds(name: str) -> None:
    flow = _flow(DEPLOYMENTS[name])
    schema = parameter_schema(flow.fn).model_dump_for_openapi()
    properties = schema["properties"]
    assert list(properties) == list(inspect.signature(flow.fn).parameters)
    for parameter, entry in properties.items():
        assert entry.get("description"), f"{name}: {parameter} has no description for the form"
        assert "type" in entry or "anyOf" in entry, f"{name}: {parameter} is untyped"


def test_all_deployments_use_the_one_process_work_pool() -> None:
    pools = {spec["work_pool"]["name"] for spec in CONFIG["deployments"]}
    assert pools == {"orgload-pool"}


def test_code_runs_from_the_deploying_checkout_without_remote_storage() -> None:
    build = CONFIG["build"]
    assert build == [
        {
            "prefect.deployments.steps.run_shell_script": {
                "id": "project-dir",
                "script": "pwd",
                "stream_output": False,
            }
        }
    ]
    assert CONFIG["pull"] == [
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "{{ project-dir.stdout }}"
            }
        }
    ]
    assert not CONFIG.get("push")
    assert all("pull" not in spec and "push" not in spec for spec in CONFIG["deployments"])


def test_runs_beat_often_enough_for_the_silence_window_of_the_reconciler() -> None:
    silent_after = inspect.signature(reconcile_dead_runs).parameters["silent_after_seconds"]
    for spec in CONFIG["deployments"]:
        beat = int(spec["work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
        assert 30 <= beat <= silent_after.default / 3


def test_every_schedule_is_a_cron_in_chile_time_with_a_unique_slug() -> None:
    for spec in CONFIG["deployments"]:
        schedules = spec.get("schedules") or []
        assert len({s["slug"] for s in schedules}) == len(schedules)
        for schedule in schedules:
            assert schedule["timezone"] == "America/Santiago"
            CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])


def test_schedule_parameters_are_valid_for_their_flow() -> None:
    for spec in CONFIG["deployments"]:
        flow = _flow(spec)
        for schedule in spec.get("schedules") or []:
            flow.validate_parameters(schedule.get("parameters") or {})


def _schedule(deployment: str, slug: str) -> dict[str, Any]:
    return next(s for s in DEPLOYMENTS[deployment]["schedules"] if s["slug"] == slug)


def test_loads_and_single_validations_run_only_when_triggered() -> None:
    assert DEPLOYMENTS["monthly-load"]["schedules"] == []
    assert DEPLOYMENTS["validate-upload"]["schedules"] == []


def test_inbox_validation_runs_every_15_minutes_day_and_night() -> None:
    dates = _dates(
        _schedule("scheduled-validation", "every-15-minutes"),
        datetime(2026, 11, 2, tzinfo=CHILE),
        7,
    )
    assert len(dates) == 7 * 24 * 4
    assert {d.minute for d in dates} == {0, 15, 30, 45}


# Chile leaves summer time on 2026-04-05 and enters it on 2026-09-06, both at midnight
@pytest.mark.parametrize("start", [datetime(2026, 4, 1, tzinfo=CHILE), datetime(2026, 9, 2)])
def test_the_nightly_apply_opens_the_off_peak_window_at_22_chile_time_across_dst(
    start: datetime,
) -> None:
    schedule = _schedule("scheduled-validation", "off-peak-apply")
    assert schedule["parameters"] == {"apply_now": True}
    dates = _dates(schedule, start.replace(tzinfo=CHILE), 7)
    assert len(dates) == 7
    assert {(d.hour, d.minute) for d in dates} == {(22, 0)}
    assert len({d.utcoffset() for d in dates}) == 2  # the change is inside the week
    assert all(is_off_peak(d) for d in dates)


def test_sla_watch_runs_every_15_minutes_inside_coverage_hours_only() -> None:
    dates = _dates(
        _schedule("incident-sla-watch", "coverage-hours"), datetime(2026, 11, 2, tzinfo=CHILE), 7
    )
    assert len(dates) == 5 * 9 * 4  # Mon-Fri, 09:00 to 17:45
    assert {d.weekday() for d in dates} == {0, 1, 2, 3, 4}
    assert min(d.time() for d in dates).isoformat() == "09:00:00"
    assert max(d.time() for d in dates).isoformat() == "17:45:00"


def test_a_crashed_watched_run_starts_the_sla_watch_at_any_hour() -> None:
    from prefect.events import DeploymentEventTrigger
    from pydantic import TypeAdapter

    (trigger,) = DEPLOYMENTS["incident-sla-watch"]["triggers"]
    parsed = TypeAdapter(DeploymentEventTrigger).validate_python(trigger)
    assert parsed.expect == {"prefect.flow-run.Crashed"}
    assert sorted(trigger["match_related"]["prefect.resource.name"]) == sorted(WATCHED_FLOWS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_descriptions_have_no_angle_brackets_the_ui_would_take_for_html(name: str) -> None:
    # the UI renders a description as markdown: `<client>` vanished as an unknown HTML tag
    assert "<" not in DEPLOYMENTS[name].get("description", "")
    assert "<" not in (_flow(DEPLOYMENTS[name]).description or "")


def test_optional_text_parameters_open_as_text_fields() -> None:
    # `str | None` opened as type "None" in the custom-run form; an empty string is "not given"
    for name, parameter in (("monthly-load", "reason"), ("validate-upload", "report_dir")):
        flow = _flow(DEPLOYMENTS[name])
        entry = parameter_schema(flow.fn).model_dump_for_openapi()["properties"][parameter]
        assert entry["type"] == "string"
        assert entry["default"] == ""
