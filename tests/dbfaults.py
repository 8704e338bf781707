"""Database faults for tests, on SQLite and PostgreSQL alike: make writes to ``people`` fail,
hold an apply open inside its transaction (at its end, mid-COPY of the people, mid-change-log),
pause a process at a named stage (orgload/stages.py), or race `orgload` processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

MESSAGE = "simulated failure"


def break_person_writes(engine: Engine) -> None:
    """Every INSERT or UPDATE on ``people`` raises (as a full disk or a bad constraint would)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                    f"RAISE EXCEPTION '{MESSAGE}'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON people "
                    "FOR EACH ROW EXECUTE FUNCTION boom()"
                )
            )
            return
        for event in ("INSERT", "UPDATE"):
            conn.execute(
                text(
                    f"CREATE TRIGGER boom_{event.lower()} BEFORE {event} ON people "
                    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
                )
            )


def restore_person_writes(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER boom ON people"))
        else:
            for event in ("insert", "update"):
                conn.execute(text(f"DROP TRIGGER boom_{event}"))


# --- holding an apply open, so that a test can kill the process inside its transaction ------


def hold_applies_open(engine: Engine, seconds: int) -> None:
    """Every UPDATE of ``loads`` stalls: an apply stops inside its transaction after writing
    every row (the load record is updated last). PostgreSQL sleeps and, as in production,
    notices a dead client within 200 ms; SQLite counts to two billion, holding its lock."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION hold() RETURNS trigger AS $$ BEGIN "
                    f"PERFORM pg_sleep({int(seconds)}); RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER hold AFTER UPDATE ON loads FOR EACH ROW EXECUTE FUNCTION hold()"
                )
            )
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(
                text(
                    f"ALTER DATABASE \"{database}\" SET client_connection_check_interval = '200ms'"
                )
            )
            return
        conn.execute(
            text(
                "CREATE TRIGGER hold AFTER UPDATE ON loads BEGIN SELECT count(*) FROM "
                "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                "WHERE x < 2000000000) SELECT x FROM c); END"
            )
        )


def wait_until_held(engine: Engine, ended: Callable[[], str | None], timeout: float) -> None:
    """Return once an apply is held by ``hold_applies_open``; fail if ``ended()`` says why the
    process stopped first, or at the timeout."""
    deadline = time.monotonic() + timeout
    locked_since = None
    while time.monotonic() < deadline:
        why = ended()
        if why is not None:
            pytest.fail(f"the load ended before its apply was held: {why}")
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                held = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event = 'PgSleep'"
                    )
                ).scalar()
            if held:
                return
        else:
            probe = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                locked_since = None
            except sqlite3.OperationalError:
                locked_since = locked_since or time.monotonic()
                if time.monotonic() - locked_since > 2.0:  # only the held apply locks that long
                    return
            finally:
                probe.close()
        time.sleep(0.1)
    pytest.fail("the load never reached its apply")


def release_hold(engine: Engine, timeout: float) -> None:
    """Drop the hold once the killed transaction has let go of its locks (the server rolls it
    back when it notices its client gone)."""
    engine.dispose()
    drop = "DROP TRIGGER hold" + (" ON loads" if engine.dialect.name == "postgresql" else "")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.begin() as conn:
                conn.execute(text(drop))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# Where a row trigger can hold an apply mid-way (crash matrix): the table, and on which rows.
# The apply writes units, then people, then (PostgreSQL) the change log of both, in that order:
# the first people row means the units are in and the people COPY is under way; the first
# change-log row of the people means the data and the units' log are in.
HOLD_POINTS: dict[str, tuple[str, str | None]] = {
    "apply.copy": ("people", None),
    "apply.log": ("change_log", "NEW.entity = 'personas'"),
}


def hold_writes(engine: Engine, point: str, seconds: int) -> None:
    """Every write of the rows named by ``HOLD_POINTS[point]`` stalls inside the apply's
    transaction, row by row as it happens (PostgreSQL: also inside a COPY)."""
    table, when = HOLD_POINTS[point]
    condition = f" WHEN ({when})" if when else ""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION hold_row() RETURNS trigger AS $$ BEGIN "
                    f"PERFORM pg_sleep({int(seconds)}); RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER hold_{table} BEFORE INSERT OR UPDATE ON {table} "
                    f"FOR EACH ROW{condition} EXECUTE FUNCTION hold_row()"
                )
            )
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(
                text(
                    f"ALTER DATABASE \"{database}\" SET client_connection_check_interval = '200ms'"
                )
            )
            return
        for event in ("insert", "update"):
            conn.execute(
                text(
                    f"CREATE TRIGGER hold_{table}_{event} BEFORE {event.upper()} ON {table}"
                    f"{condition} BEGIN SELECT count(*) FROM (WITH RECURSIVE c(x) AS "
                    "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
                    "SELECT x FROM c); END"
                )
            )


def release_writes(engine: Engine, point: str, timeout: float) -> None:
    """Drop the holds of ``hold_writes`` once the killed transaction has let go of its locks."""
    table, _ = HOLD_POINTS[point]
    engine.dispose()
    if engine.dialect.name == "postgresql":
        drops = [f"DROP TRIGGER IF EXISTS hold_{table} ON {table}"]
    else:
        drops = [f"DROP TRIGGER IF EXISTS hold_{table}_{e}" for e in ("insert", "update")]
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.begin() as conn:
                for drop in drops:
                    conn.execute(text(drop))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def pause_env(stage: str, marker: Path) -> dict[str, str]:
    """The environment that makes an `orgload` process stop at ``stage`` (orgload/stages.py)
    and say so by writing ``marker``."""
    return {"ORGLOAD_TEST_PAUSE_AT": stage, "ORGLOAD_TEST_PAUSE_FILE": str(marker)}


def wait_for_marker(marker: Path, ended: Callable[[], str | None], timeout: float) -> None:
    """Return once a process paused by ``pause_env`` wrote its marker; fail if ``ended()``
    says why it stopped first, or at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists():
            return
        why = ended()
        if why is not None:
            pytest.fail(f"the load ended before its pause point: {why}")
        time.sleep(0.05)
    pytest.fail(f"the load never reached its pause point ({marker.name})")


def sigkill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process and reap it (a zombie would still look alive to a pid check)."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.returncode


# --- `orgload` processes, as ops run them; several at once race for one client --------------

ORGLOAD = Path(sys.executable).with_name("orgload")


def start(*args: str, now: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The real `orgload` console script in its own process, with ``ORGLOAD_NOW=now`` (the
    database and ORGLOAD_HOME come from the test's environment)."""
    env = {**os.environ, "ORGLOAD_NOW": now, **(env_extra or {})}
    return subprocess.Popen(
        [str(ORGLOAD), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def race_loads(
    client: str, files: Sequence[Path], *, now: str, timeout: float = 300
) -> list[tuple[int, dict[str, Any]]]:
    """``orgload load --client CLIENT FILE --json`` for every file, all started at once; the
    exit code and JSON of each, in the order of ``files``. No process may print a traceback."""
    procs = [start("load", "--client", client, str(f), "--json", now=now) for f in files]
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            outputs.append((proc.returncode, stdout, stderr))
    finally:  # every process ends and is reaped, whatever happened to the others
        for proc in procs[len(outputs) :]:
            proc.kill()
            proc.communicate()
    for _, _, stderr in outputs:
        assert "Traceback" not in stderr, stderr
    return [(code, json.loads(stdout)) for code, stdout, _ in outputs]


# --- a connection lost as a transaction commits -------------------------------------------


class CommitDropper:
    """A TCP proxy in front of PostgreSQL that, once ``arm()``-ed, lets the next ``COMMIT``
    through to the server and then cuts that connection before the server's answer reaches
    the client: the transaction is committed, the client only sees its connection die.

    Connect through ``url``; every other connection and message passes untouched. It needs a
    connection without TLS (``sslmode=disable``), so that the proxy can see the ``COMMIT``.
    """

    def __init__(self, target_url: str) -> None:
        target = make_url(target_url)
        self._target = (target.host or "127.0.0.1", target.port or 5432)
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        proxied = target.set(host="127.0.0.1", port=port, query={"sslmode": "disable"})
        self.url = proxied.render_as_string(hide_password=False)
        self._armed = threading.Event()
        self.dropped = threading.Event()  # set once a connection was cut after its COMMIT
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        self._armed.set()

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            cut = threading.Event()
            threading.Thread(target=self._up, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, cut), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        """Client to server; after an armed COMMIT, wait for the server to commit and cut."""
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                committing = self._armed.is_set() and b"COMMIT" in data.upper()
                if committing:
                    self._armed.clear()
                    cut.set()  # before the server can answer: its answer is never passed on
                server.sendall(data)
                if committing:
                    time.sleep(1.0)  # the server reads the COMMIT and commits
                    self.dropped.set()
                    break
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.close()

    def _down(self, server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while (data := server.recv(65536)) and not cut.is_set():
                client.sendall(data)
