"""The RE2 screen of the sheet inspection (``loaders.xlsx._fast_screen``, issue 11 speed).

Large worksheet parts are screened a chunk at a time with one RE2 pass; only chunks it matches
in are searched with the exact Python expressions. The screen must change nothing: the same
cells are refused, the same parts counted through, the same error cells read, wherever the
chunks are cut. Every case here is run with the screen forced on (whatever the part's size)
and compared with the inspection without it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import loaders.limits
import loaders.xlsx
from loaders.limits import Limits, UnreadableUploadError
from loaders.read import read_upload
from loaders.xlsx import column_letters, inspect_workbook
from orgload.columns import UNIDADES
from tests.loaders.test_boundary_reading import (
    HEADER_ROW,
    sheet_rows,
    sheet_xml,
    tiny_workbook,
)


@pytest.fixture(params=["imported", "ahead"])
def screened(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worksheet part, however small, goes through the RE2 screen; with pyarrow taken
    as imported already, or not yet (the part is then inflated ahead first)."""
    monkeypatch.setattr(loaders.xlsx, "FAST_SCREEN_MIN_BYTES", 0)
    if request.param == "ahead":
        monkeypatch.setattr(loaders.xlsx, "_arrow_imported", lambda: False)


def outcome(path: Path, limits: Limits) -> Any:
    """What the inspection answers: the refusal (key, cell) or the error cells found."""
    try:
        return ("errors", inspect_workbook(path, limits))
    except UnreadableUploadError as refused:
        return ("refused", refused.issue.key, refused.issue.params.get("cell"))


def both_ways(path: Path, limits: Limits, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The inspection's answer with the screen forced on, and without any screen."""
    real = loaders.xlsx._fast_screen
    screens: list[int] = []

    def counted(*args: Any) -> Any:
        screen = real(*args)
        assert screen is not None
        screens.append(0)

        def counting(buffer: bytes) -> bool:
            screens[-1] += 1
            return screen(buffer)

        return counting

    with monkeypatch.context() as patch:
        patch.setattr(loaders.xlsx, "FAST_SCREEN_MIN_BYTES", 0)
        patch.setattr(loaders.xlsx, "_fast_screen", counted)
        fast = outcome(path, limits)
        patch.setattr(loaders.xlsx, "_arrow_imported", lambda: False)
        assert outcome(path, limits) == fast  # inflated ahead of the screen: the same
    assert screens, "the screen was not used"
    assert all(screens), "the screen was not used"
    with monkeypatch.context() as patch:
        patch.setattr(loaders.xlsx, "_fast_screen", lambda *_args: None)
        slow = outcome(path, limits)
    return fast, slow


def test_the_screen_is_used_for_a_large_unprefixed_part_and_not_for_a_prefixed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, screened: None
) -> None:
    used: list[bool] = []
    real = loaders.xlsx._fast_screen

    def spy(*args: Any) -> Any:
        screen = real(*args)
        used.append(screen is not None)
        return screen

    monkeypatch.setattr(loaders.xlsx, "_fast_screen", spy)
    rows = HEADER_ROW + "".join(
        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(2, 400)
    )
    inspect_workbook(tiny_workbook(tmp_path / "a.xlsx", {"Unidades": sheet_xml(rows)}), Limits())
    prefixed = sheet_xml('<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row>' * 300, prefix="x")
    inspect_workbook(tiny_workbook(tmp_path / "b.xlsx", {"Unidades": prefixed}), Limits())
    assert used == [True, False]


def test_a_cell_at_xfd200000_is_still_refused_through_the_screen(
    tmp_path: Path, screened: None
) -> None:
    far = '<row r="200000"><c r="XFD200000"><v>1</v></c></row>'
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW + far)})
    upload = read_upload([path])
    assert [(i.code, i.key) for i in upload.issues] == [("file_too_large", "file_too_large/range")]
    assert (upload.issues[0].sheet, upload.issues[0].params["cell"]) == (UNIDADES, "XFD200000")


@pytest.mark.parametrize(
    "far",
    [
        '<c r="XFD9"><v>1</v></c>',  # beyond the columns
        '<c r="A1000002"><v>1</v></c>',  # one data row too many
        '<c r="a1000002"><v>1</v></c>',  # lower case
        '<c r="A0001000002"><v>1</v></c>',  # leading zeros
        '<c r="GS2"><v>1</v></c>',  # column 201
        '<c s="0" r="XFD9"><v>1</v></c>',  # another attribute first: counted through
        '<c r = "XFD9"><v>1</v></c>',
        '<c\tr="XFD9"><v>1</v></c>',
        '<c\nr="XFD9"><v>1</v></c>',
        "<c r='XFD9'><v>1</v></c>",  # single quotes
        '<c r="XFD9"/><c r="XFD9"></c>',  # an empty cell that is not self-closing
        "<c><v>1</v></c>" * 201,  # no reference: the next column each
        '<y:c r="XFD9"><y:v>1</y:v></y:c>',  # another prefix than the sheet's
    ],
)
@pytest.mark.parametrize("dimension", ["A1", "A1:B2"])
def test_a_far_or_unusual_cell_is_refused_through_the_screen_behind_a_lying_dimension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, far: str, dimension: str
) -> None:
    def filler(rows: range) -> str:
        return "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in rows)

    # the far cell amid ordinary ones (the part's last bytes are always searched exactly)
    rows = HEADER_ROW + filler(range(2, 3000)) + f'<row r="9000">{far}</row>'
    rows += filler(range(10_000, 13_000))
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(rows, dimension=dimension)})
    fast, slow = both_ways(path, Limits(), monkeypatch)
    assert fast == slow
    assert fast[:2] == ("refused", "file_too_large/range")


def test_a_sheet_within_the_limits_reads_through_the_screen(tmp_path: Path, screened: None) -> None:
    cells = "".join(f'<c r="{column_letters(j)}2"><v>{j}</v></c>' for j in range(1, 201))
    rows = (
        HEADER_ROW + f'<row r="2">{cells}</row><row r="1000001"><c r="A1000001"><v>1</v></c></row>'
    )
    styled = '<row r="1000003"><c r="XFD1000003" s="0"/></row>'  # formatting only
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(rows + styled)})
    assert inspect_workbook(path, Limits()) == {}


@pytest.mark.parametrize("chunk", [7, 64, 300, 4096, 1 << 20])
def test_far_cells_and_error_cells_are_found_wherever_the_chunks_are_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(loaders.limits, "INFLATE_CHUNK", chunk)
    filler = "".join(
        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" s="0"/></row>' for r in range(2, 60)
    )
    filler += " " * 5_000
    errors = (
        '<row r="61"><c r="B61" s="1" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        "<c r=\"C61\" t='e'><v>#N/A</v></c></row>"
    )
    limits = Limits(max_columns=3, max_rows=100, max_ratio=1_000)
    for at in range(62, 72):
        rows = HEADER_ROW + filler + errors + f'<row r="{at}"><c r="D{at}"><v>1</v></c></row>'
        path = tiny_workbook(tmp_path / f"far{at}.xlsx", {"Unidades": sheet_xml(rows)})
        fast, slow = both_ways(path, limits, monkeypatch)
        assert fast == slow == ("refused", "file_too_large/range", f"D{at}")
    path = tiny_workbook(tmp_path / "ok.xlsx", {"Unidades": sheet_xml(filler + errors)})
    fast, slow = both_ways(path, limits, monkeypatch)
    assert fast == slow == ("errors", {"Unidades": {(60, 1): "#DIV/0!", (60, 2): "#N/A"}})


@pytest.mark.parametrize("chunk", [300, 4096, 1 << 20])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_an_error_cell_alone_in_a_clean_stretch_is_read_through_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, quote: str
) -> None:
    """Error cells in stretches of ordinary cells, one with a formula longer than a chunk
    (its ``t="e"`` and its value arrive in different chunks)."""
    monkeypatch.setattr(loaders.limits, "INFLATE_CHUNK", chunk)

    def filler(start: int) -> str:
        return "".join(
            f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(start, start + 400)
        )

    long_formula = "SUM(" + "A1," * 2_000 + "A1)"
    rows = (
        HEADER_ROW
        + filler(2)
        + f'<row r="500"><c r="B500" t={quote}e{quote}><v>#N/A</v></c></row>'
        + filler(600)
        + f'<row r="1100"><c r="C1100" t={quote}e{quote}><f>{long_formula}</f>'
        + "<v>#REF!</v></c></row>"
        + filler(1200)
    )
    path = tiny_workbook(tmp_path / "org.xlsx", {"Unidades": sheet_xml(rows)})
    fast, slow = both_ways(path, Limits(), monkeypatch)
    assert fast == slow == ("errors", {"Unidades": {(499, 1): "#N/A", (1099, 2): "#REF!"}})


@st.composite
def hostile_rows(draw: st.DrawFn) -> str:
    """Rows calamine reads in every way (``sheet_rows``), far cells, error cells, tags under
    other prefixes and ordinary cells, each part apart from the others (so that they fall in
    different chunks) and none at the very end (which is always searched exactly)."""
    ref = st.sampled_from(
        ["AE3", "AD9", "XFD2", "A100", "A101", "a101", "A000101", "Z1", "B2", "AA7"]
    )
    part = st.one_of(
        sheet_rows(),
        ref.map(lambda r: f'<row r="3"><c r="{r}"><v>1</v></c></row>'),
        ref.map(lambda r: f'<row r="3"><c r="{r}" s="0"/></row>'),
        ref.map(lambda r: f'<row r="3"><c r="{r}" t="e"><v>#N/A</v></c></row>'),
        ref.map(lambda r: f'<row r="3"><c r="{r}" t=\'e\'><v>#REF!</v></c></row>'),
        ref.map(lambda r: f'<row r="3"><y:c r="{r}"><y:v>1</y:v></y:c></row>'),
        ref.map(lambda r: f"<row r=\"3\"><c r='{r}'><v>1</v></c></row>"),
        ref.map(lambda r: f'<row r="3"><c s="1" r="{r}"><v>1</v></c></row>'),
        st.integers(1, 40).map(lambda n: '<row r="2">' + '<c r="A2"><v>1</v></c>' * n + "</row>"),
    )
    parts = draw(st.lists(part, min_size=1, max_size=5))
    gaps = draw(st.lists(st.integers(0, 3_000), min_size=len(parts), max_size=len(parts)))
    # 4 KB first: a part shorter than the root element is looked for in is searched whole
    body = " " * 4_096 + "".join(" " * gap + p for gap, p in zip(gaps, parts, strict=True))
    return body + " " * 600


@settings(max_examples=200, deadline=None, database=None)
@given(rows=hostile_rows(), chunk=st.sampled_from([5, 13, 64, 257, 4096]))
def test_the_screen_changes_nothing_the_inspection_answers(
    tmp_path_factory: pytest.TempPathFactory, rows: str, chunk: int
) -> None:
    path = tmp_path_factory.mktemp("screen") / "org.xlsx"
    tiny_workbook(path, {"Unidades": sheet_xml(rows)})
    # a screen that passes most cells over (two-letter columns, three-digit rows may be far)
    limits = Limits(max_columns=30, max_rows=99, max_ratio=1_000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loaders.limits, "INFLATE_CHUNK", chunk)
        fast, slow = both_ways(path, limits, patch)
    assert fast == slow


def test_a_screened_part_still_inflates_within_the_budget(tmp_path: Path, screened: None) -> None:
    """A worksheet that inflates past the archive's budget is stopped there, screen or not."""
    rows = '<row r="2"><c r="A2" t="inlineStr"><is><t>bomba</t></is></c></row>' * 200_000
    path = tiny_workbook(tmp_path / "bomb.xlsx", {"Unidades": sheet_xml(HEADER_ROW + rows)})
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").compress_size < 1 << 18
    with pytest.raises(UnreadableUploadError) as caught:
        inspect_workbook(path, Limits(max_ratio=5))
    assert caught.value.issue.key == "file_too_large/inflated"


@pytest.mark.parametrize(
    "tag",
    ['<c r="XFD3"><v>1</v></c>', '<c t="e" r="B3"><v>#N/A</v></c>', '<c t="s" r="B3"><v>0</v></c>'],
    ids=["far", "error", "unusual"],
)
def test_a_tag_cut_where_two_screened_chunks_meet_is_found_at_every_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str
) -> None:
    """The screen does not match a tag cut at a chunk's end (``_scan`` would not look at it
    there); the screen of where two chunks meet must then see it whole, wherever the cut."""
    monkeypatch.setattr(loaders.limits, "INFLATE_CHUNK", 256)
    chunk = loaders.xlsx.SCREEN_CHUNKS * 256  # what a screened part is inflated by
    filler = '<row r="4"><c r="A4"><v>4</v></c></row>' * 300
    for cut in range(len(tag) + 2):

        def sheet(pad: str) -> str:
            return sheet_xml(HEADER_ROW + '<row r="3">' + pad + tag + "</row>" + filler)

        at = sheet("").encode().index(tag.encode())
        xml = sheet(" " * ((chunk - cut - at) % chunk))
        assert xml.encode().index(tag.encode()) % chunk == (chunk - cut) % chunk
        path = tiny_workbook(tmp_path / f"cut{cut}.xlsx", {"Unidades": xml})
        fast, slow = both_ways(path, Limits(max_columns=30), monkeypatch)
        assert fast == slow, cut
        if tag.startswith('<c r="XFD'):
            assert fast == ("refused", "file_too_large/range", "XFD3"), cut


@pytest.mark.parametrize("chunk", [300, 4096])  # (a chunk of 1 MB is past the budget at once)
def test_inflating_ahead_answers_in_the_order_the_part_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, screened: None, chunk: int
) -> None:
    """A far cell early in a part that later inflates past the budget is refused for the far
    cell, as it is when the part is read chunk by chunk: what is inflated ahead is only
    handed on later, the budget's refusal after it."""
    monkeypatch.setattr(loaders.limits, "INFLATE_CHUNK", chunk)
    early = '<row r="3"><c r="XFD3"><v>1</v></c></row>'
    filler = '<row r="4"><c r="A4" t="inlineStr"><is><t>bomba</t></is></c></row>' * 100_000
    path = tiny_workbook(
        tmp_path / "org.xlsx", {"Unidades": sheet_xml(HEADER_ROW + " " * 5_000 + early + filler)}
    )
    fast, slow = both_ways(path, Limits(max_ratio=5), monkeypatch)
    assert fast == slow == ("refused", "file_too_large/range", "XFD3")
    path = tiny_workbook(tmp_path / "bomb.xlsx", {"Unidades": sheet_xml(HEADER_ROW + filler)})
    fast, slow = both_ways(path, Limits(max_ratio=5), monkeypatch)
    assert fast == slow == ("refused", "file_too_large/inflated", None)


@pytest.mark.parametrize(("chars", "refused"), [(10, False), (11, True)])
def test_cell_length_is_counted_in_characters_not_bytes(
    tmp_path: Path, chars: int, refused: bool
) -> None:
    """The cell-length check skips columns by their byte lengths (never fewer than their
    characters): a value of multi-byte letters is held to its characters."""
    import pyarrow as pa

    from loaders.read import Grid, check_cell_chars

    values = pa.array(["ñ" * chars, "a"], pa.large_string())
    grid = Grid(3, ["nombre"], {0: values}, 2)
    if refused:
        with pytest.raises(UnreadableUploadError) as caught:
            check_cell_chars(grid, "org.xlsx", "Unidades", Limits(max_cell_chars=10))
        assert caught.value.issue.params["length"] == 11
    else:
        check_cell_chars(grid, "org.xlsx", "Unidades", Limits(max_cell_chars=10))
