"""COPY text and JSON documents of whole columns, built with Arrow compute (no per-row Python).

At 100,000 rows the apply step spends its client time here: a column-wise join in Arrow's C++
kernels takes a few milliseconds where pandas' string concatenation or ``DataFrame.to_json``
followed by a split took a large part of a second (docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NULL = "\\N"  # COPY text format's NULL
_COPY_SPECIAL = r"[\\\t\n\r]"
_CONTROL = r"[\x00-\x1f]"
_JSON_SPECIAL = r'[\x00-\x1f"\\]'


def arrow_values(values: pd.Series | pd.Index | np.ndarray) -> pa.Array:
    """One column as a single Arrow array; missing values (None, NaN, NA) become nulls."""
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_null(array.type):  # an all-missing object column
        array = array.cast(pa.large_string())
    return array


def _lit(text: str) -> pa.Scalar:
    """A constant piece of every row (Arrow's join wants all pieces of one string type)."""
    return pa.scalar(text, pa.large_string())


def _is_text(array: pa.Array) -> bool:
    return bool(pa.types.is_string(array.type) or pa.types.is_large_string(array.type))


def _has(array: pa.Array | pa.Scalar, pattern: str) -> bool:
    found = pc.match_substring_regex(array, pattern)
    return bool((found if isinstance(found, pa.Scalar) else pc.any(found)).as_py())


def copy_field(array: pa.Array | pa.Scalar) -> pa.Array | pa.Scalar:
    """A column (or a constant) in COPY text format: booleans ``t``/``f``, numbers as digits,
    text escaped (backslash, tab, newline, carriage return); nulls stay null (``\\N``)."""
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, _lit("t"), _lit("f"))
    array = pc.cast(array, pa.large_string())
    if _has(array, _COPY_SPECIAL):
        for special, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            array = pc.replace_substring(array, special, escaped)
    return array


def join_lines(columns: Sequence[pa.Array | pa.Scalar], separator: str) -> pa.Array:
    """Each row's fields joined by ``separator`` and ended by a newline; nulls as ``\\N``."""
    lines = pc.binary_join_element_wise(
        *columns, _lit(separator), null_handling="replace", null_replacement=NULL
    )
    return pc.binary_join_element_wise(lines, _lit(""), _lit("\n"))


def payload(lines: pa.Array) -> memoryview:
    """The rows of ``join_lines`` back to back, without copying them out of Arrow's buffer."""
    lines = lines.cast(pa.large_string())
    if len(lines) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    data = lines.buffers()[2]
    return memoryview(data)[start:end] if data is not None else memoryview(b"")


def copy_payload(columns: Sequence[pa.Array | pa.Scalar]) -> memoryview:
    """Whole rows in PostgreSQL's COPY text format (tab-separated, ``\\N`` for NULL)."""
    return payload(join_lines([copy_field(c) for c in columns], "\t"))


def _json_text(array: pa.Array) -> pa.Array:
    """Strings as the inside of JSON string literals (quotes not included)."""
    array = pc.cast(array, pa.large_string())
    if not _has(array, _JSON_SPECIAL):  # the usual case: nothing to escape
        return array
    if _has(array, _CONTROL):  # rare: let the json module spell the \u00XX escapes
        return pa.array(
            [
                None if v is None else json.dumps(v, ensure_ascii=False)[1:-1]
                for v in array.to_pylist()
            ],
            type=pa.large_string(),
        )
    return pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"), '"', '\\"')


def json_documents(columns: Mapping[str, pa.Array]) -> pa.Array:
    """One JSON object per row (column name → value, missing → null), as text.

    Constant pieces (names, quotes, commas) are joined with the columns in one Arrow call; a
    text column with no missing value gets its quotes from the constant pieces.
    """
    parts: list[pa.Array | pa.Scalar] = []
    pending = "{"
    for name, array in columns.items():
        pending += json.dumps(name) + ":"
        if _is_text(array) or pa.types.is_null(array.type):
            text = _json_text(array)
            if text.null_count == 0:
                parts.extend([_lit(pending + '"'), text])
                pending = '",'
                continue
            quoted = pc.binary_join_element_wise(_lit('"'), text, _lit('"'), _lit(""))
            literal = pc.fill_null(quoted, _lit("null"))
        elif pa.types.is_boolean(array.type):
            literal = pc.fill_null(pc.if_else(array, _lit("true"), _lit("false")), _lit("null"))
        else:
            literal = pc.fill_null(pc.cast(array, pa.large_string()), _lit("null"))
        parts.extend([_lit(pending), literal])
        pending = ","
    if not parts:
        raise ValueError("a JSON document needs at least one column")
    parts.append(_lit(pending.removesuffix(",") + "}"))
    return pc.binary_join_element_wise(*parts, _lit(""))
