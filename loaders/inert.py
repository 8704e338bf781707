"""Formula injection (OWASP "CSV injection"): which text a spreadsheet would run as a formula.

A value that begins with ``=``, ``+``, ``-``, ``@``, a tab, CR or LF — also after leading
spaces or non-breaking spaces, which spreadsheets skip — may be taken for a formula when a
file is opened or a cell is edited. The writers (``loaders.writers``) never write one live: in a
workbook it is a text cell marked "quote prefix"; in a CSV it gets a leading apostrophe (OWASP's
advice). Reading takes that apostrophe off again (``uninert``, called by normalization), so a
re-upload of our own CSV export reads exactly the text it was written from.

Pure helpers, shared by the writers and by the reading side; nothing here imports a writer.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.text import flags

# What makes a spreadsheet read a value as a formula (OWASP's list).
TRIGGERS = "=+-@\t\r\n"
# Characters that may come before the trigger and still let it count: spaces (NBSP and the
# other Unicode spaces) and invisible formatting characters, which a spreadsheet may skip.
# Tab, CR and LF are triggers themselves.
LEADING = (
    " \f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)
PREFIX = "'"

_FORMULA = f"[{LEADING}]*[=+@\\t\\r\\n-]"  # RE2 (Arrow) and Python alike
_FORMULA_LIKE = f"^{_FORMULA}"
# A value that reading would take an apostrophe off (it already begins with our mark): it
# gets one more, so that it too reads back as written.
_MARKED = f"^{PREFIX}+{_FORMULA}"
_NEEDS_PREFIX = f"^{PREFIX}*{_FORMULA}"
_PREFIXED = f"^{PREFIX}({PREFIX}*{_FORMULA})"  # our mark and the value it protects
_FORMULA_LIKE_RE = re.compile(_FORMULA_LIKE)
_MARKED_RE = re.compile(_MARKED)
_NEEDS_PREFIX_RE = re.compile(_NEEDS_PREFIX)


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could take ``text`` for a formula."""
    return _FORMULA_LIKE_RE.match(text) is not None


def is_marked(text: str) -> bool:
    """Whether ``text`` begins with what reading takes for our apostrophe (``'=x``)."""
    return _MARKED_RE.match(text) is not None


def formula_like(values: pa.Array) -> np.ndarray:
    """``is_formula_like`` over an Arrow text column (nulls are not), vectorized."""
    return _matches(values, _FORMULA_LIKE)


def needs_care(values: pa.Array) -> np.ndarray:
    """Where a writer must do something about a value: formula-like, or already marked."""
    return _matches(values, _NEEDS_PREFIX)


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    if not len(values):
        return np.zeros(0, dtype=bool)
    return flags(pc.match_substring_regex(values, pattern))


def needs_prefix(text: str) -> bool:
    """Whether ``text`` is formula-like or already marked: what ``needs_care`` finds."""
    return _NEEDS_PREFIX_RE.match(text) is not None


def inert_text(text: str) -> str:
    """The CSV field for ``text``: an apostrophe in front when it could run as a formula (or
    already begins with one before a formula, so that reading gives it back as written)."""
    return PREFIX + text if needs_prefix(text) else text


def inert(values: pa.Array) -> pa.Array:
    """``inert_text`` over a text column, vectorized (nulls stay null)."""
    care = needs_care(values)
    if not care.any():
        return values
    prefixed = pc.utf8_replace_slice(values.filter(care), start=0, stop=0, replacement=PREFIX)
    return pc.replace_with_mask(values, pa.array(care), prefixed)


def unmarked_text(text: str) -> str:
    """The text of a workbook cell for ``text`` (the cell itself is marked quote-prefix when
    formula-like): an apostrophe in front only when reading would take one off."""
    return PREFIX + text if is_marked(text) else text


def uninert(values: pa.Array) -> pa.Array:
    """Undo ``inert_text`` over a text column: one apostrophe is taken off exactly when it is
    the first character and what follows could run as a formula (``'=``, ``'+``, ``'-``,
    ``'@``, ``'`` + tab…; spaces may come between). Any other apostrophe stays; a column
    without a leading one is returned as is.

    ``uninert(inert_text(v)) == v`` for every text ``v``. A client's own value written
    ``'=x`` is read as ``=x`` whatever the file type, as Excel itself reads a typed ``'=x``.
    """
    if not len(values):
        return values
    marked = flags(pc.starts_with(values, PREFIX))
    if not marked.any():
        return values
    unmarked = pc.replace_substring_regex(values.filter(marked), _PREFIXED, "\\1")
    return pc.replace_with_mask(values, pa.array(marked), unmarked)
