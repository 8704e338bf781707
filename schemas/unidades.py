"""The pandera model of sheet ``unidades``: the cell rules of each org-unit column."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from orgload.columns import CODE_MAX, NAME_MAX
from schemas.checks import fits, is_valid_code, is_valid_rut


class UnidadesSchema(pa.DataFrameModel):
    """One row per org unit, after normalization. Checks run in declaration order per column."""

    codigo_unidad: Series[str] = pa.Field(nullable=False)
    nombre_unidad: Series[str] = pa.Field(nullable=False)
    codigo_unidad_padre: Series[str] = pa.Field(nullable=True)
    centro_costo: Series[str] = pa.Field(nullable=True)
    rut_jefatura: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = "filter"

    @pa.check("codigo_unidad", "codigo_unidad_padre", "centro_costo", error="too_long")
    @classmethod
    def code_fits(cls, values: pd.Series) -> pd.Series:
        return fits(values, CODE_MAX)

    @pa.check("codigo_unidad", "codigo_unidad_padre", error="invalid_code")
    @classmethod
    def code_is_well_formed(cls, values: pd.Series) -> pd.Series:
        return is_valid_code(values)

    @pa.check("nombre_unidad", error="too_long")
    @classmethod
    def name_fits(cls, values: pd.Series) -> pd.Series:
        return fits(values, NAME_MAX)

    @pa.check("rut_jefatura", error="invalid_rut")
    @classmethod
    def manager_rut_is_valid(cls, values: pd.Series) -> pd.Series:
        return is_valid_rut(values)
