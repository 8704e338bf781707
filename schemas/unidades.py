"""The pandera model of sheet ``unidades``: the cell rules of each org-unit column.

Nullability and length limits come from the column specs (``orgload.columns.UNIDADES_SHEET``).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from orgload.columns import UNIDADES_SHEET as SHEET
from schemas.checks import is_valid_code, is_valid_rut
from schemas.fields import character_check, excel_error_check, length_check, spec_field


class UnidadesSchema(pa.DataFrameModel):
    """One row per org unit, after normalization. Checks run in declaration order per column."""

    codigo_unidad: Series[str] = spec_field(SHEET.column("codigo_unidad"))
    nombre_unidad: Series[str] = spec_field(SHEET.column("nombre_unidad"))
    codigo_unidad_padre: Series[str] = spec_field(SHEET.column("codigo_unidad_padre"))
    centro_costo: Series[str] = spec_field(SHEET.column("centro_costo"))
    rut_jefatura: Series[str] = spec_field(SHEET.column("rut_jefatura"))

    class Config:
        strict = "filter"

    # Before any other rule, on every column: control characters, then Excel error values.
    no_control_character = character_check(*SHEET.column_names)
    code_not_excel_error = excel_error_check("invalid_code", "codigo_unidad", "codigo_unidad_padre")
    rut_not_excel_error = excel_error_check("invalid_rut", "rut_jefatura")
    text_not_excel_error = excel_error_check("required", "nombre_unidad", "centro_costo")

    # ``too_long`` first, on every column the spec gives a max_length.
    codigo_unidad_fits = length_check(SHEET.column("codigo_unidad"))
    nombre_unidad_fits = length_check(SHEET.column("nombre_unidad"))
    codigo_unidad_padre_fits = length_check(SHEET.column("codigo_unidad_padre"))
    centro_costo_fits = length_check(SHEET.column("centro_costo"))

    @pa.check("codigo_unidad", "codigo_unidad_padre", error="invalid_code")
    @classmethod
    def code_is_well_formed(cls, values: pd.Series) -> pd.Series:
        return is_valid_code(values)

    @pa.check("rut_jefatura", error="invalid_rut")
    @classmethod
    def manager_rut_is_valid(cls, values: pd.Series) -> pd.Series:
        return is_valid_rut(values)
