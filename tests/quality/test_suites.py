"""Data-quality suites (Great Expectations) on SQLite and PostgreSQL: live tables, volume, docs."""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select, update

from loaders.store import add_client
from loaders.validate import validate_upload
from orgload.columns import PERSONAS, UNIDADES
from orgload.db import people, units
from orgload.settings import Settings
from quality import suites as quality
from quality.suites import (
    check_batch_volume,
    check_live_quality,
    check_upload_volume,
    volume_bounds,
)
from service.loads import LoadRequest, run_load

NOV = "organizacion_2026-11.xlsx"
DEC = "organizacion_2026-12.xlsx"
LIVE_SUITES = {
    "unidades.completeness",
    "unidades.referential_integrity",
    "personas.completeness",
    "personas.uniqueness",
    "personas.referential_integrity",
}


def register(engine: Engine, client_id: str = "acme") -> str:
    with engine.begin() as conn:
        add_client(
            conn, client_id, "ACME SpA", "America/Santiago", None, datetime.now().astimezone()
        )
    return client_id


@pytest.fixture
def acme(settings: Settings, engine: Engine, samples: Path) -> str:
    """Client ``acme`` with the November sample applied."""
    register(engine)
    outcome = run_load(settings, LoadRequest("acme", [samples / NOV]), engine)
    assert outcome.status == "applied"
    return "acme"


def ruts(engine: Engine, *conditions: Any) -> list[str]:
    with engine.connect() as conn:
        query = select(people.c.rut).where(people.c.client_id == "acme", people.c.active)
        return list(conn.execute(query.where(*conditions).order_by(people.c.rut)).scalars())


def failures_by_column(result: quality.QualityResult, suite: str) -> dict[str | None, Any]:
    found = result.client("acme").suite(suite)
    assert not found.success
    return {f.column: f for f in found.failures}


# --- live tables -----------------------------------------------------------------------------


def test_healthy_client_passes_every_suite_and_gets_data_docs(
    engine: Engine, settings: Settings, acme: str, tmp_path: Path
) -> None:
    result = check_live_quality(engine, settings, docs_dir=tmp_path / "docs")

    assert result.success, result.to_dict()
    client = result.client("acme")
    assert client.rows == {UNIDADES: 22, PERSONAS: 250}
    assert {s.name for s in client.suites} == LIVE_SUITES
    assert all(s.statistics["evaluated_expectations"] > 0 for s in client.suites)
    assert json.loads(json.dumps(result.to_dict()))["success"] is True
    assert result.docs_error is None
    index = Path(result.docs_index or "")
    assert index == tmp_path / "docs" / "index.html"
    assert index.is_file()
    assert "acme.personas.referential_integrity" in index.read_text("utf-8")


def test_inactive_unit_unknown_manager_and_missing_root_fail_referential_integrity(
    engine: Engine, settings: Settings, acme: str
) -> None:
    in_ti01 = ruts(engine, people.c.codigo_unidad == "TI-01")
    someone = ruts(engine, people.c.codigo_unidad == "ADM-01")[0]
    with engine.begin() as conn:
        conn.execute(update(units).where(units.c.codigo_unidad == "TI-01").values(active=False))
        conn.execute(update(people).where(people.c.rut == someone).values(rut_jefatura="1-9"))
        no_root = update(units).where(units.c.codigo_unidad == "GG")
        conn.execute(no_root.values(codigo_unidad_padre="ADM"))

    result = check_live_quality(engine, settings, client_id="acme")

    assert not result.success
    person_refs = failures_by_column(result, "personas.referential_integrity")
    unit = person_refs["codigo_unidad"]
    assert unit.unexpected_values == ["TI-01"]
    assert unit.unexpected_count == len(in_ti01) > 0
    assert sorted(unit.rows) == in_ti01
    assert unit.description == "every active person is in an active unit"
    manager = person_refs["rut_jefatura"]
    assert (manager.unexpected_values, manager.rows) == (["1-9"], [someone])
    root = failures_by_column(result, "unidades.referential_integrity")["codigo_unidad_padre"]
    assert root.expectation == "expect_column_proportion_of_non_null_values_to_be_between"
    assert root.observed_value == 1.0
    passing = {s.name for s in result.client("acme").suites if s.success}
    assert passing == {"unidades.completeness", "personas.completeness", "personas.uniqueness"}


def test_blank_name_and_shared_email_fail_completeness_and_uniqueness(
    engine: Engine, settings: Settings, acme: str
) -> None:
    first, second, third = ruts(engine)[:3]
    with engine.connect() as conn:
        email = conn.execute(select(people.c.email).where(people.c.rut == third)).scalar_one()
    with engine.begin() as conn:
        conn.execute(update(people).where(people.c.rut == first).values(nombres=""))
        conn.execute(update(people).where(people.c.rut == second).values(email=email))

    result = check_live_quality(engine, settings, client_id="acme")

    blank = failures_by_column(result, "personas.completeness")["nombres"]
    assert (blank.expectation, blank.unexpected_values, blank.rows) == (
        "expect_column_value_lengths_to_be_between",
        [""],
        [first],
    )
    shared = failures_by_column(result, "personas.uniqueness")["email"]
    assert shared.unexpected_values == [email]
    assert sorted(shared.rows) == sorted([second, third])
    assert result.client("acme").suite("personas.referential_integrity").success


def test_client_without_data_is_skipped_not_failed(engine: Engine, settings: Settings) -> None:
    register(engine, "nuevo")

    result = check_live_quality(engine, settings)

    client = result.client("nuevo")
    assert result.success
    assert client.suites == []
    assert client.skipped
    assert client.rows == {UNIDADES: 0, PERSONAS: 0}


# --- volume of an upload ---------------------------------------------------------------------


def test_volume_flags_half_the_people_and_passes_a_normal_month(
    engine: Engine, settings: Settings, acme: str, samples: Path
) -> None:
    december = validate_upload([samples / DEC]).frames
    halved = {**december, PERSONAS: december[PERSONAS].iloc[::2]}

    normal = check_upload_volume(engine, settings, "acme", december)
    flagged = check_upload_volume(engine, settings, "acme", halved)

    assert normal.success, normal.to_dict()
    assert normal.client("acme").baseline == {UNIDADES: 22, PERSONAS: 250}
    assert not flagged.success
    assert flagged.client("acme").suite("unidades.volume").success
    (failure,) = flagged.client("acme").suite("personas.volume").failures
    assert failure.expectation == "expect_table_row_count_to_be_between"
    assert failure.observed_value == len(halved[PERSONAS]) == 127
    assert failure.expected == {"min_value": 200, "max_value": 375}


def test_volume_has_no_bound_for_a_client_without_data(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    register(engine, "nuevo")
    november = validate_upload([samples / NOV]).frames
    one_row = {name: frame.iloc[:1] for name, frame in november.items()}

    for upload in (november, one_row):
        result = check_upload_volume(engine, settings, "nuevo", upload)
        assert result.success, result.to_dict()
        assert result.client("nuevo").baseline == {UNIDADES: 0, PERSONAS: 0}


# --- pure helpers and failure handling (no database) -----------------------------------------


@pytest.mark.parametrize(
    ("current", "options", "bounds"),
    [
        (0, {}, (0, None)),
        (5, {}, (0, 15)),
        (22, {}, (12, 33)),
        (250, {}, (200, 375)),
        (100_000, {}, (80_000, 150_000)),
        (250, {"min_ratio": 0.5, "max_ratio": 2.0, "slack": 0}, (125, 500)),
    ],
)
def test_volume_bounds(current: int, options: dict[str, Any], bounds: tuple[int, int]) -> None:
    assert volume_bounds(current, **options) == bounds


def test_volume_refuses_bounds_that_make_no_sense() -> None:
    with pytest.raises(ValueError, match="min_ratio"):
        check_batch_volume({}, {}, min_ratio=1.2)


def frames(n_people: int) -> dict[str, pd.DataFrame]:
    return {PERSONAS: pd.DataFrame({"rut": [f"{i}-0" for i in range(n_people)]})}


def test_gx_errors_come_back_in_the_result_never_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing_column(*_args: Any) -> quality.Build:
        return lambda expect: {"volume": [expect.ExpectColumnValuesToNotBeNull(column="nope")]}

    def bad_expectation(*_args: Any) -> quality.Build:
        return lambda expect: {"volume": [expect.ExpectTableRowCountToBeBetween(min_value="x")]}

    monkeypatch.setattr(quality, "_volume_expectations", missing_column)
    in_expectation = check_batch_volume(frames(3), frames(3))
    monkeypatch.setattr(quality, "_volume_expectations", bad_expectation)
    in_suite = check_batch_volume(frames(3), frames(3))

    (failure,) = in_expectation.client("upload").suite("personas.volume").failures
    assert not in_expectation.success
    assert "nope" in (failure.error or "")
    suite = in_suite.client("upload").suite("personas.volume")
    assert not in_suite.success
    assert (suite.error or "").startswith("ValidationError")


def test_docs_that_cannot_be_written_are_reported_not_raised(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")

    result = check_batch_volume(frames(3), frames(3), docs_dir=blocked)

    assert result.success
    assert result.docs_index is None
    assert result.docs_error


def test_a_check_opens_no_network_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        attempts.append(address)
        return real_connect(sock, address)

    def getaddrinfo(host: Any, *_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(f"name lookup of {host!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    result = check_batch_volume(frames(3), frames(4), docs_dir=tmp_path / "docs")

    assert result.success
    assert result.docs_index
    assert attempts == []
