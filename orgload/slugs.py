"""What a client id may look like (SPEC §6): a slug, so an id is safe as a folder or file name.

The one rule, used wherever an id arrives (``clients add``, ``--client``, the inbox folders):
1–40 of ``a-z 0-9 - _``, starting with a letter or digit. Nothing is normalized: ``Acme`` is
refused, not lower-cased, so the id a user typed is the id stored.
"""

from __future__ import annotations

import re

from orgload.errors import UsageError, shown

CLIENT_ID_MAX = 40
CLIENT_ID_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{CLIENT_ID_MAX - 1}}}")
"""Matched with ``fullmatch``: ``$`` would let a trailing newline through."""

CLIENT_ID_RULE = (
    f"1-{CLIENT_ID_MAX} of a-z, 0-9, '-' or '_', starting with a letter or digit (e.g. acme-cl)"
)


def is_client_id(value: str) -> bool:
    """Whether ``value`` is a valid client id."""
    return CLIENT_ID_PATTERN.fullmatch(value) is not None


def check_client_id(value: str) -> str:
    """``value`` itself when it is a valid client id, else ``UsageError`` (exit 2)."""
    if not is_client_id(value):
        raise UsageError(
            f"client id {shown(value, repr_=True)} is not valid: use {CLIENT_ID_RULE}",
            code="invalid_client_id",
        )
    return value
