"""The `orgload` command line: exit codes, JSON shape, languages and one-line errors (SPEC §6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()
ENTRY_KEYS = {"sheet", "row", "column", "header", "value", "code", "message"}


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_valid_sample_exits_zero_with_counts(samples: Path) -> None:
    code, stdout, _ = run(
        "validate", "--client", "acme", str(samples / "organizacion_2026-11.xlsx"), "--json"
    )
    data = json.loads(stdout)
    assert code == 0
    assert data["valid"] is True
    assert data["errors"] == []
    assert data["counts"]["unidades"] >= 15
    assert data["counts"]["personas"] >= 200


def test_validate_invalid_sample_reports_exactly_the_planted_errors(samples: Path) -> None:
    code, stdout, _ = run(
        "validate", "--client", "acme", str(samples / "organizacion_invalida.xlsx"), "--json"
    )
    data = json.loads(stdout)
    planted = json.loads((samples / "expected.json").read_text("utf-8"))[
        "organizacion_invalida.xlsx"
    ]

    def cells(entries: list[dict]) -> set[tuple]:
        return {(e["sheet"], e["row"], e["column"], e["code"]) for e in entries}

    assert code == 1
    assert data["valid"] is False
    assert data["counts"] == planted["counts"]
    assert cells(data["errors"]) == cells(planted["errors"])
    assert [(w["sheet"], w["header"], w["code"]) for w in data["warnings"]] == [
        (w["sheet"], w["header"], w["code"]) for w in planted["warnings"]
    ]


def test_validate_json_prints_only_json_with_the_entry_shape(samples: Path) -> None:
    _, stdout, _ = run(
        "validate", "--client", "acme", str(samples / "organizacion_invalida.xlsx"), "--json"
    )
    data = json.loads(stdout)  # nothing but JSON on stdout
    assert set(data) == {"valid", "counts", "errors", "warnings"}
    for entry in data["errors"] + data["warnings"]:
        assert set(entry) == ENTRY_KEYS
    assert {w["code"] for w in data["warnings"]} == {"unknown_column"}


def test_validate_messages_follow_lang(samples: Path) -> None:
    path = str(samples / "organizacion_invalida.xlsx")
    _, es, _ = run("validate", "--client", "acme", path, "--json")
    _, en, _ = run("validate", "--client", "acme", path, "--json", "--lang", "en")
    es_errors, en_errors = json.loads(es)["errors"], json.loads(en)["errors"]
    assert [e["code"] for e in es_errors] == [e["code"] for e in en_errors]
    assert all(a["message"] != b["message"] for a, b in zip(es_errors, en_errors, strict=True))


def test_validate_human_output_has_summary_and_groups(samples: Path) -> None:
    code, stdout, _ = run(
        "validate", "--client", "acme", str(samples / "organizacion_invalida.xlsx")
    )
    assert code == 1
    first = stdout.splitlines()[0]
    assert first.startswith("INVÁLIDO organizacion_invalida.xlsx")
    assert "Errores — unidades" in stdout
    assert "Errores — personas" in stdout


def test_validate_human_output_caps_long_groups(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    units = workbook.active
    units.title = "unidades"
    units.append(["codigo_unidad", "nombre_unidad"])
    for i in range(30):
        units.append([f"BAD CODE {i}", "x"])
    people = workbook.create_sheet("personas")
    people.append(["rut", "nombres", "apellidos", "email", "codigo_unidad"])
    path = tmp_path / "many.xlsx"
    workbook.save(path)
    code, stdout, _ = run("validate", "--client", "acme", str(path), "--lang", "en")
    assert code == 1
    assert "… and 10 more" in stdout


def test_validate_report_option_writes_annotated_workbook(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "errors.xlsx"
    code, _, _ = run(
        "validate",
        "--client",
        "acme",
        str(samples / "organizacion_invalida.xlsx"),
        "--report",
        str(out),
    )
    assert code == 1
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames[0] == "Errores"
    listed = list(workbook["Errores"].iter_rows(min_row=2, values_only=True))
    assert len(listed) >= 15
    commented = [
        c for row in workbook["personas"].iter_rows() for c in row if c.comment is not None
    ]
    assert commented, "bad cells carry a comment"


def test_validate_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    code, stdout, stderr = run("validate", "--client", "acme", str(tmp_path / "nope.xlsx"))
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert "nope.xlsx" in stderr


def test_validate_bad_lang_is_rejected(samples: Path) -> None:
    code, _, stderr = run(
        "validate", "--client", "a", str(samples / "organizacion_2026-11.xlsx"), "--lang", "fr"
    )
    assert code == 2
    assert "--lang" in stderr


def test_invalid_configuration_is_one_line_not_a_traceback(
    samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_MAX_FILE_MB", "-3")
    code, _, stderr = run("validate", "--client", "a", str(samples / "organizacion_2026-11.xlsx"))
    assert code == 2
    assert "ORGLOAD_MAX_FILE_MB" in stderr
    assert "Traceback" not in stderr


def test_configured_limit_refuses_a_big_file(
    samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGLOAD_MAX_FILE_MB", "0.001")
    code, stdout, _ = run(
        "validate", "--client", "a", str(samples / "organizacion_2026-11.xlsx"), "--json"
    )
    assert code == 1
    assert [e["code"] for e in json.loads(stdout)["errors"]] == ["file_too_large"]


def test_console_script_help_version_and_junk_without_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(os.urandom(4096))
    exe = Path(sys.executable).with_name("orgload")
    env = {**os.environ, "ORGLOAD_HOME": str(tmp_path)}
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, env=env, check=False)
    assert helped.returncode == 0
    assert "validate" in helped.stdout
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0
    assert version.stdout.startswith("orgload ")
    checked = subprocess.run(
        [exe, "validate", "--client", "a", str(junk), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == 1
    assert "Traceback" not in checked.stderr
    assert json.loads(checked.stdout)["errors"][0]["code"] == "unreadable_file"


def test_orgload_template_writes_the_workbook_and_refuses_a_missing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("template")[0] == 0
    assert (tmp_path / "plantilla_orgload.xlsx").is_file()
    assert run("template", "--lang", "en", "-o", str(tmp_path / "t.xlsx"))[0] == 0
    assert openpyxl.load_workbook(tmp_path / "t.xlsx").sheetnames[1] == "Units"
    code, stdout, stderr = run("template", "-o", str(tmp_path / "no" / "t.xlsx"))
    assert code == 2
    assert "no existe la carpeta" in stderr
    assert "Traceback" not in stdout + stderr
