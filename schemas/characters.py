"""Characters a value may hide, and how reports show them (standard library only: a refusal
of a file by the limits is answered before pandas is imported)."""

from __future__ import annotations

import re

# Invisible formatting characters (SPEC §1): zero-width space, non-joiner and joiner, word
# joiner and the invisible operators, bidi marks, embeddings, overrides and isolates, the BOM
# inside a value, the soft hyphen, the Arabic letter mark and the Mongolian vowel separator.
# They change a value without changing what Excel shows: normalization removes them.
INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d"
    "\u206e\u206f\ufeff"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 control characters


def show_controls(text: str) -> str:
    """``text`` with each control character written as its code point, ``<U+001B>``: what a
    report shows of a value or a header, so that no terminal, workbook, JSON column or e-mail
    ever receives one (PostgreSQL cannot even store U+0000)."""
    return _CONTROL.sub(lambda found: f"<U+{ord(found.group()):04X}>", text)
