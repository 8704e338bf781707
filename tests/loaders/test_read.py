"""Reading uploads (loaders/read.py): cell text, CSV decoding, headers, row numbers, limits."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest
import python_calamine
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

import loaders.read
from loaders.read import (
    Limits,
    build_sheet,
    cell_text,
    decode_text,
    parse_csv,
    read_upload,
    sniff_delimiter,
    text_array,
)
from orgload.columns import PERSONAS, UNIDADES
from tests.builders import (
    csv_bytes,
    valid_rows,
    write_csv,
    write_csvs,
    write_xlsx,
    write_zip,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("Texto", "Texto"),
        (True, "TRUE"),
        (False, "FALSE"),
        (12345678, "12345678"),
        (12345678.0, "12345678"),
        (100.0, "100"),
        (0.5, "0.5"),
        (1e20, "1e+20"),
        (datetime(2024, 1, 5), "2024-01-05"),
        (datetime(2024, 1, 5, 8, 30), "2024-01-05"),  # a date-time counts as its date
        (date(2024, 1, 5), "2024-01-05"),
        (time(8, 30), "08:30:00"),
        (timedelta(hours=1), "1:00:00"),
    ],
)
def test_cell_text_is_what_excel_shows(value, expected):
    assert cell_text(value) == expected


CELLS = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**12), 10**12),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(CELLS, max_size=30))
def test_text_array_is_cell_text_of_each_cell_whatever_the_mix_of_kinds(cells):
    assert text_array(cells).to_pylist() == [cell_text(c) for c in cells]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Código;Niño\n".encode(), "Código;Niño\n"),
        (b"\xef\xbb\xbf" + "Código\n".encode(), "Código\n"),
        ("Código;Niño\n".encode("cp1252"), "Código;Niño\n"),
        ("€ 10\n".encode("cp1252"), "€ 10\n"),
        (b"plain", "plain"),
    ],
)
def test_decode_text_reads_utf8_with_or_without_bom_else_cp1252(data, expected):
    assert decode_text(data, "x.csv") == expected


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("rut;nombres;email\n1;2;3", ";"),
        ("rut,nombres,email\n1,2,3", ","),
        ("rut\tnombres\temail\n1\t2\t3", "\t"),
        ("\n\nrut;nombres\n", ";"),
        ("Apellido, Nombre;email;rut\n", ";"),
        ("rut\n1\n", ","),
        ("", ","),
        ("Dotación noviembre 2026\n\nrut;nombres;email\n1;2;3", ";"),  # a title line above
        ("Acme SpA, Santiago\nrut;nombres;email;cargo\n", ";"),  # a comma in the title
    ],
)
def test_sniff_delimiter_picks_the_most_frequent_separator_of_the_header(text, delimiter):
    assert sniff_delimiter(text) == delimiter


def test_parse_csv_keeps_quoted_separators_and_line_breaks_in_one_cell():
    data = 'a;b\r\n"x;y";"line 1\r\nline 2"\r\n\r\nz;w\r\n'.encode("cp1252")
    assert parse_csv(data, "t.csv") == [["a", "b"], ["x;y", "line 1\r\nline 2"], [], ["z", "w"]]


# --- build_sheet: headers and rows -----------------------------------------------------------


def test_build_sheet_maps_written_headers_to_canonical_columns():
    rows = [["Código Unidad", "NOMBRE  UNIDAD", "Notas"], ["GER", "Gerencia", "x"]]
    sheet, issues = build_sheet(UNIDADES, "u", rows)
    assert sheet.headers == {"codigo_unidad": "Código Unidad", "nombre_unidad": "NOMBRE UNIDAD"}
    assert sheet.present == {"codigo_unidad", "nombre_unidad"}
    assert list(sheet.frame.columns) == [
        "codigo_unidad",
        "nombre_unidad",
        "codigo_unidad_padre",
        "centro_costo",
        "rut_jefatura",
    ]
    assert sheet.frame.loc[2, "codigo_unidad"] == "GER"
    assert [(i.code, i.row, i.column, i.header) for i in issues] == [
        ("unknown_column", 1, None, "Notas")
    ]


def test_build_sheet_reports_missing_required_and_repeated_columns():
    rows = [["rut", "RUT", "nombres", "email"], ["1-9", "1-9", "Ana", "a@b.cl"]]
    _, issues = build_sheet(PERSONAS, "p", rows)
    assert sorted((i.code, i.column) for i in issues) == [
        ("duplicate", "rut"),
        ("missing_column", "apellidos"),
        ("missing_column", "codigo_unidad"),
    ]


def test_build_sheet_indexes_rows_by_excel_row_number_and_skips_blank_rows():
    rows = [
        ["codigo_unidad", "nombre_unidad"],
        ["A", "a"],
        [],
        ["", None],
        ["  ", "\u00a0"],
        ["B", "b"],
        ["C"],  # a short row is padded
        ["D", "d", "ignored beyond the header"],
    ]
    sheet, _ = build_sheet(UNIDADES, "u", rows)
    assert sheet.frame.index.tolist() == [2, 6, 7, 8]
    assert sheet.frame["codigo_unidad"].tolist() == ["A", "B", "C", "D"]
    assert sheet.frame.loc[7, "nombre_unidad"] == ""


def test_build_sheet_turns_numbers_and_dates_into_their_text():
    rows = [["codigo_unidad", "nombre_unidad"], [100.0, datetime(2024, 1, 5)]]
    sheet, _ = build_sheet(UNIDADES, "u", rows)
    assert sheet.frame.loc[2].tolist()[:2] == ["100", "2024-01-05"]


@pytest.mark.parametrize("rows", [[], [[]], [["codigo_unidad", "nombre_unidad"]]])
def test_build_sheet_of_an_empty_sheet_has_no_rows(rows):
    sheet, _ = build_sheet(UNIDADES, "u", rows)
    assert sheet.frame.empty


def test_build_sheet_reads_rows_a_chunk_at_a_time_with_the_same_result(monkeypatch):
    rows = [
        ["codigo_unidad", "nombre_unidad", "centro_costo"],
        *(
            [f"U{i}", f"Unidad {i}", date(2024, 1, 1 + i % 28) if i % 7 else f" {i}.0 "]
            for i in range(40)
        ),
        [],
        ["", "  "],
        [1001.0, True, None],
    ]
    whole, _ = build_sheet(UNIDADES, "u", rows)
    monkeypatch.setattr(loaders.read, "CHUNK_ROWS", 3)
    chunked, _ = build_sheet(UNIDADES, "u", rows)
    pd.testing.assert_frame_equal(chunked.frame, whole.frame)
    assert whole.frame.loc[44].tolist() == ["1001", "TRUE", "", "", ""]


# --- read_upload -----------------------------------------------------------------------------


def test_read_upload_of_a_valid_workbook_reads_both_sheets(tmp_path):
    upload = read_upload([write_xlsx(tmp_path / "org.xlsx", valid_rows())])
    assert upload.issues == []
    assert sorted(upload.sheets) == [PERSONAS, UNIDADES]
    assert len(upload.sheets[UNIDADES].frame) == 3
    assert len(upload.sheets[PERSONAS].frame) == 4


def test_read_upload_lists_unknown_sheets_as_found_and_ignores_them(tmp_path):
    rows = {"Instrucciones": [["Lea esto"]], **valid_rows()}
    upload = read_upload([write_xlsx(tmp_path / "org.xlsx", rows)])
    assert upload.issues == []
    assert [s.split(" › ")[1] for s in upload.found_sheets] == [
        "Instrucciones",
        "Unidades",
        "Personas",
    ]


def _workbook(path, cells_by_sheet):
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, cells in cells_by_sheet.items():
        sheet = workbook.create_sheet(title)
        for (row, column), value in cells.items():
            sheet.cell(row=row, column=column, value=value)
    workbook.save(path)
    return path


def test_read_upload_lays_a_sheet_out_from_cell_a1_as_excel_does(tmp_path):
    unidades = {(1, 3): "codigo_unidad", (1, 4): "nombre_unidad", (2, 3): "A", (2, 4): "a"}
    unidades |= {(4, 3): "B", (4, 5): "beyond the header", (5, 4): datetime(2024, 1, 5)}
    personas = {(3, 1): "rut", (3, 2): "nombres", (4, 1): "12345678-5", (4, 2): "Ana"}
    path = _workbook(tmp_path / "org.xlsx", {"Unidades": unidades, "Personas": personas})
    upload = read_upload([path])
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    for name, title in ((UNIDADES, "Unidades"), (PERSONAS, "Personas")):
        rows = workbook.get_sheet_by_name(title).to_python(skip_empty_area=False)
        expected, _ = build_sheet(name, upload.sheets[name].source, rows)
        pd.testing.assert_frame_equal(upload.sheets[name].frame, expected.frame)
        assert upload.sheets[name].headers == expected.headers
    assert upload.sheets[UNIDADES].frame["codigo_unidad"].tolist() == ["A", "B", ""]
    # row 1 is empty: the header is found in row 3, and the data keeps its Excel row number
    assert upload.sheets[PERSONAS].frame.index.tolist() == [4]


def test_read_upload_reads_a_hidden_sheet(tmp_path):
    upload = read_upload([write_xlsx(tmp_path / "o.xlsx", valid_rows(), hidden=["Personas"])])
    assert len(upload.sheets[PERSONAS].frame) == 4


def test_read_upload_refuses_the_same_sheet_twice(tmp_path):
    rows = valid_rows()
    workbook = write_xlsx(tmp_path / "org.xlsx", rows)
    extra = write_csv(tmp_path / "personas.csv", rows["Personas"])
    upload = read_upload([workbook, extra])
    assert [(i.code, i.key, i.sheet) for i in upload.issues] == [
        ("unreadable_file", "unreadable_file/twice", PERSONAS)
    ]


def test_read_upload_reads_csvs_inside_a_zip_and_skips_macos_metadata(tmp_path):
    rows = valid_rows()
    archive = write_zip(
        tmp_path / "org.zip",
        {
            "export/unidades.csv": csv_bytes(rows["Unidades"], delimiter=";"),
            "export/personas.csv": csv_bytes(rows["Personas"], encoding="cp1252", delimiter=";"),
            "__MACOSX/export/._personas.csv": b"\x00\x05\x16\x07junk",
        },
    )
    upload = read_upload([archive])
    assert upload.issues == []
    assert upload.sheets[PERSONAS].frame.loc[4, "apellidos"] == "Muñoz"


@pytest.mark.parametrize(
    ("limits", "key"),
    [
        (Limits(max_file_bytes=1_000), "file_too_large/size"),
        (Limits(max_ratio=1.0), "file_too_large/ratio"),
        (Limits(max_uncompressed_bytes=1_000), "file_too_large/uncompressed"),
    ],
)
def test_read_upload_refuses_a_workbook_over_a_limit_before_parsing(tmp_path, limits, key):
    upload = read_upload([write_xlsx(tmp_path / "org.xlsx", valid_rows())], limits)
    assert [(i.code, i.key, i.sheet) for i in upload.issues] == [("file_too_large", key, None)]
    assert upload.sheets == {}


def test_read_upload_refuses_a_sheet_over_the_row_limit_and_reads_the_other(tmp_path):
    paths = write_csvs(tmp_path, valid_rows())
    upload = read_upload(paths, Limits(max_rows=3))
    assert [(i.code, i.key, i.sheet) for i in upload.issues] == [
        ("file_too_large", "file_too_large/rows", PERSONAS)
    ]
    assert list(upload.sheets) == [UNIDADES]


def test_read_upload_refuses_a_csv_zip_that_expands_too_much(tmp_path):
    rows = [["codigo_unidad", "nombre_unidad"], *([f"U{i}", "x" * 100] for i in range(2_000))]
    archive = write_zip(tmp_path / "org.zip", {"unidades.csv": csv_bytes(rows)})
    upload = read_upload([archive], Limits(max_ratio=5.0))
    assert [i.code for i in upload.issues] == ["file_too_large"]


@pytest.mark.parametrize(
    ("name", "data", "key"),
    [
        ("org.xlsx", b"", "unreadable_file/empty"),
        ("org.xlsx", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "unreadable_file/pdf"),
        ("org.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "unreadable_file/xls"),
        ("org.xlsx", b"<html><body>hola</body></html>", "unreadable_file/html"),
        ("org.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "unreadable_file/type"),
        ("org.xlsx", b"PK\x03\x04" + b"\x00" * 60, "unreadable_file/corrupt"),
        ("unidades.csv", b"codigo_unidad\x00\x01\x02", "unreadable_file/binary"),
        ("unidades.csv", b"codigo_unidad\n\x81\x8d\x8f\n", "unreadable_file/binary"),
    ],
)
def test_read_upload_reports_why_a_file_is_unreadable(tmp_path, name, data, key):
    path = tmp_path / name
    path.write_bytes(data)
    upload = read_upload([path])
    assert [(i.code, i.key) for i in upload.issues] == [("unreadable_file", key)]
    assert upload.issues[0].params["file"] == name


def test_read_upload_reports_a_zip_without_csvs(tmp_path):
    archive = write_zip(tmp_path / "org.zip", {"leame.txt": b"hola"})
    assert [i.key for i in read_upload([archive]).issues] == ["unreadable_file/zip_empty"]


def test_read_upload_reports_a_missing_file(tmp_path):
    upload = read_upload([tmp_path / "nada.xlsx"])
    assert [i.key for i in upload.issues] == ["unreadable_file/not_found"]


def test_read_upload_reports_a_truncated_workbook(tmp_path):
    data = write_xlsx(tmp_path / "org.xlsx", valid_rows()).read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(data[: len(data) // 2])
    upload = read_upload([tmp_path / "cut.xlsx"])
    assert [(i.code, i.key) for i in upload.issues] == [
        ("unreadable_file", "unreadable_file/corrupt")
    ]


def test_read_upload_reports_each_bad_file_and_reads_the_good_ones(tmp_path):
    rows = valid_rows()
    good = write_csv(tmp_path / "unidades.csv", rows["Unidades"])
    (tmp_path / "personas.csv").write_bytes(b"")
    upload = read_upload([good, tmp_path / "personas.csv"])
    assert [i.key for i in upload.issues] == ["unreadable_file/empty"]
    assert list(upload.sheets) == [UNIDADES]


def test_read_upload_refuses_a_password_protected_csv_inside_a_zip(tmp_path):
    archive = write_zip(tmp_path / "org.zip", {"unidades.csv": b"codigo_unidad\nA\n"})
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("unidades.csv")
    # set the "encrypted" flag bit in the central directory entry
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x1
    data[info.header_offset + 6] |= 0x1
    archive.write_bytes(bytes(data))
    upload = read_upload([archive])
    assert [(i.code, i.key) for i in upload.issues] == [
        ("unreadable_file", "unreadable_file/encrypted")
    ]
