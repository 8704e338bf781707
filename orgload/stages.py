"""Named points of a load where a test can freeze the process to kill it there (crash matrix).

``reached(stage)`` is called by the pipeline at each point of ``STAGES``. When the environment
variable ``ORGLOAD_TEST_PAUSE_AT`` names that stage, the process writes its pid to the file named
by ``ORGLOAD_TEST_PAUSE_FILE`` and sleeps, so that a test can SIGKILL it at exactly that point
(tests/loaders/test_crash_matrix.py), or inject a fault and delete the file to let it go on
(tests/loaders/test_database_faults.py). Otherwise ``reached`` is a no-op: the variable is read
once, at import, and the call is one comparison. Documented in docs/reliability.md.

This is a test hook, not configuration: it is deliberately outside ``Settings`` (a production
process never sets it, and a hook must not depend on settings being loadable).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# In the order a load passes them.
STAGES: tuple[str, ...] = (
    "reading",  # the attempt is recorded as running; the upload is about to be read
    "validating",  # read; the cells and rules are about to be checked
    "planning",  # valid and archived; the diff against the current data is about to be made
    "apply.begin",  # inside the apply transaction, client locked, nothing written yet
    "apply.commit",  # rows, change log, load record and quota claim written; not committed
    "committed",  # committed; the outcome is not yet returned nor printed
)

PAUSE_AT = os.environ.get("ORGLOAD_TEST_PAUSE_AT") or None
PAUSE_FILE = os.environ.get("ORGLOAD_TEST_PAUSE_FILE") or None
PAUSE_SECONDS = 600.0  # far beyond any test's patience: the test kills the process first


def reached(stage: str) -> None:
    """Pause here forever (for a test to kill the process) if ``ORGLOAD_TEST_PAUSE_AT`` is
    ``stage``; otherwise return at once."""
    if stage != PAUSE_AT:
        return
    _pause(stage)


def _pause(stage: str) -> None:
    if not PAUSE_FILE:
        time.sleep(PAUSE_SECONDS)
        return
    marker = Path(PAUSE_FILE)
    partial = marker.with_name(marker.name + ".tmp")
    partial.write_text(f"{os.getpid()} {stage}\n", encoding="utf-8")
    partial.replace(marker)  # the test never reads a half-written marker
    # Deleting the marker resumes the process (a fault injected while it waited, then on).
    deadline = time.monotonic() + PAUSE_SECONDS
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
