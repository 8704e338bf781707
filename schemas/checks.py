"""Vectorized cell predicates shared by the sheet models and by normalization.

Every function takes a pandas Series of normalized text (missing = NA) and returns a boolean
Series on the same index; none of them loops over cells in Python.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from schemas.columns import CODE_MAX, EMAIL_MAX, PROFILES

CODE_PATTERN = rf"[A-Za-z0-9._-]{{1,{CODE_MAX}}}"
RUT_PATTERN = r"[1-9][0-9]{0,7}-[0-9K]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_PATTERN = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}"
ISO_DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
EARLIEST_DATE = "1900-01-01"

_RUT_WEIGHTS = np.array([3, 2, 7, 6, 5, 4, 3, 2], dtype=np.int64)  # for 8 digits, left to right


def rut_check_digits(bodies: pd.Series) -> pd.Series:
    """The modulo-11 check digit ('0'-'9' or 'K') of each RUT body (1-8 digits as text)."""
    padded = bodies.astype("str").str.zfill(8)
    if padded.empty:
        return pd.Series([], index=bodies.index, dtype="str")
    raw = np.frombuffer("".join(padded.tolist()).encode("ascii"), dtype=np.uint8)
    digits = raw.reshape(-1, 8).astype(np.int64) - ord("0")
    remainder = 11 - (digits @ _RUT_WEIGHTS) % 11
    table = np.array(["", "1", "2", "3", "4", "5", "6", "7", "8", "9", "K", "0"], dtype=object)
    return pd.Series(table[remainder], index=bodies.index, dtype="str")


def is_valid_rut(values: pd.Series) -> pd.Series:
    """True where the value is a normalized RUT (``12345678-5``) whose check digit is right."""
    shaped = values.str.fullmatch(RUT_PATTERN).fillna(False).astype(bool)
    result = pd.Series(False, index=values.index)
    if shaped.any():
        ruts = values[shaped]
        result[shaped] = (rut_check_digits(ruts.str[:-2]) == ruts.str[-1:]).to_numpy()
    return result


def is_valid_email(values: pd.Series) -> pd.Series:
    """True where the (lower-cased) value looks like a deliverable address."""
    shaped = values.str.fullmatch(EMAIL_PATTERN).fillna(False).astype(bool)
    local_length = values.str.find("@")
    return shaped & (values.str.len() <= EMAIL_MAX) & (local_length <= 64)


def is_valid_code(values: pd.Series) -> pd.Series:
    """True where the value is 1-40 letters, digits, ``.``, ``_`` or ``-``."""
    return values.str.fullmatch(CODE_PATTERN).fillna(False).astype(bool)


def is_iso_date(values: pd.Series) -> pd.Series:
    """True where the value is ``yyyy-mm-dd`` naming a real calendar day (years 1-9999)."""
    shaped = values.str.fullmatch(ISO_DATE_PATTERN).fillna(False).astype(bool)
    parsed = pd.to_datetime(values.where(shaped), format="%Y-%m-%d", errors="coerce")
    result = shaped & parsed.notna() & (values.str[:4] != "0000")  # there is no year 0
    # Timestamps end at 1677 and 2262: dates outside are still dates (then out of range).
    outside = shaped & parsed.isna()
    if outside.any():
        result.loc[outside] = np.array([_is_calendar_day(v) for v in values[outside]], dtype=bool)
    return result


def _is_calendar_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_profile(values: pd.Series) -> pd.Series:
    """True where the (normalized) value is one of the canonical profiles."""
    return values.isin(PROFILES)


def fits(values: pd.Series, max_length: int) -> pd.Series:
    """True where the value has at most ``max_length`` characters."""
    return (values.str.len().fillna(0) <= max_length).astype(bool)
