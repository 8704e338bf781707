"""With ``ORGLOAD_STORAGE=database`` the archive, the outbox reports and the web uploads live
in the database: a second worker with its own ORGLOAD_HOME reaches what the first one stored
(SQLite and PostgreSQL, for real)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from loaders.archive import archive_key, archived_files
from orgload.db import STAFF_OWNER, loads, staff, stored_objects, tenant
from orgload.settings import Settings, load_settings
from orgload.storage import open_storage
from service.clients import register_client
from service.loads import LoadRequest, run_load
from service.operations import check_load_parameters, upload_path, write_rejection_report
from service.uploads import (
    apply_upload,
    confirm_upload,
    receive_upload,
    upload_key,
    upload_report,
)

NOV = "organizacion_2026-11.xlsx"
INVALID = "organizacion_invalida.xlsx"


@pytest.fixture
def worker_a(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.setenv("ORGLOAD_STORAGE", "database")
    monkeypatch.setenv("ORGLOAD_HOME", str(tmp_path / "home-a"))
    monkeypatch.setenv("ORGLOAD_NOW", "2026-11-25T10:00:00-03:00")
    return load_settings()


@pytest.fixture
def worker_b(worker_a: Settings, tmp_path: Path) -> Settings:
    """Another worker: the same database, a home of its own."""
    return worker_a.model_copy(update={"home": tmp_path / "home-b"})


def _keys(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(stored_objects.c.client_id, stored_objects.c.key))
        return sorted((r[0], r[1]) for r in rows)


def test_a_load_archives_in_the_database_and_another_worker_reads_it(
    worker_a: Settings, worker_b: Settings, engine: Engine, samples: Path
) -> None:
    register_client(worker_a, "acme", "Acme", engine=engine)
    outcome = run_load(worker_a, LoadRequest("acme", [samples / NOV]))
    assert outcome.status == "applied"
    with engine.connect() as conn:
        sha, archive_path = conn.execute(
            select(loads.c.sha256, loads.c.archive_path).where(loads.c.id == outcome.load_id)
        ).one()
    assert _keys(engine) == [("acme", f"archive/{sha[:2]}/{sha}/{NOV}")]
    assert not (worker_a.home / "archive" / sha[:2]).exists()  # nothing on worker A's disk
    assert archive_key(archive_path) == f"archive/{sha[:2]}/{sha}"
    store_b = open_storage(worker_b)
    with (
        tenant("acme"),
        archived_files(worker_b.home, archive_path, client_id="acme", storage=store_b) as files,
    ):
        assert [f.name for f in files] == [NOV]
        assert files[0].read_bytes() == (samples / NOV).read_bytes()
        assert files[0].is_relative_to(worker_b.home / "tmp")
    assert list((worker_b.home / "tmp").iterdir()) == []  # the copy is gone
    # the web's download of the archived upload, from the other worker's home
    from service.overview import load_archive_files

    downloads = load_archive_files(worker_b, "acme", int(outcome.load_id or 0), engine)
    assert [(p.name, p.read_bytes()) for p in downloads] == [(NOV, (samples / NOV).read_bytes())]


def test_a_worker_whose_home_is_not_the_environments_archives_in_the_database_too(
    worker_a: Settings, worker_b: Settings, engine: Engine, samples: Path
) -> None:
    """The store comes from the load's own settings, not from the environment: worker B
    (another home than ORGLOAD_HOME) archives in the database, never on its disk."""
    register_client(worker_b, "acme", "Acme", engine=engine)
    outcome = run_load(worker_b, LoadRequest("acme", [samples / NOV]), engine)
    assert outcome.status == "applied"
    with engine.connect() as conn:
        sha = conn.execute(select(loads.c.sha256).where(loads.c.id == outcome.load_id)).scalar()
    assert _keys(engine) == [("acme", f"archive/{sha[:2]}/{sha}/{NOV}")]
    assert not (worker_b.home / "archive").exists()


def test_a_rejection_report_is_stored_and_read_back_by_another_worker(
    worker_a: Settings, worker_b: Settings, engine: Engine, samples: Path
) -> None:
    register_client(worker_a, "acme", "Acme", engine=engine)
    outcome = run_load(worker_a, LoadRequest("acme", [samples / INVALID]))
    assert outcome.status == "rejected"
    written = write_rejection_report(worker_a, "acme", [samples / INVALID], outcome.to_dict("es"))
    assert written.xlsx_path is not None
    assert [k.rsplit(".", 2)[-2:] for k in written.keys] == [["load", "json"], ["errores", "xlsx"]]
    assert all(loc.startswith("database:outbox/acme/") for loc in written.locations)
    assert not (worker_a.home / "outbox").exists()
    with tenant("acme"):
        store = open_storage(worker_b)
        document = json.loads(store.read_bytes(written.keys[0], client_id="acme"))
        assert document["status"] == "rejected"
        with store.open(written.keys[1], client_id="acme") as workbook:
            assert workbook.read(2) == b"PK"  # an xlsx is a zip


def test_a_web_upload_received_by_one_process_is_applied_by_another(
    worker_a: Settings, worker_b: Settings, engine: Engine, samples: Path
) -> None:
    register_client(worker_a, "acme", "Acme", engine=engine)
    scratch = worker_a.home / "scratch"
    scratch.mkdir(parents=True)
    (scratch / NOV).write_bytes((samples / NOV).read_bytes())
    upload = receive_upload(worker_a, "acme", [scratch / NOV], by="admin@acme.cl")
    assert upload.status == "valid"
    assert not (worker_a.home / "reports").exists()
    assert ("acme", f"reports/acme/{upload.id}/report.es.json") in _keys(engine)
    confirm_upload(worker_a, "acme", upload.id, by="admin@acme.cl")
    (scratch / NOV).unlink()  # the receiving process's files are gone
    report = upload_report(worker_b, "acme", upload.id, "en")
    assert report.valid
    # what a confirm hands the monthly-load deployment: a key any worker can load
    keys = upload_key(worker_b, "acme", upload.id)
    assert keys == [f"archive/{upload.sha256[:2]}/{upload.sha256}/{NOV}"]
    assert check_load_parameters(worker_b, "acme", "", stored_file=keys[0]).ok
    done = apply_upload(worker_b, "acme", upload.id)
    assert (done.status, done.load_status) == ("done", "applied")


def test_a_run_may_name_a_stored_file_instead_of_a_path(
    worker_a: Settings, worker_b: Settings, engine: Engine, samples: Path
) -> None:
    register_client(worker_a, "acme", "Acme", engine=engine)
    key = f"uploads/acme/{NOV}"
    with tenant("acme"), (samples / NOV).open("rb") as source:
        open_storage(worker_a).put(key, source, client_id="acme")
    checked = check_load_parameters(worker_b, "acme", "", stored_file=key)
    assert (checked.ok, checked.file_name) == (True, NOV)
    missing = check_load_parameters(worker_b, "acme", "", stored_file="uploads/acme/nope.xlsx")
    assert missing.problem == "file_not_found"
    both = check_load_parameters(worker_b, "acme", str(samples / NOV), stored_file=key)
    assert both.problem == "file_and_stored_file"
    other = check_load_parameters(worker_b, "beta", "", stored_file=key)
    assert other.problem in ("unknown_client", "file_not_found")
    with upload_path(worker_b, "acme", stored_file=key) as path:
        outcome = run_load(worker_b, LoadRequest("acme", [path]))
    assert outcome.status == "applied"
    assert not path.exists()


def test_the_data_docs_are_published_to_the_store_for_staff_only(
    worker_a: Settings, engine: Engine, samples: Path
) -> None:
    from quality.suites import check_live_quality

    register_client(worker_a, "acme", "Acme", engine=engine)
    assert run_load(worker_a, LoadRequest("acme", [samples / NOV])).status == "applied"
    docs = worker_a.home / "outbox" / "_data_docs"
    result = check_live_quality(engine, worker_a, docs_dir=docs)
    assert result.docs_index == "database:outbox/_data_docs/index.html"
    stored = [k for owner, k in _keys(engine) if k.startswith("outbox/_data_docs/")]
    assert "outbox/_data_docs/index.html" in stored
    assert {owner for owner, k in _keys(engine) if k in stored} == {STAFF_OWNER}
    assert not docs.exists()  # built aside, then removed
    assert list((worker_a.home / "tmp").iterdir()) == []
    with staff():
        page = open_storage(worker_a).read_bytes(
            "outbox/_data_docs/index.html", client_id=STAFF_OWNER
        )
    assert b"<html" in page.lower()


def test_another_worker_serves_the_data_docs_page_and_replays_a_stored_incident(
    worker_a: Settings, worker_b: Settings, engine: Engine, samples: Path
) -> None:
    """The web's Data Docs route and ``incidents replay`` read what worker A stored, from
    worker B, whose disk holds none of it."""
    from quality.suites import check_live_quality
    from service.loads import replay_incident
    from service.overview import data_docs_page

    register_client(worker_a, "acme", "Acme", engine=engine)
    assert run_load(worker_a, LoadRequest("acme", [samples / NOV])).status == "applied"
    check_live_quality(engine, worker_a, docs_dir=worker_a.home / "outbox" / "_data_docs")
    assert b"<html" in data_docs_page(worker_b, "", engine).lower()
    assert data_docs_page(worker_b, "index.html", engine) == data_docs_page(worker_b, "/", engine)
    from orgload.errors import NotFoundError

    for wrong in ("../../orgload.db", "nada.html", "index.html/.."):
        with pytest.raises(NotFoundError):
            data_docs_page(worker_b, wrong, engine)

    rejected = run_load(worker_a, LoadRequest("acme", [samples / INVALID]))
    assert rejected.status == "rejected"
    assert rejected.incident is not None
    replayed = replay_incident(worker_b, rejected.incident["id"], engine)
    assert replayed.status == "rejected"  # the same file, validated again as a dry run
    assert replayed.to_dict()["errors"] == rejected.to_dict()["errors"]
    assert replayed.load_id is None  # a dry run records nothing
    assert list((worker_b.home / "tmp").iterdir()) == []  # its temporary copy is gone


def test_an_inbox_file_scanned_on_one_worker_is_applied_off_peak_by_another(
    worker_a: Settings, worker_b: Settings, engine: Engine, samples: Path
) -> None:
    """The inbox is a drop folder on one machine; its valid uploads wait in the store, so the
    off-peak apply may run on any worker. Reports go to the store too."""
    import shutil
    from datetime import datetime

    from orgload.db import staff
    from service.inbox import apply_queued, scan_inbox

    register_client(worker_a, "acme", "Acme", engine=engine)
    inbox = worker_a.home / "inbox" / "acme"
    inbox.mkdir(parents=True)
    shutil.copy2(samples / NOV, inbox / NOV)
    afternoon = datetime.fromisoformat("2026-11-25T15:00:00-03:00")
    with staff():
        (item,) = scan_inbox(engine, worker_a, afternoon, settle_seconds=0)
    assert item.status == "queued"
    sha = item.sha256
    assert ("acme", f"queue/acme/{sha[:16]}/{NOV}") in _keys(engine)
    assert ("acme", f"outbox/acme/{Path(NOV).stem}.{sha[:8]}.report.json") in _keys(engine)
    assert not (worker_a.home / "outbox").exists()
    shutil.rmtree(worker_a.home / "inbox")  # worker B's machine has no such folder
    night = datetime.fromisoformat("2026-11-25T22:30:00-03:00")
    night_b = worker_b.model_copy(update={"now": night})
    with staff():
        (applied,) = apply_queued(engine, night_b, night)
    assert (applied.status, applied.load_status) == ("applied", "applied")
    assert list((worker_b.home / "tmp").iterdir()) == []
