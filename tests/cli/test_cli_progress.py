"""The progress display of ``load`` and ``validate`` (issue 15): on stderr when it is a terminal,
nothing extra when stderr is a pipe or with ``--json``. Real ``orgload`` processes: stderr a
pseudo-terminal (``pty``) or a pipe, stdout always a pipe (the answer is read from it)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOV = "organizacion_2026-11.xlsx"
ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STAGE_WORDS = ("Reading the file", "Validating", "Planning the changes", "Applying")


def orgload(*args: str, terminal: bool) -> tuple[int, str, str]:
    """Run ``orgload ARGS``; stderr a pseudo-terminal (80 columns) or a pipe."""
    command = [sys.executable, "-c", "from cli.app import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "TERM": "xterm"}
    for forced in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "TTY_INTERACTIVE"):
        env.pop(forced, None)
    if not terminal:
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        return run.returncode, run.stdout, run.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, env=env
    )
    os.close(follower)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.stdout is not None
    stdout = process.stdout.read().decode("utf-8")
    process.stdout.close()
    return process.wait(timeout=60), stdout, seen.decode("utf-8", "replace")


@pytest.fixture
def client(database_url: str) -> str:
    code, _, stderr = orgload("clients", "add", "acme", "--name", "ACME", terminal=False)
    assert code == 0, stderr
    return "acme"


def test_load_on_a_terminal_shows_each_stage_with_rows_read_and_written(
    client: str, samples: Path
) -> None:
    code, stdout, stderr = orgload(
        "load", "--client", client, str(samples / NOV), "--lang", "en", terminal=True
    )
    assert code == 0, stderr
    assert stdout.startswith("applied (load ")  # the answer still goes to stdout, unchanged
    text = ANSI.sub("", stderr)
    for word in STAGE_WORDS:
        assert word in text
    assert "272 rows read" in text  # 22 units + 250 people
    assert "272/272 rows written" in text
    assert "\x1b[2K" in stderr  # drawn and erased in place: transient


def test_validate_on_a_terminal_shows_reading_and_validating(samples: Path) -> None:
    code, _, stderr = orgload(
        "validate", "--client", "acme", str(samples / NOV), "--lang", "es", terminal=True
    )
    assert code == 0, stderr
    text = ANSI.sub("", stderr)
    assert "Leyendo el archivo" in text
    assert "272 filas leídas" in text


def test_piped_stderr_gets_no_progress(client: str, samples: Path) -> None:
    code, stdout, stderr = orgload(
        "load", "--client", client, str(samples / NOV), "--lang", "en", terminal=False
    )
    assert code == 0, stderr
    assert stdout.startswith("applied (load ")
    assert stderr == ""


def test_json_on_a_terminal_gets_no_progress(client: str, samples: Path) -> None:
    code, stdout, stderr = orgload(
        "load", "--client", client, str(samples / NOV), "--json", terminal=True
    )
    assert code == 0, stderr
    assert json.loads(stdout)["status"] == "applied"
    assert stderr == ""
    code, stdout, stderr = orgload(
        "validate", "--client", "acme", str(samples / NOV), "--json", terminal=True
    )
    assert code == 0
    assert json.loads(stdout)["valid"] is True
    assert stderr == ""
