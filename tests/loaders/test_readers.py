"""Readers never wait on writers (issue 16): while a load holds its apply transaction open,
the read-only commands answer at once, on SQLite (WAL, deferred read transactions) as on
PostgreSQL (MVCC)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from dbfaults import hold_applies_open, release_hold, sigkill, start, wait_until_held
from sqlalchemy import Engine

from loaders.store import add_client

NOW = "2026-11-16T11:00:00-03:00"
# Each command runs in its own process (~1-2 s of start-up on a busy machine); a reader that
# waited for the held write lock would wait for the hold (minutes) or the busy timeout (60 s).
READER_SECONDS = 20


READERS = [
    ["quota", "--client", "acme", "--json"],
    ["history", "--client", "acme", "--json"],
    ["incidents", "list", "--json"],
    ["clients", "list", "--json"],
    ["export", "--client", "acme", "--format", "json"],
]


@pytest.mark.slow
def test_read_only_commands_answer_while_a_load_holds_its_transaction(
    engine: Engine, samples: Path
) -> None:
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    hold_applies_open(engine, seconds=300)
    writer = start("load", "--client", "acme", str(samples / "organizacion_2026-11.xlsx"), now=NOW)
    readers = []
    try:
        wait_until_held(
            engine, lambda: None if writer.poll() is None else "the load ended", timeout=120
        )
        began = time.monotonic()
        readers = [start(*command, now=NOW) for command in READERS]  # all at once
        for command, reader in zip(READERS, readers, strict=True):
            out, err = reader.communicate(timeout=READER_SECONDS * 3)
            took = time.monotonic() - began
            name = " ".join(command[:2])
            assert reader.returncode == 0, (name, err)
            assert "Traceback" not in err
            assert json.loads(out) is not None
            assert took < READER_SECONDS, f"{name} waited {took:.1f} s for the writer"
            print(f"{name}: answered {took:.1f} s after the start, beside the held load")
        assert writer.poll() is None  # the load was still holding its transaction
    finally:
        for proc in [*readers, writer]:
            if proc.poll() is None:
                sigkill(proc)
        release_hold(engine, timeout=60)
