"""The service layer's load use cases on SQLite and PostgreSQL: the pipeline describes a
failure, the support desk opens its incident, typed results give the SPEC §6 JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from loaders.load import run_load as run_pipeline
from orgload.db import incidents
from orgload.errors import NotFoundError, UsageError
from orgload.settings import Settings, load_settings
from orgload.status import LoadStatus
from service.clients import register_client
from service.incidents import show_incident
from service.loads import LoadRequest, client_history, client_quota, replay_incident, run_load

NOV = "organizacion_2026-11.xlsx"
INVALID = "organizacion_invalida.xlsx"


def _incident_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(incidents)).scalar_one())


@pytest.fixture
def acme(settings: Settings, engine: Engine) -> str:
    register_client(settings, "acme", "ACME SpA", admin_email="admin@acme.cl", engine=engine)
    return "acme"


def test_pipeline_describes_a_rejection_without_opening_an_incident(
    settings: Settings, engine: Engine, acme: str, samples: Path
) -> None:
    outcome = run_pipeline(settings, LoadRequest(acme, [samples / INVALID]), engine)
    assert outcome.status == LoadStatus.REJECTED
    assert outcome.incident is None
    assert outcome.failure is not None
    assert outcome.failure.category == "validation"
    assert outcome.failure.load_id == outcome.load_id
    assert outcome.failure.admin_email == "admin@acme.cl"
    assert _incident_count(engine) == 0


def test_service_opens_the_incident_of_a_rejection_once(
    settings: Settings, engine: Engine, acme: str, samples: Path
) -> None:
    outcome = run_load(settings, LoadRequest(acme, [samples / INVALID]), engine)
    assert outcome.incident is not None
    assert outcome.incident["level"] == 1
    detail = show_incident(settings, outcome.incident["id"], engine).to_dict()
    assert detail["load_id"] == outcome.load_id
    assert detail["category"] == "validation"
    assert detail["diagnostics"]["sha256"] == outcome.failure.sha256  # type: ignore[union-attr]
    assert _incident_count(engine) == 1


def test_history_is_newest_first_in_the_client_timezone(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, samples: Path
) -> None:
    monkeypatch.setenv("ORGLOAD_NOW", "2026-11-10T13:00:00+00:00")
    settings = load_settings()
    register_client(settings, "madrid", "Madrid SL", timezone="Europe/Madrid", engine=engine)
    run_load(settings, LoadRequest("madrid", [samples / INVALID]), engine)
    run_load(settings, LoadRequest("madrid", [samples / NOV]), engine)
    history = client_history(settings, "madrid", engine)
    statuses = [e["status"] for e in history.to_dict()]
    assert statuses == ["applied", "rejected"]
    assert history.entries[0].created_at.isoformat() == "2026-11-10T14:00:00+01:00"
    assert history.to_dict()[0]["created_at"] == "2026-11-10T14:00:00+01:00"
    quota = client_quota(settings, "madrid", engine).to_dict()
    assert quota["period"] == "2026-11"
    assert quota["used"] is True


def test_override_without_a_reason_is_a_usage_error(
    settings: Settings, engine: Engine, acme: str, samples: Path
) -> None:
    request = LoadRequest(acme, [samples / NOV], override_quota=True, reason="  ")
    with pytest.raises(UsageError):
        run_load(settings, request, engine)


def test_replay_of_an_unknown_incident_is_not_found(settings: Settings, engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        replay_incident(settings, "INC-NOPE", engine)


def test_unreachable_database_spools_a_level_3_incident(
    monkeypatch: pytest.MonkeyPatch, samples: Path, unused_port: int
) -> None:
    monkeypatch.setenv(
        "ORGLOAD_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{unused_port}/x"
    )
    settings = load_settings()
    outcome = run_load(settings, LoadRequest("acme", [samples / NOV]))
    assert outcome.status == LoadStatus.FAILED
    assert outcome.exit_code == 4
    assert outcome.incident is not None
    assert outcome.incident["level"] == 3
    assert [p.name for p in settings.spool_dir.glob("INC-*.json")] == [
        f"{outcome.incident['id']}.json"
    ]


def test_cli_help_imports_neither_pandas_nor_sqlalchemy() -> None:
    probe = (
        "import sys; from cli.app import app; "
        "print(sorted(m for m in ('pandas', 'sqlalchemy', 'loaders', 'support', 'service') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_load_over_a_limit_is_rejected_before_anything_is_parsed(
    settings: Settings,
    engine: Engine,
    acme: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flows and the web app call the service without asking the precheck first: the load
    asks it, and a file over a limit is recorded rejected, unarchived, with its incident,
    without reaching the reader (issue 15: a refusal is cheap)."""
    import loaders.validate

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the upload was parsed")

    monkeypatch.setattr(loaders.validate, "read_upload", never)
    limited = settings.model_copy(update={"max_rows": 50})
    upload = tmp_path / "unidades.csv"
    rows = "".join(f"U{i};Unidad {i}\n" for i in range(51))
    upload.write_text("codigo_unidad;nombre_unidad\n" + rows, encoding="utf-8")
    outcome = run_load(limited, LoadRequest(acme, [upload]), engine)
    assert outcome.status == LoadStatus.REJECTED
    assert [i.key for i in outcome.issues] == ["file_too_large/rows"]
    assert outcome.incident is not None
    assert outcome.incident["level"] == 1
    detail = show_incident(limited, outcome.incident["id"], engine).to_dict()
    assert detail["diagnostics"]["archive_path"] is None  # refused by a limit: not stored
    assert detail["diagnostics"]["validation"]["codes"] == {"file_too_large": 1}
    history = client_history(limited, acme, engine).to_dict()
    assert [e["status"] for e in history] == ["rejected"]
