"""Cell-level validation: run a sheet's pandera model column by column and build report issues.

The rules live in the pandera models (``UnidadesSchema``, ``PersonasSchema``). Instead of
``schema.validate(lazy=True)`` — whose failure-case collection costs seconds per thousand bad
cells — each check is evaluated as the vectorized boolean mask it is, and only failing cells
become ``Issue`` objects. One cell gets at most one error: the first failing rule, in the
order the model declares them (``required`` first, then ``invalid_character`` and Excel error
values, then lengths and shapes). Where the likely cause of a failure can be named (an Excel
error value, a RUT that Excel turned into a number, a line break), the message says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from orgload.columns import PERSONAS, PROFILES, SHEETS, UNIDADES
from schemas.checks import first_control_character, is_digits, is_scientific
from schemas.dates import hire_date_bounds
from schemas.fields import EXCEL_ERROR_CHECK
from schemas.personas import PersonasSchema
from schemas.report import Issue, preview
from schemas.text import arrow
from schemas.unidades import UnidadesSchema

# The cells of a message variant, its key, and the message parameters that differ by row.
_Variant = tuple[np.ndarray, str | None, dict[str, pd.Series]]

MODELS: dict[str, type[pa.DataFrameModel]] = {
    UNIDADES: UnidadesSchema,
    PERSONAS: PersonasSchema,
}


@cache
def sheet_schema(sheet: str) -> pa.DataFrameSchema:
    """The pandera schema object of a sheet's model (built once)."""
    return MODELS[sheet].to_schema()


@dataclass(slots=True)
class SheetCells:
    """A sheet's raw text, its normalized values and which cells already failed a rule."""

    name: str
    raw: pd.DataFrame
    values: pd.DataFrame
    headers: dict[str, str]
    bad: pd.DataFrame = field(init=False)
    # Columns whose usable values are known to be distinct: their repetitions were reported,
    # which marked them bad (and marking more cells bad keeps them distinct).
    distinct: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.bad = pd.DataFrame(False, index=self.values.index, columns=self.values.columns)

    def present(self, column: str) -> np.ndarray:
        """Where the column has a (normalized) value."""
        return self.values[column].notna().to_numpy()

    def usable(self, column: str) -> np.ndarray:
        """Where the column has a value that passed every rule so far."""
        return self.present(column) & ~self.bad[column].to_numpy()

    def issues_for(
        self,
        column: str,
        mask: pd.Series | np.ndarray,
        code: str,
        key: str | None = None,
        per_row: dict[str, pd.Series] | None = None,
        params: dict[str, object] | None = None,
    ) -> list[Issue]:
        """One issue per row where ``mask`` (aligned with the rows) is true; marks those cells
        as failed.

        ``per_row`` adds message parameters that differ by row (e.g. the first occurrence).
        """
        if isinstance(mask, pd.Series):
            mask = mask.reindex(self.values.index, fill_value=False)
            mask = mask.fillna(False).astype(bool).to_numpy()
        if not mask.any():
            return []
        self.bad[column] = self.bad[column].to_numpy() | mask
        rows = self.values.index[mask]
        header = self.headers.get(column)
        written = self.raw.loc[rows, column].tolist()
        extras = {k: v.loc[rows].tolist() for k, v in (per_row or {}).items()}
        return [
            Issue(
                code=code,
                key=key,
                sheet=self.name,
                row=int(row),
                column=column,
                header=header,
                value=preview(value) if value else None,
                params={**(params or {}), **{k: v[i] for k, v in extras.items()}},
            )
            for i, (row, value) in enumerate(zip(rows, written, strict=True))
        ]


def _params(sheet: str, column: str, code: str) -> dict[str, object]:
    if code == "too_long":
        return {"max_length": SHEETS[sheet].column(column).max_length}
    if code == "date_out_of_range":
        earliest, latest = hire_date_bounds()
        return {"min_date": earliest, "max_date": latest}
    if code == "invalid_choice":
        return {"choices": ", ".join(PROFILES)}
    return {}


def _run_check(check: pa.Check, values: pd.Series) -> pd.Series:
    """The boolean mask of one pandera check on one column.

    Calls the check function itself: ``check(values)`` would give the same mask but first
    registers pandera's backends (a third of a second) and collects failure cases.
    """
    return check._check_fn(values)  # noqa: SLF001 - see docstring; tested against check()


def _at(mask: np.ndarray, positions: np.ndarray, count: int) -> np.ndarray:
    """A mask over ``count`` rows, true at ``positions[mask]``."""
    result = np.zeros(count, dtype=bool)
    result[positions[mask]] = True
    return result


def _variants(cells: SheetCells, name: str, check: pa.Check, failing: np.ndarray) -> list[_Variant]:
    """The failing cells of a check split by message variant, where the likely cause can be
    named: an Excel error value, a RUT that Excel turned into a number, which control
    character. The others keep the code's own message."""
    code = str(check.error)
    if (check.name or "").startswith(EXCEL_ERROR_CHECK):
        return [(failing, f"{code}/excel_error", {})]
    positions = np.flatnonzero(failing)
    count = len(cells.values)
    if code == "invalid_character":
        found = first_control_character(arrow(cells.values[name]).take(positions))
        chars = found.to_numpy(zero_copy_only=False)
        per_row = {"char": pd.Series(chars, index=cells.values.index[positions])}
        line_break = np.isin(chars, ["U+000A", "U+000D"])
        tab = chars == "U+0009"
        return [
            (_at(line_break, positions, count), f"{code}/line_break", per_row),
            (_at(tab, positions, count), f"{code}/tab", per_row),
            (_at(~line_break & ~tab, positions, count), None, per_row),
        ]
    if code == "invalid_rut":
        written = arrow(cells.raw[name]).take(positions)
        scientific = is_scientific(written)
        number = is_digits(written) & ~scientific
        return [
            (_at(scientific, positions, count), f"{code}/scientific", {}),
            (_at(number, positions, count), f"{code}/number", {}),
            (_at(~scientific & ~number, positions, count), None, {}),
        ]
    return [(failing, None, {})]


def check_cells(cells: SheetCells) -> list[Issue]:
    """Every cell-level problem of one sheet (columns absent from the file are skipped)."""
    issues: list[Issue] = []
    for name, column in sheet_schema(cells.name).columns.items():
        if name not in cells.headers:
            continue
        values = cells.values[name]
        present = cells.present(name)
        if not column.nullable:
            issues += cells.issues_for(name, ~present, "required")
        for check in column.checks:
            candidates = present & ~cells.bad[name].to_numpy()
            if not candidates.any():
                break
            checked = values if candidates.all() else values[candidates]
            output = _run_check(check, checked).astype(bool)
            if output.index.equals(checked.index):  # as the checks return it: by position
                failing = np.zeros(len(values), dtype=bool)
                failing[candidates] = ~output.to_numpy()
            else:
                failing = ~output.reindex(values.index, fill_value=True).to_numpy() & candidates
            if failing.any():
                code = str(check.error)
                lengths = values.str.len().fillna(0).astype(int)
                per_row = {"length": lengths} if code == "too_long" else {}
                for mask, key, variant_rows in _variants(cells, name, check, failing):
                    issues += cells.issues_for(
                        name,
                        mask,
                        code,
                        key=key,
                        per_row={**per_row, **variant_rows},
                        params=_params(cells.name, name, code),
                    )
    return issues
