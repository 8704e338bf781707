"""Write values into workbooks and CSV files so that none runs as a formula (SPEC §9) and each
reads back as written.

- Workbook: a value that could run as a formula (``loaders.inert``) is a text cell — never a
  formula, even when it begins with ``=`` — marked "quote prefix", so Excel keeps it text when
  the cell is edited. Characters XML cannot carry (U+0001…) are written as Excel's own
  ``_xHHHH_`` escape and a literal ``_xHHHH_`` is escaped in turn, so that calamine and Excel
  read the text back exactly (openpyxl would refuse the one and corrupt the other).
- CSV: such a value gets a leading apostrophe (OWASP's advice) and every field is quoted, so
  that no separator of another locale splits a value and exposes a formula inside it.

What reading makes of these (``loaders.inert.uninert``) gives back the text written.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from loaders.inert import inert, is_formula_like, needs_care, needs_prefix, unmarked_text
from schemas.text import TEXT, flags

# What XML cannot hold, and CR, which an XML parser turns into LF (Excel writes it escaped too)
_XML_UNSAFE = "\\x00-\\x08\\x0b-\\x1f\\x{fffe}\\x{ffff}"  # RE2
_ESCAPED = "_x[0-9A-Fa-f]{4}_"
_NEEDS_ESCAPE = f"{_ESCAPED}|[{_XML_UNSAFE}]"
_ESCAPE_RE = re.compile("_(?=x[0-9A-Fa-f]{4}_)|[\x00-\x08\x0b-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` as a workbook cell holds it (``"\\x01"`` → ``"_x0001_"``,
    ``"_x0041_"`` → ``"_x005F_x0041_"``); most text is returned as is."""
    return _ESCAPE_RE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    return f"_x{ord(found.group()):04X}_"


def set_text(cell: Cell, value: object) -> Cell:
    """Give ``cell`` (a worksheet's or a write-only one) ``value``, inert when it is text."""
    if not isinstance(value, str):
        cell.value = value
        return cell
    cell.value = xml_text(unmarked_text(value))
    cell.data_type = "s"  # openpyxl makes any text beginning with "=" a formula
    if is_formula_like(value):
        cell.quotePrefix = True
    return cell


def needs_cell(value: object) -> bool:
    """Whether a value must be written through ``set_text`` rather than as it is."""
    return isinstance(value, str) and (needs_prefix(value) or _ESCAPE_RE.search(value) is not None)


def cell_value(sheet: WriteOnlyWorksheet, value: object) -> object:
    """What to append to a write-only row for ``value``: the value, or an inert cell."""
    return set_text(WriteOnlyCell(sheet), value) if needs_cell(value) else value


def careful(values: pa.Array) -> np.ndarray:
    """Where a text column has values that ``set_text`` must write (vectorized)."""
    if not len(values):
        return np.zeros(0, dtype=bool)
    return needs_care(values) | flags(pc.match_substring_regex(values, _NEEDS_ESCAPE))


def column_cells(sheet: WriteOnlyWorksheet, values: pd.Series) -> list[Any]:
    """A text column as values to append: blank as None, the values needing care as inert
    cells (found in one vectorized pass; the others are appended as they are)."""
    array = _text(values)
    cells: list[Any] = [v or None for v in array.to_pylist()]
    for position in np.flatnonzero(careful(array)):
        cells[position] = set_text(WriteOnlyCell(sheet), cells[position])
    return cells


def csv_text(frame: pd.DataFrame) -> str:
    """A text frame as CSV the way Spanish-locale Excel reads it (``;``, CRLF), every field
    quoted and inert (the apostrophes added in one vectorized pass per column)."""
    columns = [inert(_text(frame[name])).to_pylist() for name in frame.columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(inert(pa.array(list(frame.columns), TEXT)).to_pylist())
    writer.writerows(zip(*columns, strict=True) if columns else ())
    return buffer.getvalue()


def _text(values: pd.Series) -> pa.Array:
    array = pa.array(values, type=TEXT, from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
