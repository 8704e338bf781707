"""Table- and batch-level data-quality suites in Great Expectations (SPEC §7): live data, volume.

pandera (``schemas/``) owns the per-file schema and cell rules; the suites here look at what a
single file cannot show: the live tables of a client as a whole (completeness, unique emails,
references between active rows, a root unit) and the size of an upload against the current data.

Plain functions for the ``scheduled-validation`` flow. Each call builds its own ephemeral GX
context, so nothing is persisted but the optional Data Docs site, and any GX failure comes back
inside the result (``success=False`` and an ``error``), never as an exception. Database problems
are not GX failures: they raise ``DatabaseUnavailableError`` like everywhere else.

Great Expectations is imported inside the functions: it takes seconds to import, and the
commands that do not check quality should not pay for it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from loaders.current import fetch_current
from loaders.store import KEYS, get_client, list_clients
from orgload import clock
from orgload.columns import PERSONAS, SHEETS, UNIDADES
from orgload.db import is_postgres, reachable, reading
from orgload.settings import Settings

log = logging.getLogger(__name__)

ENTITIES = (UNIDADES, PERSONAS)

# Columns that must hold a value in every active row: those the column specs make non-nullable
# (the NOT NULL columns of the live tables), in sheet order. ``perfil`` is one: optional in the
# upload, but a blank becomes the default profile.
REQUIRED: dict[str, tuple[str, ...]] = {
    entity: tuple(c.name for c in SHEETS[entity].columns if not c.nullable) for entity in ENTITIES
}

# A reference column is checked against its match: the same value where it names an active row
# of the target entity, null where it does not (see ``add_matches``).
MATCH_SUFFIX = "__activo"


@dataclass(frozen=True, slots=True)
class Reference:
    """A column of ``entity`` whose non-null values must be keys of active ``target`` rows."""

    entity: str
    column: str
    target: str
    description: str

    @property
    def match_column(self) -> str:
        return f"{self.column}{MATCH_SUFFIX}"


REFERENCES = (
    Reference(PERSONAS, "codigo_unidad", UNIDADES, "every active person is in an active unit"),
    Reference(PERSONAS, "rut_jefatura", PERSONAS, "every manager of a person is an active person"),
    Reference(UNIDADES, "rut_jefatura", PERSONAS, "every manager of a unit is an active person"),
    Reference(UNIDADES, "codigo_unidad_padre", UNIDADES, "every parent unit is an active unit"),
)

LIVE_CONCERNS: dict[str, tuple[str, ...]] = {
    UNIDADES: ("completeness", "referential_integrity"),
    PERSONAS: ("completeness", "uniqueness", "referential_integrity"),
}

# Volume of an upload against the client's current active rows (an early warning; the load's
# mass-change guard is what refuses an apply).
DEFAULT_MIN_RATIO = 0.8
DEFAULT_MAX_RATIO = 1.5
DEFAULT_SLACK = 10

MAX_VALUES = 20  # unexpected values and rows kept per failed expectation
DOCS_SITE = "orgload"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": MAX_VALUES}

# GX 1.24 imports the stdlib modules Python 3.11 deprecated; nothing else it does warns.
_GX_IMPORT_WARNING = r"module 'sre_(constants|parse)' is deprecated"
# GX keeps a process-wide "current context"; one GX run at a time per process keeps two runs
# (threads of one Prefect worker) from resolving objects through each other's context.
_GX_LOCK = threading.Lock()


# Makes the expectations of each concern of a table, given ``gx.expectations``.
Build = Callable[[Any], dict[str, list[Any]]]


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """One expectation that did not hold, or could not be evaluated (``error``).

    ``rows`` identify offending rows: keys for live tables (RUT, unit code), Excel row numbers
    for an upload. Values and rows are capped at ``MAX_VALUES``.
    """

    expectation: str
    column: str | None
    description: str | None
    unexpected_count: int | None = None
    unexpected_values: list[Any] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)
    observed_value: Any = None
    expected: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class SuiteResult:
    """One suite on one table: ``name`` is ``entity.concern``, e.g. ``personas.uniqueness``."""

    name: str
    success: bool
    statistics: dict[str, Any] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "success": self.success,
            "statistics": self.statistics,
            "failures": [f.to_dict() for f in self.failures],
            "error": self.error,
        }


@dataclass(slots=True)
class ClientQuality:
    """The suites of one client. ``rows`` are the rows checked per entity; ``baseline`` the
    current active rows an upload was compared with (volume checks only)."""

    client_id: str
    rows: dict[str, int]
    suites: list[SuiteResult] = field(default_factory=list)
    baseline: dict[str, int] | None = None
    skipped: str | None = None

    @property
    def success(self) -> bool:
        return all(s.success for s in self.suites)

    def suite(self, name: str) -> SuiteResult:
        for suite in self.suites:
            if suite.name == name:
                return suite
        raise KeyError(f"no suite {name!r} for client {self.client_id!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "success": self.success,
            "rows": self.rows,
            "baseline": self.baseline,
            "skipped": self.skipped,
            "suites": [s.to_dict() for s in self.suites],
        }


@dataclass(slots=True)
class QualityResult:
    """What a quality check found; ``to_dict`` is JSON-ready (a flow artifact).

    ``success`` is about the data; a Data Docs site that could not be built is reported in
    ``docs_error`` without failing the check. ``error`` means the check itself could not run.
    """

    check: str  # "live" | "volume"
    clients: list[ClientQuality] = field(default_factory=list)
    docs_index: str | None = None
    docs_error: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return self.error is None and all(c.success for c in self.clients)

    def client(self, client_id: str) -> ClientQuality:
        for client in self.clients:
            if client.client_id == client_id:
                return client
        raise KeyError(f"client {client_id!r} was not checked")

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "success": self.success,
            "error": self.error,
            "docs_index": self.docs_index,
            "docs_error": self.docs_error,
            "seconds": self.seconds,
            "clients": [c.to_dict() for c in self.clients],
        }


# --- the live tables -------------------------------------------------------------------------


def _published(
    engine: Engine, settings: Settings, client_id: str | None, docs_dir: Path
) -> QualityResult:
    """``check_live_quality`` with its Data Docs built aside and published to the store: every
    file of the new site under ``<docs key>/``, then the pages of older sites removed."""
    import shutil

    from orgload.storage import open_storage, temp_folder

    try:
        key = docs_dir.relative_to(settings.home).as_posix()
    except ValueError:
        key = "outbox/_data_docs"
    scratch = temp_folder(settings.home)
    try:
        site = scratch / "site"
        local = settings.model_copy(update={"storage": "local"})
        result = check_live_quality(engine, local, client_id, docs_dir=site)
        if result.docs_index is None:
            return result
        store = open_storage(settings, engine)
        try:
            _publish(store, site, key)
        except OSError as exc:  # docs are a by-product; the check still stands
            log.warning("Data Docs not published to the store: %s", exc)
            result.docs_error = _describe(exc)
            result.docs_index = None
            return result
        result.docs_index = store.location(f"{key}/index.html")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _publish(store: Any, site: Path, key: str) -> None:
    from orgload.db import STAFF_OWNER, staff

    with staff():
        written = set()
        for path in sorted(p for p in site.rglob("*") if p.is_file() and not p.is_symlink()):
            name = f"{key}/{path.relative_to(site).as_posix()}"
            with path.open("rb") as source:
                store.put(name, source, client_id=STAFF_OWNER)
            written.add(name)
        for old in store.list_keys(f"{key}/", client_id=STAFF_OWNER):
            if old not in written:
                store.delete(old, client_id=STAFF_OWNER)


def check_live_quality(
    engine: Engine,
    settings: Settings,
    client_id: str | None = None,
    docs_dir: Path | None = None,
) -> QualityResult:
    """Run the live-table suites for one client (or every registered client).

    Each client is read in one consistent snapshot and checked on its active rows only. A client
    with no active data yet is reported as skipped. With ``docs_dir``, a Data Docs site of this
    run is built there (its ``index.html`` in ``docs_index``). Raises only for project errors
    (``UnknownClientError``, ``DatabaseUnavailableError``).
    With the database store (``ORGLOAD_STORAGE=database``) the site is built in a temporary
    folder and published to the store under the same key (``outbox/_data_docs/…``, staff
    only), so that every worker and web process reaches the latest one.
    """
    if docs_dir is not None and settings.storage == "database":
        return _published(engine, settings, client_id, docs_dir)
    started = time.perf_counter()
    result = QualityResult("live")
    with reachable(settings), reading(engine) as conn:
        if client_id is not None:
            client_ids = [get_client(conn, client_id).id]
        else:
            client_ids = [c.id for c in list_clients(conn)]
    with _gx_session(result, "live-quality", docs_dir, clock.now(settings)) as session:
        for cid in client_ids:
            if session is None:
                break  # result.error says why; no point reading the data
            frames = read_active(engine, settings, cid)
            client = ClientQuality(cid, {entity: len(frames[entity]) for entity in ENTITIES})
            result.clients.append(client)
            if not any(client.rows.values()):
                client.skipped = "no active data: nothing has been loaded yet"
                continue
            for entity in ENTITIES:
                client.suites += session.validate(
                    cid,
                    entity,
                    add_matches(frames, entity),
                    LIVE_CONCERNS[entity],
                    partial(_live_expectations, entity=entity),
                )
    result.seconds = round(time.perf_counter() - started, 3)
    _log_result(result)
    return result


def read_active(engine: Engine, settings: Settings, client_id: str) -> dict[str, pd.DataFrame]:
    """A client's active rows, both entities read in one snapshot.

    On PostgreSQL the read is one REPEATABLE READ, read-only transaction, so a load committing
    between the two tables cannot make a reference look broken; SQLite serializes it anyway.
    """
    with reachable(settings), reading(engine) as conn:
        if is_postgres(conn):
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        return fetch_active(conn, client_id)


def fetch_active(conn: Connection, client_id: str) -> dict[str, pd.DataFrame]:
    """Active rows per entity: the key as a column and as the index, normalized text values."""
    frames = {}
    for entity in ENTITIES:
        current = fetch_current(conn, client_id, entity)
        active = current[current["active"]].drop(columns=["active", "load_id"]).reset_index()
        # Indexed by key so that a failure names the offending rows (GX reports the index).
        active.index = pd.Index(active[KEYS[entity]].to_numpy())
        frames[entity] = active
    return frames


def add_matches(frames: Mapping[str, pd.DataFrame], entity: str) -> pd.DataFrame:
    """``entity``'s checked columns plus, per reference, its match among the active target keys.

    GX's ``ExpectColumnValuesToBeInSet`` copies its value set through every metric it resolves
    and every page it renders (a 100k-RUT set: 36 s for one table, a 5.7 MB page), so references
    are checked like a left join instead:
    ``column`` must equal ``column__activo``, which is null where the value names no active row.
    """
    references = [ref.column for ref in REFERENCES if ref.entity == entity]
    # Only the checked columns: GX hashes the whole frame once per suite to name the batch.
    frame = frames[entity][list(dict.fromkeys([*REQUIRED[entity], *references]))].copy()
    for ref in REFERENCES:
        if ref.entity == entity:
            keys = frames[ref.target][KEYS[ref.target]].astype(object)
            values = frame[ref.column]
            # Object isin is one hash lookup; Arrow-backed isin boxes every key (~12× slower).
            frame[ref.match_column] = values.where(values.astype(object).isin(keys))
    return frame


def _live_expectations(expect: Any, entity: str) -> dict[str, list[Any]]:
    """The expectations of each live concern of ``entity`` (``expect`` is ``gx.expectations``)."""
    completeness = []
    for column in REQUIRED[entity]:
        completeness += [
            expect.ExpectColumnValuesToNotBeNull(column=column),
            expect.ExpectColumnValueLengthsToBeBetween(
                column=column,
                min_value=1,
                description=f"{column} is never an empty string",
            ),
        ]
    integrity = [
        expect.ExpectColumnPairValuesToBeEqual(
            column_A=ref.column,
            column_B=ref.match_column,
            ignore_row_if="both_values_are_missing",
            description=ref.description,
        )
        for ref in REFERENCES
        if ref.entity == entity
    ]
    if entity == UNIDADES:
        integrity.append(
            expect.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column="codigo_unidad_padre",
                max_value=1.0,
                strict_max=True,
                description="at least one active unit has no parent: the tree has a root",
            )
        )
    suites = {"completeness": completeness, "referential_integrity": integrity}
    if entity == PERSONAS:
        suites["uniqueness"] = [
            expect.ExpectColumnValuesToBeUnique(
                column="email", description="no two active people share an email"
            )
        ]
    return suites


# --- the volume of an upload -----------------------------------------------------------------


def volume_bounds(
    current: int,
    *,
    min_ratio: float = DEFAULT_MIN_RATIO,
    max_ratio: float = DEFAULT_MAX_RATIO,
    slack: int = DEFAULT_SLACK,
) -> tuple[int, int | None]:
    """Row counts an upload may have against ``current`` active rows: ``(low, high)``.

    Between ``min_ratio`` and ``max_ratio`` of the current count, but a change of up to ``slack``
    rows is never flagged (a 5-unit client adding 3 units is no alarm). No current data (a first
    load): any count, ``(0, None)``.
    """
    if current <= 0:
        return 0, None
    low = max(0, min(math.ceil(current * min_ratio), current - slack))
    high = max(math.floor(current * max_ratio), current + slack)
    return low, high


def check_batch_volume(
    upload_frames: Mapping[str, pd.DataFrame],
    current_frames: Mapping[str, pd.DataFrame],
    *,
    client_id: str = "upload",
    min_ratio: float = DEFAULT_MIN_RATIO,
    max_ratio: float = DEFAULT_MAX_RATIO,
    slack: int = DEFAULT_SLACK,
    docs_dir: Path | None = None,
    now: datetime | None = None,
) -> QualityResult:
    """Is each sheet of a pending upload within the volume bounds of the current data?

    ``upload_frames`` are ``ValidatedUpload.frames`` (a missing sheet is validation's business
    and is skipped here); ``current_frames`` the client's active rows (``read_active``; rows with
    ``active`` false are ignored if given). One suite per sheet, ``<sheet>.volume``.
    """
    if not 0 <= min_ratio <= 1 <= max_ratio or slack < 0:
        raise ValueError("volume bounds need 0 <= min_ratio <= 1 <= max_ratio and slack >= 0")
    started = time.perf_counter()
    result = QualityResult("volume")
    entities = [entity for entity in ENTITIES if entity in upload_frames]
    baseline = {entity: _active_count(current_frames.get(entity)) for entity in ENTITIES}
    client = ClientQuality(
        client_id, {entity: len(upload_frames[entity]) for entity in entities}, baseline=baseline
    )
    result.clients.append(client)
    with _gx_session(result, "upload-volume", docs_dir, now or datetime.now(UTC)) as session:
        for entity in entities:
            if session is None:
                break
            bounds = volume_bounds(
                baseline[entity], min_ratio=min_ratio, max_ratio=max_ratio, slack=slack
            )
            build = _volume_expectations(bounds, baseline[entity], min_ratio, max_ratio, slack)
            client.suites += session.validate(
                client_id, entity, upload_frames[entity], ("volume",), build
            )
    result.seconds = round(time.perf_counter() - started, 3)
    _log_result(result)
    return result


def check_upload_volume(
    engine: Engine,
    settings: Settings,
    client_id: str,
    upload_frames: Mapping[str, pd.DataFrame],
    *,
    min_ratio: float = DEFAULT_MIN_RATIO,
    max_ratio: float = DEFAULT_MAX_RATIO,
    slack: int = DEFAULT_SLACK,
    docs_dir: Path | None = None,
) -> QualityResult:
    """``check_batch_volume`` against the client's current active rows, read from the database."""
    with reachable(settings), reading(engine) as conn:
        get_client(conn, client_id)
    return check_batch_volume(
        upload_frames,
        read_active(engine, settings, client_id),
        client_id=client_id,
        min_ratio=min_ratio,
        max_ratio=max_ratio,
        slack=slack,
        docs_dir=docs_dir,
        now=clock.now(settings),
    )


def _volume_expectations(
    bounds: tuple[int, int | None], current: int, min_ratio: float, max_ratio: float, slack: int
) -> Build:
    low, high = bounds
    if high is None:
        text = "first load: any number of rows (no current data)"
    else:
        text = (
            f"between {low} and {high} rows: {current} active now, "
            f"{min_ratio:.0%}–{max_ratio:.0%} or ±{slack} rows"
        )

    def build(expect: Any) -> dict[str, list[Any]]:
        return {
            "volume": [
                expect.ExpectTableRowCountToBeBetween(
                    min_value=low, max_value=high, description=text
                )
            ]
        }

    return build


def _active_count(frame: pd.DataFrame | None) -> int:
    if frame is None:
        return 0
    if "active" in frame.columns:
        return int(frame["active"].astype(bool).sum())
    return len(frame)


# --- running GX ------------------------------------------------------------------------------


class _Session:
    """One ephemeral GX context for one run: a pandas data source, one checkpoint per table."""

    def __init__(self, gx: Any, run_name: str, docs_dir: Path | None, run_time: datetime) -> None:
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        sites = {}
        if docs_dir is not None:
            sites[DOCS_SITE] = {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        config = DataContextConfig(
            # No temporary docs site: the ephemeral default would write one under /tmp.
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            data_docs_sites=sites,
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),  # tqdm bars on stderr otherwise
        )
        self.gx = gx
        self.docs_dir = docs_dir
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        self.source = self.context.data_sources.add_pandas(run_name)
        self.run_id = gx.RunIdentifier(run_name=run_name, run_time=run_time)

    def validate(
        self,
        client_id: str,
        entity: str,
        frame: pd.DataFrame,
        concerns: tuple[str, ...],
        build: Build,
    ) -> list[SuiteResult]:
        """Run the suites ``build`` makes on ``frame``; a GX failure fails them all, with why."""
        gx = self.gx
        try:
            suites = build(gx.expectations)
            asset = self.source.add_dataframe_asset(f"{client_id}.{entity}")
            batch = asset.add_batch_definition_whole_dataframe("batch")
            definitions = []
            for concern in concerns:
                suite = self.context.suites.add(
                    gx.ExpectationSuite(
                        name=f"{client_id}.{entity}.{concern}", expectations=suites[concern]
                    )
                )
                definitions.append(
                    self.context.validation_definitions.add(
                        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
                    )
                )
            checkpoint = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=f"{client_id}.{entity}",
                    validation_definitions=definitions,
                    result_format=RESULT_FORMAT,
                )
            )
            outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=self.run_id)
            by_suite = {r.suite_name: r for r in outcome.run_results.values()}
            return [
                _suite_result(f"{entity}.{concern}", by_suite[f"{client_id}.{entity}.{concern}"])
                for concern in concerns
            ]
        except Exception as exc:  # noqa: BLE001 - a GX failure is a failed suite, not a traceback
            log.warning("quality suites of %s/%s could not run: %s", client_id, entity, exc)
            return [
                SuiteResult(f"{entity}.{concern}", False, error=_describe(exc))
                for concern in concerns
            ]

    def build_docs(self, result: QualityResult) -> None:
        """Build the Data Docs site of this run; a failure is recorded, never raised.

        The site shows exactly this run: GX removes pages its in-memory stores do not know.
        """
        if self.docs_dir is None:
            return
        try:
            self.docs_dir.mkdir(parents=True, exist_ok=True)
            self.context.build_data_docs(site_names=[DOCS_SITE])
            index = self.docs_dir / "index.html"
            if not index.is_file():
                raise FileNotFoundError(f"GX wrote no {index}")
            result.docs_index = str(index)
        except Exception as exc:  # noqa: BLE001 - docs are a by-product; the check still stands
            log.warning("Data Docs not built in %s: %s", self.docs_dir, exc)
            result.docs_error = _describe(exc)


@contextmanager
def _gx_session(
    result: QualityResult, run_name: str, docs_dir: Path | None, run_time: datetime
) -> Iterator[_Session | None]:
    """A GX session, or None (with ``result.error`` set) if GX cannot start; docs at the end."""
    with _GX_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", _GX_IMPORT_WARNING, DeprecationWarning)
        try:
            session: _Session | None = _Session(_import_gx(), run_name, docs_dir, run_time)
        except Exception as exc:  # noqa: BLE001 - reported in the result, the caller goes on
            log.warning("Great Expectations could not start: %s", exc)
            result.error = f"Great Expectations could not start: {_describe(exc)}"
            session = None
        yield session
        if session is not None:
            session.build_docs(result)


def _import_gx() -> Any:
    # No usage statistics, whatever the environment says; GX reads this when it starts.
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:
        gx_log.setLevel(logging.WARNING)  # its INFO lines are internals (docs registry, config)
    import great_expectations as gx

    return gx


# --- GX results into plain data --------------------------------------------------------------


def _suite_result(name: str, validation: Any) -> SuiteResult:
    failures = [_failure(r) for r in validation.results if not r.success]
    statistics = {str(k): _plain(v) for k, v in dict(validation.statistics).items()}
    return SuiteResult(name, bool(validation.success), statistics, failures)


def _failure(outcome: Any) -> Failure:
    config = outcome.expectation_config
    kwargs = dict(config.kwargs)
    details = dict(outcome.result or {})
    values = list(details.get("partial_unexpected_list") or [])
    if "column_A" in kwargs:
        values = [v[0] for v in values]  # (value, its match): the value is what is wrong
    return Failure(
        expectation=str(config.type),
        column=kwargs.get("column") or kwargs.get("column_A"),
        description=config.description,
        unexpected_count=_plain(details.get("unexpected_count")),
        unexpected_values=_distinct(values)[:MAX_VALUES],
        rows=[_plain(i) for i in details.get("partial_unexpected_index_list") or []][:MAX_VALUES],
        observed_value=_plain(details.get("observed_value")),
        expected={
            k: _plain(kwargs[k]) for k in ("min_value", "max_value") if kwargs.get(k) is not None
        },
        error=_exception_message(outcome.exception_info),
    )


def _exception_message(info: Any) -> str | None:
    """GX gives one ``{raised_exception, exception_message, …}`` or a dict of them by metric."""
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    messages = [m for m in (_exception_message(v) for v in info.values()) if m]
    return "; ".join(dict.fromkeys(messages)) or None


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(_plain(v) for v in values))


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars unwrapped, NaN/NA as None, tuples as lists."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _log_result(result: QualityResult) -> None:
    failed = [f"{c.client_id}/{s.name}" for c in result.clients for s in c.suites if not s.success]
    log.info(
        "%s quality check of %d client(s) in %.1f s: %s",
        result.check,
        len(result.clients),
        result.seconds,
        "all suites pass" if result.success else f"failed {', '.join(failed) or result.error}",
    )
