"""Hostile text for the writer tests: formula-like values a client could type, and a check
that a workbook holds none of them as a formula."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pandas as pd

from loaders.inert import is_formula_like
from orgload.columns import PERSONAS, UNIDADES
from tests.builders import CEO, CTO, DEV, HR, valid_rows

HYPERLINK = '=HYPERLINK("http://x","y")'
DDE = "=cmd|' /C calc'!A0"


def hostile_rows() -> dict[str, list[list[object]]]:
    """The small valid organization with formula-like text in every text column it allows,
    as a client could type it (a unit code ``-GER`` is valid; so are these names)."""
    rows = valid_rows()
    units, people = rows["Unidades"], rows["Personas"]
    units[1][0] = units[2][2] = units[3][2] = people[1][4] = "-GER"
    units[1][1], units[1][3], units[2][3] = "@Gerencia General", "+CC", "=1+1"
    people[1][1], people[1][2], people[1][3] = HYPERLINK, DDE, "-ana@empresa.cl"
    people[2][1], people[2][2], people[2][5] = "-Ana", "\u00a0=x", "- Jefe"
    people[3][1], people[3][5] = "@SUM(A1)", "+56 9 1234 5678"
    people[4][2], people[4][5] = "'=ya marcado", "-2"  # the client's own apostrophe
    return rows


# What the database holds after loading hostile_rows(): the text as typed, normalized.
STORED = {
    (PERSONAS, CEO): {"nombres": HYPERLINK, "apellidos": DDE, "codigo_unidad": "-GER"},
    (PERSONAS, CTO): {"nombres": "-Ana", "apellidos": "=x", "cargo": "- Jefe"},
    (PERSONAS, DEV): {"nombres": "@SUM(A1)", "cargo": "+56 9 1234 5678"},
    (PERSONAS, HR): {"apellidos": "=ya marcado", "cargo": "-2"},
    (UNIDADES, "-GER"): {"nombre_unidad": "@Gerencia General", "centro_costo": "+CC"},
    (UNIDADES, "TI"): {"codigo_unidad_padre": "-GER", "centro_costo": "=1+1"},
}


def frames_of(rows: dict[str, list[list[object]]]) -> dict[str, pd.DataFrame]:
    """Export frames straight from rows (canonical columns; None as missing)."""
    frames = {}
    for name, sheet in ((UNIDADES, rows["Unidades"]), (PERSONAS, rows["Personas"])):
        header, *data = sheet
        frames[name] = pd.DataFrame(data, columns=header, dtype="str")
    return frames


def formula_free_texts(path: Path) -> dict[str, list[list[object]]]:
    """Every cell of a workbook as openpyxl sees it; fails on any formula cell."""
    workbook = openpyxl.load_workbook(path)
    texts = {}
    for sheet in workbook.worksheets:
        rows = []
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and is_formula_like(cell.value):
                    assert cell.data_type == "s", cell.coordinate
                    assert cell.quotePrefix, cell.coordinate
            rows.append([c.value for c in row])
        texts[sheet.title] = rows
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.startswith("xl/worksheets/"):
                xml = archive.read(member)
                assert b"<f>" not in xml
                assert b"<f " not in xml
    return texts
