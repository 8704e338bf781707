"""Write the annotated error workbook: every entry listed, and the bad cells marked in place.

The admin opens it next to their own file: sheet "Errores" lists every problem with its row,
and each data sheet repeats the rows at their original Excel row numbers, with each bad cell
filled red and carrying a comment that says what is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from loaders.validate import ValidatedUpload
from orgload.columns import SHEETS
from schemas.messages import Lang

ERROR_FILL = PatternFill("solid", start_color="FFF4CCCC")
WARNING_FILL = PatternFill("solid", start_color="FFFFF2CC")
BOLD = Font(bold=True)

_TITLES = {
    "es": ("Errores", ["Hoja", "Fila", "Columna", "Encabezado", "Valor", "Código", "Mensaje"]),
    "en": ("Errors", ["Sheet", "Row", "Column", "Header", "Value", "Code", "Message"]),
}


def write_annotated_report(path: Path, result: ValidatedUpload, lang: Lang = "es") -> Path:
    """Write the annotated workbook for ``result`` to ``path`` and return the path."""
    workbook = Workbook(write_only=True)
    title, columns = _TITLES[lang]
    listing = workbook.create_sheet(title)
    _append_bold(listing, columns)
    entries = result.report.errors + result.report.warnings
    for issue in entries:
        entry = issue.to_dict(lang)
        listing.append(
            [entry[k] for k in ("sheet", "row", "column", "header", "value")]
            + [
                entry["code"],
                entry["message"],
            ]
        )
    by_cell: dict[tuple[str, int, str | None], list[tuple[bool, str]]] = defaultdict(list)
    for issue in entries:
        if issue.sheet and issue.row:
            by_cell[(issue.sheet, issue.row, issue.column)].append(
                (issue.is_warning, issue.message(lang))
            )
    for name, sheet in result.raw.items():
        spec = SHEETS[name]
        present = [c for c in spec.column_names if c in sheet.headers]
        out = workbook.create_sheet(name)
        _append_bold(out, [sheet.headers[c] for c in present])
        next_row = 2
        frame = sheet.frame[present]
        for row, values in zip(frame.index, frame.itertuples(index=False), strict=True):
            while next_row < row:  # keep the Excel row numbers of the original
                out.append([])
                next_row += 1
            cells = []
            for column, value in zip(present, values, strict=True):
                cell = WriteOnlyCell(out, value=value or None)
                notes = by_cell.get((name, int(row), column))
                if notes:
                    cell.fill = WARNING_FILL if all(w for w, _ in notes) else ERROR_FILL
                    cell.comment = Comment("\n".join(m for _, m in notes), "orgload")
                cells.append(cell)
            out.append(cells)
            next_row += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def _append_bold(sheet: WriteOnlyWorksheet, values: list[str]) -> None:
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = BOLD
        cells.append(cell)
    sheet.append(cells)
