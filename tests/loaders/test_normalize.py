"""Normalization before any comparison (loaders/normalize.py, SPEC §1)."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from loaders.normalize import (
    normalize_date,
    normalize_email,
    normalize_profile,
    normalize_rut,
    normalize_sheet,
    normalize_text,
)
from orgload.columns import PERSONAS, SHEETS, UNIDADES

NA = None


def text(values):
    return pd.Series(values, dtype="str", index=pd.RangeIndex(2, len(values) + 2))


def as_list(series):
    return [None if pd.isna(v) else v for v in series]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana", "Ana"),
        ("  Ana  ", "Ana"),
        ("Ana   María", "Ana María"),
        ("Ana\u00a0María", "Ana María"),
        ("\u00a0Ana\u202fMaría\u00a0", "Ana María"),
        ("\tAna María\r\n", "Ana María"),  # tab and line breaks at the ends are trimmed…
        ("Ana\tMaría", "Ana\tMaría"),  # …inside they stay, for invalid_character
        ("Ana\u3000\u2003María\u2028", "Ana María"),
        ("\ufeffAna", "Ana"),
        ("\x1b[31mAna\x00", "\x1b[31mAna\x00"),  # other control characters are never trimmed
        ("", NA),
        ("   ", NA),
        ("\u00a0", NA),
        (NA, NA),
    ],
)
def test_normalize_text_trims_and_collapses_whitespace(value, expected):
    assert as_list(normalize_text(text([value]))) == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ana@empresa.cl\u200b", "ana@empresa.cl"),
        ("ana\u200c@\u200dempresa.cl", "ana@empresa.cl"),
        ("\u2060Ana\u00adMaría", "AnaMaría"),
        ("\u200eAna\u200f", "Ana"),
        ("\u202aAna\u202b\u202c\u202d\u202e", "Ana"),
        ("\u2066Ana\u2067\u2068\u2069", "Ana"),
        ("Ana\ufeff María", "Ana María"),
        ("Ana \u200b María", "Ana María"),  # removed first, then the spaces collapse
        ("\u200b\u200d", NA),  # nothing visible: blank
        ("\u061cA\u180eB", "AB"),
    ],
)
def test_invisible_formatting_characters_are_removed(value, expected):
    assert as_list(normalize_text(text([value]))) == [expected]


def test_a_value_differing_only_by_invisible_characters_normalizes_to_the_same_row():
    clean = pd.DataFrame(
        {"rut": ["12345678-5"], "email": ["ana@empresa.cl"], "nombres": ["Ana María"]},
        index=pd.RangeIndex(2, 3),
        dtype="str",
    )
    marked = clean.copy()
    marked["rut"] = ["\u200b12.345.678-5\u200e"]
    marked["email"] = ["ana@\u200bempresa.cl"]
    marked["nombres"] = ["\u202bAna\u00a0María\u202c"]
    columns = [c for c in SHEETS[PERSONAS].column_names if c not in clean]
    full = {
        name: frame.reindex(columns=[*frame.columns, *columns])
        for name, frame in (("clean", clean), ("marked", marked))
    }
    assert_frame_equal(
        normalize_sheet(PERSONAS, full["marked"].astype("str")),
        normalize_sheet(PERSONAS, full["clean"].astype("str")),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.345.678-5", "12345678-5"),
        ("12.345.678-k", "12345678-K"),
        ("12345678k", "12345678-K"),
        ("12 345 678-5", "12345678-5"),
        ("012.345.678-5", "12345678-5"),
        ("6-k", "6-K"),
        ("12345678-5", "12345678-5"),
        ("sin rut", "sin rut"),  # not RUT-shaped: left as written for validation to report
        ("123456789012", "123456789012"),
        ("-", "-"),
        (NA, NA),
    ],
)
def test_normalize_rut_removes_punctuation_and_upper_cases_k(value, expected):
    assert as_list(normalize_rut(text([value]))) == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Ana.Perez@Empresa.CL", "ana.perez@empresa.cl"), ("ana@x.cl", "ana@x.cl"), (NA, NA)],
)
def test_normalize_email_lower_cases(value, expected):
    assert as_list(normalize_email(text([value]))) == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-05", "2024-01-05"),
        ("2024-1-5", "2024-01-05"),
        ("05-01-2024", "2024-01-05"),
        ("5-1-2024", "2024-01-05"),
        ("05/01/2024", "2024-01-05"),
        ("31/12/2024", "2024-12-31"),
        ("29-02-2024", "2024-02-29"),
        ("31/12/1899", "1899-12-31"),  # out of range, but still a date to report as such
        ("01-01-1600", "1600-01-01"),
        ("30-02-2024", "30-02-2024"),  # not a day: left as written
        ("2024-02-30", "2024-02-30"),
        ("01/13/2024", "01/13/2024"),  # month-first is not accepted
        ("2024/01/05", "2024/01/05"),
        ("ayer", "ayer"),
        (NA, NA),
    ],
)
def test_normalize_date_turns_day_first_dates_into_iso(value, expected):
    assert as_list(normalize_date(text([value]))) == [expected]


def test_normalize_date_handles_mixed_formats_in_one_column():
    values = text(["05-01-2024", "2024-01-06", "07/01/2024", "x", NA, "2024-1-8"])
    assert as_list(normalize_date(values)) == [
        "2024-01-05",
        "2024-01-06",
        "2024-01-07",
        "x",
        NA,
        "2024-01-08",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("colaborador", "colaborador"),
        ("Manager", "jefatura"),
        ("ADMIN", "administrador"),
        ("Jefatura", "jefatura"),
        ("colaborádor", "colaborador"),
        ("Employee", "colaborador"),
        ("ADMINISTRADOR", "administrador"),
        (NA, "colaborador"),
        ("gerente", "gerente"),  # unknown: left as written for invalid_choice
    ],
)
def test_normalize_profile_resolves_aliases_case_and_accents(value, expected):
    assert as_list(normalize_profile(text([value]))) == [expected]


def test_normalize_profile_of_a_mixed_column():
    values = text(["Manager", "ADMIN", "Jefatura", "colaborádor", NA, "gerente"])
    assert as_list(normalize_profile(values)) == [
        "jefatura",
        "administrador",
        "jefatura",
        "colaborador",
        "colaborador",
        "gerente",
    ]


def frame(sheet, rows):
    return pd.DataFrame(
        rows,
        columns=list(SHEETS[sheet].column_names),
        index=pd.RangeIndex(2, len(rows) + 2, name="row"),
        dtype="str",
    )


CANONICAL_PEOPLE = [
    [
        "12345678-5",
        "Ana María",
        "Pérez",
        "ana@empresa.cl",
        "TI",
        "Jefa TI",
        "11111111-1",
        "2020-01-15",
        "jefatura",
    ],
    ["6-K", "Bruno", "Soto", "bruno@empresa.cl", "TI", None, None, "2021-03-01", "colaborador"],
]
MESSY_PEOPLE = [
    [
        " 12.345.678-5 ",
        "Ana\u00a0 María",
        "Pérez ",
        "ANA@Empresa.cl",
        " TI",
        "Jefa  TI",
        "11.111.111-1",
        "15-01-2020",
        "JEFATURA",
    ],
    ["6-k", "  Bruno", "Soto", "Bruno@EMPRESA.CL", "TI\u00a0", "  ", "", "01/03/2021", ""],
]


def test_a_messy_personas_sheet_normalizes_to_its_canonical_form():
    canonical = normalize_sheet(PERSONAS, frame(PERSONAS, CANONICAL_PEOPLE))
    messy = normalize_sheet(PERSONAS, frame(PERSONAS, MESSY_PEOPLE))
    assert_frame_equal(messy, canonical)
    assert canonical.loc[2, "rut"] == "12345678-5"
    assert canonical.loc[3, "perfil"] == "colaborador"


def test_a_messy_unidades_sheet_normalizes_to_its_canonical_form():
    canonical = [["GER", "Gerencia General", None, "CC-1", "12345678-K"]]
    messy = [[" GER", "Gerencia\u00a0\u00a0General ", "", " CC-1 ", "12.345.678-k"]]
    assert_frame_equal(
        normalize_sheet(UNIDADES, frame(UNIDADES, messy)),
        normalize_sheet(UNIDADES, frame(UNIDADES, canonical)),
    )


def test_normalize_sheet_keeps_rows_columns_and_does_not_touch_its_input():
    messy = frame(PERSONAS, MESSY_PEOPLE)
    before = messy.copy()
    result = normalize_sheet(PERSONAS, messy)
    assert result.index.equals(messy.index)
    assert list(result.columns) == list(SHEETS[PERSONAS].column_names)
    assert_frame_equal(messy, before)


@pytest.mark.parametrize("sheet", [UNIDADES, PERSONAS])
def test_normalize_sheet_of_a_header_only_sheet_is_empty(sheet):
    result = normalize_sheet(sheet, frame(sheet, []))
    assert result.empty
    assert list(result.columns) == list(SHEETS[sheet].column_names)
