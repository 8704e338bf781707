"""What a column's spec (``orgload.columns.ColumnSpec``) gives a sheet's pandera model.

``spec_field`` is the model field: nullable exactly when the spec says so. A model declares
first, for every column, ``character_check`` (``invalid_character``) and ``excel_error_check``
(an Excel error value such as ``#N/A``, under the column's own code); then ``length_check``,
the column's ``too_long`` check at the spec's ``max_length``, so that a value too long is
reported as such before any rule about its shape.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa

from orgload.columns import ColumnSpec
from schemas.checks import fits, has_no_control_character, is_not_excel_error

EXCEL_ERROR_CHECK = "is_not_excel_error"  # the name every ``excel_error_check`` starts with


def spec_field(spec: ColumnSpec) -> Any:
    """The pandera field of ``spec``'s column (``Any``, as ``pa.Field`` itself is typed)."""
    return pa.Field(nullable=spec.nullable)


def length_check(spec: ColumnSpec) -> classmethod[Any, Any, Any]:
    """The ``too_long`` check of ``spec``'s column: at most ``spec.max_length`` characters."""
    limit = spec.max_length
    if limit is None:
        raise ValueError(f"column {spec.name} has no max_length")

    def fits_max_length(cls: Any, values: pd.Series) -> pd.Series:
        return fits(values, limit)

    fits_max_length.__name__ = f"{spec.name}_fits"
    return pa.check(spec.name, error="too_long")(fits_max_length)


def character_check(*columns: str) -> classmethod[Any, Any, Any]:
    """The ``invalid_character`` check of ``columns``: no control character in the value."""

    def has_no_control_character_(cls: Any, values: pd.Series) -> pd.Series:
        return has_no_control_character(values)

    has_no_control_character_.__name__ = "has_no_control_character"
    return pa.check(*columns, error="invalid_character")(has_no_control_character_)


def excel_error_check(code: str, *columns: str) -> classmethod[Any, Any, Any]:
    """The check that ``columns`` hold no Excel error value (``#N/A``, ``#REF!``…), reported
    as ``code``: the code of the columns' first value rule, ``required`` where they have none
    (a formula that failed is a missing value)."""

    def is_not_excel_error_(cls: Any, values: pd.Series) -> pd.Series:
        return is_not_excel_error(values)

    is_not_excel_error_.__name__ = f"{EXCEL_ERROR_CHECK}_{code}"
    return pa.check(*columns, error=code)(is_not_excel_error_)
