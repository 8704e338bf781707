"""Rules that look across rows and sheets: duplicates, references, self references and cycles.

They only look at cells that passed the cell rules, so a malformed RUT is reported once, as
``invalid_rut``, not again as an unknown reference. Keys are compared as Arrow arrays (hash
lookups in C, no Python strings). Cycle detection is vectorized pointer doubling over the
parent (or manager) pointers: ``log2(n)`` numpy steps, whatever the depth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.cells import SheetCells
from schemas.checks import DIGITS_PATTERN
from schemas.report import Issue
from schemas.text import TEXT, arrow, flags, fullmatch

PATH_PREVIEW = 8


def _repeated(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Which values repeat an earlier one, and a code per distinct value.

    Arrow numbers distinct values in order of first appearance, so a value is a repetition
    exactly when its code is not above every code before it.
    """
    codes = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    seen = np.maximum.accumulate(np.concatenate([[-1], codes[:-1]])) if len(codes) else codes
    return codes <= seen, codes


def _usable_values(cells: SheetCells, column: str) -> tuple[np.ndarray, pa.Array]:
    """The row positions and values of a column's usable cells."""
    usable = cells.usable(column)
    values = arrow(cells.values[column])
    if usable.all():
        return np.arange(len(values)), values
    positions = np.flatnonzero(usable)
    return positions, values.take(positions)


def check_duplicates(cells: SheetCells, column: str) -> list[Issue]:
    """Every occurrence of a value after the first, naming the row of the first."""
    if column not in cells.headers:
        return []
    positions, values = _usable_values(cells, column)
    repeated, codes = _repeated(values)
    cells.distinct.add(column)
    if not repeated.any():
        return []
    rows = cells.values.index.to_numpy()[positions]
    first_row = np.full(codes.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_row, codes, rows)
    mask = np.zeros(len(cells.values), dtype=bool)
    mask[positions[repeated]] = True
    per_row = {"first_row": pd.Series(first_row[codes], index=cells.values.index[positions])}
    return cells.issues_for(column, mask, "duplicate", per_row=per_row)


def _keys(cells: SheetCells, column: str) -> tuple[np.ndarray, pa.Array]:
    """The row positions and values of the usable, first-occurrence keys of a sheet."""
    positions, values = _usable_values(cells, column)
    if column in cells.distinct:
        return positions, values
    first = ~_repeated(values)[0]
    return positions[first], values.filter(first)


def check_references(
    cells: SheetCells,
    column: str,
    target: pa.Array | pd.Series | None,
    key: str,
    own_key: str | None = None,
) -> list[Issue]:
    """``column`` must name an existing key of ``target``; its own row's key is a self reference."""
    if column not in cells.headers or target is None:
        return []
    if isinstance(target, pd.Series):
        target = arrow(target)
    usable = cells.usable(column)
    values = arrow(cells.values[column])
    issues: list[Issue] = []
    if own_key is not None and own_key in cells.headers:
        itself = usable & flags(pc.equal(values, arrow(cells.values[own_key])))
        issues += cells.issues_for(column, itself, "self_reference", key=f"self_reference/{key}")
        usable &= ~itself
    unknown = usable & ~flags(pc.is_in(values, value_set=target))
    if key == "unit" and unknown.any():
        zeros, found = _dropped_zeros(cells, column, unknown, values, target)
        issues += found
        unknown &= ~zeros
    issues += cells.issues_for(column, unknown, "unknown_reference", key=f"unknown_reference/{key}")
    return issues


def _dropped_zeros(
    cells: SheetCells, column: str, unknown: np.ndarray, values: pa.Array, target: pa.Array
) -> tuple[np.ndarray, list[Issue]]:
    """Unknown unit codes that name a unit once leading zeros are restored (``7`` for ``007``,
    or the other way round): Excel's doing on a column not formatted as text. Returns those
    cells and their issues, which name the code they match."""
    mask = np.zeros(len(unknown), dtype=bool)
    numeric = flags(fullmatch(target, DIGITS_PATTERN))
    if not numeric.any():
        return mask, []
    codes = target.filter(numeric)
    positions = np.flatnonzero(unknown)
    given = values.take(positions)
    stripped = pc.utf8_ltrim(given, characters="0")
    found = pc.index_in(
        pc.if_else(flags(fullmatch(given, DIGITS_PATTERN)), stripped, pa.scalar(None, TEXT)),
        value_set=pc.utf8_ltrim(codes, characters="0"),
    )
    matched = flags(found.is_valid()) & flags(pc.not_equal(stripped, ""))
    if not matched.any():
        return mask, []
    mask[positions[matched]] = True
    match = codes.take(found.filter(pa.array(matched))).to_numpy(zero_copy_only=False)
    per_row = {"match": pd.Series(match, index=cells.values.index[positions[matched]])}
    return mask, cells.issues_for(
        column, mask, "unknown_reference", key="unknown_reference/unit_zeros", per_row=per_row
    )


def cycle_positions(parents: np.ndarray) -> np.ndarray:
    """Which nodes lie on a cycle of the functional graph ``i → parents[i]`` (-1 = no parent).

    Pointer doubling: after ``k`` squarings every node points ``2**k`` steps ahead; once that
    is at least ``n`` steps, every walk has fallen into a cycle or off the graph, and the
    nodes reached are exactly the cycle members.
    """
    n = len(parents)
    step = np.where(parents >= 0, parents, n).astype(np.int64)
    step = np.append(step, n)  # node n is the absorbing "no parent" sink
    reach = 1
    while reach < n:
        step = step[step]
        reach *= 2
    on_cycle = np.zeros(n + 1, dtype=bool)
    on_cycle[step[:n]] = True
    return on_cycle[:n]


def check_cycles(cells: SheetCells, own_key: str, column: str, key: str) -> list[Issue]:
    """Each row on a cycle of ``column`` pointers (units' parents, people's managers)."""
    if column not in cells.headers or own_key not in cells.headers:
        return []
    positions, nodes = _keys(cells, own_key)
    if not len(nodes):
        return []
    pointers = arrow(cells.values[column]).take(positions)
    followed = cells.usable(column)[positions] & flags(pc.not_equal(pointers, nodes))
    parents = pc.index_in(pointers, value_set=nodes).fill_null(-1).to_numpy().astype(np.int64)
    parents[~followed] = -1
    on_cycle = cycle_positions(parents)
    if not on_cycle.any():
        return []
    keys = nodes.to_numpy(zero_copy_only=False)
    paths = _describe_cycles(keys, parents, np.flatnonzero(on_cycle))
    mask = np.zeros(len(cells.values), dtype=bool)
    mask[positions[on_cycle]] = True
    path_by_row = pd.Series(paths, index=cells.values.index[positions[on_cycle]])
    return cells.issues_for(
        column, mask, "cycle", key=f"cycle/{key}", per_row={"path": path_by_row}
    )


def _describe_cycles(keys: np.ndarray, parents: np.ndarray, members: np.ndarray) -> list[str]:
    """A readable ``A → B → C → A`` for the cycle of each member (only runs on bad files)."""
    described: dict[int, str] = {}
    for start in members:
        if start in described:
            continue
        cycle = [int(start)]
        node = int(parents[start])
        while node != start:
            cycle.append(node)
            node = int(parents[node])
        names = [str(keys[i]) for i in cycle]
        shown = names[:PATH_PREVIEW] + (["…"] if len(names) > PATH_PREVIEW else [])
        text = " → ".join([*shown, names[0]]) + (
            f" ({len(names)})" if len(names) > PATH_PREVIEW else ""
        )
        for member in cycle:
            described[member] = text
    return [described[int(m)] for m in members]


def check_rules(unidades: SheetCells | None, personas: SheetCells | None) -> list[Issue]:
    """All cross-row and cross-sheet rules of an upload; a missing sheet skips its rules."""
    issues: list[Issue] = []
    if unidades is not None:
        issues += check_duplicates(unidades, "codigo_unidad")
    if personas is not None:
        issues += check_duplicates(personas, "rut")
        issues += check_duplicates(personas, "email")
    units = (
        _keys(unidades, "codigo_unidad")[1]
        if unidades is not None and "codigo_unidad" in unidades.headers
        else None
    )
    people = (
        _keys(personas, "rut")[1] if personas is not None and "rut" in personas.headers else None
    )
    if unidades is not None:
        issues += check_references(
            unidades, "codigo_unidad_padre", units, "unit", own_key="codigo_unidad"
        )
        issues += check_references(unidades, "rut_jefatura", people, "person")
        issues += check_cycles(unidades, "codigo_unidad", "codigo_unidad_padre", "unit")
    if personas is not None:
        issues += check_references(personas, "codigo_unidad", units, "unit")
        issues += check_references(personas, "rut_jefatura", people, "person", own_key="rut")
        issues += check_cycles(personas, "rut", "rut_jefatura", "person")
    return issues
