"""The diff of an upload against the client's current data, as a plan (SPEC §3).

``plan_changes`` returns a data object — per entity: inserts, updates (with their before
values), deactivations and counts — that can be shown, stored and applied later by
``loaders.apply.apply_plan``. A dry run is this plan, not applied. Everything is vectorized
over the key index; normalized text is compared, so cosmetic differences change nothing.

An optional column absent from the upload is *not provided* (SPEC §1): the diff ignores it,
changed rows carry its stored value and the apply leaves it alone; new rows get blank (the
default, for ``perfil``). A column present with blank cells clears them, and clearing too many
stored values of one column is a mass change, like deactivating too many rows (SPEC §3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loaders.store import FIELDS, KEYS
from orgload.columns import PERSONAS, SHEETS, UNIDADES
from schemas.report import Issue
from schemas.text import arrow, flags

ENTITIES = (UNIDADES, PERSONAS)
MASS_CHANGE_SHARE = 0.20
MASS_CHANGE_FLOOR = 10
# The fields that say who a person is: a load changing them for more than the mass-change
# limit of people (another company's file under this client's id) is a mass change too.
IDENTITY: dict[str, tuple[str, ...]] = {PERSONAS: ("nombres", "apellidos", "email")}
PREVIEW_ROWS = 5


@dataclass(slots=True)
class NewRows:
    """The rows a plan inserts, as positions in the normalized upload: no copy of them is
    made until asked for. ``columns`` gives the key and fields as Arrow text (what the apply
    writes: a first load of 1,000,000 people never becomes 9 million Python strings);
    ``frame`` the plan frame of object columns that pages and previews read."""

    upload: pd.DataFrame
    keys: pd.Series
    positions: np.ndarray
    fields: list[str]

    def __len__(self) -> int:
        return len(self.positions)

    def columns(self) -> dict[str, pa.Array]:
        """The key, then each field, as Arrow text (shared with the upload when the rows are
        all of it, in order, as on a first load)."""
        everything = len(self.positions) == len(self.upload) and bool(
            len(self.positions) == 0
            or (self.positions[0] == 0 and np.all(np.diff(self.positions) == 1))
        )
        take = None if everything else pa.array(self.positions)
        result: dict[str, pa.Array] = {}
        named = [(str(self.keys.name), self.keys), *((f, self.upload[f]) for f in self.fields)]
        for name, values in named:
            array = arrow(values)
            result[name] = array if take is None else array.take(take)
        return result

    def first_keys(self, count: int) -> list[Any]:
        """The keys of the first ``count`` rows, as ``list(frame().index[:count])``."""
        return list(pd.Index(self.keys.take(self.positions[:count]).to_numpy(object)))

    def frame(self) -> pd.DataFrame:
        return _rows(self.upload, self.keys, self.positions, self.fields)


@dataclass(slots=True)
class EntityPlan:
    """What a load does to one entity. Frames are indexed by key with the entity's fields;
    the inserted rows are only made a frame when read (``inserts``): the apply writes them
    from ``new_rows``' Arrow columns."""

    entity: str
    new_rows: NewRows
    updates: pd.DataFrame
    before: pd.DataFrame  # current values (and ``active``) of the rows in ``updates``
    deactivations: pd.DataFrame  # current values of the rows to deactivate
    unchanged: int
    active_before: int
    # Optional columns the upload did not provide: the rows in ``updates`` carry their stored
    # values there, and the apply never writes them.
    kept: tuple[str, ...] = ()
    # Per column the upload provides: stored non-empty values of active rows it would blank.
    blanked: dict[str, int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # column → header as written
    # Active rows whose identifying fields (``IDENTITY``: names or e-mail) would change.
    reidentified: int = 0
    _inserts: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def inserts(self) -> pd.DataFrame:
        """The inserted rows as a plan frame (object columns, ``None`` when missing), made on
        first use."""
        if self._inserts is None:
            self._inserts = self.new_rows.frame()
        return self._inserts

    @property
    def reactivated(self) -> int:
        return int((~self.before["active"]).sum()) if len(self.before) else 0

    def counts(self) -> dict[str, int]:
        return {
            "inserted": len(self.new_rows),
            "updated": len(self.updates),
            "deactivated": len(self.deactivations),
            "unchanged": self.unchanged,
        }

    @property
    def empty(self) -> bool:
        return not (len(self.new_rows) or len(self.updates) or len(self.deactivations))

    def deactivation_limit(self) -> int:
        """More deactivations (or blanked values of one column) than this is a mass change:
        max(20 % of active rows, 10)."""
        return max(math.floor(MASS_CHANGE_SHARE * self.active_before), MASS_CHANGE_FLOOR)

    def preview(self, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
        """The first few changes, readable: keys inserted, fields before → after, keys gone."""
        changed = []
        for key in self.updates.index[:rows]:
            new, old = self.updates.loc[key], self.before.loc[key]
            fields = {
                f: [_plain(old[f]), _plain(new[f])]
                for f in FIELDS[self.entity]
                if _plain(old[f]) != _plain(new[f])
            }
            if not old["active"]:
                fields["active"] = [False, True]
            changed.append({"key": key, "fields": fields})
        return {
            "inserted": self.new_rows.first_keys(rows),
            "updated": changed,
            "deactivated": list(self.deactivations.index[:rows]),
        }


@dataclass(slots=True)
class Plan:
    """The whole change a load would make, per entity, and the data version it was made from."""

    entities: dict[str, EntityPlan] = field(default_factory=dict)
    base_version: int = 0

    @property
    def empty(self) -> bool:
        return all(p.empty for p in self.entities.values())

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: plan.counts() for name, plan in self.entities.items()}


def _plain(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _objects(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Plain object columns with ``None`` for missing values: what a plan's frames hold."""
    return frame[columns].astype(object).where(frame[columns].notna(), None)


def _same(new: pa.Array, old: pa.Array) -> pa.Array:
    """Row by row: equal text, or missing on both sides (exact, as Python ``==`` on str)."""
    equal = pc.equal(new, old)
    if not (new.null_count or old.null_count):
        return equal
    return pc.fill_null(equal, pc.and_(new.is_null(), old.is_null()))


def _rows(
    frame: pd.DataFrame, keys: pd.Series | pd.Index, positions: np.ndarray, fields: list[str]
) -> pd.DataFrame:
    """The plan frame of some rows: object columns (``None`` when missing) indexed by key."""
    index = pd.Index(keys.take(positions).to_numpy(object), name=keys.name)
    if not len(positions) and len(keys):  # an empty selection keeps the dtype of all the keys
        index = index.astype(pd.Index(keys.take([0]).to_numpy(object)).dtype)
    return _objects(frame.iloc[positions], fields).set_axis(index)


def plan_entity(
    entity: str,
    upload: pd.DataFrame,
    current: pd.DataFrame,
    headers: Mapping[str, str] | None = None,
) -> EntityPlan:
    """Diff one entity: ``upload`` is the normalized sheet, ``current`` from ``fetch_current``.

    ``headers`` are the columns the upload has (canonical name → header as written); an
    optional column missing from them is not provided and keeps its stored values. None: the
    upload provides every column.

    Positional and vectorized over Arrow arrays: one hash lookup of the upload's keys in the
    current keys, then a column-by-column comparison of the matched rows. Only the rows that
    change become the plan's object frames.
    """
    key, fields, spec = KEYS[entity], FIELDS[entity], SHEETS[entity]
    provided = fields if headers is None else [f for f in fields if f in headers]
    kept = tuple(f for f in fields if f not in provided and not spec.column(f).required)
    new_keys = upload[key].reset_index(drop=True).rename(key)
    old_keys = current.index.rename(key)
    active = current["active"].to_numpy(bool)
    load_ids = current["load_id"].to_numpy()

    # Where each uploaded key is now, or -1.
    position = pc.index_in(arrow(new_keys), value_set=arrow(old_keys))
    position = position.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
    known = position >= 0
    matched = position[known]
    take_new = None if known.all() else pa.array(np.flatnonzero(known))
    take_old = pa.array(matched)
    was_active = active[matched]
    same = np.ones(len(matched), dtype=bool)
    identity = np.ones(len(matched), dtype=bool)  # names and e-mail as they are
    blanked: dict[str, int] = {}
    for name in fields:
        if name in kept:
            continue
        a = arrow(upload[name])
        a = a if take_new is None else a.take(take_new)
        b = arrow(current[name]).take(take_old)
        field_same = _same(a, b).to_numpy(zero_copy_only=False)
        same &= field_same
        if name in IDENTITY.get(entity, ()):
            identity &= field_same
        if a.null_count and spec.column(name).nullable:  # a blank cell clears the value
            cleared = flags(a.is_null()) & flags(pc.not_equal(b, "")) & was_active
            if count := int(np.count_nonzero(cleared)):
                blanked[name] = count
    changed = ~same | ~was_active
    updated_new = np.flatnonzero(known)[changed]
    updated_old = matched[changed]
    still_there = np.zeros(len(current), dtype=bool)
    still_there[matched] = True
    gone = np.flatnonzero(active & ~still_there)

    before = _rows(current, old_keys, updated_old, fields).assign(
        active=active[updated_old], load_id=load_ids[updated_old]
    )
    updates = _rows(upload, new_keys, updated_new, fields)
    for name in kept:  # not provided: the row keeps (and its log shows) the stored value
        updates[name] = pd.Series(before[name].to_numpy(object), updates.index, dtype=object)
    return EntityPlan(
        entity=entity,
        new_rows=NewRows(upload, new_keys, np.flatnonzero(~known), fields),
        updates=updates,
        before=before,
        deactivations=_rows(current, old_keys, gone, fields).assign(load_id=load_ids[gone]),
        unchanged=int(len(matched) - changed.sum()),
        active_before=int(active.sum()),
        kept=kept,
        blanked=blanked,
        headers=dict(headers) if headers is not None else {},
        reidentified=int(np.count_nonzero(~identity & was_active)),
    )


def plan_changes(
    uploads: dict[str, pd.DataFrame],
    current: dict[str, pd.DataFrame],
    base_version: int = 0,
    headers: Mapping[str, Mapping[str, str]] | None = None,
) -> Plan:
    """The plan of a whole upload against the current data of its client.

    ``headers``: per sheet, the columns the upload has (``ValidatedUpload.headers``); a sheet
    not in it (or None) provides every column.
    """
    given = headers or {}
    return Plan(
        {
            name: plan_entity(name, uploads[name], current[name], given.get(name))
            for name in ENTITIES
        },
        base_version=base_version,
    )


def mass_change_issues(plan: Plan, *, first_load: bool) -> list[Issue]:
    """The ``mass_change`` errors of a plan (none on a client's first load): one per entity
    deactivating too many rows, one per column blanking too many stored values, one per entity
    changing the names or e-mail of too many of its active rows."""
    if first_load:
        return []
    issues = []
    for name, entity in plan.entities.items():
        limit = entity.deactivation_limit()
        params = {"active": entity.active_before, "entity": name, "limit": limit}
        count = len(entity.deactivations)
        if count > limit:
            issues.append(Issue(code="mass_change", sheet=name, params={"count": count, **params}))
        if entity.reidentified > limit:
            issues.append(
                Issue(
                    code="mass_change",
                    key="mass_change/reidentified",
                    sheet=name,
                    params={"count": entity.reidentified, **params},
                )
            )
        for column, blanked in entity.blanked.items():
            if blanked > limit:
                issues.append(
                    Issue(
                        code="mass_change",
                        key="mass_change/blanked",
                        sheet=name,
                        column=column,
                        header=entity.headers.get(column),
                        params={"count": blanked, **params},
                    )
                )
    return issues
