"""Property tests: whatever bytes arrive, validation gives a report and never raises.

A bounded run is part of ``make test``; ``make fuzz`` runs the same properties with many more
examples (``ORGLOAD_FUZZ_EXAMPLES``). Inputs that once broke a reader are kept under
``tests/cases/fuzz/`` and replayed on every run (``test_corpus_case_gives_a_report``): when
the long run finds a new one, hypothesis prints it; save its bytes there.
"""

from __future__ import annotations

import io
import os
import zipfile
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders.validate import ValidatedUpload, validate_upload
from loaders.writers.annotate import write_annotated_report
from tests.builders import csv_bytes, valid_rows, write_xlsx, write_zip

SCALE = max(1, int(os.environ.get("ORGLOAD_FUZZ_EXAMPLES", "60")))
CORPUS = Path(__file__).resolve().parent.parent / "cases" / "fuzz"
FUZZ = settings(
    max_examples=SCALE,  # each example validates a whole upload: keep `make test` fast
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


def assert_reported(paths: list[Path], *, annotate: bool = False) -> ValidatedUpload:
    """The upload gets a report: every entry has a short message in both languages; with
    ``annotate``, the annotated error workbook is written too (it must survive any text)."""
    result = validate_upload(paths, on_date=date(2026, 11, 25))
    assert isinstance(result, ValidatedUpload)
    for lang in ("es", "en"):
        report = result.report.to_dict(lang)
        assert all(e["message"] for e in report["errors"] + report["warnings"])
        assert all(len(e["message"]) <= 400 for e in report["errors"] + report["warnings"])
    if not result.valid:
        assert result.report.errors
    if annotate:
        target = paths[0].parent / "annotated" / "report.xlsx"
        target.parent.mkdir(exist_ok=True)
        write_annotated_report(target, result, "es")
        assert zipfile.is_zipfile(target)
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
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=12),  # openpyxl refuses Cc
    st.sampled_from(['=HYPERLINK("http://x","y")', "@SUM(A1)", "\u200bana", "#N/A"]),
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
    result = assert_reported([write_xlsx(tmp_path / "org.xlsx", sheets)], annotate=True)
    assert result.report.counts["unidades"] <= len(unidades)
    assert result.report.counts["personas"] <= len(personas)


@settings(FUZZ, max_examples=max(10, SCALE // 3))
@given(
    unidades=st.lists(st.lists(CELL_TEXT_ANY := st.text(max_size=12), max_size=6), max_size=4),
    personas=st.lists(st.lists(CELL_TEXT_ANY, max_size=10), max_size=4),
)
def test_random_text_with_control_characters_in_csv_gives_a_report(tmp_path, unidades, personas):
    """CSV is where control characters, NUL included, really arrive; the annotated report
    written from such text must not break either."""
    header = valid_rows()
    files = []
    for name, key, rows in (("unidades", "Unidades", unidades), ("personas", "Personas", personas)):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(csv_bytes([header[key][0], *rows], delimiter=";"))
        files.append(path)
    assert_reported(files, annotate=True)


# --- structure-aware: workbooks built from their parts, zips of odd members ---------------------

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "{sheets}</Types>"
)
SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
RNS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def raw_xlsx(sheets: dict[str, str]) -> bytes:
    """A workbook from sheet XML bodies (``<sheetData>`` content and anything around it)."""
    names = list(sheets)
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook {NS} {RNS}><sheets>'
        + "".join(
            f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{i + 1}" '
            f'r:id="rId{i + 1}"/>'
            for i, name in enumerate(names)
        )
        + "</sheets></workbook>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
            for i in range(len(names))
        )
        + "</Relationships>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        types = "".join(SHEET_TYPE.format(n=i + 1) for i in range(len(names)))
        archive.writestr("[Content_Types].xml", CONTENT_TYPES.format(sheets=types))
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        for i, name in enumerate(names):
            archive.writestr(f"xl/worksheets/sheet{i + 1}.xml", sheets[name])
    return buffer.getvalue()


COLUMN_LETTERS = st.sampled_from(["A", "B", "E", "K", "Z", "AA", "ZZ", "XFD", "XFE", "AAAA"])
ROW_NUMBERS = st.sampled_from([1, 2, 3, 10, 1_048_576, 1_048_577, 10**9, 0])
CELL_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@st.composite
def cells_xml(draw) -> str:
    column, row = draw(COLUMN_LETTERS), draw(ROW_NUMBERS)
    kind = draw(st.sampled_from(["inline", "number", "shared", "error", "bool", "junk"]))
    text = escape(draw(CELL_TEXT))
    body = {
        "inline": f'<c r="{column}{row}" t="inlineStr"><is><t>{text}</t></is></c>',
        "number": f'<c r="{column}{row}"><v>{draw(st.floats(allow_nan=True))}</v></c>',
        "shared": f'<c r="{column}{row}" t="s"><v>{draw(st.integers(-5, 10**6))}</v></c>',
        "error": f'<c r="{column}{row}" t="e"><v>#N/A</v></c>',
        "bool": f'<c r="{column}{row}" t="b"><v>{draw(st.integers(-1, 2))}</v></c>',
        "junk": f'<c r="{text}"><v>{text}</v></c>',
    }[kind]
    return f'<row r="{row}">{body}</row>'


@st.composite
def sheet_xml(draw) -> str:
    dimension = draw(
        st.sampled_from(
            [
                "",
                '<dimension ref="A1"/>',
                '<dimension ref="A1:XFD1048576"/>',
                '<dimension ref="A1:K200000"/>',
                '<dimension ref="junk"/>',
            ]
        )
    )
    header = "".join(
        f'<c r="{letter}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for letter, name in zip(
            "ABCDE",
            draw(st.permutations(["codigo_unidad", "nombre_unidad", "rut", "nombres", "email"])),
            strict=True,
        )
    )
    rows = "".join(draw(st.lists(cells_xml(), max_size=8)))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}>{dimension}'
        f'<sheetData><row r="1">{header}</row>{rows}</sheetData></worksheet>'
    )


@settings(FUZZ, max_examples=max(10, SCALE // 2))
@given(
    sheets=st.dictionaries(
        st.sampled_from(["Unidades", "Personas", "units", "Hoja1", "personas", "x" * 40]),
        sheet_xml(),
        min_size=1,
        max_size=3,
    )
)
def test_workbooks_built_from_odd_sheet_xml_give_a_report(tmp_path, sheets):
    path = tmp_path / "org.xlsx"
    path.write_bytes(raw_xlsx(sheets))
    assert_reported([path])


MEMBER_NAMES = st.sampled_from(
    [
        "unidades.csv",
        "personas.csv",
        "Unidades.CSV",
        "units.csv",
        "../personas.csv",
        "dir/personas.csv",
        "personas.csv/",
        "léame.txt",
        "inner.zip",
        "",
    ]
)
CSV_BYTES = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda rows, sep, enc: csv_bytes(rows, delimiter=sep, encoding=enc),
        st.lists(st.lists(CELL_TEXT.filter(lambda t: "\x00" not in t), max_size=6), max_size=5),
        st.sampled_from([",", ";", "\t"]),
        st.sampled_from(["utf-8", "utf-8-sig"]),
    ),
)


@settings(FUZZ, max_examples=max(10, SCALE // 2))
@given(members=st.dictionaries(MEMBER_NAMES, CSV_BYTES, max_size=4))
def test_zips_of_odd_members_give_a_report(tmp_path, members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name or "noname", data)
    path = tmp_path / "upload.zip"
    path.write_bytes(buffer.getvalue())
    assert_reported([path])


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*") if p.is_file() and p.name != "README.md")


@pytest.mark.parametrize("case", _corpus(), ids=lambda p: p.name)
def test_corpus_case_gives_a_report(tmp_path, case):
    """Each saved case keeps its suffix (.xlsx, .csv, .zip): it is read as that kind of file."""
    path = tmp_path / f"upload{case.suffix}"
    path.write_bytes(case.read_bytes())
    assert_reported([path], annotate=True)
