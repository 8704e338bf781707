"""Write the annotated error workbook: every entry listed, and the bad cells marked in place.

The admin opens it next to their own file: sheet "Errores" lists every problem with its row
and a link to the bad cell, and each data sheet repeats the rows at their original Excel row
numbers, with each bad cell filled (red for an error, yellow for a warning). The first
``MAX_COMMENTS`` bad cells also carry a comment saying what is wrong; the others are found by
their colour and through the list.

Why only the first ones: a comment is a drawing (legacy VML, ~600 bytes each, all alike) that
deflates ~80×, so a report with a comment on every bad cell expanded up to ~32× its size and
was refused as ``file_too_large`` (``max_ratio`` 20) when the admin uploaded it back. The
report is re-read by the same pipeline as any upload: it must stay within the limits.

Every value is written inert (SPEC §9, ``loaders.writers.inert``), the client's values and
headers above all: a name like ``=HYPERLINK(...)`` is text here, never a formula.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.hyperlink import Hyperlink

from loaders.read import RawSheet
from loaders.validate import ValidatedUpload
from loaders.writers.inert import cell_value, column_cells, set_text, xml_text
from orgload.columns import SHEETS
from schemas.messages import Lang
from schemas.report import Issue

ERROR_FILL = PatternFill("solid", start_color="FFF4CCCC")
WARNING_FILL = PatternFill("solid", start_color="FFFFF2CC")
BOLD = Font(bold=True)
LINK_FONT = Font(color="FF0563C1", underline="single")
MAX_COMMENTS = 100  # bad cells with a comment, in sheet and row order (see the docstring)

_TITLES = {
    "es": ("Errores", ["Hoja", "Fila", "Columna", "Encabezado", "Valor", "Código", "Mensaje"]),
    "en": ("Errors", ["Sheet", "Row", "Column", "Header", "Value", "Code", "Message"]),
}
_CELL_TITLE = {"es": "Celda", "en": "Cell"}
_FIELDS = ("sheet", "row", "column", "header", "value", "code", "message")

Notes = list[tuple[bool, str]]  # (is a warning, message) of each entry on one cell


def write_annotated_report(path: Path, result: ValidatedUpload, lang: Lang = "es") -> Path:
    """Write the annotated workbook for ``result`` to ``path`` and return the path.

    The file appears whole or not at all: it is written beside ``path`` and renamed.
    """
    workbook = Workbook(write_only=True)
    title, columns = _TITLES[lang]
    layouts = {name: _written_columns(sheet) for name, sheet in result.raw.items()}
    entries = result.report.errors + result.report.warnings
    listing = workbook.create_sheet(title)
    _append_bold(listing, [*columns, _CELL_TITLE[lang]])
    for issue in entries:
        entry = issue.to_dict(lang)
        listing.append(
            [cell_value(listing, entry[k]) for k in _FIELDS] + [_link(listing, issue, layouts)]
        )
    by_cell: dict[str, dict[tuple[int, str], Notes]] = defaultdict(lambda: defaultdict(list))
    for issue in entries:
        if issue.sheet in layouts and issue.row and issue.column in layouts[issue.sheet]:
            by_cell[issue.sheet][(issue.row, issue.column)].append(
                (issue.is_warning, issue.message(lang))
            )
    comments = MAX_COMMENTS
    for name, sheet in result.raw.items():
        comments = _write_sheet(workbook, sheet, layouts[name], by_cell.get(name, {}), comments)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(workbook, path)
    return path


def _written_columns(sheet: RawSheet) -> list[str]:
    """The canonical columns a data sheet of the report has, in the format's order."""
    return [c for c in SHEETS[sheet.name].column_names if c in sheet.headers]


def _write_sheet(
    workbook: Workbook,
    sheet: RawSheet,
    present: list[str],
    notes: dict[tuple[int, str], Notes],
    comments: int,
) -> int:
    """Write one data sheet with its bad cells marked; return the comments left to give."""
    out = workbook.create_sheet(sheet.name)
    _append_bold(out, [sheet.headers[c] for c in present])
    frame = sheet.frame
    columns = [column_cells(out, frame[c]) for c in present]
    position = {int(row): i for i, row in enumerate(frame.index)}
    order = {c: j for j, c in enumerate(present)}
    for (row, column), found in sorted(notes.items(), key=lambda n: (n[0][0], order[n[0][1]])):
        i, j = position.get(row), order[column]
        if i is None:
            continue
        cell = columns[j][i]
        if not isinstance(cell, Cell):
            cell = set_text(WriteOnlyCell(out), cell)
        cell.fill = WARNING_FILL if all(w for w, _ in found) else ERROR_FILL
        if comments > 0:
            cell.comment = Comment(xml_text("\n".join(m for _, m in found)), "orgload")
            comments -= 1
        columns[j][i] = cell
    next_row = 2
    for row, values in zip(frame.index, zip(*columns, strict=True), strict=True):
        while next_row < row:  # keep the Excel row numbers of the original
            out.append([])
            next_row += 1
        out.append(values)
        next_row += 1
    return comments


def _link(sheet: WriteOnlyWorksheet, issue: Issue, layouts: dict[str, list[str]]) -> Any:
    """A link to the entry's cell in the report: its column's cell in its row, the row's first
    cell when the column is not in the sheet, the header row when the entry has no row."""
    if issue.sheet not in layouts:
        return None  # a file-level entry, or a sheet that was not read
    present = layouts[issue.sheet]
    letter = get_column_letter(present.index(issue.column) + 1) if issue.column in present else "A"
    ref = f"{letter}{issue.row or 1}"
    quoted = issue.sheet.replace("'", "''")
    cell = WriteOnlyCell(sheet, ref)
    cell.hyperlink = Hyperlink(ref="", location=f"'{quoted}'!{ref}", display=ref)
    cell.font = LINK_FONT
    return cell


def _append_bold(sheet: WriteOnlyWorksheet, values: list[str]) -> None:
    cells = []
    for value in values:
        cell = set_text(WriteOnlyCell(sheet), value)
        cell.font = BOLD
        cells.append(cell)
    sheet.append(cells)


def _save(workbook: Workbook, path: Path) -> None:
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".xlsx")
    os.close(handle)
    try:
        workbook.save(partial)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
