"""Loads racing for one client and month: exactly one applies, every other one is
``quota_exhausted`` — also when, planned against the winner's data, it would be a mass change
(SPEC §3: the quota is checked before the guard; §4: N racers apply exactly one).

The racers are real `orgload` processes on SQLite and PostgreSQL (``dbfaults.race_loads``);
the interleavings a race only produces by chance are also pinned down in one process.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from builders import PERSONAS_HEADER, UNIDADES_HEADER, rut, write_csvs, write_xlsx
from dbfaults import race_loads
from sqlalchemy import Engine, select

import loaders.load as load_module
from loaders.store import add_client
from orgload.db import incidents, loads, people, quota_periods, units
from orgload.settings import Settings
from service.loads import LoadOutcome, LoadRequest, run_load

NOW = "2026-11-16T11:00:00-03:00"
PEOPLE = 12  # deactivating all 12 is over max(20 % of 12, 10): a mass change
UNITS = [["GER", "Gerencia General", None, None, None], ["TI", "Tecnología", "GER", None, None]]


def racer_people(racer: int) -> list[list[str | None]]:
    """A set of people of its own for each racer (no RUT or e-mail shared with another)."""
    return [
        [
            rut(20_000_000 + 1_000 * racer + k),
            f"Persona {k}",
            f"Corredor {racer}",
            f"p{k}.r{racer}@acme.cl",
            "TI" if k % 2 else "GER",
            None,
            None,
            None,
            "colaborador",
        ]
        for k in range(PEOPLE)
    ]


def racer_sheets(racer: int) -> dict[str, list[list[str | None]]]:
    return {
        "Unidades": [list(UNIDADES_HEADER), *UNITS],
        "Personas": [list(PERSONAS_HEADER), *racer_people(racer)],
    }


def racer_file(folder: Path, racer: int) -> Path:
    return write_xlsx(folder / f"racer{racer}.xlsx", racer_sheets(racer))


def stored_people(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(people.c.rut, people.c.apellidos, people.c.email, people.c.codigo_unidad)
            .add_columns(people.c.active)
            .order_by(people.c.rut)
        ).all()
    return [tuple(r) for r in rows]


def expected_people(racer: int) -> list[tuple[Any, ...]]:
    """``stored_people`` as it is once ``racer``'s file is applied."""
    return sorted((p[0], p[2], p[3], p[4], True) for p in racer_people(racer))


def incident_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(incidents.c.id)).all())


@pytest.fixture
def client(engine: Engine) -> str:
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    return "acme"


@pytest.mark.slow
@pytest.mark.parametrize("racers", [6, 16])
def test_racing_loads_whose_late_plans_are_mass_changes_apply_exactly_one(
    engine: Engine, settings: Settings, client: str, tmp_path: Path, racers: int
) -> None:
    files = [racer_file(tmp_path, i) for i in range(racers)]
    started = time.monotonic()
    results = race_loads(client, files, now=NOW)
    elapsed = time.monotonic() - started
    statuses = [r["status"] for _, r in results]
    assert sorted(statuses) == ["applied"] + ["quota_exhausted"] * (racers - 1), statuses
    assert sorted(code for code, _ in results) == [0] + [3] * (racers - 1)
    winner = statuses.index("applied")
    for _, result in results:
        assert result["incident"] is None
        assert result["errors"] == []
        assert result["quota"]["used"] is True
        if result["status"] == "quota_exhausted":
            assert result["quota"]["next_period_starts"] == "2026-12-01T00:00:00-03:00"
    with engine.connect() as conn:
        claims = conn.execute(select(quota_periods)).all()
        records = conn.execute(select(loads.c.id, loads.c.status).order_by(loads.c.id)).all()
        unit_codes = conn.execute(select(units.c.codigo_unidad, units.c.active)).all()
    assert [(c.period, c.load_id) for c in claims] == [("2026-11", results[winner][1]["load_id"])]
    assert sorted(r.status for r in records) == sorted(statuses)  # every attempt recorded once
    assert incident_count(engine) == 0  # a quota refusal is no incident (no mass_change ones)
    assert not settings.spool_dir.exists()
    assert stored_people(engine) == expected_people(winner)  # the winner's file, nothing else
    assert sorted(unit_codes) == [("GER", True), ("TI", True)]
    print(f"{racers} racers on {engine.dialect.name}: {elapsed:.1f} s")


# --- the two interleavings, pinned down in one process ---------------------------------------


def win_before_apply(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, engine: Engine, winner: Path
) -> list[LoadOutcome]:
    """The next load is overtaken: ``winner`` applies after that load's checks found the period
    free and before its own transaction starts (what a racer that planned early meets)."""
    real_apply = load_module._apply
    won: list[LoadOutcome] = []

    def overtaken(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(load_module, "_apply", real_apply)
        won.append(run_load(settings, LoadRequest("acme", [winner]), engine))
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(load_module, "_apply", overtaken)
    return won


def test_overtaken_load_whose_replan_is_a_mass_change_is_quota_exhausted(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    engine: Engine,
    client: str,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", NOW)
    won = win_before_apply(monkeypatch, settings, engine, racer_file(tmp_path, 0))
    # Planned against no data (a first load: no guard); under the lock the data is the
    # winner's, which this file would mostly deactivate — but the period is gone first.
    late = run_load(settings, LoadRequest("acme", [racer_file(tmp_path, 1)]), engine)
    assert [w.status for w in won] == ["applied"]
    assert (late.status, late.exit_code, late.incident) == ("quota_exhausted", 3, None)
    assert late.to_dict()["errors"] == []
    changes = late.changes()
    assert changes is not None
    assert changes["personas"]["deactivated"] == PEOPLE  # planned against the winner
    assert incident_count(engine) == 0
    assert stored_people(engine) == expected_people(0)


def test_overtaken_load_of_the_winners_data_is_no_changes(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    engine: Engine,
    client: str,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", NOW)
    win_before_apply(monkeypatch, settings, engine, racer_file(tmp_path, 0))
    (tmp_path / "csv").mkdir()
    same_data = write_csvs(tmp_path / "csv", racer_sheets(0))  # other bytes, the same data
    late = run_load(settings, LoadRequest("acme", same_data), engine)
    assert late.status == "no_changes"  # an empty diff is no_changes whatever the quota


def test_overtaken_load_of_the_winners_file_is_already_applied(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    engine: Engine,
    client: str,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", NOW)
    file = racer_file(tmp_path, 0)
    won = win_before_apply(monkeypatch, settings, engine, file)
    late = run_load(settings, LoadRequest("acme", [file]), engine)
    assert (late.status, late.detail) == ("already_applied", f"load {won[0].load_id}")
