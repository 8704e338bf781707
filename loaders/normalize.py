"""Normalize text cells before any comparison (SPEC §1), column by column, without Python loops.

After this step a re-upload that differs only in spacing, e-mail case or RUT punctuation is
identical to the original. Values that cannot be normalized (a RUT with letters, a date in an
unknown format) are left as written, so validation can report them.

Columns are normalized as the Arrow arrays under pandas' "str" columns (``schemas.text``);
the functions taking a Series are the same steps for one column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loaders.inert import uninert
from orgload.columns import DEFAULT_PROFILE, PERSONAS, PROFILE_ALIASES, UNIDADES
from schemas.checks import is_calendar_day, is_iso_date_shaped, is_rut_shaped
from schemas.text import INVISIBLE, TEXT, arrow, flags, is_plain, series, without_bytes

# No \\s or \\d in these patterns: they run in RE2 (Arrow, vectorized, in C), whose \\s would
# miss the NBSP.
_WIDE_SPACES = (
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# Inner runs of spaces collapse to one. Tab, line breaks and the other control characters are
# trimmed at the ends of a value like any whitespace, but kept inside it: there they are the
# error ``invalid_character`` (SPEC §1), which the checks report on the normalized value.
_SPACES = f"[ {_WIDE_SPACES}]+"
# What trimming removes. Not Arrow's ``utf8_trim_whitespace``, which also trims U+0001 and
# the other control characters: "\x1b[31mAna" would lose its escape silently.
_TRIMMED = " \t\n\r\f\v" + _WIDE_SPACES
_INVISIBLE = f"[{INVISIBLE}]"  # removed (SPEC §1): they change a value, not what Excel shows
# What makes a value need rewriting: whitespace other than single inner spaces, or an
# invisible character. \\z: RE2's end of text (Python's \\Z).
_ODD_SPACES = f"[\t\n\r\f\v{_WIDE_SPACES}{INVISIBLE}]|  |^ | \\z"
_RUT_NOISE = f"[. {_WIDE_SPACES}-]"
_COMMON_RUT_NOISE = ".- "
_ISO_LIKE = "(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
# dd-mm-yyyy or dd/mm/yyyy: both separators must be the same.
_DAY_FIRST = (
    "(?P<day>[0-9]{1,2})(?P<sep1>[-/])(?P<month>[0-9]{1,2})(?P<sep2>[-/])(?P<year>[0-9]{4})"
)
_MISSING = pa.scalar(None, TEXT)
_ALIASES = pa.array(list(PROFILE_ALIASES), TEXT)
_PROFILES = pa.array(list(PROFILE_ALIASES.values()), TEXT)

RUT_COLUMNS = {UNIDADES: ("rut_jefatura",), PERSONAS: ("rut", "rut_jefatura")}


def normalize_text(values: pd.Series) -> pd.Series:
    """Remove invisible formatting characters, trim, collapse inner whitespace (NBSP
    included); blank becomes NA."""
    return series(_text(arrow(values.astype("str"))), values.index)


def _text(values: pa.Array) -> pa.Array:
    # Most cells are clean: only rewrite the ones that need it, and skip the pattern altogether
    # in columns of printable ASCII (codes, RUTs, e-mails, dates).
    odd = np.zeros(len(values), dtype=bool)
    if not is_plain(values):
        odd = flags(pc.match_substring_regex(values, _ODD_SPACES))
    if odd.any():
        fixed = values.filter(odd)
        if pc.any(pc.match_substring_regex(fixed, _INVISIBLE)).as_py():
            fixed = pc.replace_substring_regex(fixed, _INVISIBLE, "")
        fixed = pc.replace_substring_regex(fixed, _SPACES, " ")
        trimmed = pc.utf8_trim(fixed, characters=_TRIMMED)
        values = pc.replace_with_mask(values, pa.array(odd), trimmed)
    blank = pc.equal(values, "")
    if not pc.any(blank).as_py():  # nothing to change: share the column as read
        return values
    return pc.if_else(blank, _MISSING, values)


def normalize_rut(values: pd.Series) -> pd.Series:
    """``12.345.678-k`` → ``12345678-K``; values that are not RUT-shaped stay as written."""
    return series(_rut(arrow(values)), values.index)


def _rut(values: pa.Array) -> pa.Array:
    compact = pc.utf8_ltrim(pc.utf8_upper(_without_rut_noise(values)), characters="0")
    canonical = pc.utf8_replace_slice(compact, start=-1, stop=-1, replacement="-")
    return pc.if_else(pa.array(is_rut_shaped(canonical)), canonical, values)


def _without_rut_noise(values: pa.Array) -> pa.Array:
    """Dots, hyphens and whitespace removed: the common ones byte by byte (a regular
    expression replacement costs ten times more), the rare other whitespace by pattern."""
    values = without_bytes(values, _COMMON_RUT_NOISE)
    if is_plain(values):
        return values
    rare = flags(pc.match_substring_regex(values, _RUT_NOISE))
    if rare.any():
        cleaned = pc.replace_substring_regex(values.filter(rare), _RUT_NOISE, "")
        values = pc.replace_with_mask(values, pa.array(rare), cleaned)
    return values


def normalize_email(values: pd.Series) -> pd.Series:
    """E-mail addresses compare case-insensitively: store them lower-cased."""
    return series(pc.utf8_lower(arrow(values)), values.index)


def normalize_date(values: pd.Series) -> pd.Series:
    """ISO, ``dd-mm-yyyy`` and ``dd/mm/yyyy`` become ``yyyy-mm-dd``; anything else stays.

    Excel dates already arrive as ``yyyy-mm-dd`` (see ``loaders.read.cell_text``), so only the
    remaining text dates are parsed: their parts are read by pattern, and they are rewritten
    when they name a calendar day.
    """
    return series(_date(arrow(values)), values.index)


def _date(values: pa.Array) -> pa.Array:
    pending = flags(values.is_valid()) & ~is_iso_date_shaped(values)
    if not pending.any():
        return values
    texts = values.filter(pending)
    iso_order, day_first = (pc.extract_regex(texts, f"^{p}$") for p in (_ISO_LIKE, _DAY_FIRST))
    # A text matches one of the patterns at most (ISO begins with four digits): take its parts.
    year, month, day = (
        pc.coalesce(pc.struct_field(iso_order, part), pc.struct_field(day_first, part))
        for part in ("year", "month", "day")
    )
    numbers = [pc.cast(part.fill_null("0"), pa.int64()).to_numpy() for part in (year, month, day)]
    in_iso_order = flags(iso_order.is_valid())
    same_separators = flags(
        pc.equal(pc.struct_field(day_first, "sep1"), pc.struct_field(day_first, "sep2"))
    )
    # Year 0 (proleptic) counts as a date in ISO order and not in day-first order, as pandas
    # parsed them before (``is_iso_date`` refuses it either way).
    valid = (in_iso_order | same_separators) & (numbers[0] >= np.where(in_iso_order, 0, 1))
    valid &= is_calendar_day(*numbers)
    if not valid.any():
        return values
    iso = pc.binary_join_element_wise(
        year,
        pc.utf8_lpad(month, width=2, padding="0"),
        pc.utf8_lpad(day, width=2, padding="0"),
        pa.scalar("-", TEXT),
    )
    rewritten = np.zeros(len(values), dtype=bool)
    rewritten[np.flatnonzero(pending)[valid]] = True
    return pc.replace_with_mask(values, pa.array(rewritten), iso.filter(valid))


def normalize_profile(values: pd.Series) -> pd.Series:
    """Case- and accent-insensitive profile names and English aliases; blank is the default."""
    return series(_profile(arrow(values), values.index), values.index)


def _profile(values: pa.Array, index: pd.Index) -> pa.Array:
    direct = _alias(pc.utf8_lower(values))
    unresolved = flags(pc.and_(direct.is_null(), values.is_valid()))
    # Accents, spaces: fold only the values that need it (a value that is an alias once
    # lower-cased is plain ASCII, which folding would only lower-case).
    if unresolved.any():
        rest = series(values.filter(unresolved), index[unresolved])
        folded = (
            rest.str.normalize("NFKD")
            .str.encode("ascii", "ignore")
            .str.decode("ascii")
            .str.lower()
            .str.replace(" ", "_", regex=False)
        )
        canonical = _alias(arrow(folded))
        resolved = pc.if_else(canonical.is_null(), arrow(rest), canonical)
        direct = pc.replace_with_mask(direct, pa.array(unresolved), resolved)
    return direct.fill_null(DEFAULT_PROFILE)


def _alias(values: pa.Array) -> pa.Array:
    """The canonical profile of each exact alias, null for anything else."""
    return _PROFILES.take(pc.index_in(values, value_set=_ALIASES))


def normalize_sheet(sheet: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A normalized copy of a sheet's text frame (same index and columns)."""
    columns = {name: _text(uninert(arrow(frame[name].astype("str")))) for name in frame.columns}
    for name in RUT_COLUMNS[sheet]:
        columns[name] = _rut(columns[name])
    if sheet == PERSONAS:
        columns["email"] = pc.utf8_lower(columns["email"])
        columns["fecha_ingreso"] = _date(columns["fecha_ingreso"])
        columns["perfil"] = _profile(columns["perfil"], frame.index)
    return pd.DataFrame({name: series(values, frame.index) for name, values in columns.items()})
