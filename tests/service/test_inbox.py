"""Inbox and outbox on SQLite and PostgreSQL: validate once, report, queue, apply off-peak."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

import service.inbox as inbox
from loaders.load import LoadOutcome
from loaders.quota import QuotaStatus
from loaders.store import add_client
from orgload.db import engine_for, make_engine, people, staff
from orgload.errors import DatabaseUnavailableError
from orgload.settings import Settings, load_settings
from schemas.report import Issue
from service.inbox import (
    InboxItem,
    apply_queued,
    claim,
    find_uploads,
    is_off_peak,
    list_inbox,
    next_off_peak_start,
    scan_inbox,
)

NOV = "organizacion_2026-11.xlsx"
DEC = "organizacion_2026-12.xlsx"
BAD = "organizacion_invalida.xlsx"
AFTERNOON = datetime.fromisoformat("2026-11-25T15:00:00-03:00")
NIGHT = datetime.fromisoformat("2026-11-25T22:30:00-03:00")


def at(instant: datetime, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose clock (ORGLOAD_NOW, read by run_load) says ``instant``."""
    monkeypatch.setenv("ORGLOAD_NOW", instant.isoformat())
    return load_settings()


def register(engine: Engine, *client_ids: str) -> None:
    with engine.begin() as conn:
        for client_id in client_ids:
            add_client(conn, client_id, client_id.upper(), "America/Santiago", None, AFTERNOON)


def drop(settings: Settings, client_id: str, *sources: Path, name: str | None = None) -> Path:
    """Copy files into the client's inbox folder, as an admin's upload would land."""
    folder = settings.home / "inbox" / client_id
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy2(source, folder / (name or source.name))
    return folder


def pending(folder: Path) -> list[str]:
    """What ops see waiting in a client folder (the processed ones are set aside)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def people_of(engine: Engine, client_id: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(people.c.client_id == client_id, people.c.active)
        return int(conn.execute(query).scalar_one())


# --- the off-peak window (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "off_peak"),
    [
        # summer time, UTC-3
        ("2026-11-25T21:59:59-03:00", False),
        ("2026-11-25T22:00:00-03:00", True),
        ("2026-11-26T05:59:59-03:00", True),
        ("2026-11-26T06:00:00-03:00", False),
        ("2026-11-25T12:00:00-03:00", False),
        ("2026-11-26T00:00:00-03:00", True),
        # winter time, UTC-4
        ("2026-07-15T21:59:00-04:00", False),
        ("2026-07-15T22:00:00-04:00", True),
        ("2026-07-16T05:59:00-04:00", True),
        ("2026-07-16T06:00:00-04:00", False),
        # the same instants given in UTC
        ("2026-11-26T00:59:00+00:00", False),  # 21:59 in summer
        ("2026-11-26T01:00:00+00:00", True),  # 22:00 in summer
        ("2026-07-16T01:59:00+00:00", False),  # 21:59 in winter
        ("2026-07-16T02:00:00+00:00", True),  # 22:00 in winter
        ("2026-07-16T09:59:00+00:00", True),  # 05:59 in winter
        ("2026-07-16T10:00:00+00:00", False),  # 06:00 in winter
    ],
)
def test_off_peak_is_22_to_0559_chile_time(local: str, off_peak: bool) -> None:
    assert is_off_peak(datetime.fromisoformat(local)) is off_peak


@pytest.mark.parametrize(
    ("instant", "start"),
    [
        ("2026-11-25T15:00:00-03:00", "2026-11-25T22:00:00-03:00"),
        ("2026-11-25T21:59:59-03:00", "2026-11-25T22:00:00-03:00"),
        ("2026-11-25T22:00:00-03:00", "2026-11-26T22:00:00-03:00"),  # strictly after
        ("2026-11-26T03:00:00-03:00", "2026-11-26T22:00:00-03:00"),
        ("2026-07-15T10:00:00-04:00", "2026-07-15T22:00:00-04:00"),
        ("2026-07-15T10:00:00+00:00", "2026-07-15T22:00:00-04:00"),  # 06:00 in Santiago
        # clocks go forward at midnight on 2026-09-06 and back at midnight on 2026-04-05
        ("2026-09-05T23:00:00-04:00", "2026-09-06T22:00:00-03:00"),
        ("2026-04-04T23:30:00-03:00", "2026-04-05T22:00:00-04:00"),
    ],
)
def test_next_off_peak_start_is_the_next_22h_with_its_offset(instant: str, start: str) -> None:
    found = next_off_peak_start(datetime.fromisoformat(instant))
    assert found.isoformat() == start
    assert is_off_peak(found)


def test_off_peak_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="offset"):
        is_off_peak(datetime(2026, 11, 25, 23, 0))


# --- finding uploads (filesystem only) --------------------------------------------------------


def test_find_uploads_skips_temporary_and_fresh_files_and_waits_for_the_csv_pair(
    tmp_path: Path, samples: Path
) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    for name in ("~$organizacion.xlsx", ".organizacion.xlsx", "organizacion.xlsx.part"):
        (folder / name).write_bytes(b"partial")
    shutil.copy2(samples / NOV, folder / NOV)
    an_hour_ago = time.time() - 3600  # settled, whenever the samples were checked out
    os.utime(folder / NOV, (an_hour_ago, an_hour_ago))
    shutil.copy2(samples / "csv" / "unidades.csv", folder / "Unidades.CSV")
    assert find_uploads(folder, settle_seconds=0) == [(folder / NOV,)]  # half a pair waits

    shutil.copy2(samples / "csv" / "personas.csv", folder / "personas.csv")
    pair = (folder / "Unidades.CSV", folder / "personas.csv")
    assert set(find_uploads(folder, settle_seconds=0)) == {(folder / NOV,), pair}

    (folder / "personas.csv").touch()  # being written right now
    assert find_uploads(folder, settle_seconds=60) == [(folder / NOV,)]


# --- scanning and applying, on both databases -------------------------------------------------


def test_valid_files_are_queued_reported_and_applied_only_off_peak(
    settings: Settings, engine: Engine, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(engine, "acme", "beta")
    acme = drop(settings, "acme", samples / NOV, samples / BAD)
    beta = drop(
        settings, "beta", samples / "csv" / "unidades.csv", samples / "csv" / "personas.csv"
    )

    scanned = scan_inbox(engine, settings, AFTERNOON, "run-1", settle_seconds=0)

    by_name = {item.file_name: item for item in scanned}
    assert {name: item.status for name, item in by_name.items()} == {
        NOV: "queued",
        BAD: "invalid",
        "personas.csv, unidades.csv": "queued",
    }
    expected = json.loads((samples / "expected.json").read_text("utf-8"))[BAD]
    assert by_name[BAD].errors == len(expected["errors"])
    assert by_name[NOV].errors == 0
    outbox = settings.home / "outbox"
    assert (
        sorted(p.name for p in (outbox / "acme").iterdir())
        == sorted(
            [
                f"{Path(NOV).stem}.{by_name[NOV].sha256[:8]}.report.json",  # clean: no workbook
                f"{Path(BAD).stem}.{by_name[BAD].sha256[:8]}.report.json",
                f"{Path(BAD).stem}.{by_name[BAD].sha256[:8]}.errores.xlsx",
            ]
        )
    )
    assert len(list((outbox / "beta").glob("unidades-personas.*.report.json"))) == 1
    for item in scanned:  # every report: validate --json shape + annotated workbook
        report = json.loads(Path(item.report_json_path or "").read_text("utf-8"))
        assert set(report) == {"valid", "counts", "errors", "warnings"}
        assert report["valid"] is (item.status == "queued")
        assert len(report["errors"]) == item.errors
        if item.errors:
            assert Path(item.report_xlsx_path or "").read_bytes()[:2] == b"PK"
        else:
            assert item.report_xlsx_path is None
        assert Path(item.path).exists()
        assert item.flow_run_id == "run-1"
    bad_report = json.loads(Path(by_name[BAD].report_json_path or "").read_text("utf-8"))
    assert [e["code"] for e in bad_report["errors"]] == [e["code"] for e in expected["errors"]]
    assert pending(acme) == []
    assert pending(beta) == []

    assert apply_queued(engine, at(AFTERNOON, monkeypatch), AFTERNOON) == []  # peak hours
    assert people_of(engine, "acme") == people_of(engine, "beta") == 0

    night = at(NIGHT, monkeypatch)
    applied = apply_queued(engine, night, NIGHT, flow_run_id="run-2")

    assert sorted(item.client_id for item in applied) == ["acme", "beta"]
    assert all(
        (item.status, item.load_status) == ("applied", "applied") and item.load_id
        for item in applied
    )
    assert people_of(engine, "acme") == people_of(engine, "beta") == 250
    with engine.connect() as conn:
        statuses = {item.file_name: item.status for item in list_inbox(conn)}
    assert sorted(statuses.values()) == ["applied", "applied", "invalid"]
    assert apply_queued(engine, night, NIGHT) == []  # nothing queued is left
    assert set(applied[0].to_dict()) >= {
        "client_id",
        "file_name",
        "sha256",
        "status",
        "load_id",
        "load_status",
        "errors",
        "report_json_path",
        "report_xlsx_path",
    }


def queue(engine: Engine, minutes_after: dict[str, int]) -> dict[str, int]:
    """Queued rows written straight to the table (no scan): file name → id."""
    ids = {}
    with engine.begin() as conn:
        for name, minutes in minutes_after.items():
            ids[name] = conn.execute(
                insert(inbox.inbox_files)
                .values(
                    client_id="acme",
                    file_name=name,
                    sha256=f"{minutes:064x}",
                    path=f"/nowhere/{name}",
                    status="queued",
                    seen_at=AFTERNOON + timedelta(minutes=minutes),
                )
                .returning(inbox.inbox_files.c.id)
            ).scalar_one()
    return ids


def outcome(status: str, **kwargs: Any) -> LoadOutcome:
    quota = QuotaStatus("2026-11", True, datetime.fromisoformat("2026-12-01T00:00:00-03:00"))
    return LoadOutcome(status, "acme", "2026-11", quota, **kwargs)


def test_queued_files_apply_oldest_first_and_every_outcome_is_recorded(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue(engine, {"c.xlsx": 3, "a.xlsx": 1, "e.xlsx": 5, "b.xlsx": 2, "d.xlsx": 4})
    incident = {"id": "INC-7", "level": 1, "review_due_at": None}
    outcomes = {
        "a.xlsx": outcome("applied", load_id=11),
        "b.xlsx": outcome("quota_exhausted", load_id=12),
        "c.xlsx": outcome(
            "rejected",
            load_id=13,
            issues=[Issue(code="mass_change", sheet="personas")],
            incident=incident,
        ),
        "d.xlsx": outcome("failed", load_id=14, detail="DataError: value too long"),
    }
    calls: list[str] = []

    def fake_run_load(settings: Settings, request: Any, engine: Engine) -> LoadOutcome:
        name = request.paths[0].name
        calls.append(name)
        assert request.flow_run_id == "run-9"
        if name == "e.xlsx":
            raise RuntimeError("disk full")
        return outcomes[name]

    monkeypatch.setattr(inbox, "run_load", fake_run_load)

    with pytest.raises(RuntimeError, match="disk full"):  # the caller's flow fails
        apply_queued(engine, settings, AFTERNOON, force=True, flow_run_id="run-9")

    assert calls == ["a.xlsx", "b.xlsx", "c.xlsx", "d.xlsx", "e.xlsx"]
    with engine.connect() as conn:
        rows = {i.file_name: i for i in list_inbox(conn, client_id="acme")}
    assert {n: (i.status, i.load_status, i.load_id) for n, i in rows.items()} == {
        "a.xlsx": ("applied", "applied", 11),
        "b.xlsx": ("skipped", "quota_exhausted", 12),
        "c.xlsx": ("failed", "rejected", 13),
        "d.xlsx": ("failed", "failed", 14),
        "e.xlsx": ("failed", None, None),
    }
    assert rows["a.xlsx"].note is None
    assert "2026-12-01T00:00:00-03:00" in (rows["b.xlsx"].note or "")
    assert rows["c.xlsx"].note == "mass_change; incident INC-7"
    assert rows["d.xlsx"].note == "DataError: value too long"
    assert rows["e.xlsx"].note == "RuntimeError: disk full"
    assert {i.flow_run_id for i in rows.values()} == {"run-9"}
    assert all(
        AFTERNOON <= (i.applied_at or AFTERNOON) < AFTERNOON + timedelta(minutes=1)
        for i in rows.values()
    )


class FakeClock:
    """Stands for the ``time`` module inside service.inbox: each load takes 40 seconds."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds


@pytest.mark.parametrize("force", [False, True])
def test_no_new_load_starts_once_the_window_closes_unless_forced(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    queue(engine, {"a.xlsx": 1, "b.xlsx": 2, "c.xlsx": 3})
    clock = FakeClock()

    def fake_run_load(settings: Settings, request: Any, engine: Engine) -> LoadOutcome:
        clock.seconds += 40
        return outcome("applied", load_id=1)

    monkeypatch.setattr(inbox, "wallclock", clock)
    monkeypatch.setattr(inbox, "run_load", fake_run_load)
    last_minute = datetime.fromisoformat("2026-11-26T05:59:00-03:00")

    applied = apply_queued(engine, settings, last_minute, force=force)

    assert [i.file_name for i in applied] == (
        ["a.xlsx", "b.xlsx", "c.xlsx"] if force else ["a.xlsx", "b.xlsx"]
    )
    assert applied[1].applied_at == last_minute + timedelta(seconds=80)
    with engine.connect() as conn:
        assert [i.file_name for i in list_inbox(conn, status="queued")] == (
            [] if force else ["c.xlsx"]
        )


def test_a_file_seen_twice_is_validated_once(
    settings: Settings, engine: Engine, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(engine, "acme")
    calls = []
    validate = inbox.validate_upload

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return validate(*args, **kwargs)

    monkeypatch.setattr(inbox, "validate_upload", counting)
    folder = drop(settings, "acme", samples / BAD)
    first = scan_inbox(engine, settings, AFTERNOON, settle_seconds=0)
    drop(settings, "acme", samples / BAD)  # the same file again
    drop(settings, "acme", samples / BAD, name="copia de organizacion.xlsx")

    assert scan_inbox(engine, settings, AFTERNOON, settle_seconds=0) == []
    assert len(first) == 1
    assert len(calls) == 1
    assert pending(folder) == []
    with engine.connect() as conn:
        assert [i.id for i in list_inbox(conn, client_id="acme")] == [first[0].id]
    assert len(list((settings.home / "outbox" / "acme").glob("*.report.json"))) == 1


def test_bad_files_get_a_report_and_never_raise(
    settings: Settings, engine: Engine, samples: Path
) -> None:
    register(engine, "acme")
    folder = settings.home / "inbox" / "acme"
    folder.mkdir(parents=True)
    (folder / "basura.xlsx").write_bytes(os.urandom(2048))
    (folder / "vacio.xlsx").write_bytes(b"")
    (folder / "notas.txt").write_text("hola", "utf-8")

    items = scan_inbox(engine, settings, AFTERNOON, settle_seconds=0)

    assert sorted(i.file_name for i in items) == ["basura.xlsx", "notas.txt", "vacio.xlsx"]
    for item in items:
        assert item.status == "invalid"
        report = json.loads(Path(item.report_json_path or "").read_text("utf-8"))
        assert report["valid"] is False
        assert report["errors"]
        assert Path(item.report_xlsx_path or "").is_file()


def test_a_file_for_an_unknown_client_is_skipped_until_the_client_is_registered(
    settings: Settings, engine: Engine, samples: Path
) -> None:
    folder = drop(settings, "ghost", samples / BAD)

    first = scan_inbox(engine, settings, AFTERNOON, settle_seconds=0)

    assert [(i.status, i.note, i.errors) for i in first] == [("skipped", "unknown_client", None)]
    report = json.loads(Path(first[0].report_json_path or "").read_text("utf-8"))
    assert report["note"] == "unknown_client"
    assert [e["code"] for e in report["errors"]] == ["unknown_client"]
    assert pending(folder) == [BAD]  # stays where ops can see it
    assert scan_inbox(engine, settings, AFTERNOON, settle_seconds=0) == []  # recorded once

    register(engine, "ghost")
    again = scan_inbox(engine, settings, AFTERNOON, settle_seconds=0)

    assert [(i.id, i.status, i.note) for i in again] == [(first[0].id, "invalid", None)]
    assert pending(folder) == []


def test_an_inbox_folder_that_is_no_client_id_is_left_alone(
    settings: Settings, engine: Engine, samples: Path
) -> None:
    folder = drop(settings, "Acme Corp", samples / BAD)  # not a slug: never an outbox path

    assert scan_inbox(engine, settings, AFTERNOON, settle_seconds=0) == []
    assert pending(folder) == [BAD]
    assert not (settings.home / "outbox" / "Acme Corp").exists()


def test_two_appliers_never_take_the_same_row(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = list(queue(engine, {f"f{n}.xlsx": n for n in range(6)}).values())
    loaded: list[str] = []
    lock = threading.Lock()

    def fake_run_load(settings: Settings, request: Any, engine: Engine) -> LoadOutcome:
        time.sleep(0.05)
        with lock:
            loaded.append(request.paths[0].name)
        quota = QuotaStatus("2026-11", True, NIGHT)
        return LoadOutcome("applied", request.client_id, "2026-11", quota, load_id=1)

    monkeypatch.setattr(inbox, "run_load", fake_run_load)
    start = threading.Barrier(2)
    results: list[list[InboxItem]] = []

    def applier() -> None:
        # as the scheduled job runs it: the staff scope (each thread starts with no scope)
        with staff(), engine_for(settings) as own:
            start.wait()
            results.append(apply_queued(own, settings, NIGHT))

    threads = [threading.Thread(target=applier) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(loaded) == [f"f{n}.xlsx" for n in range(6)]  # each exactly once
    assert sorted(i.id for r in results for i in r) == ids
    assert claim(engine, settings, ids[0], NIGHT) is None  # applied rows cannot be claimed


def test_a_stale_claim_is_taken_over_and_a_fresh_one_is_not(
    settings: Settings, engine: Engine
) -> None:
    row_id = queue(engine, {"f.xlsx": 0})["f.xlsx"]
    first = claim(engine, settings, row_id, NIGHT, "run-1")
    assert first is not None
    assert first.status == "applying"
    assert claim(engine, settings, row_id, NIGHT + timedelta(hours=1)) is None
    taken = claim(engine, settings, row_id, NIGHT + inbox.STALE_CLAIM + timedelta(seconds=1))
    assert taken is not None
    assert taken.flow_run_id == "run-1"


def test_a_database_outage_propagates(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
    down = Settings(home=tmp_path / "home", database_url=url)
    engine = make_engine(down)
    with pytest.raises(DatabaseUnavailableError):
        scan_inbox(engine, down, AFTERNOON, settle_seconds=0)
    with pytest.raises(DatabaseUnavailableError):
        apply_queued(engine, down, NIGHT)
    engine.dispose()
