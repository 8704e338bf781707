"""The load-side commands of `orgload` on both databases: JSON shapes and exit codes (SPEC §6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()
NOV = "organizacion_2026-11.xlsx"
DEC = "organizacion_2026-12.xlsx"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def client(database_url: str) -> str:
    code, _, stderr = run(
        "clients", "add", "acme", "--name", "ACME SpA", "--admin-email", "a@acme.cl"
    )
    assert code == 0, stderr
    return "acme"


def test_clients_add_and_list(client: str) -> None:
    code, stdout, _ = run("clients", "list", "--json")
    listed = json.loads(stdout)
    assert code == 0
    assert [c["id"] for c in listed] == ["acme"]
    assert listed[0]["timezone"] == "America/Santiago"
    code, _, stderr = run("clients", "add", "acme", "--name", "again")
    assert code == 1
    assert "already exists" in stderr


def test_clients_add_rejects_an_unknown_timezone(database_url: str) -> None:
    code, _, stderr = run("clients", "add", "x", "--name", "X", "--timezone", "Mars/Olympus")
    assert code == 2
    assert "timezone" in stderr


def test_load_of_unknown_client_exits_2(database_url: str, samples: Path) -> None:
    code, stdout, stderr = run("load", "--client", "ghost", str(samples / NOV), "--json")
    assert code == 2
    assert stdout == ""
    assert "unknown_client" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_override_quota_needs_a_reason(client: str, samples: Path) -> None:
    code, _, stderr = run("load", "--client", client, str(samples / NOV), "--override-quota")
    assert code == 2
    assert "--reason" in stderr


def test_load_json_shape_and_exit_codes(
    client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", "2026-11-12T09:00:00-03:00")
    code, stdout, _ = run("load", "--client", client, str(samples / NOV), "--json")
    data = json.loads(stdout)
    assert code == 0
    assert data["status"] == "applied"
    assert data["period"] == "2026-11"
    assert data["incident"] is None
    assert data["quota"] == {
        "period": "2026-11",
        "used": True,
        "next_period_starts": "2026-12-01T00:00:00-03:00",
    }
    code, stdout, _ = run("load", "--client", client, str(samples / DEC), "--json")
    assert (code, json.loads(stdout)["status"]) == (3, "quota_exhausted")
    code, stdout, _ = run("load", "--client", client, str(samples / DEC), "--dry-run", "--json")
    dry = json.loads(stdout)
    assert (code, dry["status"], dry["load_id"]) == (0, "dry_run", None)
    assert dry["quota"]["used"] is True
    code, stdout, _ = run(
        "load", "--client", client, str(samples / "organizacion_invalida.xlsx"), "--json"
    )
    assert (code, json.loads(stdout)["status"]) == (1, "rejected")


def test_dry_run_human_output_previews_changes(
    client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", "2026-11-12T09:00:00-03:00")
    run("load", "--client", client, str(samples / NOV))
    code, stdout, _ = run("load", "--client", client, str(samples / DEC), "--dry-run")
    assert code == 0
    assert stdout.startswith("simulación — ")  # Spanish by default (SPEC §6)
    assert "entidad      nuevas  cambiadas desactivadas    iguales" in stdout
    assert "~ unidades PER.01: nombre_unidad: 'Remuneraciones' → " in stdout
    assert "- unidades: TI-01" in stdout
    code, stdout, _ = run(
        "load", "--client", client, str(samples / DEC), "--dry-run", "--lang", "en"
    )
    assert code == 0
    assert stdout.startswith("dry_run — ")  # English keeps the SPEC's status names
    assert "entity     inserted    updated  deactivated  unchanged" in stdout


def test_history_quota_revert_and_export(
    client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", "2026-11-12T09:00:00-03:00")
    run("load", "--client", client, str(samples / NOV))
    run("load", "--client", client, str(samples / NOV))  # already_applied
    code, stdout, _ = run("history", "--client", client, "--json")
    history = json.loads(stdout)
    assert code == 0
    assert [h["status"] for h in history] == ["already_applied", "applied"]
    assert set(history[0]) == {
        "load_id",
        "status",
        "period",
        "file_name",
        "sha256",
        "created_at",
        "changes",
        "reason",
    }
    applied_id = history[1]["load_id"]
    code, stdout, _ = run("quota", "--client", client, "--json")
    assert json.loads(stdout)["used"] is True

    code, stdout, _ = run("export", "--client", client, "--format", "json")
    exported = json.loads(stdout)
    assert len(exported["personas"]) == 250
    assert set(exported["personas"][0]) == {
        "rut",
        "nombres",
        "apellidos",
        "email",
        "codigo_unidad",
        "cargo",
        "rut_jefatura",
        "fecha_ingreso",
        "perfil",
    }

    code, _, stderr = run(
        "revert", "--load", str(applied_id + 99), "--client", client, "--reason", "x"
    )
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1
    code, _, stderr = run("revert", "--load", str(applied_id), "--reason", "x")
    assert code == 2  # the client must be named (SPEC §9: every id-taking command is scoped)
    code, stdout, _ = run(
        "revert", "--load", str(applied_id), "--client", client, "--reason", "wrong file", "--json"
    )
    reverted = json.loads(stdout)
    assert code == 0
    assert reverted["status"] == "reverted"
    assert reverted["reverted_load_id"] == applied_id
    assert reverted["changes"]["personas"]["deactivated"] == 250
    code, stdout, _ = run("history", "--client", client, "--json")
    newest = json.loads(stdout)[0]
    assert (newest["status"], newest["reason"]) == ("reverted", "wrong file")
    code, stdout, _ = run("quota", "--client", client, "--json")
    assert json.loads(stdout)["used"] is False


def test_commands_refuse_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, _, stderr = run("clients", "list")
    assert code == 2
    assert "orgload db upgrade" in stderr


def test_unreachable_database_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ORGLOAD_DATABASE_URL",
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
    )
    code, _, stderr = run("clients", "list")
    assert code == 4
    assert "unreachable" in stderr
    assert "Traceback" not in stderr


def test_db_upgrade_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGLOAD_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert run("db", "upgrade")[0] == 0
    code, stdout, _ = run("db", "upgrade")
    from orgload.migrate import head_revision

    assert code == 0
    assert stdout.strip().endswith(f"revisión {head_revision()}")
