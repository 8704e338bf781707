"""Normalize text cells before any comparison (SPEC §1), column by column, without Python loops.

After this step a re-upload that differs only in spacing, e-mail case or RUT punctuation is
identical to the original. Values that cannot be normalized (a RUT with letters, a date in an
unknown format) are left as written, so validation can report them.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from schemas.checks import ISO_DATE_PATTERN, RUT_PATTERN
from schemas.columns import DEFAULT_PROFILE, PERSONAS, PROFILE_ALIASES, UNIDADES

# No \\s or \\d in these patterns: pandas hands RE2-compatible patterns to Arrow (vectorized,
# in C) and falls back to a Python loop for the rest; RE2's \\s would also miss the NBSP.
_WIDE_SPACES = "\u00a0\u2007\u202f\u200b\ufeff"
_WHITESPACE = " \t\n\r\f\v" + _WIDE_SPACES
_SPACES = f"[{_WHITESPACE}]+"
_ODD_SPACES = f"[{_WHITESPACE[1:]}]|  |^ | \\Z"
_RUT_NOISE = f"[.{_WHITESPACE}-]"
_ISO_LIKE = "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
_DAY_FIRST = "[0-9]{1,2}[-/][0-9]{1,2}[-/][0-9]{4}"
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")

RUT_COLUMNS = {UNIDADES: ("rut_jefatura",), PERSONAS: ("rut", "rut_jefatura")}


def normalize_text(values: pd.Series) -> pd.Series:
    """Trim, collapse inner whitespace (NBSP included); blank becomes NA."""
    text = values.astype("str")
    odd = text.str.contains(_ODD_SPACES, regex=True).fillna(False).astype(bool)
    if odd.any():  # most cells are clean: only rewrite the ones that need it
        text = text.where(~odd, text[odd].str.replace(_SPACES, " ", regex=True).str.strip())
    return text.mask(text == "")


def normalize_rut(values: pd.Series) -> pd.Series:
    """``12.345.678-k`` → ``12345678-K``; values that are not RUT-shaped stay as written."""
    compact = values.str.replace(_RUT_NOISE, "", regex=True).str.upper().str.lstrip("0")
    canonical = compact.str[:-1] + "-" + compact.str[-1:]
    shaped = canonical.str.fullmatch(RUT_PATTERN).fillna(False).astype(bool)
    return canonical.where(shaped, values)


def normalize_email(values: pd.Series) -> pd.Series:
    """E-mail addresses compare case-insensitively: store them lower-cased."""
    return values.str.lower()


def normalize_date(values: pd.Series) -> pd.Series:
    """ISO, ``dd-mm-yyyy`` and ``dd/mm/yyyy`` become ``yyyy-mm-dd``; anything else stays.

    Excel dates already arrive as ``yyyy-mm-dd`` (see ``loaders.read.cell_text``), so only the
    remaining text dates are parsed, each format with one vectorized ``to_datetime``.
    """
    pending = values.notna() & ~values.str.fullmatch(ISO_DATE_PATTERN).fillna(False).astype(bool)
    if not pending.any():
        return values
    result = values.copy()
    shaped = values[pending]
    for pattern, formats in ((_ISO_LIKE, _DATE_FORMATS[:1]), (_DAY_FIRST, _DATE_FORMATS[1:])):
        candidates = shaped[shaped.str.fullmatch(pattern).fillna(False).astype(bool)]
        for fmt in formats:
            parsed = pd.to_datetime(candidates, format=fmt, errors="coerce")
            found = parsed.notna()
            result[candidates.index[found]] = parsed[found].dt.strftime("%Y-%m-%d").to_numpy()
            unparsed = candidates[~found]
            # Timestamps stop at 1677; an older (out-of-range) date is still a date to report.
            result[unparsed.index] = [_parse_old_date(v, fmt) or v for v in unparsed]
            candidates = unparsed
    return result


def _parse_old_date(text: str, fmt: str) -> str | None:
    try:
        return datetime.strptime(text, fmt).date().isoformat()
    except ValueError:
        return None


def normalize_profile(values: pd.Series) -> pd.Series:
    """Case- and accent-insensitive profile names and English aliases; blank is the default."""
    direct = values.str.lower().map(PROFILE_ALIASES)
    if direct.notna().sum() == values.notna().sum():
        return direct.fillna(DEFAULT_PROFILE).astype("str")
    folded = (
        values.str.normalize("NFKD")
        .str.encode("ascii", "ignore")
        .str.decode("ascii")
        .str.lower()
        .str.replace(" ", "_", regex=False)
    )
    canonical = folded.map(PROFILE_ALIASES)
    return canonical.where(canonical.notna(), values).fillna(DEFAULT_PROFILE).astype("str")


def normalize_sheet(sheet: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A normalized copy of a sheet's text frame (same index and columns)."""
    result = frame.apply(normalize_text)
    for column in RUT_COLUMNS[sheet]:
        result[column] = normalize_rut(result[column])
    if sheet == PERSONAS:
        result["email"] = normalize_email(result["email"])
        result["fecha_ingreso"] = normalize_date(result["fecha_ingreso"])
        result["perfil"] = normalize_profile(result["perfil"])
    return result
