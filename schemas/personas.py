"""The pandera model of sheet ``personas``: the cell rules of each person column."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from orgload.columns import CODE_MAX, EMAIL_MAX, TEXT_MAX
from schemas.checks import (
    fits,
    is_iso_date,
    is_profile,
    is_valid_code,
    is_valid_email,
    is_valid_rut,
)
from schemas.dates import hire_date_bounds


class PersonasSchema(pa.DataFrameModel):
    """One row per person, after normalization. Checks run in declaration order per column."""

    rut: Series[str] = pa.Field(nullable=False)
    nombres: Series[str] = pa.Field(nullable=False)
    apellidos: Series[str] = pa.Field(nullable=False)
    email: Series[str] = pa.Field(nullable=False)
    codigo_unidad: Series[str] = pa.Field(nullable=False)
    cargo: Series[str] = pa.Field(nullable=True)
    rut_jefatura: Series[str] = pa.Field(nullable=True)
    fecha_ingreso: Series[str] = pa.Field(nullable=True)
    perfil: Series[str] = pa.Field(nullable=False)

    class Config:
        strict = "filter"

    @pa.check("rut", "rut_jefatura", error="invalid_rut")
    @classmethod
    def rut_is_valid(cls, values: pd.Series) -> pd.Series:
        return is_valid_rut(values)

    @pa.check("nombres", "apellidos", "cargo", error="too_long")
    @classmethod
    def text_fits(cls, values: pd.Series) -> pd.Series:
        return fits(values, TEXT_MAX)

    @pa.check("email", error="too_long")
    @classmethod
    def email_fits(cls, values: pd.Series) -> pd.Series:
        return fits(values, EMAIL_MAX)

    @pa.check("email", error="invalid_email")
    @classmethod
    def email_is_valid(cls, values: pd.Series) -> pd.Series:
        return is_valid_email(values)

    @pa.check("codigo_unidad", error="too_long")
    @classmethod
    def unit_code_fits(cls, values: pd.Series) -> pd.Series:
        return fits(values, CODE_MAX)

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
