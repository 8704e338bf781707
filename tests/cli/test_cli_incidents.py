"""`orgload incidents …` on both databases: JSON shapes, one-line refusals, replay (SPEC §6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()
INVALID = "organizacion_invalida.xlsx"
NOV = "organizacion_2026-11.xlsx"
LIST_KEYS = {
    "id",
    "category",
    "level",
    "status",
    "client_id",
    "period",
    "load_id",
    "reported_at",
    "review_due_at",
}


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def incident(database_url: str, samples: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORGLOAD_NOW", "2026-12-07T17:00:00-03:00")
    assert run("clients", "add", "acme", "--name", "ACME")[0] == 0
    code, stdout, _ = run("load", "--client", "acme", str(samples / INVALID), "--json")
    assert code == 1
    return json.loads(stdout)["incident"]["id"]


def test_list_and_show_shapes(incident: str) -> None:
    code, stdout, _ = run("incidents", "list", "--json")
    listed = json.loads(stdout)
    assert code == 0
    assert [set(e) for e in listed] == [LIST_KEYS]
    assert listed[0]["id"] == incident
    assert listed[0]["reported_at"] == "2026-12-07T17:00:00-03:00"
    code, stdout, _ = run("incidents", "show", incident, "--json")
    shown = json.loads(stdout)
    assert LIST_KEYS | {"diagnostics", "history"} <= set(shown)
    assert shown["history"][0]["action"] == "reported"
    assert shown["diagnostics"]["file_name"] == INVALID
    assert json.loads(run("incidents", "list", "--level", "2", "--json")[1]) == []
    assert (
        json.loads(run("incidents", "list", "--client", "acme", "--json")[1])[0]["id"] == incident
    )


def test_escalate_and_walk_the_lifecycle(incident: str) -> None:
    code, stdout, _ = run(
        "incidents", "escalate", incident, "--reason", "needs support", "--by", "ana", "--json"
    )
    escalated = json.loads(stdout)
    assert code == 0
    assert escalated["level"] == 2
    assert escalated["review_due_at"] == "2026-12-09T14:00:00-03:00"
    code, _, stderr = run("incidents", "transition", incident, "--to", "closed")
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1
    assert json.loads(run("incidents", "show", incident, "--json")[1])["status"] == "reported"
    assert run("incidents", "transition", incident, "--to", "in_review", "--by", "ana")[0] == 0
    code, _, stderr = run("incidents", "transition", incident, "--to", "resolved")
    assert code == 1
    assert "--correction" in stderr
    code, stdout, _ = run(
        "incidents",
        "transition",
        incident,
        "--to",
        "resolved",
        "--correction",
        "data",
        "--by",
        "ana",
        "--comment",
        "RUTs fixed",
        "--json",
    )
    assert (code, json.loads(stdout)["status"]) == (0, "resolved")
    history = json.loads(stdout)["history"]
    assert history[-1]["correction"] == "data"
    assert history[-1]["by"] == "ana"


def test_overdue_filter(incident: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run("incidents", "escalate", incident, "--reason", "x")
    monkeypatch.setenv("ORGLOAD_NOW", "2026-12-09T14:30:00-03:00")
    overdue = json.loads(run("incidents", "list", "--overdue", "--json")[1])
    assert [e["id"] for e in overdue] == [incident]


def test_replay_reruns_the_stored_file_as_a_dry_run(incident: str, samples: Path) -> None:
    code, stdout, _ = run("incidents", "replay", incident, "--json")
    replayed = json.loads(stdout)
    assert code == 1  # the stored file is still invalid today
    assert replayed["status"] == "rejected"
    assert replayed["load_id"] is None  # a dry run records nothing
    assert {e["code"] for e in replayed["errors"]} >= {"invalid_rut", "cycle"}
    assert len(json.loads(run("history", "--client", "acme", "--json")[1])) == 1


def test_unknown_incident_is_one_line(database_url: str) -> None:
    code, stdout, stderr = run("incidents", "show", "INC-NOPE")
    assert code == 1
    assert stdout == ""
    assert "INC-NOPE" in stderr


def test_spooled_incident_is_imported_by_the_next_command(
    database_url: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", "2026-12-07T17:00:00-03:00")
    assert run("clients", "add", "acme", "--name", "ACME")[0] == 0
    monkeypatch.setenv(
        "ORGLOAD_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x?connect_timeout=2"
    )
    code, stdout, _ = run("load", "--client", "acme", str(samples / NOV), "--json")
    spooled = json.loads(stdout)
    assert code == 4
    assert spooled["status"] == "failed"
    assert spooled["incident"]["level"] == 3
    monkeypatch.setenv("ORGLOAD_DATABASE_URL", database_url)
    code, stdout, stderr = run("incidents", "list", "--json")
    assert code == 0
    assert [e["id"] for e in json.loads(stdout)] == [spooled["incident"]["id"]]
    assert "imported 1 spooled incident" in stderr
    code, stdout, _ = run("incidents", "import-spool", "--json")
    assert json.loads(stdout) == {"spooled_before": 0, "imported": [], "left": 0}
