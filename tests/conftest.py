"""Shared fixtures: every test runs with its own ORGLOAD_HOME and no stray ORGLOAD_* settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.databases import IN_CI, PG_URL, postgres_admin, postgres_database

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orgload.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_data"


@pytest.fixture(autouse=True)
def orgload_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ORGLOAD_HOME per test; settings from the developer's shell never leak in."""
    for name in list(os.environ):
        if name.startswith("ORGLOAD_") and not name.startswith("ORGLOAD_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path / "orgload-home"
    monkeypatch.setenv("ORGLOAD_HOME", str(home))
    return home


@pytest.fixture
def samples() -> Path:
    return SAMPLES


# --- databases: every database test runs on SQLite and on PostgreSQL --------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    from orgload.db import make_engine
    from orgload.migrate import upgrade
    from orgload.settings import Settings

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}", home=path.parent))
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[tuple[Engine, str]]:
    """A migrated PostgreSQL template database; each test gets a copy of it.

    Skips where no server answers on a developer machine; fails in CI, where PostgreSQL is
    required.
    """
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from orgload.db import make_engine
    from orgload.migrate import upgrade
    from orgload.settings import Settings

    admin = postgres_admin()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # also without xdist (-p no:xdist)
    name = f"orgload_tpl_{worker}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=url), owner=True)
    upgrade(engine)
    engine.dispose()
    yield admin, name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    orgload_env: Path,
) -> Iterator[str]:
    """A fresh, migrated database for one test, set as ORGLOAD_DATABASE_URL."""
    import shutil

    if request.param == "sqlite":
        path = tmp_path / "orgload.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        monkeypatch.setenv("ORGLOAD_DATABASE_URL", url)
        yield url
        return
    admin, template = request.getfixturevalue("postgres_template")
    with postgres_database(admin, template) as url:
        monkeypatch.setenv("ORGLOAD_DATABASE_URL", url)
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    from orgload.settings import load_settings

    return load_settings()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    from orgload.db import make_engine

    engine = make_engine(settings, owner=True)  # sets up and inspects data as the owner
    yield engine
    engine.dispose()


# --- a real SMTP server on loopback ---------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (for "connection refused")."""
    return free_port()


class MailSink:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        import email
        from email import policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MailSink, int]]:
    """A real aiosmtpd server on 127.0.0.1, configured as orgload's SMTP server."""
    from aiosmtpd.controller import Controller

    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("ORGLOAD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ORGLOAD_SMTP_PORT", str(port))
    monkeypatch.setenv("ORGLOAD_SUPPORT_EMAIL", "soporte@saas.cl")
    monkeypatch.setenv("ORGLOAD_SMTP_TIMEOUT", "5")
    yield sink, port
    controller.stop()


# --- a full filesystem ------------------------------------------------------------------------


@pytest.fixture
def full_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 256 KB tmpfs filled to the last byte (an ``archive/`` folder made before it filled).
    Needs root to mount: fails in CI where it cannot, skips on a laptop."""
    import subprocess

    folder = tmp_path / "full-home"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        (folder / "archive").mkdir()
        filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(filler, b"\0" * 4096)
        except OSError:  # ENOSPC: the filesystem is full
            pass
        finally:
            os.close(filler)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
