"""Vectorized cell predicates shared by the sheet models and by normalization.

Every function taking a pandas Series of normalized text (missing = NA) returns a boolean
Series on the same index; none of them loops over cells in Python. They work on the Arrow
array under the Series (``schemas.text``): regular expressions run in RE2, and the fixed
shapes (RUTs, ISO dates), RUT check digits and calendar days are read with numpy from the
bytes of the strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orgload.columns import CODE_MAX, EMAIL_MAX, PROFILES
from schemas.text import arrow, fixed_width_bytes, flags, fullmatch, string_bytes

CODE_PATTERN = rf"[A-Za-z0-9._-]{{1,{CODE_MAX}}}"
RUT_PATTERN = r"[1-9][0-9]{0,7}-[0-9K]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_PATTERN = rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}"
ISO_DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
EARLIEST_DATE = "1900-01-01"
# A number as Excel writes it in scientific notation: 1.23457E+07, 1,23457E+07 (Spanish
# locale), or Python's repr of a large float cell (1.2345678901234567e+16).
SCIENTIFIC_PATTERN = r"[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+"
DIGITS_PATTERN = "[0-9]+"
# Excel's error values, as the English and the Spanish Excel show them (a CSV export writes the
# one shown); upper-cased.
EXCEL_ERRORS = (
    "#N/A",
    "#NULL!",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#GETTING_DATA",
    "#SPILL!",
    "#CALC!",
    "#FIELD!",
    "#BLOCKED!",
    "#UNKNOWN!",
    "#CONNECT!",
    "#BUSY!",
    "#PYTHON!",
    "#EXTERNAL!",
    "#N/D",
    "#¡NULO!",
    "#¡DIV/0!",
    "#¡VALOR!",
    "#¡REF!",
    "#¿NOMBRE?",
    "#¡NUM!",
    "#OBTENIENDO_DATOS",
    "#¡DESBORDAMIENTO!",
    "#¡CALC!",
    "#¡CAMPO!",
    "#¡BLOQUEADO!",
    "#¡DESCONOCIDO!",
    "#¡CONECTAR!",
    "#¡OCUPADO!",
)
_EXCEL_ERRORS = pa.array(EXCEL_ERRORS, pa.large_string())
# Control characters (C0, DEL and C1): never part of a name, a code or an address. In UTF-8 a
# C0 or DEL is one byte below 0x20 or 0x7F; a C1 (U+0080-U+009F) is 0xC2 then 0x80-0x9F.
CONTROL_CHARACTERS = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
_CONTROL_PATTERN = "(?P<c>[\\x00-\\x1f\\x7f-\\x{9f}])"
_CONTROLS = pa.array(list(CONTROL_CHARACTERS), pa.large_string())
_CONTROL_LABELS = pa.array([f"U+{ord(c):04X}" for c in CONTROL_CHARACTERS], pa.large_string())

_RUT_WEIGHTS = np.array([3, 2, 7, 6, 5, 4, 3, 2], dtype=np.int64)  # for 8 digits, left to right
_CHECK_DIGITS = pa.array(["", "1", "2", "3", "4", "5", "6", "7", "8", "9", "K", "0"])
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def is_rut_shaped(values: pa.Array) -> np.ndarray:
    """Where the whole value matches ``RUT_PATTERN``, read from the bytes of the strings.

    Same answers as the pattern (a test holds them equal) at a fraction of its cost: RUTs are
    looked at on every row, in normalization and again by the check.
    """
    data, offsets = string_bytes(values)
    lengths = np.diff(offsets)
    result = flags(values.is_valid()) & (lengths >= 3) & (lengths <= 10)
    rows = np.flatnonzero(result)
    if len(rows):
        start, end = offsets[rows], offsets[rows + 1]
        digits = np.concatenate([[0], np.cumsum(_is_digit(data), dtype=np.int64)])
        last = data[end - 1]
        result[rows] = (
            (digits[end - 2] - digits[start] == end - 2 - start)  # a body of digits…
            & (data[start] != ord("0"))  # …without leading zeros
            & (data[end - 2] == ord("-"))
            & (_is_digit(last) | (last == ord("K")))
        )
    return result


def is_iso_date_shaped(values: pa.Array) -> np.ndarray:
    """Where the whole value matches ``ISO_DATE_PATTERN``, read from the bytes of the strings."""
    data, offsets = string_bytes(values)
    result = flags(values.is_valid()) & (np.diff(offsets) == len("yyyy-mm-dd"))
    rows = np.flatnonzero(result)
    if len(rows):
        chars = data[offsets[rows, None] + np.arange(len("yyyy-mm-dd"))]
        result[rows] = (
            _is_digit(chars[:, [0, 1, 2, 3, 5, 6, 8, 9]]).all(axis=1)
            & (chars[:, 4] == ord("-"))
            & (chars[:, 7] == ord("-"))
        )
    return result


def _is_digit(data: np.ndarray) -> np.ndarray:
    return (data >= ord("0")) & (data <= ord("9"))


def rut_check_digits(bodies: pd.Series) -> pd.Series:
    """The modulo-11 check digit ('0'-'9' or 'K') of each RUT body (1-8 digits as text)."""
    padded = bodies.astype("str").str.zfill(8)
    digits = _check_digits(arrow(padded)).to_numpy(zero_copy_only=False)
    return pd.Series(digits, index=bodies.index, dtype="str")


def _check_digits(padded: pa.Array) -> pa.Array:
    """Check digits of 8-digit bodies, from the bytes of the strings (no Python objects)."""
    digits = fixed_width_bytes(padded, 8).astype(np.int64) - ord("0")
    remainder = 11 - (digits @ _RUT_WEIGHTS) % 11
    return _CHECK_DIGITS.take(remainder)


def is_valid_rut(values: pd.Series) -> pd.Series:
    """True where the value is a normalized RUT (``12345678-5``) whose check digit is right."""
    array = arrow(values)
    shaped = is_rut_shaped(array)
    result = np.zeros(len(array), dtype=bool)
    if shaped.any():
        ruts = array.filter(shaped)
        bodies = pc.utf8_lpad(pc.utf8_slice_codeunits(ruts, 0, -2), width=8, padding="0")
        given = pc.utf8_slice_codeunits(ruts, -1)
        result[shaped] = flags(pc.equal(_check_digits(bodies), given))
    return pd.Series(result, index=values.index)


def is_valid_email(values: pd.Series) -> pd.Series:
    """True where the (lower-cased) value looks like a deliverable address."""
    array = arrow(values)
    # An address of that shape is ASCII: its byte length and offsets are its character ones.
    lengths = pc.binary_length(array)
    result = pc.and_(fullmatch(array, EMAIL_PATTERN), pc.less_equal(lengths, EMAIL_MAX))
    if pc.any(pc.greater(lengths, 65)).as_py():  # only then can the local part be over 64
        result = pc.and_(result, pc.less_equal(pc.find_substring(array, "@"), 64))
    return pd.Series(flags(result), index=values.index)


def is_valid_code(values: pd.Series) -> pd.Series:
    """True where the value is 1-40 letters, digits, ``.``, ``_`` or ``-``."""
    return pd.Series(flags(fullmatch(arrow(values), CODE_PATTERN)), index=values.index)


def is_iso_date(values: pd.Series) -> pd.Series:
    """True where the value is ``yyyy-mm-dd`` naming a real calendar day (years 1-9999)."""
    array = arrow(values)
    shaped = is_iso_date_shaped(array)
    result = np.zeros(len(array), dtype=bool)
    if shaped.any():
        digits = fixed_width_bytes(array.filter(shaped), 10).astype(np.int64) - ord("0")
        year = digits[:, :4] @ np.array([1000, 100, 10, 1])
        month = digits[:, 5:7] @ np.array([10, 1])
        day = digits[:, 8:10] @ np.array([10, 1])
        result[shaped] = (year >= 1) & is_calendar_day(year, month, day)
    return pd.Series(result, index=values.index)


def is_calendar_day(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Where (month, day) is a day of that year in the proleptic Gregorian calendar (the year
    itself is not checked)."""
    valid_month = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last_day = _DAYS_IN_MONTH[np.where(valid_month, month, 0)] + (leap & (month == 2))
    return valid_month & (day >= 1) & (day <= last_day)


def is_profile(values: pd.Series) -> pd.Series:
    """True where the (normalized) value is one of the canonical profiles."""
    return values.isin(PROFILES)


def fits(values: pd.Series, max_length: int) -> pd.Series:
    """True where the value has at most ``max_length`` characters."""
    lengths = pc.utf8_length(arrow(values)).fill_null(0)
    return pd.Series(flags(pc.less_equal(lengths, max_length)), index=values.index)


def has_control_character(values: pa.Array) -> np.ndarray:
    """Where the value holds a control character (U+0000-U+001F, U+007F-U+009F), read from
    the bytes of the strings: one pass, whatever the column."""
    data, offsets = string_bytes(values)
    if not len(data):
        return np.zeros(len(values), dtype=bool)
    control = (data < 0x20) | (data == 0x7F)
    control[:-1] |= (data[:-1] == 0xC2) & (data[1:] >= 0x80) & (data[1:] <= 0x9F)
    if not control.any():
        return np.zeros(len(values), dtype=bool)
    counts = np.concatenate([[0], np.cumsum(control, dtype=np.int64)])
    return (counts[offsets[1:]] - counts[offsets[:-1]]) > 0


def first_control_character(values: pa.Array) -> pa.Array:
    """The first control character of each value, named as ``U+0001`` (null where none)."""
    found = pc.struct_field(pc.extract_regex(values, _CONTROL_PATTERN), [0])
    return _CONTROL_LABELS.take(pc.index_in(found, value_set=_CONTROLS))


def is_excel_error(values: pa.Array) -> np.ndarray:
    """Where the value, trimmed, is one of Excel's error values (``#N/A``, ``#¡VALOR!``, …)."""
    result = flags(pc.match_substring(values, "#"))
    if result.any():
        rows = np.flatnonzero(result)
        texts = pc.utf8_upper(pc.utf8_trim_whitespace(values.take(rows)))
        result[rows] = flags(pc.is_in(texts, value_set=_EXCEL_ERRORS))
    return result


def is_scientific(values: pa.Array) -> np.ndarray:
    """Where the value, trimmed, is a number in scientific notation (``1.23457E+07``)."""
    return flags(fullmatch(pc.utf8_trim_whitespace(values), SCIENTIFIC_PATTERN))


def is_digits(values: pa.Array) -> np.ndarray:
    """Where the value, trimmed, is only digits (a number cell's text)."""
    return flags(fullmatch(pc.utf8_trim_whitespace(values), DIGITS_PATTERN))


def has_no_control_character(values: pd.Series) -> pd.Series:
    """True where the value holds no control character (``invalid_character``)."""
    return pd.Series(~has_control_character(arrow(values)), index=values.index)


def is_not_excel_error(values: pd.Series) -> pd.Series:
    """True where the value is not one of Excel's error values."""
    return pd.Series(~is_excel_error(arrow(values)), index=values.index)
