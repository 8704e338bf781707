"""The pandera model of sheet ``personas``: the cell rules of each person column.

Nullability and length limits come from the column specs (``orgload.columns.PERSONAS_SHEET``).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from orgload.columns import PERSONAS_SHEET as SHEET
from schemas.checks import (
    is_iso_date,
    is_profile,
    is_valid_code,
    is_valid_email,
    is_valid_rut,
)
from schemas.dates import hire_date_bounds
from schemas.fields import character_check, excel_error_check, length_check, spec_field


class PersonasSchema(pa.DataFrameModel):
    """One row per person, after normalization. Checks run in declaration order per column."""

    rut: Series[str] = spec_field(SHEET.column("rut"))
    nombres: Series[str] = spec_field(SHEET.column("nombres"))
    apellidos: Series[str] = spec_field(SHEET.column("apellidos"))
    email: Series[str] = spec_field(SHEET.column("email"))
    codigo_unidad: Series[str] = spec_field(SHEET.column("codigo_unidad"))
    cargo: Series[str] = spec_field(SHEET.column("cargo"))
    rut_jefatura: Series[str] = spec_field(SHEET.column("rut_jefatura"))
    fecha_ingreso: Series[str] = spec_field(SHEET.column("fecha_ingreso"))
    # Optional in the upload, never null once normalized: a blank perfil is the default.
    perfil: Series[str] = spec_field(SHEET.column("perfil"))

    class Config:
        strict = "filter"

    # Before any other rule, on every column: control characters, then Excel error values.
    no_control_character = character_check(*SHEET.column_names)
    rut_not_excel_error = excel_error_check("invalid_rut", "rut", "rut_jefatura")
    email_not_excel_error = excel_error_check("invalid_email", "email")
    code_not_excel_error = excel_error_check("invalid_code", "codigo_unidad")
    date_not_excel_error = excel_error_check("invalid_date", "fecha_ingreso")
    profile_not_excel_error = excel_error_check("invalid_choice", "perfil")
    text_not_excel_error = excel_error_check("required", "nombres", "apellidos", "cargo")

    # Then ``too_long``, on every column the spec gives a max_length (RUTs have none: a valid
    # RUT is short by its shape).
    nombres_fits = length_check(SHEET.column("nombres"))
    apellidos_fits = length_check(SHEET.column("apellidos"))
    email_fits = length_check(SHEET.column("email"))
    codigo_unidad_fits = length_check(SHEET.column("codigo_unidad"))
    cargo_fits = length_check(SHEET.column("cargo"))

    @pa.check("rut", "rut_jefatura", error="invalid_rut")
    @classmethod
    def rut_is_valid(cls, values: pd.Series) -> pd.Series:
        return is_valid_rut(values)

    @pa.check("email", error="invalid_email")
    @classmethod
    def email_is_valid(cls, values: pd.Series) -> pd.Series:
        return is_valid_email(values)

    @pa.check("codigo_unidad", error="invalid_code")
    @classmethod
    def unit_code_is_well_formed(cls, values: pd.Series) -> pd.Series:
        return is_valid_code(values)

    @pa.check("fecha_ingreso", error="invalid_date")
    @classmethod
    def hire_date_is_a_date(cls, values: pd.Series) -> pd.Series:
        return is_iso_date(values)

    @pa.check("fecha_ingreso", error="date_out_of_range")
    @classmethod
    def hire_date_in_range(cls, values: pd.Series) -> pd.Series:
        # Runs after ``hire_date_is_a_date``, on real ISO dates only: they compare as text.
        earliest, latest = hire_date_bounds()
        return (values >= earliest) & (values <= latest)

    @pa.check("perfil", error="invalid_choice")
    @classmethod
    def profile_is_known(cls, values: pd.Series) -> pd.Series:
        return is_profile(values)
