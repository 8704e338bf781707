"""The diff of an upload against the client's current data, as a plan (SPEC §3).

``plan_changes`` returns a data object — per entity: inserts, updates (with their before
values), deactivations and counts — that can be shown, stored and applied later by
``loaders.apply.apply_plan``. A dry run is this plan, not applied. Everything is vectorized
over the key index; normalized text is compared, so cosmetic differences change nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loaders.store import FIELDS, KEYS
from schemas.columns import PERSONAS, UNIDADES
from schemas.report import Issue

ENTITIES = (UNIDADES, PERSONAS)
MASS_CHANGE_SHARE = 0.20
MASS_CHANGE_FLOOR = 10
PREVIEW_ROWS = 5


@dataclass(slots=True)
class EntityPlan:
    """What a load does to one entity. Frames are indexed by key with the entity's fields."""

    entity: str
    inserts: pd.DataFrame
    updates: pd.DataFrame
    before: pd.DataFrame  # current values (and ``active``) of the rows in ``updates``
    deactivations: pd.DataFrame  # current values of the rows to deactivate
    unchanged: int
    active_before: int

    @property
    def reactivated(self) -> int:
        return int((~self.before["active"]).sum()) if len(self.before) else 0

    def counts(self) -> dict[str, int]:
        return {
            "inserted": len(self.inserts),
            "updated": len(self.updates),
            "deactivated": len(self.deactivations),
            "unchanged": self.unchanged,
        }

    @property
    def empty(self) -> bool:
        return not (len(self.inserts) or len(self.updates) or len(self.deactivations))

    def deactivation_limit(self) -> int:
        """More deactivations than this is a mass change: max(20 % of active rows, 10)."""
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
            "inserted": list(self.inserts.index[:rows]),
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
    """Plain object columns: hash lookups on Python strings beat Arrow-string indexes here."""
    return frame[columns].astype(object).where(frame[columns].notna(), None)


def plan_entity(entity: str, upload: pd.DataFrame, current: pd.DataFrame) -> EntityPlan:
    """Diff one entity: ``upload`` is the normalized sheet, ``current`` from ``fetch_current``.

    Positional and vectorized: one hash lookup of the upload's keys in the current keys and one
    the other way round, then a column-by-column comparison of the matched rows.
    """
    key, fields = KEYS[entity], FIELDS[entity]
    new = _objects(upload, fields).set_axis(pd.Index(upload[key].to_numpy(object), name=key))
    old = _objects(current, fields).set_axis(pd.Index(current.index.to_numpy(object), name=key))
    active = current["active"].to_numpy(bool)

    position = old.index.get_indexer(new.index)  # where each uploaded key is now, or -1
    known = position >= 0
    matched = position[known]
    a = new.to_numpy()[known]
    b = old.to_numpy()[matched]
    same = ((a == b) | (pd.isna(a) & pd.isna(b))).all(axis=1)
    changed = ~same | ~active[matched]
    updated_new = np.flatnonzero(known)[changed]
    updated_old = matched[changed]
    still_there = new.index.get_indexer(old.index) >= 0
    gone = np.flatnonzero(active & ~still_there)

    before = old.iloc[updated_old].assign(
        active=active[updated_old], load_id=current["load_id"].to_numpy()[updated_old]
    )
    return EntityPlan(
        entity=entity,
        inserts=new[~known],
        updates=new.iloc[updated_new],
        before=before,
        deactivations=old.iloc[gone].assign(load_id=current["load_id"].to_numpy()[gone]),
        unchanged=int(len(matched) - changed.sum()),
        active_before=int(active.sum()),
    )


def plan_changes(
    uploads: dict[str, pd.DataFrame], current: dict[str, pd.DataFrame], base_version: int = 0
) -> Plan:
    """The plan of a whole upload against the current data of its client."""
    return Plan(
        {name: plan_entity(name, uploads[name], current[name]) for name in ENTITIES},
        base_version=base_version,
    )


def mass_change_issues(plan: Plan, *, first_load: bool) -> list[Issue]:
    """The ``mass_change`` errors of a plan (none on a client's first load)."""
    if first_load:
        return []
    issues = []
    for name, entity in plan.entities.items():
        limit = entity.deactivation_limit()
        count = len(entity.deactivations)
        if count > limit:
            issues.append(
                Issue(
                    code="mass_change",
                    sheet=name,
                    params={
                        "count": count,
                        "active": entity.active_before,
                        "entity": name,
                        "limit": limit,
                    },
                )
            )
    return issues
