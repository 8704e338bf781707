"""Leftovers of interrupted writes (issue 16): a failed write removes its own temporary file,
and the ones a killed process left behind are swept by the next load once they are stale."""

from __future__ import annotations

import gc
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from loaders.store import add_client
from orgload.settings import Settings
from service.housekeeping import STALE_AFTER, leftovers, sweep_leftovers
from service.loads import LoadRequest, run_load

NOV = "organizacion_2026-11.xlsx"


def _leftovers(home: Path, *, age_seconds: float) -> list[Path]:
    """One of each kind orgload's writes leave when killed, last changed ``age_seconds`` ago."""
    staging = home / "archive" / f".incoming.4242.{int(age_seconds)}"
    spooled = home / "spool" / "incidents" / f".INC-0000{int(age_seconds)}.4242.tmp"
    report = home / "outbox" / "acme" / f".organizacion.json.{int(age_seconds)}.tmp"
    stored = home / "reports" / "acme" / "7" / f".incoming.report.xlsx.4242.{int(age_seconds)}.tmp"
    copy = home / "tmp" / f"copy.4242.{int(age_seconds)}"  # a stored file's temporary copy
    staging.mkdir(parents=True)
    (staging / "organizacion.xlsx").write_bytes(b"PK half a copy")
    copy.mkdir(parents=True)
    (copy / "organizacion.xlsx").write_bytes(b"PK a copy")
    for path in (spooled, report, stored):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{half")
    then = time.time() - age_seconds
    for path in (staging / "organizacion.xlsx", staging, spooled, report, stored, copy):
        os.utime(path, (then, then))
    return [staging, spooled, report, stored, copy]


def _keepers(home: Path) -> list[Path]:
    """Files that look alike but are not leftovers of ours: never swept, however old."""
    kept = [
        home / "outbox" / "acme" / "organizacion.json",  # a finished report
        home / "spool" / "incidents" / "INC-00000001.json",  # a spooled incident
        home / "inbox" / "acme" / ".organizacion.xlsx.tmp",  # the client's own upload tool
        home / "reports" / "acme" / "7" / "report.es.json",  # a stored web report
    ]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        os.utime(path, (0, 0))
    return kept


def test_the_next_load_sweeps_stale_leftovers_and_keeps_fresh_ones(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    with engine.begin() as conn:
        add_client(conn, "acme", "ACME", "America/Santiago", None, datetime.now().astimezone())
    stale = _leftovers(settings.home, age_seconds=STALE_AFTER.total_seconds() + 60)
    fresh = _leftovers(settings.home, age_seconds=5)  # maybe a write under way elsewhere
    kept = _keepers(settings.home)
    assert sorted(leftovers(settings)) == sorted(stale + fresh)

    outcome = run_load(settings, LoadRequest("acme", [samples / NOV], dry_run=False), engine)
    assert outcome.status == "applied"
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in fresh + kept)


def test_a_symlink_named_like_a_leftover_is_removed_as_a_link(
    settings: Settings, tmp_path: Path
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep me")
    link = settings.home / "archive" / ".incoming.1.link"
    link.parent.mkdir(parents=True)
    link.symlink_to(precious)
    os.utime(link, (0, 0), follow_symlinks=False)
    assert sweep_leftovers(settings) == [link]
    assert not link.is_symlink()
    assert (precious / "data").read_text() == "keep me"


# openpyxl's write-only sheets leave their row generators open when the save fails; their
# finalizers complain once collected. Noise of the library, collected here under this filter.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("writer", ["json", "workbook"])
def test_a_report_that_cannot_be_written_leaves_no_temporary_file(
    writer: str, full_filesystem: Path, samples: Path
) -> None:
    """A report written to a full filesystem: the write fails, nothing half-written stays."""
    from loaders.validate import validate_upload
    from service import inbox

    settings = Settings(home=full_filesystem)
    folder = full_filesystem / "archive"  # made before the filesystem filled up
    validated = validate_upload([samples / "organizacion_invalida.xlsx"])
    write = {
        "json": lambda: inbox._write_json(
            settings, folder / "acme" / "organizacion.json", {"e": ["x" * 100_000]}
        ),
        "workbook": lambda: inbox._write_workbook(
            settings, folder / "acme" / "r.errores.xlsx", validated, "es"
        ),
    }[writer]
    with pytest.raises(OSError, match="No space"):
        write()
    gc.collect()
    written = [p for p in full_filesystem.rglob("*") if p.is_file() and p.name != "filler"]
    assert written == []


def test_an_incident_that_cannot_be_spooled_leaves_no_temporary_file(
    full_filesystem: Path,
) -> None:
    from orgload.errors import IncidentNotRecordedError
    from support.incidents import IncidentDraft
    from support.spool import spool_incident

    draft = IncidentDraft(
        category="unavailable",
        client_id="acme",
        period="2026-12",
        reported_at=datetime.now().astimezone(),
        diagnostics={"detail": "x" * 100_000},
    )
    folder = full_filesystem / "archive"
    with pytest.raises(IncidentNotRecordedError, match=draft.id):
        spool_incident(folder, draft)
    assert list(folder.iterdir()) == []
