"""Rules that look across rows and sheets: duplicates, references, self references and cycles.

They only look at cells that passed the cell rules, so a malformed RUT is reported once, as
``invalid_rut``, not again as an unknown reference. Cycle detection is vectorized pointer
doubling over the parent (or manager) pointers: ``log2(n)`` numpy steps, whatever the depth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas.cells import SheetCells
from schemas.report import Issue

PATH_PREVIEW = 8


def _usable(cells: SheetCells, column: str) -> pd.Series:
    return cells.values[column].notna() & ~cells.bad[column]


def check_duplicates(cells: SheetCells, column: str) -> list[Issue]:
    """Every occurrence of a value after the first, naming the row of the first."""
    if column not in cells.headers:
        return []
    usable = _usable(cells, column)
    values = cells.values.loc[usable, column]
    repeated = values.duplicated(keep="first")
    if not repeated.any():
        return []
    rows = pd.Series(values.index, index=values.index)
    first_row = rows.groupby(values.to_numpy()).transform("min")
    mask = repeated.reindex(cells.values.index, fill_value=False)
    return cells.issues_for(column, mask, "duplicate", per_row={"first_row": first_row})


def _keys(cells: SheetCells, column: str) -> pd.Series:
    """The usable, first-occurrence keys of a sheet, indexed by row."""
    usable = _usable(cells, column)
    values = cells.values.loc[usable, column]
    return values[~values.duplicated(keep="first")]


def check_references(
    cells: SheetCells,
    column: str,
    target: pd.Series | None,
    key: str,
    own_key: str | None = None,
) -> list[Issue]:
    """``column`` must name an existing key of ``target``; its own row's key is a self reference."""
    if column not in cells.headers or target is None:
        return []
    usable = _usable(cells, column)
    values = cells.values[column]
    issues: list[Issue] = []
    if own_key is not None and own_key in cells.headers:
        itself = usable & (values == cells.values[own_key])
        issues += cells.issues_for(column, itself, "self_reference", key=f"self_reference/{key}")
        usable &= ~itself
    unknown = usable & (pd.Index(target.to_numpy()).get_indexer(values.to_numpy()) < 0)
    issues += cells.issues_for(column, unknown, "unknown_reference", key=f"unknown_reference/{key}")
    return issues


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
    nodes = _keys(cells, own_key)
    if nodes.empty:
        return []
    pointers = cells.values.loc[nodes.index, column]
    pointers = pointers.where(_usable(cells, column).loc[nodes.index] & (pointers != nodes))
    parents = pd.Index(nodes.to_numpy()).get_indexer(pointers.to_numpy())
    on_cycle = cycle_positions(parents)
    if not on_cycle.any():
        return []
    paths = _describe_cycles(nodes.to_numpy(), parents, np.flatnonzero(on_cycle))
    mask = pd.Series(on_cycle, index=nodes.index).reindex(cells.values.index, fill_value=False)
    path_by_row = pd.Series(paths, index=nodes.index[on_cycle])
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
        _keys(unidades, "codigo_unidad")
        if unidades is not None and "codigo_unidad" in unidades.headers
        else None
    )
    people = _keys(personas, "rut") if personas is not None and "rut" in personas.headers else None
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
