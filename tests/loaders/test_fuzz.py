"""Property tests: whatever bytes arrive, validation gives a report and never raises."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders.validate import ValidatedUpload, validate_upload
from tests.builders import csv_bytes, valid_rows, write_xlsx, write_zip

FUZZ = settings(
    max_examples=60,  # each example validates a whole upload: keep the suite fast
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SUFFIXES = [".xlsx", ".csv", ".zip"]


@pytest.fixture(scope="module")
def valid_workbook(tmp_path_factory) -> bytes:
    return write_xlsx(tmp_path_factory.mktemp("valid") / "org.xlsx", valid_rows()).read_bytes()


@pytest.fixture(scope="module")
def valid_zip(tmp_path_factory) -> bytes:
    rows = valid_rows()
    members = {
        "unidades.csv": csv_bytes(rows["Unidades"], delimiter=";"),
        "personas.csv": csv_bytes(rows["Personas"], encoding="cp1252", delimiter=";"),
    }
    return write_zip(tmp_path_factory.mktemp("valid") / "org.zip", members).read_bytes()


def assert_reported(paths: list[Path]) -> ValidatedUpload:
    result = validate_upload(paths, on_date=date(2026, 11, 25))
    assert isinstance(result, ValidatedUpload)
    for lang in ("es", "en"):
        report = result.report.to_dict(lang)
        assert all(e["message"] for e in report["errors"] + report["warnings"])
    if not result.valid:
        assert result.report.errors
    return result


@FUZZ
@given(data=st.binary(max_size=2_000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_give_a_report(tmp_path, data, suffix):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(data)
    assert_reported([path])


@FUZZ
@given(
    head=st.sampled_from([b"PK\x03\x04", b"%PDF-1.4", b"\xd0\xcf\x11\xe0", b"\xef\xbb\xbf", b""]),
    data=st.binary(max_size=500),
    suffix=st.sampled_from(SUFFIXES),
)
def test_random_bytes_behind_a_known_magic_number_give_a_report(tmp_path, head, data, suffix):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(head + data)
    assert_reported([path])


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "truncate", "insert"]),
        st.floats(0, 1, exclude_max=True),
        st.binary(min_size=1, max_size=16),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, mutations) -> bytes:
    result = bytearray(data)
    for kind, where, payload in mutations:
        position = int(where * len(result))
        if kind == "flip" and result:
            result[position] ^= payload[0] or 0xFF
        elif kind == "truncate":
            del result[position:]
        else:
            result[position:position] = payload
    return bytes(result)


@FUZZ
@given(mutations=MUTATIONS, suffix=st.sampled_from(SUFFIXES))
def test_mutations_of_a_valid_workbook_give_a_report(tmp_path, valid_workbook, mutations, suffix):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(mutate(valid_workbook, mutations))
    assert_reported([path])


@FUZZ
@given(mutations=MUTATIONS)
def test_mutations_of_a_zip_of_csvs_give_a_report(tmp_path, valid_zip, mutations):
    path = tmp_path / "upload.zip"
    path.write_bytes(mutate(valid_zip, mutations))
    assert_reported([path])


@settings(FUZZ, max_examples=25)
@given(mutations=MUTATIONS, encoding=st.sampled_from(["utf-8", "cp1252"]))
def test_mutations_of_csv_files_give_a_report(tmp_path, mutations, encoding):
    rows = valid_rows()
    unidades = tmp_path / "unidades.csv"
    personas = tmp_path / "personas.csv"
    unidades.write_bytes(csv_bytes(rows["Unidades"]))
    original = csv_bytes(rows["Personas"], encoding=encoding, delimiter=";")
    personas.write_bytes(mutate(original, mutations))
    assert_reported([unidades, personas])


CELLS = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(["12.345.678-k", "0-0", "K", "0000-01-01", "31/02/2020", "colaborádor"]),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(),
)
SHEET_ROWS = st.lists(st.lists(CELLS, max_size=11), max_size=6)


@settings(FUZZ, max_examples=20)
@given(unidades=SHEET_ROWS, personas=SHEET_ROWS)
def test_random_cells_under_valid_headers_give_a_report(tmp_path, unidades, personas):
    header = valid_rows()
    sheets = {
        "Unidades": [header["Unidades"][0], *unidades],
        "Personas": [header["Personas"][0], *personas],
    }
    result = assert_reported([write_xlsx(tmp_path / "org.xlsx", sheets)])
    assert result.report.counts["unidades"] <= len(unidades)
    assert result.report.counts["personas"] <= len(personas)
