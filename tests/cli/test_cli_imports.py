"""What each command imports (issue 15, the fixed cost of a command): a command pays only for the
libraries it needs. Checked as the modules a real ``orgload`` process holds when it exits, never
as wall time (this machine is shared and noisy; ``bench/bench_fixed_cost.py`` measures time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from builders import valid_rows, write_xlsx

# Run the command as the console script does, and write the top-level packages it imported.
PROBE = """
import atexit, json, sys
listing = sys.argv[1]
def _dump():
    with open(listing, "w") as f:
        json.dump(sorted({m.split(".")[0] for m in sys.modules}), f)
atexit.register(_dump)
sys.argv = ["orgload", *sys.argv[2:]]
from cli.app import main
main()
"""

DATA_LIBRARIES = {"pandas", "pandera", "pyarrow", "numpy", "python_calamine"}
DATABASE = {"sqlalchemy", "psycopg", "alembic"}
ELSEWHERE = {"prefect", "openpyxl", "xlsxwriter", "great_expectations", "fastapi", "argon2"}


def imported(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    listing = tmp_path / "modules.json"
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(listing), *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            **(env or {}),
        },
        timeout=300,
    )
    return set(json.loads(listing.read_text())), run


def one_row_workbook(tmp_path: Path) -> Path:
    rows = valid_rows()
    sheets = {name: sheet[:2] for name, sheet in rows.items()}  # header and one row each
    return write_xlsx(tmp_path / "una_fila.xlsx", sheets)


def test_help_imports_typer_and_rich_only(tmp_path: Path) -> None:
    modules, run = imported(tmp_path, "--help")
    assert run.returncode == 0, run.stderr
    assert "validate" in run.stdout
    assert not modules & (DATA_LIBRARIES | DATABASE | ELSEWHERE)
    # not even the settings (pydantic) nor the service layer
    assert not modules & {"pydantic", "pydantic_settings", "service", "loaders", "schemas"}


def test_a_group_help_imports_no_library_either(tmp_path: Path) -> None:
    modules, run = imported(tmp_path, "incidents", "--help")
    assert run.returncode == 0, run.stderr
    assert not modules & (DATA_LIBRARIES | DATABASE | ELSEWHERE | {"pydantic_settings"})


def test_validate_of_a_one_row_file_needs_no_database_nor_prefect(tmp_path: Path) -> None:
    upload = one_row_workbook(tmp_path)
    modules, run = imported(tmp_path, "validate", "--client", "acme", str(upload), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["counts"] == {"unidades": 1, "personas": 1}
    assert {"pandas", "pandera"} <= modules  # it does validate
    assert not modules & (DATABASE | ELSEWHERE)


def test_a_refused_file_is_answered_without_pandas(tmp_path: Path) -> None:
    bomb = tmp_path / "bomba.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 5_000_000)  # 30 MB, ~30 KB
    modules, run = imported(tmp_path, "validate", "--client", "acme", str(bomb), "--json")
    assert run.returncode == 1, run.stderr
    assert [e["code"] for e in json.loads(run.stdout)["errors"]] == ["file_too_large"]
    assert not modules & ({"pandas", "pandera", "numpy"} | DATABASE | ELSEWHERE)


def test_files_over_the_row_limit_are_answered_without_pandas(tmp_path: Path) -> None:
    """A CSV with more rows than the limit, and a workbook whose sheet declares more, are
    refused before the validator's libraries are imported (issue 15: a refusal is cheap)."""
    rows = "".join(f"U{i};Unidad {i}\n" for i in range(60))
    (tmp_path / "unidades.csv").write_text("codigo_unidad;nombre_unidad\n" + rows)
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>U{r}</t></is></c></row>'
        for r in range(1, 62)
    )
    workbook = tmp_path / "org.xlsx"
    with zipfile.ZipFile(workbook, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "xl/workbook.xml",
            '<workbook xmlns:r="r"><sheets><sheet name="Unidades" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>",
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/>'
            "</Relationships>",
        )
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            f'<worksheet><dimension ref="A1:A61"/><sheetData>{cells}</sheetData></worksheet>',
        )
    for upload in (tmp_path / "unidades.csv", workbook):
        modules, run = imported(
            tmp_path, "validate", "--client", "acme", str(upload), "--json",
            env={"ORGLOAD_MAX_ROWS": "50"},
        )  # fmt: skip
        assert run.returncode == 1, run.stderr
        keys = [e["code"] for e in json.loads(run.stdout)["errors"]]
        assert keys == ["file_too_large"], (upload.name, run.stdout)
        assert "60" in json.loads(run.stdout)["errors"][0]["message"]
        assert not modules & ({"pandas", "pandera", "pyarrow"} | DATABASE | ELSEWHERE)


@pytest.mark.usefixtures("database_url")
def test_load_of_a_one_row_file_imports_neither_prefect_nor_openpyxl(
    tmp_path: Path, database_url: str
) -> None:
    upload = one_row_workbook(tmp_path)
    _, added = imported(tmp_path, "clients", "add", "acme", "--name", "ACME")
    assert added.returncode == 0, added.stderr
    modules, run = imported(tmp_path, "load", "--client", "acme", str(upload), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "applied"
    assert {"pandas", "sqlalchemy"} <= modules
    assert not modules & ELSEWHERE
    if database_url.startswith("sqlite"):
        assert "psycopg" not in modules


@pytest.mark.usefixtures("database_url")
def test_quota_history_and_clients_list_import_no_data_library(tmp_path: Path) -> None:
    """Commands that only read records need neither the pipeline nor pandas, pyarrow or
    numpy (issue 15: no library where a command does not need it)."""
    _, added = imported(tmp_path, "clients", "add", "acme", "--name", "ACME")
    assert added.returncode == 0, added.stderr
    for command in (
        ["quota", "--client", "acme", "--json"],
        ["history", "--client", "acme", "--json"],
        ["clients", "list"],
    ):
        modules, run = imported(tmp_path, *command)
        assert run.returncode == 0, (command, run.stderr)
        assert "sqlalchemy" in modules  # it does read the database
        assert not modules & ({"pandas", "pandera", "pyarrow", "numpy"} | ELSEWHERE), command


@pytest.mark.usefixtures("database_url")
def test_load_of_a_file_over_a_limit_is_recorded_without_pandas(tmp_path: Path) -> None:
    """``orgload load`` of a zip bomb or of a CSV over the row limit is answered, recorded as a
    rejected load and given its incident, without the validator's libraries: the refusal is
    cheap (issue 15, item 2), yet the history and the support desk see it as ever."""
    _, added = imported(tmp_path, "clients", "add", "acme", "--name", "ACME")
    assert added.returncode == 0, added.stderr
    bomb = tmp_path / "bomba.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 5_000_000)
    rows = "".join(f"U{i};Unidad {i}\n" for i in range(60))
    (tmp_path / "unidades.csv").write_text("codigo_unidad;nombre_unidad\n" + rows)
    for upload in (bomb, tmp_path / "unidades.csv"):
        modules, run = imported(
            tmp_path, "load", "--client", "acme", str(upload), "--json",
            env={"ORGLOAD_MAX_ROWS": "50"},
        )  # fmt: skip
        assert run.returncode == 1, run.stderr
        answer = json.loads(run.stdout)
        assert answer["status"] == "rejected"
        assert [e["code"] for e in answer["errors"]] == ["file_too_large"], upload.name
        assert answer["incident"]["level"] == 1
        assert "sqlalchemy" in modules  # it is recorded
        assert not modules & ({"pandas", "pandera", "pyarrow"} | ELSEWHERE)
    _, history = imported(tmp_path, "history", "--client", "acme", "--json")
    entries = json.loads(history.stdout)
    assert [(e["status"], e["file_name"]) for e in entries] == [
        ("rejected", "unidades.csv"),
        ("rejected", "bomba.xlsx"),
    ]
