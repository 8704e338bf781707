"""The storage interface (orgload/storage.py): the same behaviour from the local folders and from
the database (SQLite and PostgreSQL, for real); tenant isolation of stored objects on PostgreSQL
through the application's non-owner role; a failed write leaves nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from orgload.db import STAFF_OWNER, make_engine, staff, tenant
from orgload.settings import Settings
from orgload.storage import (
    CHUNK,
    DatabaseStorage,
    LocalStorage,
    Storage,
    StorageError,
    TooLargeToStoreError,
    check_key,
    open_storage,
    storage_at,
)
from tests.databases import postgres_database

POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


@contextmanager
def _store_of(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    import shutil

    home = tmp_path / "home"
    if kind == "local":
        yield LocalStorage(home)
        return
    if kind == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "orgload.db")
        settings = Settings(home=home, database_url=f"sqlite:///{tmp_path / 'orgload.db'}")
        engine = make_engine(settings)
        yield DatabaseStorage(settings, engine)
        engine.dispose()
        return
    admin, template = request.getfixturevalue("postgres_template")
    with postgres_database(admin, template) as url:
        settings = Settings(home=home, database_url=url)
        engine = make_engine(settings)  # as the application: row-level security applies
        yield DatabaseStorage(settings, engine)
        engine.dispose()


@pytest.fixture(params=["local", "sqlite", POSTGRES])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Each implementation: the local folders, the database on SQLite and on PostgreSQL."""
    with _store_of(request.param, request, tmp_path) as made:
        yield made


@pytest.fixture(params=["sqlite", POSTGRES])
def database_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseStorage]:
    with _store_of(request.param, request, tmp_path) as made:
        assert isinstance(made, DatabaseStorage)
        yield made


def _stored_rows(store: Storage) -> int:
    """Objects and chunks in the database, seen as the owner (no policy)."""
    assert isinstance(store, DatabaseStorage)
    owner = make_engine(store.settings, owner=True)
    try:
        with owner.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM stored_objects) + "
                        "(SELECT count(*) FROM stored_chunks)"
                    )
                ).scalar_one()
            )
    finally:
        owner.dispose()


def test_a_put_streams_hashes_and_reads_back_the_same_bytes(store: Storage) -> None:
    data = os.urandom(CHUNK * 2 + 12345)  # three chunks, the last one short
    parts = (data[i : i + 300_000] for i in range(0, len(data), 300_000))
    stored = store.put("archive/ab/abc/org.xlsx", parts, client_id="acme")
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    with store.open("archive/ab/abc/org.xlsx", client_id="acme") as handle:
        assert handle.read(10) == data[:10]
        assert handle.read() == data[10:]
    assert store.exists("archive/ab/abc/org.xlsx", client_id="acme")
    assert not store.exists("archive/ab/abc/other.xlsx", client_id="acme")
    with store.local_copy("archive/ab/abc/org.xlsx", client_id="acme") as path:
        assert path.name == "org.xlsx"
        assert path.read_bytes() == data
    if isinstance(store, DatabaseStorage):  # a temporary copy, removed afterwards
        assert not path.exists()
        assert not list((store.settings.home / "tmp").iterdir())


def test_a_put_replaces_an_object_whole_or_keeps_it(store: Storage) -> None:
    store.put_bytes("outbox/acme/r.json", b"old", client_id="acme")
    store.put_bytes("outbox/acme/r.json", b"new!", client_id="acme")
    assert store.read_bytes("outbox/acme/r.json", client_id="acme") == b"new!"
    kept = store.put("outbox/acme/r.json", [b"third"], client_id="acme", replace=False)
    assert (kept.size, kept.sha256) == (4, hashlib.sha256(b"new!").hexdigest())
    assert store.read_bytes("outbox/acme/r.json", client_id="acme") == b"new!"


def test_list_by_prefix_delete_and_rename_a_folder(store: Storage) -> None:
    for key in ("outbox/acme/a.json", "outbox/acme/b.xlsx", "outbox/acmex/c.json", "reports/x"):
        store.put_bytes(key, key.encode(), client_id="acme")
    assert store.list_keys("outbox/acme/", client_id="acme") == [
        "outbox/acme/a.json",
        "outbox/acme/b.xlsx",
    ]
    assert store.list_keys("outbox/acme", client_id="acme") == [
        "outbox/acme/a.json",
        "outbox/acme/b.xlsx",
        "outbox/acmex/c.json",
    ]
    assert store.list_keys("nothing/", client_id="acme") == []
    assert store.delete("outbox/acme/a.json", client_id="acme")
    assert not store.delete("outbox/acme/a.json", client_id="acme")
    assert store.rename_prefix("outbox/acmex", "archive/cc/ccc", client_id="acme")
    assert store.list_keys("archive/", client_id="acme") == ["archive/cc/ccc/c.json"]
    # the target taken: nothing moves, the source is dropped (content-addressed folders)
    store.put_bytes("staging/1/c.json", b"other", client_id="acme")
    assert not store.rename_prefix("staging/1", "archive/cc/ccc", client_id="acme")
    assert store.read_bytes("archive/cc/ccc/c.json", client_id="acme") == b"outbox/acmex/c.json"
    assert store.list_keys("staging/", client_id="acme") == []
    assert store.delete_prefix("archive/cc", client_id="acme") == 1
    assert store.list_keys("archive/", client_id="acme") == []


def test_a_write_that_fails_midway_leaves_nothing(store: Storage) -> None:
    def failing() -> Iterator[bytes]:
        yield b"x" * CHUNK
        raise OSError("the source went away")

    store.put_bytes("archive/aa/aaa/keep.xlsx", b"kept", client_id="acme")
    with pytest.raises(OSError, match="went away"):
        store.put("archive/aa/aaa/keep.xlsx", failing(), client_id="acme")
    with pytest.raises(TooLargeToStoreError):
        store.put("archive/aa/aaa/big.xlsx", [b"y" * 1000], client_id="acme", max_bytes=999)
    assert store.read_bytes("archive/aa/aaa/keep.xlsx", client_id="acme") == b"kept"
    assert store.list_keys("", client_id="acme") == ["archive/aa/aaa/keep.xlsx"]
    if isinstance(store, LocalStorage):  # no temporary file either
        assert sorted(p.name for p in (store.root / "archive/aa/aaa").iterdir()) == ["keep.xlsx"]
    else:  # one object of one chunk: nothing else in the tables
        assert _stored_rows(store) == 2


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "a/\x00", "a/\nb"]
)
def test_keys_that_could_leave_the_home_are_refused(key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a storage key"):
        check_key(key)
    with pytest.raises(ValueError, match="not a storage key"):
        LocalStorage(tmp_path).put_bytes(key, b"x", client_id="acme")


def test_local_storage_never_follows_a_symlink(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    home.mkdir()
    (home / "outbox").symlink_to(outside)  # a folder on the way
    (home / "link.txt").symlink_to(outside / "secret.txt")  # the object itself
    store = LocalStorage(home)
    with pytest.raises(FileNotFoundError):
        store.open("outbox/secret.txt", client_id="acme")
    with pytest.raises(FileNotFoundError):
        store.open("link.txt", client_id="acme")
    assert not store.exists("link.txt", client_id="acme")
    assert store.list_keys("outbox/", client_id="acme") == []
    assert store.list_keys("", client_id="acme") == []
    with pytest.raises(OSError):
        store.put_bytes("outbox/new.txt", b"x", client_id="acme")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_the_setting_chooses_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "h"
    assert isinstance(open_storage(Settings(home=home)), LocalStorage)
    database = open_storage(Settings(home=home, storage="database"))
    assert isinstance(database, DatabaseStorage)
    database.engine.dispose()
    monkeypatch.setenv("ORGLOAD_HOME", str(home))
    assert isinstance(storage_at(home), LocalStorage)
    monkeypatch.setenv("ORGLOAD_STORAGE", "database")
    assert isinstance(storage_at(home), DatabaseStorage)
    assert isinstance(storage_at(tmp_path / "elsewhere"), LocalStorage)


# --- PostgreSQL: row-level security on stored objects ---------------------------------------

ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@ON_POSTGRES
def test_one_client_never_reaches_anothers_stored_objects(settings: Settings) -> None:
    engine = make_engine(settings)  # the application role, under row-level security
    try:
        store = DatabaseStorage(settings, engine)
        with tenant("alfa"):
            store.put_bytes("archive/00/0/org.xlsx", b"alfa's", client_id="alfa")
        with tenant("beta"):
            store.put_bytes("archive/00/0/org.xlsx", b"beta's", client_id="beta")
        with staff():
            store.put_bytes("outbox/_data_docs/index.html", b"<html>", client_id=STAFF_OWNER)
        with tenant("alfa"):
            # beta's object, asked for by its key and owner: the database shows nothing
            assert not store.exists("archive/00/0/org.xlsx", client_id="beta")
            assert store.list_keys("", client_id="beta") == []
            with pytest.raises(FileNotFoundError):
                store.open("archive/00/0/org.xlsx", client_id="beta")
            assert not store.delete("archive/00/0/org.xlsx", client_id="beta")
            assert store.list_keys("outbox/", client_id=STAFF_OWNER) == []
            # and refuses to take an object for beta
            with pytest.raises(StorageError, match="row-level security"):
                store.put_bytes("outbox/beta/x.json", b"{}", client_id="beta")
            assert store.read_bytes("archive/00/0/org.xlsx", client_id="alfa") == b"alfa's"
            with engine.connect() as conn:  # even without the owner filter
                seen = conn.execute(text("SELECT DISTINCT client_id FROM stored_objects"))
                assert [r[0] for r in seen] == ["alfa"]
                chunks = conn.execute(text("SELECT count(*) FROM stored_chunks")).scalar_one()
                assert chunks == 1
        with engine.connect() as conn:  # no scope at all: nothing
            assert conn.execute(text("SELECT count(*) FROM stored_objects")).scalar_one() == 0
        with staff():
            assert store.read_bytes("archive/00/0/org.xlsx", client_id="beta") == b"beta's"
            assert store.list_keys("outbox/", client_id=STAFF_OWNER) == [
                "outbox/_data_docs/index.html"
            ]
    finally:
        engine.dispose()


@ON_POSTGRES
def test_the_store_acts_as_the_non_owner_application_role(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        with staff(), engine.connect() as conn:
            role, superuser = conn.execute(
                text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            ).one()
            owner = conn.execute(
                text("SELECT tableowner FROM pg_tables WHERE tablename = 'stored_objects'")
            ).scalar_one()
            forced = conn.execute(
                text("SELECT relrowsecurity FROM pg_class WHERE relname = 'stored_chunks'")
            ).scalar_one()
        assert (role, superuser, forced) == ("orgload_app", False, True)
        assert owner != role
    finally:
        engine.dispose()


def test_writers_racing_for_one_key_leave_one_whole_object(store: Storage) -> None:
    from concurrent.futures import ThreadPoolExecutor

    contents = [bytes([n]) * (CHUNK + 1 + n) for n in range(4)]  # two chunks each
    with ThreadPoolExecutor(4) as pool:
        done = list(
            pool.map(
                lambda data: store.put("outbox/acme/r.json", [data], client_id="acme"), contents
            )
        )
    assert sorted(d.size for d in done) == [len(c) for c in contents]
    assert store.list_keys("", client_id="acme") == ["outbox/acme/r.json"]
    assert store.read_bytes("outbox/acme/r.json", client_id="acme") in contents
    if isinstance(store, DatabaseStorage):  # one object of two chunks, nothing else
        assert _stored_rows(store) == 3


def test_folders_racing_for_one_content_address_leave_one(store: Storage) -> None:
    """Two workers archiving the same upload at once: one folder wins, no staging is left."""
    from concurrent.futures import ThreadPoolExecutor

    def archive(n: int) -> bool:
        store.put_bytes(f"archive/.incoming.{n}/org.xlsx", b"same bytes", client_id="acme")
        return store.rename_prefix(f"archive/.incoming.{n}", "archive/ab/abcd", client_id="acme")

    with ThreadPoolExecutor(4) as pool:
        moved = list(pool.map(archive, range(4)))
    assert moved.count(True) == 1
    assert store.list_keys("", client_id="acme") == ["archive/ab/abcd/org.xlsx"]
    assert store.read_bytes("archive/ab/abcd/org.xlsx", client_id="acme") == b"same bytes"
    if isinstance(store, DatabaseStorage):
        assert _stored_rows(store) == 2
    else:
        assert sorted(p.name for p in (store.root / "archive").iterdir()) == ["ab"]


def test_the_sweep_removes_stale_writes_of_dead_processes_only(
    database_store: DatabaseStorage,
) -> None:
    """A process killed between the archive's staging writes leaves ``.incoming`` objects:
    swept once an hour old, never a finished object nor a write under way (the local
    folders' leftovers are swept by ``service.housekeeping``, tests/service)."""
    from datetime import timedelta

    store = database_store
    store.put_bytes("archive/.incoming.1.a/org.xlsx", b"old half", client_id="acme")
    store.put_bytes("archive/.incoming.2.b/org.xlsx", b"fresh half", client_id="acme")
    store.put_bytes("archive/ab/abc/org.xlsx", b"finished", client_id="acme")
    owner = make_engine(store.settings, owner=True)
    try:
        with owner.begin() as conn:
            conn.execute(
                text(
                    "UPDATE stored_objects SET created_at = created_at - interval '2 hours' "
                    "WHERE key LIKE 'archive/.incoming.1.%' OR key = 'archive/ab/abc/org.xlsx'"
                )
                if owner.dialect.name == "postgresql"
                else text(
                    "UPDATE stored_objects SET created_at = '2000-01-01 00:00:00.000000' "
                    "WHERE key LIKE 'archive/.incoming.1.%' OR key = 'archive/ab/abc/org.xlsx'"
                )
            )
        assert store.sweep(timedelta(hours=1)) == 1
        with owner.connect() as conn:
            keys = sorted(conn.execute(text("SELECT key FROM stored_objects")).scalars())
        assert keys == ["archive/.incoming.2.b/org.xlsx", "archive/ab/abc/org.xlsx"]
    finally:
        owner.dispose()
