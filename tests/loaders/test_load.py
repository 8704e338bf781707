"""Monthly loads on SQLite and PostgreSQL: diff, statuses, mass-change guard, quota, revert."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, select

from loaders.load import run_revert
from loaders.store import add_client
from loaders.writers.export import current_frames, export_csv, export_xlsx
from orgload.clock import next_period_start, period_of
from orgload.db import change_log, incidents, people, quota_periods, units
from orgload.errors import RefusedError, UnknownClientError
from orgload.settings import Settings
from service.loads import LoadRequest, run_load

NOV = "organizacion_2026-11.xlsx"
DEC = "organizacion_2026-12.xlsx"
SANTIAGO = "America/Santiago"


def at(iso: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with ORGLOAD_NOW set to ``iso``."""
    monkeypatch.setenv("ORGLOAD_NOW", iso)
    from orgload.settings import load_settings

    return load_settings()


def register(engine: Engine, client_id: str = "acme", **kwargs: Any) -> None:
    with engine.begin() as conn:
        add_client(
            conn,
            client_id,
            "ACME SpA",
            SANTIAGO,
            "admin@acme.cl",
            datetime.now().astimezone(),
            **kwargs,
        )


def load(settings: Settings, engine: Engine, *paths: Path, **options: Any):
    return run_load(settings, LoadRequest("acme", list(paths), **options), engine)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of both entity tables, in key order (what a revert must restore exactly)."""
    with engine.connect() as conn:
        return {
            "units": [
                tuple(r) for r in conn.execute(select(units).order_by(units.c.codigo_unidad))
            ],
            "people": [tuple(r) for r in conn.execute(select(people).order_by(people.c.rut))],
        }


def drop_most_people(sheets: dict) -> None:
    """Keep ~57 of 250 people and clear every manager RUT so that references stay valid.

    Besides deactivating ~190 people, that blanks the managers of most remaining people and
    units: a mass change of its own per column (SPEC §3).
    """
    sheets["personas"].delete_rows(60, sheets["personas"].max_row)
    for sheet in sheets.values():
        headers = [c.value for c in sheet[1]]
        column = headers.index("RUT Jefatura") + 1
        for row in range(2, sheet.max_row + 1):
            sheet.cell(row, column).value = None


def rewrite(source: Path, target: Path, edit) -> Path:
    """Copy a workbook through openpyxl, letting ``edit(sheets)`` change cells first."""
    workbook = openpyxl.load_workbook(source)
    edit({ws.title.lower(): ws for ws in workbook.worksheets})
    workbook.save(target)
    return target


@pytest.fixture
def client(engine: Engine) -> str:
    register(engine)
    return "acme"


def test_first_load_inserts_everything_and_uses_the_quota(
    settings: Settings, engine: Engine, client: str, samples: Path
) -> None:
    outcome = load(settings, engine, samples / NOV)
    data = outcome.to_dict()
    assert data["status"] == "applied"
    assert outcome.exit_code == 0
    assert data["changes"]["unidades"] == {
        "inserted": 22,
        "updated": 0,
        "deactivated": 0,
        "unchanged": 0,
    }
    assert data["changes"]["personas"]["inserted"] == 250
    assert data["quota"]["used"] is True
    assert set(data) == {
        "status",
        "load_id",
        "client_id",
        "period",
        "changes",
        "errors",
        "warnings",
        "incident",
        "quota",
    }
    with engine.connect() as conn:
        stored = conn.execute(select(people).where(people.c.rut == "12345678-5")).first()
        logged = conn.execute(
            select(change_log).where(change_log.c.load_id == data["load_id"])
        ).all()
    assert len(logged) == 22 + 250
    assert stored is None or stored.active


def test_second_month_gives_the_exact_diff_of_the_generator(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = json.loads((samples / "expected.json").read_text("utf-8"))
    expected = planted[DEC]["changes_after_2026-11"]
    nov = at("2026-11-10T10:00:00-03:00", monkeypatch)
    assert load(nov, engine, samples / NOV).status == "applied"
    dec = at("2026-12-03T10:00:00-03:00", monkeypatch)
    outcome = load(dec, engine, samples / DEC)
    assert outcome.status == "applied"
    assert outcome.to_dict()["changes"] == expected
    with engine.connect() as conn:
        active_units = (
            conn.execute(select(units.c.codigo_unidad).where(units.c.active)).scalars().all()
        )
        gone = conn.execute(select(units).where(units.c.codigo_unidad == "TI-01")).one()
    assert len(active_units) == 22
    assert gone.active is False  # deactivated, never deleted


def test_cosmetic_reupload_changes_nothing(
    settings: Settings, engine: Engine, client: str, samples: Path
) -> None:
    assert load(settings, engine, samples / NOV).status == "applied"
    # The same data as Spanish-Excel CSV: other bytes, other spacing, dates as text.
    outcome = load(
        settings, engine, samples / "csv" / "unidades.csv", samples / "csv" / "personas.csv"
    )
    assert outcome.status == "no_changes"
    assert outcome.exit_code == 0
    assert all(
        c["inserted"] == c["updated"] == c["deactivated"] == 0 for c in outcome.changes().values()
    )


def test_resubmitting_the_applied_file_is_already_applied(
    settings: Settings, engine: Engine, client: str, samples: Path
) -> None:
    first = load(settings, engine, samples / NOV)
    again = load(settings, engine, samples / NOV)
    assert again.status == "already_applied"
    assert again.exit_code == 0
    assert again.load_id != first.load_id


def test_quota_exhausted_then_next_month_opens(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 23:30 on the last day of November in Santiago is still November (02:30 UTC, Dec 1).
    nov = at("2026-11-01T09:00:00-03:00", monkeypatch)
    assert load(nov, engine, samples / NOV).status == "applied"
    late = at("2026-11-30T23:30:00-03:00", monkeypatch)
    refused = load(late, engine, samples / DEC)
    assert refused.status == "quota_exhausted"
    assert refused.exit_code == 3
    assert refused.to_dict()["quota"] == {
        "period": "2026-11",
        "used": True,
        "next_period_starts": "2026-12-01T00:00:00-03:00",
    }
    dec = at("2026-12-01T00:30:00-03:00", monkeypatch)
    assert load(dec, engine, samples / DEC).status == "applied"


def test_period_follows_the_client_timezone() -> None:
    instant = datetime.fromisoformat("2026-12-01T02:30:00+00:00")
    assert period_of(instant, SANTIAGO) == "2026-11"
    assert period_of(instant, "UTC") == "2026-12"
    assert next_period_start("2026-12", SANTIAGO).isoformat() == "2027-01-01T00:00:00-03:00"
    # April in Chile is winter time (UTC-4) after the DST switch.
    assert next_period_start("2027-04", SANTIAGO).isoformat() == "2027-05-01T00:00:00-04:00"


def test_override_quota_applies_a_correction_with_its_reason(
    settings: Settings, engine: Engine, client: str, samples: Path
) -> None:
    load(settings, engine, samples / NOV)
    outcome = load(
        settings, engine, samples / DEC, override_quota=True, reason="ticket 42: wrong unit tree"
    )
    assert outcome.status == "applied"
    from loaders.store import get_load

    with engine.connect() as conn:
        record = get_load(conn, outcome.load_id)
        claims = conn.execute(select(quota_periods)).all()
    assert record["override_quota"] is True
    assert record["reason"] == "ticket 42: wrong unit tree"
    assert len(claims) == 1  # the correction did not take a second slot


def test_empty_diff_is_no_changes_even_when_the_quota_is_used(
    settings: Settings, engine: Engine, client: str, samples: Path, tmp_path: Path
) -> None:
    load(settings, engine, samples / NOV)
    export_xlsx(_frames(engine), tmp_path / "export.xlsx")
    outcome = load(settings, engine, tmp_path / "export.xlsx")
    assert outcome.status == "no_changes"


def _frames(engine: Engine):
    with engine.connect() as conn:
        return current_frames(conn, "acme")


def test_export_round_trips_in_every_format(
    settings: Settings, engine: Engine, client: str, samples: Path, tmp_path: Path
) -> None:
    load(settings, engine, samples / DEC)
    frames = _frames(engine)
    export_xlsx(frames, tmp_path / "a.xlsx")
    export_csv(frames, tmp_path / "a.zip")
    written = export_csv(frames, tmp_path / "folder")
    assert load(settings, engine, tmp_path / "a.xlsx").status == "no_changes"
    assert load(settings, engine, tmp_path / "a.zip").status == "no_changes"
    assert load(settings, engine, *written).status == "no_changes"
    assert len(frames["personas"]) == 253


def test_reactivation_counts_as_an_update(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nov = at("2026-11-05T10:00:00-03:00", monkeypatch)
    load(nov, engine, samples / NOV)
    dec = at("2026-12-05T10:00:00-03:00", monkeypatch)
    load(dec, engine, samples / DEC)  # deactivates 5 people and unit TI-01
    jan = at("2027-01-05T10:00:00-03:00", monkeypatch)
    back = load(jan, engine, samples / NOV)  # everyone is back as in November
    changes = back.changes()
    assert back.status == "applied"
    assert changes["personas"]["inserted"] == 0
    assert changes["personas"]["deactivated"] == 8  # December's new hires leave again
    assert changes["personas"]["updated"] == 12 + 5  # changed back + the 5 reactivated
    assert changes["unidades"]["updated"] == 2  # renamed back + TI-01 reactivated
    with engine.connect() as conn:
        actions = (
            conn.execute(select(change_log.c.action).where(change_log.c.load_id == back.load_id))
            .scalars()
            .all()
        )
    assert actions.count("reactivate") == 5 + 1


def test_mass_change_is_rejected_then_allowed(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nov = at("2026-11-05T10:00:00-03:00", monkeypatch)
    load(nov, engine, samples / NOV)

    small = rewrite(samples / NOV, tmp_path / "small.xlsx", drop_most_people)
    dec = at("2026-12-05T10:00:00-03:00", monkeypatch)
    before = snapshot(engine)
    rejected = load(dec, engine, small)
    assert rejected.status == "rejected"
    assert rejected.exit_code == 1
    errors = rejected.to_dict()["errors"]
    assert {e["code"] for e in errors} == {"mass_change"}
    deactivating = [(e["sheet"], e["column"]) for e in errors if e["column"] is None]
    assert deactivating == [("personas", None)]
    assert snapshot(engine) == before
    allowed = load(dec, engine, small, allow_mass_change=True)
    assert allowed.status == "applied"
    assert allowed.changes()["personas"]["deactivated"] > 150


def rename_people(count: int):
    """An edit for ``rewrite``: the first ``count`` people get other names and e-mails under
    the same RUTs, as another company's file loaded under this client's id would give."""

    def edit(sheets: dict) -> None:
        sheet = sheets["personas"]
        headers = [c.value for c in sheet[1]]
        people = [r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value][:count]
        for row in people:  # blank rows skipped: the sample has some
            for header in ("Nombres", "Apellidos"):
                sheet.cell(row, headers.index(header) + 1).value = f"Otra {header} {row}"
            sheet.cell(row, headers.index("Correo Electrónico") + 1).value = f"p{row}@otra.cl"

    return edit


def test_changing_the_names_and_e_mails_of_most_people_is_a_mass_change(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: the same RUTs with other names and e-mails for 200 of 250 people (another
    organization's file) deactivates nobody, yet is refused as a mass change; ops may allow
    it. A few renamed people (under the limit, max(20 %, 10) = 50) apply as usual."""
    load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)
    before = snapshot(engine)
    dec = at("2026-12-05T10:00:00-03:00", monkeypatch)
    other = rewrite(samples / NOV, tmp_path / "other.xlsx", rename_people(200))

    rejected = load(dec, engine, other)
    assert (rejected.status, rejected.exit_code) == ("rejected", 1)
    [error] = rejected.to_dict()["errors"]
    assert (error["code"], error["sheet"], error["column"]) == ("mass_change", "personas", None)
    assert "200 de 250" in error["message"]
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert [i.category for i in conn.execute(select(incidents))] == ["mass_change"]

    allowed = load(dec, engine, other, allow_mass_change=True)
    assert allowed.status == "applied"
    assert allowed.changes()["personas"]["updated"] == 200


def test_renaming_people_under_the_limit_applies(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)
    few = rewrite(samples / NOV, tmp_path / "few.xlsx", rename_people(50))  # = the limit
    applied = load(at("2026-12-05T10:00:00-03:00", monkeypatch), engine, few)
    assert applied.status == "applied", applied.to_dict()["errors"]
    assert applied.changes()["personas"]["updated"] == 50


def test_quota_is_checked_before_the_mass_change_guard(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nov = at("2026-11-05T10:00:00-03:00", monkeypatch)
    first = load(nov, engine, samples / NOV)
    small = rewrite(samples / NOV, tmp_path / "small.xlsx", drop_most_people)
    before = snapshot(engine)
    later = at("2026-11-20T10:00:00-03:00", monkeypatch)
    for options in ({}, {"allow_mass_change": True}):
        refused = load(later, engine, small, **options)
        data = refused.to_dict()
        assert (refused.status, refused.exit_code) == ("quota_exhausted", 3)
        assert data["errors"] == []  # not a mass change: the load cannot apply this period
        assert data["incident"] is None
        assert data["quota"]["used"] is True
        assert data["changes"]["personas"]["deactivated"] > 150
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(incidents)).all() == []
        claims = conn.execute(select(quota_periods.c.load_id)).scalars().all()
    assert claims == [first.load_id]


def test_dry_run_of_a_mass_change_with_the_quota_used_explains_both(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)
    small = rewrite(samples / NOV, tmp_path / "small.xlsx", drop_most_people)
    later = at("2026-11-20T10:00:00-03:00", monkeypatch)
    dry = load(later, engine, small, dry_run=True)
    data = dry.to_dict()
    # The real load would stop at the quota; the dry run says so in its quota object and
    # still explains the mass change an override (or next month's load) would meet.
    assert (dry.status, dry.exit_code, dry.load_id) == ("dry_run", 0, None)
    assert data["quota"]["used"] is True
    assert {e["code"] for e in data["errors"]} == {"mass_change"}
    # With --override-quota the real load would reach the guard: the dry run answers as it would.
    overriding = load(later, engine, small, dry_run=True, override_quota=True, reason="fix")
    assert (overriding.status, overriding.exit_code) == ("rejected", 1)
    assert {e["code"] for e in overriding.to_dict()["errors"]} == {"mass_change"}
    assert overriding.incident is None  # dry runs record nothing
    with engine.connect() as conn:
        assert conn.execute(select(incidents)).all() == []


def test_override_quota_still_meets_the_mass_change_guard(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)
    small = rewrite(samples / NOV, tmp_path / "small.xlsx", drop_most_people)
    later = at("2026-11-20T10:00:00-03:00", monkeypatch)
    refused = load(later, engine, small, override_quota=True, reason="ticket 7")
    assert (refused.status, refused.exit_code) == ("rejected", 1)
    assert {e["code"] for e in refused.to_dict()["errors"]} == {"mass_change"}
    assert refused.incident is not None
    assert refused.incident["level"] == 1
    allowed = load(
        later, engine, small, override_quota=True, reason="ticket 7", allow_mass_change=True
    )
    assert allowed.status == "applied"


def test_client_setting_lifts_the_mass_change_guard(
    engine: Engine, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(engine, allow_mass_change=True)
    load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)

    small = rewrite(samples / NOV, tmp_path / "small.xlsx", drop_most_people)
    outcome = load(at("2026-12-05T10:00:00-03:00", monkeypatch), engine, small)
    assert outcome.status == "applied"


def test_invalid_file_is_rejected_and_recorded_without_touching_data(
    settings: Settings, engine: Engine, client: str, samples: Path
) -> None:
    outcome = load(settings, engine, samples / "organizacion_invalida.xlsx")
    assert outcome.status == "rejected"
    assert outcome.exit_code == 1
    assert outcome.to_dict()["changes"] is None
    assert len(outcome.to_dict()["errors"]) == 21
    assert snapshot(engine) == {"units": [], "people": []}
    assert outcome.load_id is not None  # recorded in the history


def test_dry_run_writes_nothing(
    settings: Settings, engine: Engine, client: str, samples: Path
) -> None:
    outcome = load(settings, engine, samples / NOV, dry_run=True)
    assert outcome.status == "dry_run"
    assert outcome.load_id is None
    assert outcome.changes()["personas"]["inserted"] == 250
    assert snapshot(engine) == {"units": [], "people": []}
    assert not (settings.home / "archive").exists()


def test_unknown_client_is_refused(settings: Settings, engine: Engine, samples: Path) -> None:
    with pytest.raises(UnknownClientError):
        load(settings, engine, samples / NOV)


def test_revert_restores_the_previous_snapshot_exactly(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nov = at("2026-11-05T10:00:00-03:00", monkeypatch)
    load(nov, engine, samples / NOV)
    november = snapshot(engine)
    dec = at("2026-12-05T10:00:00-03:00", monkeypatch)
    applied = load(dec, engine, samples / DEC)
    assert snapshot(engine) != november
    reverted = run_revert(dec, applied.load_id, "client sent the wrong month", engine)
    assert snapshot(engine) == november
    data = reverted.to_dict()
    assert data["status"] == "reverted"
    assert data["reverted_load_id"] == applied.load_id
    # the revert gives the period back and stands in the history
    again = load(dec, engine, samples / DEC)
    assert again.status == "applied"


def test_revert_refuses_anything_but_the_latest_applied_load(
    engine: Engine, client: str, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)
    dec = at("2026-12-05T10:00:00-03:00", monkeypatch)
    load(dec, engine, samples / DEC)
    before = snapshot(engine)
    with pytest.raises(RefusedError, match="latest"):
        run_revert(dec, first.load_id, "oops", engine)
    assert snapshot(engine) == before


def test_revert_of_the_first_load_empties_the_client(
    settings: Settings, engine: Engine, client: str, samples: Path
) -> None:
    applied = load(settings, engine, samples / NOV)
    run_revert(settings, applied.load_id, "test", engine)
    assert snapshot(engine) == {"units": [], "people": []}
    with pytest.raises(RefusedError):
        run_revert(settings, applied.load_id, "twice", engine)


def test_a_load_that_changes_only_people_applies(
    engine: Engine, client: str, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(at("2026-11-05T10:00:00-03:00", monkeypatch), engine, samples / NOV)

    def new_title(sheets: dict) -> None:
        people_sheet = sheets["personas"]
        column = [c.value for c in people_sheet[1]].index("Cargo") + 1
        people_sheet.cell(2, column).value = "Cargo nuevo"

    changed = rewrite(samples / NOV, tmp_path / "one.xlsx", new_title)
    outcome = load(at("2026-12-05T10:00:00-03:00", monkeypatch), engine, changed)
    assert outcome.status == "applied"
    assert outcome.changes()["personas"]["updated"] == 1
    assert outcome.changes()["unidades"] == {
        "inserted": 0,
        "updated": 0,
        "deactivated": 0,
        "unchanged": 22,
    }
