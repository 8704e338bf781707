"""Benchmark ``orgload load`` (SPEC §3–4) on PostgreSQL and SQLite against a naive pandas load.

Usage::

    python bench/bench_load.py [--people 100000] [--units 5000] [--big 500000]
                               [--out bench/results/load.json]

Measured in one run, every figure from a fresh child process (wall time and peak RSS through the
``python -I -S`` launcher of ``bench_validate.py``, which reads them from ``os.wait4``):

1. the naive baseline: ``pandas.read_excel`` (openpyxl) and ``DataFrame.to_sql`` of both sheets
   into a fresh PostgreSQL database;
2. ``orgload load`` of the main workbook into a new PostgreSQL client (first load);
3. the same into SQLite (a fresh ``ORGLOAD_HOME``, default SQLite file);
4. the monthly delta (next month: ~4 % of people updated, hired or gone, 1 % of units renamed)
   loaded after 2: the whole command, and the apply step alone — ``apply_plan`` timed inside a
   child that calls the library (validate, plan, then apply in a transaction rolled back);
5. a cosmetic re-upload (same data, other spacing, case and RUT dots) loaded after 2: it must be
   ``no_changes`` and take no longer than ``orgload validate`` of the same file;
6. the peak RSS of 2; 7. with ``--big N``: the first load of an N-person workbook (PostgreSQL).

Every repetition loads into new clients (``bench1``…; ``tiny1``… for a 30-person load that
shows the fixed cost of a command): one PostgreSQL database per series, one SQLite home per
repetition. ``orgload validate`` of the cosmetic workbook runs right before its re-upload, so each
ratio compares two runs made under the same machine load. The children run a copy of the code
taken at the start (``--no-snapshot`` to run the live tree), since the tree may change during a
run; the commit and a fingerprint of the code measured are recorded. The children cache
bytecode (under ``bench/.cache/pycache``, warmed on the tiny workbook first) even when the
environment sets ``PYTHONDONTWRITEBYTECODE``, as a deployed machine has its code compiled once;
``--cold-bytecode`` runs them with the environment as it is.
``--profile-dir`` writes cProfile stats of the apply-step children.

Workbooks are cached in ``bench/.cache/`` (the main and big ones are shared with
``bench_validate.py``); the databases, homes and code copy of a run are removed at its end, also
on failure or SIGTERM. Exits non-zero when a target is missed or an outcome is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import inspect
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

# bench/ (for bench_validate) and the repository root (for sample_data, loaders, orgload)
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_validate import (
    BENCH_DIR,
    BENCH_SEED,
    CACHE_DIR,
    GENERATOR,
    TINY_PEOPLE,
    TINY_UNITS,
    VENV_BIN,
    Check,
    Context,
    Measurement,
    Run,
    blank_rows_fit,
    check_report,
    describe_machine,
    describe_workbook,
    ensure_workbook,
    fingerprint_generator,
    last_message,
    log,
    parse_report,
    render_markdown,
    run_child,
)

from sample_data.generate import (
    CARGOS,
    Row,
    build_org,
    count_changes,
    draw_rut_numbers,
    make_person,
    make_rut,
    move_person,
    sort_personas,
    write_xlsx,
)

COSMETIC_SEED = BENCH_SEED + 1
DELTA_SEED = BENCH_SEED + 2
UPDATED_FRACTION = 0.02  # half a new cargo, half moved to another unit
NEW_FRACTION = 0.01
REMOVED_FRACTION = 0.01
UNIT_RENAMED_FRACTION = 0.01
HIRES_WINDOW = (dt.date(2026, 11, 2), dt.date(2026, 12, 1))

FIRST_NOW = "2026-11-10T10:00:00-03:00"
COSMETIC_NOW = "2026-11-20T10:00:00-03:00"  # same period as the first load: no quota left
DELTA_NOW = "2026-12-10T10:00:00-03:00"  # next period: the delta uses December's quota
PG_SERVER = "postgres@127.0.0.1:5432"
VALIDATE_LABEL = "orgload validate, cosmetic re-upload"
TINY_LABEL = "orgload load, tiny workbook (start-up)"
POSTGRES = "PostgreSQL"
SQLITE = "SQLite"

CODE_FOLDERS = (
    "orgload",
    "schemas",
    "loaders",
    "quality",
    "support",
    "service",
    "cli",
    "flows",
    "migrations",
)
IMPORT_PROBE = (
    "import json, loaders, orgload, schemas, service, cli;"
    " print(json.dumps([m.__file__ for m in (loaders, orgload, schemas, service, cli)]))"
)

MIN_BASELINE_RATIO = 5.0
MAX_SQLITE_OVER_PG = 2.0
MAX_APPLY_SECONDS = 1.0
MAX_COSMETIC_OVER_VALIDATE = 1.2
MAX_RSS_MB = 500.0
MAX_BIG_RSS_MB = 2500.0

# the naive way: read both sheets with pandas, write them with to_sql; prints its stage times
BASELINE_CODE = """
import json, sys, time
import pandas as pd
from sqlalchemy import create_engine
started = time.perf_counter()
sheets = pd.read_excel(sys.argv[1], sheet_name=None, engine="openpyxl")
read = time.perf_counter()
engine = create_engine(sys.argv[2])
for name, frame in sheets.items():
    frame.to_sql(name.lower(), engine, if_exists="replace", index=False)
engine.dispose()
done = time.perf_counter()
rows = {name: len(frame) for name, frame in sheets.items()}
print(json.dumps({"read_s": read - started, "to_sql_s": done - read, "rows": rows}))
"""


@dataclass
class Workbooks:
    """The workbooks of a run, all in the cache, and the changes each load must report."""

    first: Path
    cosmetic: Path
    delta: Path
    big: Path | None
    tiny: Path
    delta_changes: dict[str, dict[str, int]]


@dataclass
class Series:
    """Everything measured on one backend: runs by measurement, outcome problems, notes."""

    backend: str
    runs: dict[str, list[Run]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    apply_steps: list[dict[str, Any]] = field(default_factory=list)
    apply_rss_mb: list[float] = field(default_factory=list)

    def add(self, label: str, command: list[str], run: Run, problem: str | None) -> None:
        """Record one run of a measurement and, if its outcome was wrong, why."""
        self.runs.setdefault(label, []).append(run)
        self.commands.setdefault(label, command)
        self.problems.setdefault(label, [])
        if problem:
            self.problems[label].append(problem)


class PgDatabases:
    """Creates this run's PostgreSQL databases and drops every one of them, whatever happens."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.created: list[str] = []

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(f"postgresql://{self.server}/postgres", autocommit=True)

    def create(self, label: str) -> str:
        """Create ``orgload_bench_<pid>_<label>``; return its SQLAlchemy URL."""
        name = f"orgload_bench_{os.getpid()}_{label}"
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"postgresql+psycopg://{self.server}/{name}"

    def drop(self, url: str) -> None:
        """Drop one database created here (open connections are terminated)."""
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.remove(name)

    def drop_all(self) -> None:
        """Drop whatever is left; failures are logged, not raised."""
        for name in list(self.created):
            try:
                self.drop(f"postgresql+psycopg://{self.server}/{name}")
            except Exception as exc:  # noqa: BLE001 — cleanup must go on
                log(f"could not drop database {name}: {exc}")


class Homes:
    """Temporary folders under the bench cache (homes, the code copy), removed at the end."""

    def __init__(self) -> None:
        self.created: list[Path] = []

    def new(self, label: str) -> Path:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix=f"load_home_{label}_", dir=CACHE_DIR))
        self.created.append(home)
        return home

    def remove_all(self) -> None:
        for home in self.created:
            shutil.rmtree(home, ignore_errors=True)
        self.created.clear()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000, help="people in the main workbook")
    parser.add_argument("--units", type=int, default=5_000, help="units in every workbook")
    parser.add_argument("--big", type=int, default=0, help="also load a workbook this large")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "load.json")
    parser.add_argument("--repeat", type=int, default=3, help="runs per orgload measurement")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run dies")
    parser.add_argument("--pg-server", default=PG_SERVER, help="user@host:port of PostgreSQL")
    parser.add_argument("--skip-baseline", action="store_true", help="no pandas baseline")
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="run the working tree live instead of a copy of it taken at the start (other"
        " engineers commit while a run goes on; the copy keeps every figure on one version)",
    )
    parser.add_argument(
        "--cold-bytecode",
        dest="warm_bytecode",
        action="store_false",
        help="run the children with the environment as it is; by default they cache bytecode"
        " in bench/.cache/pycache (PYTHONPYCACHEPREFIX, PYTHONDONTWRITEBYTECODE unset) and it is"
        " warmed on the tiny workbook first, as on a deployed machine, where the installed"
        " code is compiled once (`make setup` sets UV_COMPILE_BYTECODE)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="write cProfile stats of the apply-step children (validate, plan, apply) here",
    )
    parser.add_argument("--orgload", type=Path, default=VENV_BIN / "orgload")
    parser.add_argument("--python", type=Path, default=VENV_BIN / "python")
    # internal: the in-process apply-step measurement, run in a child of this script
    parser.add_argument("--apply-step", nargs=2, metavar=("CLIENT", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# workbooks


def derive_next_month(
    units: Sequence[Row], people: Sequence[Row], seed: int
) -> tuple[list[Row], list[Row]]:
    """Return the organization a month later: people 2 % updated, 1 % hired, 1 % gone; 1 % of
    the units renamed.

    Updated and gone people are drawn among those nobody reports to, so nothing points at a
    person who left and nobody's manager changes. Half the updated get another cargo, half move
    to another leaf unit (and so report to its manager). Hires join random leaf units. Some unit
    change is needed anyway: a load with no unit change at all fails (see the report).
    """
    rng = random.Random(seed)
    n_gone = round(len(people) * REMOVED_FRACTION)
    n_updated = round(len(people) * UPDATED_FRACTION)
    n_new = round(len(people) * NEW_FRACTION)
    referenced = {u["rut_jefatura"] for u in units} | {p["rut_jefatura"] for p in people}
    candidates = [i for i, person in enumerate(people) if person["rut"] not in referenced]
    drawn = rng.sample(candidates, n_gone + n_updated)
    gone = set(drawn[:n_gone])
    parents = {unit["codigo_unidad_padre"] for unit in units}
    leaves = [unit for unit in units if unit["codigo_unidad"] not in parents]
    result = [dict(person) for person in people]
    for order, index in enumerate(drawn[n_gone:]):
        person = result[index]
        if order % 2 == 0:
            person["cargo"] = rng.choice([c for c in CARGOS if c != person["cargo"]])
        else:
            unit = rng.choice(leaves)
            while unit["codigo_unidad"] == person["codigo_unidad"]:
                unit = rng.choice(leaves)
            move_person(person, unit)
    emails = {person["email"] for person in people}
    numbers = draw_rut_numbers(n_new, rng, exclude=[person["rut"] for person in people])
    hires = [
        make_person(rng, make_rut(number), rng.choice(leaves), emails, HIRES_WINDOW)
        for number in numbers
    ]
    kept = [person for index, person in enumerate(result) if index not in gone]
    next_units = [dict(unit) for unit in units]
    for unit in rng.sample(next_units, max(1, round(len(units) * UNIT_RENAMED_FRACTION))):
        unit["nombre_unidad"] = f"{unit['nombre_unidad']} y Proyectos"
    return next_units, sort_personas(next_units, kept + hires)


def fingerprint_derivation() -> str:
    """Hash of the generator and of the delta derivation: either changing regenerates files."""
    source = GENERATOR.read_bytes() + inspect.getsource(derive_next_month).encode()
    fractions = (
        f"{UPDATED_FRACTION}/{NEW_FRACTION}/{REMOVED_FRACTION}/{UNIT_RENAMED_FRACTION}/{DELTA_SEED}"
    ).encode()
    return hashlib.sha256(source + fractions).hexdigest()[:10]


def ensure_variants(n_people: int, n_units: int) -> tuple[Path, Path, dict[str, Any]]:
    """Return the cosmetic and the next-month workbooks and the delta's expected changes.

    Both are derived from the rows of the main workbook (``build_org`` with the bench seed) and
    cached, the expected changes beside the delta workbook as JSON.
    """
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    blanks = blank_rows_fit(n_people)
    stem = f"org_{n_people}p_{n_units}u_{fingerprint_generator()}{'' if blanks else '_noblank'}"
    cosmetic = CACHE_DIR / f"{stem}_cosmetic{COSMETIC_SEED}.xlsx"
    delta = CACHE_DIR / f"{stem}_delta_{fingerprint_derivation()}.xlsx"
    expected_path = delta.with_suffix(".json")
    if cosmetic.exists() and delta.exists() and expected_path.exists():
        return cosmetic, delta, json.loads(expected_path.read_text(encoding="utf-8"))
    log(f"building the {n_people:,}-person organization for the cosmetic and delta workbooks")
    started = time.perf_counter()
    units, people = build_org(n_people, n_units, BENCH_SEED)
    if not cosmetic.exists():
        partial = cosmetic.with_name(f"{cosmetic.stem}.partial.xlsx")
        write_xlsx(partial, units, people, seed=COSMETIC_SEED, blank_rows=blanks)
        partial.replace(cosmetic)
    next_units, next_people = derive_next_month(units, people, DELTA_SEED)
    expected = {
        "unidades": count_changes(units, next_units, "codigo_unidad"),
        "personas": count_changes(people, next_people, "rut"),
    }
    partial = delta.with_name(f"{delta.stem}.partial.xlsx")
    write_xlsx(partial, next_units, next_people, seed=DELTA_SEED, blank_rows=blanks)
    partial.replace(delta)
    expected_path.write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    log(f"built in {time.perf_counter() - started:.1f} s")
    return cosmetic, delta, expected


def prepare_workbooks(args: argparse.Namespace) -> Workbooks:
    """Generate (or find in the cache) every workbook the run needs."""
    first = ensure_workbook(args.people, args.units, spoiled=False)
    cosmetic, delta, expected = ensure_variants(args.people, args.units)
    big = ensure_workbook(args.big, args.units, spoiled=False) if args.big else None
    tiny = ensure_workbook(TINY_PEOPLE, TINY_UNITS, spoiled=False)
    return Workbooks(first, cosmetic, delta, big, tiny, expected)


# ---------------------------------------------------------------------------------------------
# expected outcomes


def first_load_changes(n_people: int, n_units: int) -> dict[str, dict[str, int]]:
    """The changes of a first load: everything inserted."""
    return {
        "unidades": {"inserted": n_units, "updated": 0, "deactivated": 0, "unchanged": 0},
        "personas": {"inserted": n_people, "updated": 0, "deactivated": 0, "unchanged": 0},
    }


def unchanged_changes(n_people: int, n_units: int) -> dict[str, dict[str, int]]:
    """The changes of a re-upload of the same data: nothing but unchanged rows."""
    return {
        "unidades": {"inserted": 0, "updated": 0, "deactivated": 0, "unchanged": n_units},
        "personas": {"inserted": 0, "updated": 0, "deactivated": 0, "unchanged": n_people},
    }


def check_load(run: Run, status: str, changes: dict[str, Any]) -> str | None:
    """Return why a load run's JSON is not the expected status and changes, or None if it is."""
    report = parse_report(run)
    if report is None:
        return f"no JSON (exit {run.exit_code}): {last_message(run.stderr)}"
    if report.get("status") != status:
        detail = report.get("errors") or last_message(run.stderr)
        return f"status {report.get('status')!r} != {status!r} (exit {run.exit_code}): {detail}"
    expected_exit = 0
    if run.exit_code != expected_exit:
        return f"exit {run.exit_code}, expected {expected_exit}"
    if report.get("changes") != changes:
        return f"changes {report.get('changes')} != {changes}"
    return None


# ---------------------------------------------------------------------------------------------
# running


def child_env(
    base: dict[str, str], home: Path, database_url: str | None, now: str | None
) -> dict[str, str]:
    """The environment of one orgload child: its home, its database, its "now"."""
    env = {k: v for k, v in base.items() if not k.startswith("ORGLOAD_")}
    env["ORGLOAD_HOME"] = str(home)
    if database_url:
        env["ORGLOAD_DATABASE_URL"] = database_url
    if now:
        env["ORGLOAD_NOW"] = now
    return env


def run_in(ctx: Context, env: dict[str, str], command: list[str]) -> Run:
    """Run a command through the launcher with the given environment."""
    return run_child(command, replace(ctx, env=env))


def run_setup(ctx: Context, env: dict[str, str], command: list[str]) -> None:
    """Run an unmeasured setup command; raise when it fails."""
    run = run_in(ctx, env, command)
    if run.exit_code != 0:
        raise RuntimeError(
            f"`orgload {' '.join(command[1:])}` exit {run.exit_code}: {last_message(run.stderr)}"
        )


def base_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment every child starts from (``ORGLOAD_*`` is set per child)."""
    env = dict(os.environ)
    if args.warm_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(CACHE_DIR / "pycache")
    return env


def warm_up(args: argparse.Namespace, ctx: Context, homes: Homes, dbs: PgDatabases) -> None:
    """Run every command once on the tiny workbook, unmeasured, to fill the bytecode cache."""
    log("warming the bytecode cache on the tiny workbook")
    tiny_args = argparse.Namespace(**{**vars(args), "people": TINY_PEOPLE, "units": TINY_UNITS})
    tiny_args.repeat = 1
    tiny = prepare_workbooks(argparse.Namespace(**{**vars(tiny_args), "big": 0}))
    run_baseline(ctx, tiny.first, "tiny", homes, dbs)
    for backend in (POSTGRES, SQLITE):
        run_series(backend, tiny_args, ctx, tiny, homes, dbs)


def log_run(label: str, attempt: int, run: Run, problem: str | None) -> None:
    """Progress line of one measured run."""
    verdict = f" — {problem}" if problem else ""
    log(
        f"{label} #{attempt}: {run.seconds:.2f} s, {run.peak_rss_mb:.0f} MB,"
        f" exit {run.exit_code}{verdict}"
    )


def summarize(label: str, workbook: str, series: Series) -> Measurement:
    """Build the measurement of a label from its runs (median time, highest peak RSS)."""
    runs = series.runs[label]
    measurement = Measurement(
        name=label,
        workbook=workbook,
        command=series.commands[label],
        seconds=[round(run.seconds, 3) for run in runs],
        peak_rss_mb=[round(run.peak_rss_mb, 1) for run in runs],
        exit_codes=[run.exit_code for run in runs],
    )
    measurement.notes += series.problems[label]
    return measurement


def measure_apply_step(
    ctx: Context, env: dict[str, str], client: str, path: Path, series: Series, profile: Path | None
) -> None:
    """Run the in-process apply-step child once; record its stage times and peak RSS."""
    command = [str(ctx.python), str(Path(__file__).resolve()), "--apply-step", client, str(path)]
    if profile is not None:
        command += ["--profile", str(profile)]
    run = run_in(ctx, env, command)
    report = parse_report(run)
    if run.exit_code != 0 or report is None:
        message = f"apply-step child exit {run.exit_code}: {last_message(run.stderr)}"
        series.problems.setdefault("apply", []).append(message)
        log(f"{series.backend} apply step: {message}")
        return
    snapshot = env.get("PYTHONPATH", "").split(os.pathsep)[0]
    if snapshot and not Path(report["code"]).is_relative_to(snapshot):
        message = f"apply-step child imported {report['code']}, not the snapshot {snapshot}"
        series.problems.setdefault("apply", []).append(message)
        log(f"{series.backend} apply step: {message}")
        return
    series.apply_steps.append(report)
    series.apply_rss_mb.append(run.peak_rss_mb)
    log(
        f"{series.backend} apply step: apply_plan {report['apply_s']:.2f} s (validate"
        f" {report['validate_s']:.2f} s, fetch+plan {report['plan_s']:.2f} s),"
        f" {run.peak_rss_mb:.0f} MB"
    )


def measure_load(
    series: Series,
    ctx: Context,
    env: dict[str, str],
    label: str,
    command: list[str],
    expected: tuple[str, dict[str, Any]],
    attempt: int,
) -> None:
    """Run one ``orgload load`` and record it with what was wrong with its outcome, if anything."""
    run = run_in(ctx, env, command)
    problem = check_load(run, *expected)
    series.add(label, command, run, problem)
    log_run(label, attempt, run, problem)


def run_series(
    backend: str,
    args: argparse.Namespace,
    ctx: Context,
    books: Workbooks,
    homes: Homes,
    dbs: PgDatabases,
) -> Series:
    """Per repetition, into new clients: a tiny first load (the fixed cost of a command); the
    first load; validate of the cosmetic workbook right before its re-upload (paired, so both
    see the same machine load); the re-upload; the apply step; the monthly delta."""
    series = Series(backend)
    orgload = str(ctx.orgload)
    database_url = dbs.create("main") if backend == POSTGRES else None
    home = homes.new("pg") if backend == POSTGRES else None
    first, unchanged = (
        first_load_changes(args.people, args.units),
        unchanged_changes(args.people, args.units),
    )
    steps = (
        ("first load", books.first, FIRST_NOW, "applied", first),
        ("cosmetic re-upload", books.cosmetic, COSMETIC_NOW, "no_changes", unchanged),
        ("monthly delta", books.delta, DELTA_NOW, "applied", books.delta_changes),
    )
    try:
        for attempt in range(1, args.repeat + 1):
            client, tiny_client = f"bench{attempt}", f"tiny{attempt}"
            rep_home = home or homes.new(f"sqlite{attempt}")
            env = child_env(ctx.env, rep_home, database_url, FIRST_NOW)
            if backend == SQLITE or attempt == 1:
                run_setup(ctx, env, [orgload, "db", "upgrade"])
            for name in (client, tiny_client):
                run_setup(ctx, env, [orgload, "clients", "add", name, "--name", name.title()])
            measure_load(
                series,
                ctx,
                env,
                f"{TINY_LABEL} ({backend})",
                [orgload, "load", "--client", tiny_client, str(books.tiny), "--json"],
                ("applied", first_load_changes(TINY_PEOPLE, TINY_UNITS)),
                attempt,
            )
            for step, path, now, status, expected in steps:
                step_env = child_env(ctx.env, rep_home, database_url, now)
                if step == "cosmetic re-upload":
                    measure_validate(args, ctx, step_env, client, path, series, attempt)
                if step == "monthly delta":
                    profile = None
                    if args.profile_dir is not None:
                        profile = args.profile_dir / f"apply_{backend.lower()}_{attempt}.prof"
                    measure_apply_step(ctx, step_env, client, path, series, profile)
                measure_load(
                    series,
                    ctx,
                    step_env,
                    f"orgload load, {step} ({backend})",
                    [orgload, "load", "--client", client, str(path), "--json"],
                    (status, expected),
                    attempt,
                )
    finally:
        if database_url:
            dbs.drop(database_url)
    return series


def run_big(
    args: argparse.Namespace, ctx: Context, path: Path, homes: Homes, dbs: PgDatabases
) -> Series:
    """First loads of the big workbook into new PostgreSQL clients (one database)."""
    series = Series(POSTGRES)
    orgload = str(ctx.orgload)
    database_url = dbs.create("big")
    try:
        env = child_env(ctx.env, homes.new("big"), database_url, FIRST_NOW)
        run_setup(ctx, env, [orgload, "db", "upgrade"])
        for attempt in range(1, args.repeat + 1):
            client = f"big{attempt}"
            run_setup(ctx, env, [orgload, "clients", "add", client, "--name", f"Big {attempt}"])
            measure_load(
                series,
                ctx,
                env,
                f"orgload load, first load, big ({POSTGRES})",
                [orgload, "load", "--client", client, str(path), "--json"],
                ("applied", first_load_changes(args.big, args.units)),
                attempt,
            )
    finally:
        dbs.drop(database_url)
    return series


def run_baseline(
    ctx: Context, path: Path, workbook: str, homes: Homes, dbs: PgDatabases
) -> Measurement:
    """The naive read_excel + to_sql into a fresh PostgreSQL database, once."""
    database_url = dbs.create("naive")
    try:
        command = [str(ctx.python), "-c", BASELINE_CODE, str(path), database_url]
        env = child_env(ctx.env, homes.new("naive"), None, None)
        run = run_in(ctx, env, command)
    finally:
        dbs.drop(database_url)
    label = "naive read_excel (openpyxl) + to_sql (PostgreSQL)"
    log_run(label, 1, run, None)
    measurement = Measurement(
        label, workbook, command, [round(run.seconds, 3)], [round(run.peak_rss_mb, 1)], [0]
    )
    measurement.exit_codes = [run.exit_code]
    report = parse_report(run)
    if run.exit_code != 0 or report is None:
        measurement.notes.append(f"failed (exit {run.exit_code}): {last_message(run.stderr)}")
    else:
        measurement.notes.append(
            f"read_excel {report['read_s']:.1f} s, to_sql {report['to_sql_s']:.1f} s,"
            f" rows {report['rows']}"
        )
    return measurement


def measure_validate(
    args: argparse.Namespace,
    ctx: Context,
    env: dict[str, str],
    client: str,
    path: Path,
    series: Series,
    attempt: int,
) -> None:
    """``orgload validate`` of the cosmetic workbook, the reference of its no-change load."""
    command = [str(ctx.orgload), "validate", "--client", client, str(path), "--json"]
    run = run_in(ctx, env, command)
    ok, detail = check_report(parse_report(run), n_people=args.people, n_units=args.units, n_bad=0)
    label = f"{VALIDATE_LABEL} ({series.backend})"
    problem = None if ok and run.exit_code == 0 else f"exit {run.exit_code}: {detail}"
    series.add(label, command, run, problem)
    log_run(label, attempt, run, problem)


# ---------------------------------------------------------------------------------------------
# the apply-step child


class _RollBackError(Exception):
    """Raised at the end of the measured transaction so that nothing is committed."""


def apply_step(client_id: str, path: Path, profile: Path | None) -> int:
    """Validate, plan and apply the upload in-process, rolled back; print the stage times.

    Only ``apply_plan`` counts as the apply step; a load record is inserted first in the same
    transaction (``apply_plan`` logs changes against it), as ``orgload load`` does.
    """
    import cProfile

    # this script put the repository first on sys.path; the code measured may be a snapshot
    for entry in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
        if entry:
            sys.path.insert(0, entry)
    import loaders
    from loaders.apply import apply_plan
    from loaders.current import fetch_current
    from loaders.limits import Limits
    from loaders.plan import ENTITIES, plan_changes
    from loaders.store import data_version, get_client, insert_load
    from loaders.validate import validate_upload
    from orgload import clock
    from orgload.clock import period_of
    from orgload.db import make_engine, tenant
    from orgload.settings import load_settings

    profiler = cProfile.Profile() if profile is not None else None
    settings = load_settings()
    engine = make_engine(settings)  # the application role: row-level security as in a load
    # Every transaction of this child is the client's (orgload.db.tenant), as in a real load.
    scoped = contextlib.ExitStack()
    scoped.enter_context(tenant(client_id))
    with engine.connect() as conn:
        client = get_client(conn, client_id)
    now = clock.now(settings)
    stages: dict[str, float] = {}
    with _stage(stages, "validate_s", profiler):
        validated = validate_upload(
            [path],
            limits=Limits.from_settings(settings),
            on_date=clock.today(settings, client.timezone),
        )
    if not validated.valid:
        print(json.dumps({"error": "invalid upload", "counts": validated.report.counts}))
        return 1
    with _stage(stages, "plan_s", profiler), engine.connect() as conn:
        current = {name: fetch_current(conn, client.id, name) for name in ENTITIES}
        version = data_version(conn, client.id)
        plan = plan_changes(validated.frames, current, version)
    first_load = version == 0
    with contextlib.suppress(_RollBackError), engine.begin() as conn:
        load_id = insert_load(
            conn,
            client_id=client.id,
            period=period_of(now, client.timezone),
            status="applied",
            created_at=now,
        )
        with _stage(stages, "apply_s", profiler):
            apply_plan(conn, client.id, load_id, plan)
        raise _RollBackError
    engine.dispose()
    scoped.close()
    if profiler is not None and profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile)
    code = loaders.__file__
    print(json.dumps({**stages, "first_load": first_load, "changes": plan.counts(), "code": code}))
    return 0


@contextlib.contextmanager
def _stage(stages: dict[str, float], name: str, profiler: Any) -> Iterator[None]:
    """Time a stage into ``stages[name]`` (and profile it when a profiler is given)."""
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    try:
        yield
    finally:
        if profiler is not None:
            profiler.disable()
        stages[name] = time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# results


def apply_measurement(series: Series, workbook: str) -> Measurement | None:
    """The apply step as a measurement: ``apply_plan`` seconds, the child's peak RSS."""
    if not series.apply_steps:
        return None
    steps = series.apply_steps
    measurement = Measurement(
        name=f"apply_plan of the monthly delta, in-process ({series.backend})",
        workbook=workbook,
        command=["bench/bench_load.py", "--apply-step", "CLIENT", "FILE"],
        seconds=[round(step["apply_s"], 3) for step in steps],
        peak_rss_mb=[round(rss, 1) for rss in series.apply_rss_mb],
        exit_codes=[0] * len(steps),
    )
    validate = statistics.median(step["validate_s"] for step in steps)
    plan = statistics.median(step["plan_s"] for step in steps)
    measurement.notes.append(
        f"time is apply_plan alone (rolled back); in the same child validate took {validate:.2f} s"
        f" and fetch current + plan {plan:.2f} s (medians); RSS is the whole child's;"
        f" plan {steps[-1]['changes']}"
    )
    measurement.notes += series.problems.get("apply", [])
    return measurement


def outcome_checks(series: Sequence[Series]) -> list[Check]:
    """One check per load measurement: every run reported the expected status and changes;
    one per failed apply-step child."""
    checks = []
    for one in series:
        for label in one.runs:
            problems = one.problems[label]
            detail = problems[0] if problems else "status and changes as expected"
            checks.append(Check(f"{label}: outcome", None, "as expected", not problems, detail))
        checks += [
            Check(f"apply step ({one.backend}): ran", None, "exit 0", False, problem)
            for problem in one.problems.get("apply", [])
        ]
    return checks


def target_checks(
    baseline: Measurement | None,
    pg: Series | None,
    sqlite: Series | None,
    big: Series | None,
) -> list[Check]:
    """The targets of the issue, each computed only when its inputs were measured."""
    checks: list[Check] = []
    first_pg = _median(pg, f"orgload load, first load ({POSTGRES})")
    first_sqlite = _median(sqlite, f"orgload load, first load ({SQLITE})")
    if baseline is not None and first_pg and baseline.exit_codes == [0]:
        ratio = baseline.median_seconds / first_pg
        checks.append(
            Check(
                "baseline / orgload load (PostgreSQL), x",
                ratio,
                f">= {MIN_BASELINE_RATIO:g}",
                ratio >= MIN_BASELINE_RATIO,
            )
        )
    if first_pg and first_sqlite:
        ratio = first_sqlite / first_pg
        checks.append(
            Check(
                "orgload load SQLite / PostgreSQL, x",
                ratio,
                f"<= {MAX_SQLITE_OVER_PG:g}",
                ratio <= MAX_SQLITE_OVER_PG,
            )
        )
    if pg is not None and pg.apply_steps:
        seconds = statistics.median(step["apply_s"] for step in pg.apply_steps)
        checks.append(
            Check(
                "apply step of the monthly delta (PostgreSQL), s",
                seconds,
                f"< {MAX_APPLY_SECONDS:g}",
                seconds < MAX_APPLY_SECONDS,
            )
        )
    ratios = cosmetic_ratios(pg)
    if ratios:
        ratio = statistics.median(ratios)
        checks.append(
            Check(
                "cosmetic re-upload load / validate (PostgreSQL, paired runs), x",
                ratio,
                f"<= {MAX_COSMETIC_OVER_VALIDATE:g}",
                ratio <= MAX_COSMETIC_OVER_VALIDATE,
            )
        )
    if pg is not None and f"orgload load, first load ({POSTGRES})" in pg.runs:
        rss = max(run.peak_rss_mb for run in pg.runs[f"orgload load, first load ({POSTGRES})"])
        checks.append(
            Check(
                "peak RSS MB, first load (PostgreSQL)", rss, f"<= {MAX_RSS_MB:g}", rss <= MAX_RSS_MB
            )
        )
    if big is not None and big.runs:
        rss = max(run.peak_rss_mb for runs in big.runs.values() for run in runs)
        checks.append(
            Check(
                "peak RSS MB, big first load (PostgreSQL)",
                rss,
                f"<= {MAX_BIG_RSS_MB:g}",
                rss <= MAX_BIG_RSS_MB,
            )
        )
    return checks


def cosmetic_ratios(series: Series | None) -> list[float]:
    """Each cosmetic re-upload's time over the validate of the same file run just before it."""
    if series is None:
        return []
    loads = series.runs.get(f"orgload load, cosmetic re-upload ({series.backend})", [])
    validates = series.runs.get(f"{VALIDATE_LABEL} ({series.backend})", [])
    return [load.seconds / check.seconds for load, check in zip(loads, validates, strict=False)]


def _median(series: Series | None, label: str) -> float | None:
    if series is None or label not in series.runs:
        return None
    return statistics.median(run.seconds for run in series.runs[label])


def informative_notes(pg: Series | None, sqlite: Series | None) -> list[str]:
    """Figures without a target that explain the others."""
    notes = []
    for one in (pg, sqlite):
        if one is None:
            continue
        ratios = cosmetic_ratios(one)
        if ratios:
            pairs = ", ".join(f"{ratio:.2f}" for ratio in ratios)
            notes.append(f"cosmetic re-upload load / validate on {one.backend}, per pair: {pairs}")
        delta = _median(one, f"orgload load, monthly delta ({one.backend})")
        if delta and one.apply_steps:
            apply = statistics.median(step["apply_s"] for step in one.apply_steps)
            notes.append(
                f"monthly delta on {one.backend}: whole command {delta:.2f} s,"
                f" of which apply_plan {apply:.2f} s"
            )
    return notes


def collect_measurements(
    books: Workbooks,
    args: argparse.Namespace,
    baseline: Measurement | None,
    series: Sequence[Series],
    big: Series | None,
) -> list[Measurement]:
    """Every measurement, in table order."""
    first = describe_workbook(books.first, args.people, args.units, "valid")
    cosmetic = describe_workbook(books.cosmetic, args.people, args.units, "cosmetic re-write")
    changes = books.delta_changes["personas"]
    renamed = books.delta_changes["unidades"]["updated"]
    delta = describe_workbook(
        books.delta,
        args.people - changes["deactivated"] + changes["inserted"],
        args.units,
        f"next month: {changes['updated']:,} updated, {changes['inserted']:,} new,"
        f" {changes['deactivated']:,} gone, {renamed:,} units renamed",
    )
    measurements = [m for m in (baseline,) if m is not None]
    for one in series:
        workbooks = {
            f"{TINY_LABEL} ({one.backend})": describe_workbook(
                books.tiny, TINY_PEOPLE, TINY_UNITS, "valid"
            ),
            f"orgload load, first load ({one.backend})": first,
            f"{VALIDATE_LABEL} ({one.backend})": cosmetic,
            f"orgload load, cosmetic re-upload ({one.backend})": cosmetic,
            f"orgload load, monthly delta ({one.backend})": delta,
        }
        measurements += [
            summarize(label, workbook, one)
            for label, workbook in workbooks.items()
            if label in one.runs
        ]
        applied = apply_measurement(one, delta)
        if applied is not None:
            measurements.append(applied)
    if big is not None and books.big is not None:
        workbook = describe_workbook(books.big, args.big, args.units, "valid")
        measurements += [summarize(label, workbook, big) for label in big.runs]
    return measurements


def format_load(load: tuple[float, float, float]) -> str:
    """A load average triple, short."""
    return "/".join(f"{value:.1f}" for value in load)


def describe_bytecode() -> str:
    """Whether the children find compiled bytecode (without it every run compiles its imports)."""
    import importlib.util

    spec = importlib.util.find_spec("pandas")
    origin = spec.origin if spec is not None else None
    compiled = origin is not None and Path(importlib.util.cache_from_source(origin)).exists()
    if compiled:
        return "cached (the libraries have __pycache__)"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "not cached (PYTHONDONTWRITEBYTECODE set): every child compiles what it imports"
    return "not cached yet (the first runs compile and write it)"


def code_fingerprint(root: Path = BENCH_DIR.parent) -> str:
    """Hash of the code under test (committed or not) in a tree: others edit it meanwhile."""
    digest = hashlib.sha256()
    for folder in CODE_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot_code(homes: Homes) -> Path:
    """Copy the code under test into the bench cache (removed at the end with the homes)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="code_", dir=CACHE_DIR))
    homes.created.append(target)
    for folder in CODE_FOLDERS:
        shutil.copytree(
            BENCH_DIR.parent / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return target


def check_imports(ctx: Context, home: Path, snapshot: Path | None) -> Check:
    """Check that a child imports the code from the snapshot (when there is one)."""
    run = run_in(
        ctx, child_env(ctx.env, home, None, None), [str(ctx.python), "-P", "-c", IMPORT_PROBE]
    )
    files = parse_json_list(run)
    where = snapshot or BENCH_DIR.parent
    ok = run.exit_code == 0 and bool(files) and all(Path(f).is_relative_to(where) for f in files)
    detail = (
        f"children import from {where}"
        if ok
        else f"children import {files or last_message(run.stderr)}"
    )
    return Check("children run the code measured", None, "imports as set", ok, detail)


def parse_json_list(run: Run) -> list[str]:
    """The JSON list a child printed, or an empty list."""
    try:
        value = json.loads(run.stdout)
    except ValueError:
        return []
    return [str(item) for item in value] if isinstance(value, list) else []


def describe_checkout() -> dict[str, Any]:
    """The commit measured and the files that differ from it (others edit the tree meanwhile)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=BENCH_DIR.parent, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("status", "--porcelain", "--untracked-files=no").splitlines(),
    }


@dataclass
class Outcome:
    """What a run measured, before it is turned into tables."""

    baseline: Measurement | None = None
    pg: Series | None = None
    sqlite: Series | None = None
    big: Series | None = None
    checks: list[Check] = field(default_factory=list)


def run_all(
    args: argparse.Namespace, ctx: Context, books: Workbooks, homes: Homes, dbs: PgDatabases
) -> Outcome:
    """Every measurement of the run; a failing series is reported and the others go on."""
    outcome = Outcome()
    if args.warm_bytecode:
        warm_up(args, ctx, homes, dbs)
    if not args.skip_baseline:
        first = describe_workbook(books.first, args.people, args.units, "valid")
        outcome.baseline = run_baseline(ctx, books.first, first, homes, dbs)
        if outcome.baseline.exit_codes != [0]:
            notes = "; ".join(outcome.baseline.notes)
            outcome.checks.append(Check("baseline ran", None, "exit 0", False, notes))
    for backend in (POSTGRES, *(() if args.skip_sqlite else (SQLITE,))):
        try:
            series = run_series(backend, args, ctx, books, homes, dbs)
        except Exception as exc:  # noqa: BLE001 — report it and go on with the rest
            log(f"{backend} series failed: {exc}")
            outcome.checks.append(Check(f"{backend} series ran", None, "no error", False, str(exc)))
            continue
        if backend == POSTGRES:
            outcome.pg = series
        else:
            outcome.sqlite = series
    if books.big is not None:
        try:
            outcome.big = run_big(args, ctx, books.big, homes, dbs)
        except Exception as exc:  # noqa: BLE001 — report it and go on with the rest
            log(f"big series failed: {exc}")
            outcome.checks.append(Check("big series ran", None, "no error", False, str(exc)))
    return outcome


def code_check(measured: str, live_end: str, snapshot: bool) -> tuple[Check | None, str]:
    """With a snapshot, a note if the tree moved on; without, a failed check if it did."""
    if measured == live_end:
        return None, f"code fingerprint {measured} (unchanged during the run)"
    if snapshot:
        return None, (
            f"code fingerprint {measured} measured (a copy taken at the start); the working tree"
            f" moved on during the run, to {live_end}"
        )
    detail = f"{measured} at start, {live_end} at end: the figures mix code versions"
    return Check("code unchanged during the run", None, "same fingerprint", False, detail), detail


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the markdown tables, write the JSON; 1 when a target is missed."""
    args = parse_args(argv)
    if args.apply_step:
        client, path = args.apply_step
        return apply_step(client, Path(path), args.profile)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    load_before = os.getloadavg()
    checkout = describe_checkout()  # before the run: the tree is copied now
    books = prepare_workbooks(args)
    dbs, homes = PgDatabases(args.pg_server), Homes()
    try:
        env = base_env(args)
        snapshot = snapshot_code(homes) if args.snapshot else None
        if snapshot is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(snapshot), env.get("PYTHONPATH")])
            )
        measured_code = code_fingerprint(snapshot or BENCH_DIR.parent)
        ctx = Context(args.orgload, args.python, env, args.repeat, args.timeout, 0)
        imports = check_imports(ctx, homes.new("probe"), snapshot)
        outcome = run_all(args, ctx, books, homes, dbs) if imports.passed else Outcome()
        outcome.checks.insert(0, imports)
    finally:
        dbs.drop_all()
        homes.remove_all()
    changed, code_note = code_check(measured_code, code_fingerprint(), args.snapshot)
    backends = [one for one in (outcome.pg, outcome.sqlite) if one is not None]
    measurements = collect_measurements(books, args, outcome.baseline, backends, outcome.big)
    checks = [
        *([changed] if changed else []),
        *outcome_checks([*backends, *([outcome.big] if outcome.big else [])]),
        *outcome.checks,
        *target_checks(outcome.baseline, outcome.pg, outcome.sqlite, outcome.big),
    ]
    machine = {
        **describe_machine(),
        "loadavg_start": load_before,
        "loadavg_end": os.getloadavg(),
        "bytecode": "cached (warmed on the tiny workbook)"
        if args.warm_bytecode
        else describe_bytecode(),
        **checkout,
        "code": code_note,
    }
    passed = all(check.passed for check in checks)
    notes = [
        f"load average (1/5/15 min): {format_load(load_before)} at start,"
        f" {format_load(machine['loadavg_end'])} at end",
        f"bytecode {machine['bytecode']}",
        f"commit {machine['commit']}, {len(machine['uncommitted'])} files modified; {code_note}",
        *informative_notes(outcome.pg, outcome.sqlite),
    ]
    results = {
        "machine": machine,
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "expected_delta_changes": books.delta_changes,
        "measurements": [m.to_dict() for m in measurements],
        "apply_steps": {one.backend: one.apply_steps for one in backends if one.apply_steps},
        "checks": [asdict(check) for check in checks],
        "notes": notes,
        "passed": passed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render_markdown(measurements, checks, machine))
    for note in notes:
        print(f"- {note}")
    log(f"results written to {args.out}; {'all targets met' if passed else 'TARGET MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
