"""Vectorized cell predicates (schemas/checks.py), against tables and independent oracles."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum.cl import rut as stdnum_rut

from schemas.checks import (
    ISO_DATE_PATTERN,
    RUT_PATTERN,
    first_control_character,
    fits,
    has_control_character,
    is_excel_error,
    is_iso_date,
    is_iso_date_shaped,
    is_profile,
    is_rut_shaped,
    is_scientific,
    is_valid_code,
    is_valid_email,
    is_valid_rut,
    rut_check_digits,
)
from schemas.text import arrow

SETTINGS = settings(max_examples=100, deadline=None, database=None)


def text(values, index=None):
    return pd.Series(values, dtype="str", index=index)


def one(predicate, value):
    return bool(predicate(text([value])).iloc[0])


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        ("12345678", "5"),
        ("11111111", "1"),
        ("9876543", "3"),
        ("1", "9"),
        ("6", "K"),
        ("15000000", "9"),
        ("1000005", "K"),
        ("20000008", "0"),
    ],
)
def test_rut_check_digits_of_known_bodies(body, digit):
    assert digit == stdnum_rut.calc_check_digit(body)  # the table itself is right
    assert rut_check_digits(text([body])).tolist() == [digit]


def test_rut_check_digits_keeps_the_index_and_accepts_no_rows():
    bodies = text(["12345678", "6"], index=[7, 3])
    assert rut_check_digits(bodies).to_dict() == {7: "5", 3: "K"}
    assert rut_check_digits(text([])).tolist() == []


@SETTINGS
@given(st.lists(st.integers(1_000_000, 99_999_999), min_size=1, max_size=30))
def test_rut_check_digits_agree_with_stdnum(bodies):
    expected = [stdnum_rut.calc_check_digit(str(b)) for b in bodies]
    assert rut_check_digits(text([str(b) for b in bodies])).tolist() == expected


@SETTINGS
@given(st.lists(st.integers(1_000_000, 99_999_999), min_size=1, max_size=30), st.data())
def test_is_valid_rut_agrees_with_stdnum(bodies, data):
    digits = [data.draw(st.sampled_from("0123456789K")) for _ in bodies]
    values = [f"{b}-{d}" for b, d in zip(bodies, digits, strict=True)]
    expected = [stdnum_rut.is_valid(v) for v in values]
    assert is_valid_rut(text(values)).tolist() == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("12345678-5", True),
        ("6-K", True),
        ("1000005-K", True),
        ("12345678-4", False),
        ("6-k", False),  # not normalized: lower-case k
        ("12.345.678-5", False),  # not normalized: dots
        ("123456785", False),  # not normalized: no hyphen
        ("012345678-5", False),  # not normalized: leading zero
        ("123456789-2", False),  # nine-digit body
        ("-5", False),
        ("abc", False),
        (" 12345678-5", False),
        ("", False),
        (None, False),
    ],
)
def test_is_valid_rut_accepts_only_normalized_ruts_with_right_check_digit(value, valid):
    assert one(is_valid_rut, value) is valid


def test_is_valid_rut_keeps_the_index():
    assert is_valid_rut(text(["abc", "6-K"], index=[5, 9])).to_dict() == {5: False, 9: True}


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("ana@empresa.cl", True),
        ("ana.maria+rrhh@mail.empresa.cl", True),
        ("o'brien@empresa.co.uk", True),
        ("a@b.cl", True),
        ("ana@empresa", False),
        ("ana@@empresa.cl", False),
        ("ana@empresa..cl", False),
        (".ana@empresa.cl", False),
        ("ana.@empresa.cl", False),
        ("ana maria@empresa.cl", False),
        ("ana@-empresa.cl", False),
        ("Ana@empresa.cl", False),  # normalization lower-cases first
        ("ana@empresa.c", False),
        ("@empresa.cl", False),
        ("x" * 65 + "@empresa.cl", False),  # local part over 64
        ("x" * 64 + "@empresa.cl", True),
        ("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 58 + ".cl", False),
        (None, False),
    ],
)
def test_is_valid_email(value, valid):
    assert one(is_valid_email, value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("GER", True),
        ("ti-01.a_b", True),
        ("100", True),
        ("x" * 40, True),
        ("x" * 41, False),
        ("T I", False),
        ("TI/2", False),
        ("Tecnología", False),
        ("", False),
        (None, False),
    ],
)
def test_is_valid_code(value, valid):
    assert one(is_valid_code, value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-01-05", True),
        ("2024-02-29", True),
        ("1600-02-29", True),  # before pandas' nanosecond range: still a date
        ("0001-01-01", True),
        ("9999-12-31", True),
        ("2023-02-29", False),
        ("2024-13-01", False),
        ("2024-00-10", False),
        ("2024-04-31", False),
        ("0000-01-01", False),  # there is no year 0 (date.fromisoformat refuses it)
        ("2024-1-5", False),
        ("05-01-2024", False),
        ("20240105", False),
        ("2024-01-05 00:00:00", False),
        ("2024-01-05\n", False),
        ("", False),
        (None, False),
    ],
)
def test_is_iso_date_accepts_only_real_calendar_days_in_iso_form(value, valid):
    assert one(is_iso_date, value) is valid


def _iso_oracle(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


ISO_SHAPED = st.builds(
    "{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)
)
DATE_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789-", min_size=10, max_size=10),
    ISO_SHAPED,
    ISO_SHAPED.map(lambda s: s + "\n"),
)


@SETTINGS
@given(st.lists(DATE_TEXT, min_size=1, max_size=20))
@example(["0000-01-01"])
@example(["1200-02-29", "1900-02-29", "2262-04-12", "1677-09-21"])
def test_is_iso_date_agrees_with_date_fromisoformat(values):
    assert is_iso_date(text(values)).tolist() == [_iso_oracle(v) for v in values]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("colaborador", True),
        ("jefatura", True),
        ("administrador", True),
        ("manager", False),  # aliases are resolved by normalization, not accepted here
        ("Jefatura", False),
        (None, False),
    ],
)
def test_is_profile_accepts_canonical_profiles_only(value, valid):
    assert one(is_profile, value) is valid


@pytest.mark.parametrize(
    ("value", "max_length", "fits_in"),
    [
        ("abc", 3, True),
        ("abcd", 3, False),
        ("ñandú", 5, True),
        ("", 0, True),
    ],
)
def test_fits_counts_characters(value, max_length, fits_in):
    assert bool(fits(text([value]), max_length).iloc[0]) is fits_in


# --- shapes read from bytes, against the patterns they stand for ------------------------------

SHAPE_TEXT = st.one_of(
    st.text(alphabet="0123456789-K k./ñ\u00a0", max_size=12),
    st.text(max_size=12),
    ISO_SHAPED,
    st.builds("{}-{}".format, st.integers(0, 10**9), st.sampled_from("0123456789Kk")),
)


@SETTINGS
@given(st.lists(st.one_of(st.none(), SHAPE_TEXT), max_size=20), st.integers(0, 3))
@example(["12345678-5", "1-K", "01-K", "123456789-0", "1-", "-5", "1--5", "1-k", "12-55"], 0)
@example(["2024-01-05", "2024-1-05", "2024-01-05\n", "２０２４-01-05", "2024/01/05"], 0)
def test_shapes_read_from_bytes_are_the_patterns(values, offset):
    array = arrow(text(values))[offset:]  # a sliced array too: offsets into shared buffers
    kept = values[offset:]
    for shaped, pattern in ((is_rut_shaped, RUT_PATTERN), (is_iso_date_shaped, ISO_DATE_PATTERN)):
        expected = [v is not None and re.fullmatch(pattern, v) is not None for v in kept]
        assert shaped(array).tolist() == expected


# --- text that is not what it seems --------------------------------------------------------

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=20))
@example(["", "a\x00", "é\x80", "\u0100", "\xc2", "¡", "\x9f", "\u0180"])
def test_has_control_character_matches_the_pattern(values):
    array = arrow(pd.Series(values, dtype="str"))
    expected = [v is not None and bool(_CONTROL.search(v)) for v in values]
    assert has_control_character(array).tolist() == expected


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("a\x00b", "U+0000"),
        ("\x1b[2J", "U+001B"),
        ("a\tb\x01", "U+0009"),
        ("\x7f", "U+007F"),
        ("x\x9b", "U+009B"),
        ("ok", None),
    ],
)
def test_first_control_character_names_it_as_a_code_point(value, label):
    assert first_control_character(arrow(pd.Series([value], dtype="str"))).to_pylist() == [label]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#N/A", True),
        (" #n/a ", True),
        ("#N/D", True),
        ("#¡VALOR!", True),
        ("#REF!", True),
        ("#DIV/0!", True),
        ("#NAME?", True),
        ("#¿NOMBRE?", True),
        ("#SPILL!", True),
        ("N/A", False),
        ("#1", False),
        ("Analista #N/A", False),
        ("", False),
        (None, False),
    ],
)
def test_is_excel_error_knows_the_english_and_spanish_error_values(value, expected):
    assert is_excel_error(arrow(pd.Series([value], dtype="str"))).tolist() == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.23457E+07", True),
        ("1,23457E+07", True),
        ("1.2345678901234567e+16", True),
        ("1e5", True),
        ("12345678", False),
        ("12.345.678-5", False),
        ("E+07", False),
    ],
)
def test_is_scientific_recognises_excel_scientific_notation(value, expected):
    assert is_scientific(arrow(pd.Series([value], dtype="str"))).tolist() == [expected]
