"""Exports never carry a live formula (SPEC §9), and our own export, hostile names included,
re-loads as ``no_changes`` on SQLite and PostgreSQL, from the loaders and from the CLI."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
import python_calamine
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli.app import app
from loaders.current import fetch_current
from loaders.inert import is_formula_like
from loaders.store import add_client
from loaders.writers.export import current_frames, export_csv, export_xlsx
from orgload.columns import PERSONAS, UNIDADES
from orgload.settings import Settings
from service.loads import LoadRequest, run_load
from tests.builders import valid_rows, write_csvs
from tests.loaders.writers.inert_cases import (
    DDE,
    HYPERLINK,
    STORED,
    formula_free_texts,
    frames_of,
    hostile_rows,
)


def test_hostile_text_is_a_text_cell_in_the_xlsx_export(tmp_path: Path) -> None:
    rows = hostile_rows()
    export_xlsx(frames_of(rows), tmp_path / "e.xlsx")
    seen = formula_free_texts(tmp_path / "e.xlsx")
    assert seen[PERSONAS][1][1:3] == [HYPERLINK, DDE]
    assert seen[PERSONAS][2][5] == "- Jefe"
    calamine = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "e.xlsx"))
    people = calamine.get_sheet_by_name(PERSONAS).to_python()
    assert people[1][1:3] == [HYPERLINK, DDE]
    assert people[3][5] == "+56 9 1234 5678"
    assert calamine.get_sheet_by_name(UNIDADES).to_python()[1][0] == "-GER"


def test_hostile_text_is_prefixed_and_every_field_quoted_in_the_csv_export(
    tmp_path: Path,
) -> None:
    (written,) = export_csv(frames_of(hostile_rows()), tmp_path / "e.zip")
    with zipfile.ZipFile(written) as archive:
        text = archive.read(f"{PERSONAS}.csv").decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[1].startswith('"11111111-1";"\'=HYPERLINK(""http://x"",""y"")";"\'=cmd|')
    fields = [f for row in csv.reader(io.StringIO(text), delimiter=";") for f in row]
    assert not [f for f in fields if is_formula_like(f)]  # every one is behind its apostrophe
    assert {"'- Jefe", "'+56 9 1234 5678", "''=ya marcado"} <= set(fields)
    # every field quoted: a reader splitting on commas (another locale) finds no formula either
    for line in filter(None, lines):
        assert line.startswith('"')
        assert line.endswith('"')
        assert not [f for f in next(csv.reader([line])) if is_formula_like(f)]


def test_reading_the_csv_export_gives_back_the_text_written(tmp_path: Path) -> None:
    from loaders.validate import validate_upload

    frames = frames_of(hostile_rows())
    frames[PERSONAS].loc[3, "apellidos"] = "'=ya marcado"  # as stored after its own upload
    for target in (tmp_path / "e.zip", tmp_path / "folder"):
        result = validate_upload(export_csv(frames, target))
        assert result.report.errors == []
        read = result.frames[PERSONAS].reset_index(drop=True)
        assert read.loc[0, "nombres"] == HYPERLINK
        assert read.loc[0, "apellidos"] == DDE
        assert read.loc[1, "cargo"] == "- Jefe"
        assert read.loc[3, "apellidos"] == "'=ya marcado"  # its one apostrophe kept


def register(engine: Engine) -> None:
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())


def test_reloading_an_export_with_hostile_names_is_no_changes(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    register(engine)
    upload = write_csvs(tmp_path, hostile_rows(), delimiter=";")

    def load(*paths: Path) -> str:
        return run_load(settings, LoadRequest("acme", list(paths)), engine).status

    assert load(*upload) == "applied"
    with engine.connect() as conn:
        for (entity, key), values in STORED.items():
            stored = fetch_current(conn, "acme", entity).loc[key]
            assert {c: stored[c] for c in values} == values
        frames = current_frames(conn, "acme")
    export_xlsx(frames, tmp_path / "a.xlsx")
    export_csv(frames, tmp_path / "a.zip")
    folder = export_csv(frames, tmp_path / "folder")
    formula_free_texts(tmp_path / "a.xlsx")
    assert load(tmp_path / "a.xlsx") == "no_changes"
    assert load(tmp_path / "a.zip") == "no_changes"
    assert load(*folder) == "no_changes"


runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_cli_export_of_hostile_names_reloads_as_no_changes(
    database_url: str, tmp_path: Path, fmt: str
) -> None:
    assert cli("clients", "add", "acme", "--name", "ACME")[0] == 0
    upload = write_csvs(tmp_path, hostile_rows(), delimiter=";")
    code, stdout = cli("load", "--client", "acme", *map(str, upload), "--json")
    assert (code, json.loads(stdout)["status"]) == (0, "applied")
    target = tmp_path / ("out.xlsx" if fmt == "xlsx" else "out.zip")
    assert cli("export", "--client", "acme", "--format", fmt, "-o", str(target))[0] == 0
    code, stdout = cli("load", "--client", "acme", str(target), "--json")
    assert (code, json.loads(stdout)["status"]) == (0, "no_changes")


def test_control_characters_in_stored_values_do_not_stop_the_xlsx_export(tmp_path: Path) -> None:
    rows = valid_rows()
    rows["Personas"][1][1], rows["Personas"][2][5] = "Ana\x01", "_x0041_ \r"
    export_xlsx(frames_of(rows), tmp_path / "e.xlsx")
    calamine = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "e.xlsx"))
    people = calamine.get_sheet_by_name(PERSONAS).to_python()
    assert (people[1][1], people[2][5]) == ("Ana\x01", "_x0041_ \r")  # exactly as stored
