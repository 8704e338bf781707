"""Small upload fixtures built by code: xlsx workbooks, CSV files and a valid organization."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from stdnum.cl import rut as stdnum_rut

from loaders.normalize import normalize_sheet
from loaders.read import build_sheet
from schemas.cells import SheetCells

Rows = list[Any]  # header first; a row is a list of cells, or None for a blank row

UNIDADES_HEADER = [
    "codigo_unidad",
    "nombre_unidad",
    "codigo_unidad_padre",
    "centro_costo",
    "rut_jefatura",
]
PERSONAS_HEADER = [
    "rut",
    "nombres",
    "apellidos",
    "email",
    "codigo_unidad",
    "cargo",
    "rut_jefatura",
    "fecha_ingreso",
    "perfil",
]


def rut(body: int) -> str:
    """A valid normalized RUT (``12345678-5``) for a numeric body."""
    text = str(body)
    return f"{text}-{stdnum_rut.calc_check_digit(text)}"


def bad_rut(body: int) -> str:
    """A RUT-shaped value whose check digit is wrong."""
    good = stdnum_rut.calc_check_digit(str(body))
    wrong = "1" if good != "1" else "2"
    return f"{body}-{wrong}"


CEO = rut(11111111)
CTO = rut(12345678)
DEV = rut(15000000)
HR = rut(9876543)


def valid_rows() -> dict[str, Rows]:
    """A small valid organization: header + rows of both sheets (normalized values).

    Unidades (Excel rows 2-4): GER (root, managed by CEO) ← TI, RRHH.
    Personas (Excel rows 2-5): CEO ← CTO ← DEV, CEO ← HR.
    """
    return {
        "Unidades": [
            list(UNIDADES_HEADER),
            ["GER", "Gerencia General", None, "CC-100", CEO],
            ["TI", "Tecnología", "GER", "CC-200", CTO],
            ["RRHH", "Recursos Humanos", "GER", None, HR],
        ],
        "Personas": [
            list(PERSONAS_HEADER),
            [CEO, "Ana", "Pérez", "ana@empresa.cl", "GER", "CEO", None, "2020-01-15", "jefatura"],
            [CTO, "Bruno", "Soto", "bruno@empresa.cl", "TI", "CTO", CEO, "2021-03-01", "jefatura"],
            [DEV, "Carla", "Muñoz", "carla@empresa.cl", "TI", "Dev", CTO, None, "colaborador"],
            [HR, "Diego", "Rojas", "diego@empresa.cl", "RRHH", None, CEO, "2022-07-31", None],
        ],
    }


def _copy(base: Mapping[str, Rows]) -> dict[str, Rows]:
    return {
        name: [None if r is None else list(r) for r in sheet_rows]
        for name, sheet_rows in base.items()
    }


def with_rows(
    base: Mapping[str, Rows], sheet: str, rows: Sequence[Sequence[Any]], *, replace: bool = False
) -> dict[str, Rows]:
    """A copy of ``base`` whose ``sheet`` gets ``rows`` appended (or replacing its data rows)."""
    result = _copy(base)
    header, *data = result[sheet]
    result[sheet] = [header, *([] if replace else data), *(list(r) for r in rows)]
    return result


def set_cell(
    base: Mapping[str, Rows], sheet: str, row: int, column: str, value: Any
) -> dict[str, Rows]:
    """A copy of ``base`` with one cell changed; ``row`` is the Excel row number (data from 2)."""
    result = _copy(base)
    header = result[sheet][0]
    result[sheet][row - 1][header.index(column)] = value
    return result


def write_xlsx(
    path: Path, sheets: Mapping[str, Sequence[Sequence[Any] | None]], *, hidden: Sequence[str] = ()
) -> Path:
    """Write a workbook with one sheet per entry; a ``None`` row stays blank in Excel."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for number, row in enumerate(rows, start=1):
            if row is None:
                continue
            for col, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(row=number, column=col, value=value)
        if title in hidden:
            sheet.sheet_state = "hidden"
    if not workbook.sheetnames:
        workbook.create_sheet("Hoja1")
    workbook.save(path)
    return path


def csv_bytes(
    rows: Sequence[Sequence[Any] | None],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    bom: bool = False,
) -> bytes:
    """CSV bytes as Excel exports them; a ``None`` row is an empty line."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow([] if row is None else ["" if v is None else v for v in row])
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def write_csv(
    path: Path,
    rows: Sequence[Sequence[Any] | None],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    bom: bool = False,
) -> Path:
    """Write ``rows`` (header first) as a CSV file."""
    path.write_bytes(csv_bytes(rows, encoding=encoding, delimiter=delimiter, bom=bom))
    return path


def write_csvs(directory: Path, sheets: Mapping[str, Rows], **options: Any) -> list[Path]:
    """``unidades.csv`` and ``personas.csv`` from the two sheets of ``sheets`` (in order)."""
    names = ("unidades.csv", "personas.csv")
    return [
        write_csv(directory / name, rows, **options)
        for name, rows in zip(names, sheets.values(), strict=True)
    ]


def write_zip(path: Path, members: Mapping[str, bytes]) -> Path:
    """A deflated zip holding ``members`` (name → bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def sheet_cells(sheet: str, rows: Sequence[Sequence[Any] | None]) -> SheetCells:
    """``schemas.cells.SheetCells`` of ``rows`` (header first) read and normalized as an upload."""
    raw, _ = build_sheet(sheet, sheet, [list(r) if r is not None else [] for r in rows])
    return SheetCells(sheet, raw.frame, normalize_sheet(sheet, raw.frame), raw.headers)
