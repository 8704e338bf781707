"""Text columns as Arrow arrays (schemas/text.py): no copies, and byte-level helpers that agree
with the string operations they stand for."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.text import (
    TEXT,
    arrow,
    fixed_width_bytes,
    is_plain,
    series,
    string_bytes,
    without_bytes,
)

SETTINGS = settings(max_examples=100, deadline=None, database=None)
VALUES = st.lists(st.one_of(st.none(), st.text(alphabet="ab .-\u00a0\tñ", max_size=6)))


def test_a_str_column_goes_to_arrow_and_back_without_a_copy():
    column = pd.Series(["a", None, "c"], dtype="str", index=[5, 6, 7])
    array = arrow(column)
    assert array.type == TEXT
    assert array.to_pylist() == ["a", None, "c"]
    back = series(array, column.index)
    pd.testing.assert_series_equal(back, column)
    assert arrow(back).buffers()[2].address == array.buffers()[2].address


@SETTINGS
@given(VALUES, st.integers(0, 3))
def test_without_bytes_removes_the_characters_of_every_value(values, offset):
    array = pa.array(values, TEXT)[offset:]  # a slice shares the buffers of the whole
    result = without_bytes(array, ".- ")
    result.validate(full=True)
    expected = [None if v is None else v.translate(str.maketrans("", "", ".- ")) for v in values]
    assert result.to_pylist() == expected[offset:]


@SETTINGS
@given(VALUES, st.integers(0, 3))
def test_is_plain_means_no_whitespace_and_no_other_than_printable_ascii(values, offset):
    array = pa.array(values, TEXT)[offset:]
    plain = all(v is None or all(0x20 < ord(c) < 0x80 for c in v) for v in values[offset:])
    assert is_plain(array) is plain


def test_string_bytes_of_a_slice_are_its_own_strings():
    array = pa.array(["skip", "ab", None, "ñ"], TEXT)[1:]
    data, offsets = string_bytes(array)
    assert bytes(data) == "abñ".encode()
    assert offsets.tolist() == [0, 2, 2, 4]
    pairs = pa.array(["x", "ab", "cd"], TEXT)[1:]
    assert fixed_width_bytes(pairs, 2).tolist() == [list(b"ab"), list(b"cd")]
