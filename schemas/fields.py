"""What a column's spec (``orgload.columns.ColumnSpec``) gives a sheet's pandera model.

``spec_field`` is the model field: nullable exactly when the spec says so. ``length_check`` is
the column's ``too_long`` check at the spec's ``max_length``; a model declares these first, so
that a value too long is reported as such before any rule about its shape.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa

from orgload.columns import ColumnSpec
from schemas.checks import fits


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
