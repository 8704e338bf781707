"""Cross-row and cross-sheet rules (schemas/rules.py): duplicates, references, cycles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgload.columns import PERSONAS, UNIDADES
from schemas.cells import check_cells
from schemas.rules import (
    check_cycles,
    check_duplicates,
    check_references,
    check_rules,
    cycle_positions,
)
from tests.builders import CEO, CTO, DEV, HR, rut, sheet_cells, valid_rows

UNITS_HEADER = ["codigo_unidad", "nombre_unidad", "codigo_unidad_padre"]
PEOPLE_HEADER = ["rut", "rut_jefatura"]


def units(*rows):
    """Unidades cells from (code, parent) pairs; row 2 is the first pair."""
    return sheet_cells(UNIDADES, [UNITS_HEADER, *([c, f"Unidad {c}", p] for c, p in rows)])


def people(*rows):
    return sheet_cells(PERSONAS, [PEOPLE_HEADER, *rows])


def found(issues):
    return [(i.code, i.row, i.column) for i in issues]


# --- duplicates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "duplicate_rows", "first_rows"),
    [
        (["A", "B", "C"], [], []),
        (["A", "B", "A"], [4], [2]),
        (["A", "A", "A", "B", "B"], [3, 4, 6], [2, 2, 5]),
        (["A", None, None, "A"], [5], [2]),  # blanks are for ``required``, never duplicates
        (["a", "A"], [], []),  # unit codes are case-sensitive
    ],
)
def test_duplicates_are_every_occurrence_after_the_first(codes, duplicate_rows, first_rows):
    issues = check_duplicates(units(*((c, None) for c in codes)), "codigo_unidad")
    assert [i.row for i in issues] == duplicate_rows
    assert [i.params["first_row"] for i in issues] == first_rows
    assert {i.code for i in issues} <= {"duplicate"}


def test_duplicate_ruts_and_emails_compare_after_normalization():
    cells = sheet_cells(
        PERSONAS,
        [
            ["rut", "email"],
            ["12.345.678-5", "Ana@Empresa.cl"],
            ["12345678-5", "ana@empresa.cl"],
            [" 12345678-5", "ANA@EMPRESA.CL "],
        ],
    )
    assert found(check_duplicates(cells, "rut")) == [
        ("duplicate", 3, "rut"),
        ("duplicate", 4, "rut"),
    ]
    assert [i.params["first_row"] for i in check_duplicates(cells, "email")] == [2, 2]


def test_cells_that_failed_a_cell_rule_are_not_duplicates():
    cells = people(["abc", None], ["abc", None])
    check_cells(cells)
    assert check_duplicates(cells, "rut") == []


def test_duplicates_of_a_column_absent_from_the_file_are_not_checked():
    assert check_duplicates(units(("A", None)), "centro_costo") == []


# --- references ------------------------------------------------------------------------------


def test_unknown_parent_and_self_parent_are_reported_once_each():
    cells = units(("A", None), ("B", "A"), ("C", "X"), ("D", "D"))
    issues = check_references(
        cells, "codigo_unidad_padre", cells.values["codigo_unidad"], "unit", own_key="codigo_unidad"
    )
    assert found(issues) == [
        ("self_reference", 5, "codigo_unidad_padre"),
        ("unknown_reference", 4, "codigo_unidad_padre"),
    ]
    assert [i.key for i in issues] == ["self_reference/unit", "unknown_reference/unit"]


def test_references_need_the_target_sheet():
    cells = units(("A", "X"))
    assert check_references(cells, "codigo_unidad_padre", None, "unit") == []


def test_manager_references_compare_normalized_ruts():
    cells = people([CEO, None], [CTO, "11.111.111-1"], [DEV, rut(22222222)], [HR, HR.lower()])
    issues = check_references(cells, "rut_jefatura", cells.values["rut"], "person", own_key="rut")
    assert found(issues) == [
        ("self_reference", 5, "rut_jefatura"),
        ("unknown_reference", 4, "rut_jefatura"),
    ]


def test_a_malformed_rut_is_not_also_an_unknown_reference():
    cells = people([CEO, None], [CTO, "11.111.111-0"], [DEV, "sin jefe"])
    issues = check_cells(cells) + check_rules(None, cells)
    assert found(issues) == [("invalid_rut", 3, "rut_jefatura"), ("invalid_rut", 4, "rut_jefatura")]


# --- cycles ----------------------------------------------------------------------------------


def test_each_row_of_a_unit_cycle_is_reported_and_branches_hanging_from_it_are_not():
    cells = units(("ROOT", None), ("A", "C"), ("B", "A"), ("C", "B"), ("D", "A"), ("E", "D"))
    issues = check_cycles(cells, "codigo_unidad", "codigo_unidad_padre", "unit")
    assert found(issues) == [("cycle", r, "codigo_unidad_padre") for r in (3, 4, 5)]
    assert {i.key for i in issues} == {"cycle/unit"}
    (path,) = {i.params["path"] for i in issues}
    assert all(code in path for code in "ABC")
    assert "D" not in path


def test_each_row_of_a_manager_cycle_is_reported():
    cells = people([CEO, DEV], [CTO, CEO], [DEV, CTO], [HR, CEO])
    issues = check_cycles(cells, "rut", "rut_jefatura", "person")
    assert found(issues) == [("cycle", r, "rut_jefatura") for r in (2, 3, 4)]
    assert {i.key for i in issues} == {"cycle/person"}


def test_two_separate_cycles_each_name_their_own_path():
    cells = units(("A", "B"), ("B", "A"), ("C", "D"), ("D", "C"))
    issues = check_cycles(cells, "codigo_unidad", "codigo_unidad_padre", "unit")
    assert [i.row for i in issues] == [2, 3, 4, 5]
    paths = [i.params["path"] for i in issues]
    assert paths[0] == paths[1] != paths[2] == paths[3]
    assert "C" not in paths[0]


def test_a_self_reference_is_not_also_a_cycle():
    cells = units(("A", "A"), ("B", "A"))
    assert check_cycles(cells, "codigo_unidad", "codigo_unidad_padre", "unit") == []


def test_a_long_cycle_path_is_cut():
    codes = [f"U{i}" for i in range(30)]
    cells = units(*((c, codes[(i + 1) % 30]) for i, c in enumerate(codes)))
    issues = check_cycles(cells, "codigo_unidad", "codigo_unidad_padre", "unit")
    assert len(issues) == 30
    assert "…" in issues[0].params["path"]
    assert "(30)" in issues[0].params["path"]


@pytest.mark.parametrize(
    ("parents", "on_cycle"),
    [
        ([], []),
        ([-1], [False]),
        ([0], [True]),
        ([1, 0], [True, True]),
        ([1, 2, 0, 0], [True, True, True, False]),
        ([-1, 0, 1, 2], [False, False, False, False]),
        ([1, 2, 3, 1], [False, True, True, True]),
        ([3, 3, 3, 3], [False, False, False, True]),
    ],
)
def test_cycle_positions(parents, on_cycle):
    assert cycle_positions(np.array(parents, dtype=np.int64)).tolist() == on_cycle


def _walk_oracle(parents: list[int]) -> list[bool]:
    """A node is on a cycle when walking up from it comes back to it."""
    result = []
    for start in range(len(parents)):
        node, seen = parents[start], 0
        while node >= 0 and node != start and seen < len(parents):
            node, seen = parents[node], seen + 1
        result.append(node == start)
    return result


FUNCTIONAL_GRAPHS = st.integers(0, 60).flatmap(
    lambda n: st.lists(st.integers(-1, n - 1), min_size=n, max_size=n)
)


@settings(max_examples=200, deadline=None, database=None)
@given(FUNCTIONAL_GRAPHS)
def test_cycle_positions_agrees_with_walking_up_the_graph(parents):
    assert cycle_positions(np.array(parents, dtype=np.int64)).tolist() == _walk_oracle(parents)


# --- all rules of an upload ------------------------------------------------------------------


def test_rules_of_a_valid_upload_find_nothing():
    rows = valid_rows()
    assert (
        check_rules(
            sheet_cells(UNIDADES, rows["Unidades"]), sheet_cells(PERSONAS, rows["Personas"])
        )
        == []
    )


def test_rules_skip_references_into_a_missing_sheet():
    rows = valid_rows()
    assert check_rules(sheet_cells(UNIDADES, rows["Unidades"]), None) == []
    assert check_rules(None, sheet_cells(PERSONAS, rows["Personas"])) == []
