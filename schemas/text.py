"""Text columns as Arrow arrays: the representation that normalization, checks and rules work on.

pandas' ``"str"`` dtype is an Arrow large-string array underneath. Going through the ``.str``
accessor costs a few hundred microseconds of pandas bookkeeping per call, and pandas' own
lookups (``Index.get_indexer``, ``map``) first convert 100,000 strings to Python objects.
Working on the Arrow arrays directly keeps every step in C and every column a single buffer;
frames are wrapped back into ``"str"`` columns without a copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.characters import INVISIBLE, show_controls  # noqa: F401 - used from here too

TEXT = pa.large_string()  # what pandas' "str" dtype stores
STR = pd.StringDtype("pyarrow", na_value=np.nan)  # the "str" dtype itself


def arrow(values: pd.Series | pd.Index) -> pa.Array:
    """A text column as one Arrow array, missing values as nulls (no copy for ``"str"``)."""
    array = pa.array(values, type=TEXT, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array


def series(array: pa.Array, index: pd.Index) -> pd.Series:
    """An Arrow text array as a ``"str"`` column on ``index`` (no copy)."""
    return pd.Series(array, index=index, dtype=STR)


def flags(mask: pa.Array) -> np.ndarray:
    """An Arrow boolean array as numpy booleans, null counting as false."""
    if mask.null_count:
        mask = mask.fill_null(False)
    return mask.to_numpy(zero_copy_only=False)


def fullmatch(values: pa.Array, pattern: str) -> pa.Array:
    """Where the whole value matches an RE2 pattern (null for missing values).

    The pattern is anchored the way ``Series.str.fullmatch`` anchors it before handing it to
    Arrow, so both give the same answers.
    """
    return pc.match_substring_regex(values, f"^({pattern})$")


def string_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of all the strings of ``values`` one after the other, and the offsets of each
    string in them (``len(values) + 1`` of them: string ``i`` is ``offsets[i]:offsets[i + 1]``).
    """
    if not len(values):
        return np.empty(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    if start == stop:
        return np.empty(0, dtype=np.uint8), offsets - start
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8, count=stop)[start:]
    return data, offsets - start


def is_plain(values: pa.Array) -> bool:
    """Whether every character of every value is printable ASCII other than the space.

    Such a column has no whitespace of any kind, which lets whitespace rules skip it: a scan of
    the bytes costs a fraction of one regular expression pass.
    """
    data, _ = string_bytes(values)
    return not len(data) or (int(data.min()) > 0x20 and int(data.max()) < 0x80)


def without_bytes(values: pa.Array, chars: str) -> pa.Array:
    """``values`` with every occurrence of some ASCII characters removed, in one pass over the
    bytes (an ASCII byte is never part of another character in UTF-8)."""
    data, offsets = string_bytes(values)
    drop = np.zeros(256, dtype=bool)
    drop[list(chars.encode("ascii"))] = True
    kept = ~drop[data]
    return pa.LargeStringArray.from_buffers(
        len(values),
        pa.py_buffer(np.concatenate([[0], np.cumsum(kept)])[offsets]),
        pa.py_buffer(data[kept]),
        values.is_valid().buffers()[1] if values.null_count else None,
        values.null_count,
    )


def fixed_width_bytes(values: pa.Array, width: int) -> np.ndarray:
    """The bytes of strings that are all exactly ``width`` bytes long, one row per string."""
    return string_bytes(values)[0].reshape(len(values), width)
