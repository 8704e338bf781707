"""Benchmark ``orgload`` at scale (issue 15 items 1 and 3): 100,000 to 1,000,000 people, against
the floor of the same work measured in the same run.

Usage::

    python bench/bench_scale.py [--sizes 100000,500000,1000000] [--repeat 3] [--skip-sqlite]
                                [--baseline-tree DIR] [--out bench/results/scale.json]

For each size, per repetition and in this order (so the figures of one repetition share the
machine's load), each a fresh child process whose wall time, CPU time (user + system) and peak
RSS come from ``os.wait4`` through a minimal ``python -I -S`` launcher:

1. the **floor**: inflate the workbook's sheet XML (what any xlsx reader must do) and COPY the
   same rows, as text prepared beforehand, into tables like ``units``/``people`` (``CREATE
   TABLE … (LIKE … INCLUDING ALL)``: same columns, types and primary key; no row-level security,
   foreign key, stage or change log) — one process, one connection; then the **parse alone**:
   python-calamine reading both sheets into Python values and nothing else (what the reader
   cannot do without), also as a multiple of the floor;
2. ``orgload validate`` of the workbook, then its first load into a new PostgreSQL database;
3. ``orgload validate`` of a cosmetic re-write (spacing, case, RUT dots), then its load
   (``no_changes``);
4. ``orgload validate`` of the next month (4 % of people changed, hired or gone) and its load;
5. the first load into SQLite (a fresh ``ORGLOAD_HOME``), unless ``--skip-sqlite``.

Each command is reported as a multiple of the floor of its own repetition (median of the
repetitions), the delta and the re-upload as multiples of the validate run right before them.
``--baseline-tree DIR`` (e.g. a worktree of an older commit) runs the same commands from that
tree right after each of this tree's, alternating which goes first, for before/after ratios
made under the same load. Workbooks are generated once and cached in ``bench/.cache/`` (shared
with ``bench_validate.py``/``bench_load.py``); databases and homes are removed at the end. The
children run a copy of this tree taken at the start (``bench_load.snapshot_code``). Exits 1
when a target is missed or an outcome is wrong.

Targets (issue 15): first load of 1,000,000 people on PostgreSQL < 30 s and < 2 GB peak RSS;
500,000 ≤ 12 s and ≤ 1.2 GB; delta and ``no_changes`` ≤ 1.2× a validate of the same file;
first load ≤ 2.5× the floor at 100,000 and 1,000,000 people.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_load import (
    COSMETIC_NOW,
    DELTA_NOW,
    FIRST_NOW,
    PG_SERVER,
    Homes,
    PgDatabases,
    check_load,
    child_env,
    code_fingerprint,
    describe_checkout,
    ensure_variants,
    first_load_changes,
    snapshot_code,
    unchanged_changes,
)
from bench_validate import (
    BENCH_DIR,
    CACHE_DIR,
    TINY_PEOPLE,
    TINY_UNITS,
    VENV_BIN,
    Run,
    check_report,
    describe_machine,
    ensure_workbook,
    last_message,
    launch_child,
    log,
    parse_report,
)

UNITS = 5_000
SIZES = (100_000, 500_000, 1_000_000)
MB = 1024.0
# The rows of the workbook as COPY text (made once per workbook, unmeasured): exactly the entity
# rows a first load writes, normalized by orgload itself, with the columns an entity table adds.
ROWS_CODE = """
import sys
from pathlib import Path
import pyarrow as pa
from loaders.copytext import copy_payload
from loaders.validate import validate_upload
from schemas.text import arrow
validated = validate_upload([Path(sys.argv[1])])
assert validated.valid, validated.report.errors[:3]
for name, out in (("unidades", sys.argv[2]), ("personas", sys.argv[3])):
    frame = validated.frames[name]
    columns = [arrow(frame[column]) for column in frame.columns]
    constant = [pa.scalar(True), pa.scalar(1, pa.int64())]
    with open(out, "wb") as target:
        target.write(copy_payload([pa.scalar("floor", pa.large_string()), *columns, *constant]))
"""
# The floor: inflate the sheet XML, then COPY the rows into tables like the entity tables.
FLOOR_CODE = """
import json, sys, time, zipfile, zlib
import psycopg
workbook, units_rows, people_rows, url = sys.argv[1:5]
with psycopg.connect(url, autocommit=True) as conn:
    for table in ("units", "people"):
        conn.execute(f"DROP TABLE IF EXISTS floor_{table}")
        conn.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
    started = time.perf_counter()
    inflated = 0
    with zipfile.ZipFile(workbook) as book:
        for info in book.infolist():
            name = info.filename
            if name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml":
                with book.open(info) as part:
                    while chunk := part.read(16 << 20):
                        inflated += len(chunk)
    inflate_s = time.perf_counter() - started
    with conn.transaction():
        for table, path in (("units", units_rows), ("people", people_rows)):
            with conn.cursor() as cursor, cursor.copy(f"COPY floor_{table} FROM STDIN") as copy:
                with open(path, "rb") as rows:
                    while chunk := rows.read(1 << 20):
                        copy.write(chunk)
    done = time.perf_counter()
    for table in ("units", "people"):
        conn.execute(f"DROP TABLE floor_{table}")
print(json.dumps({"inflate_s": inflate_s, "copy_s": done - started - inflate_s,
                  "inflated_mb": inflated / 1048576}))
"""

# The parse alone: python-calamine reading both sheets into Python values, nothing else. The
# reader cannot do less (calamine has no streaming reader; docs/performance.md): with the floor,
# it bounds from below what a load can be as a multiple of the floor.
PARSE_CODE = """
import sys
import python_calamine
book = python_calamine.CalamineWorkbook.from_path(sys.argv[1])
rows = sum(len(book.get_sheet_by_name(name).to_python()) for name in book.sheet_names)
print(rows)
"""

FLOOR = "floor (inflate + COPY)"
PARSE = "parse alone (python-calamine)"
VALIDATE = "validate"
FIRST = "first load, PostgreSQL"
VALIDATE_COSMETIC = "validate, cosmetic re-upload"
COSMETIC = "cosmetic re-upload (no_changes), PostgreSQL"
VALIDATE_DELTA = "validate, monthly delta"
DELTA = "monthly delta, PostgreSQL"
SQLITE = "first load, SQLite"
ORDER = (FLOOR, PARSE, VALIDATE, FIRST, VALIDATE_COSMETIC, COSMETIC, VALIDATE_DELTA, DELTA, SQLITE)
PAIRS = {COSMETIC: VALIDATE_COSMETIC, DELTA: VALIDATE_DELTA}

MAX_FIRST_S = {1_000_000: 30.0, 500_000: 12.0}
MAX_FIRST_RSS_MB = {1_000_000: 2048.0, 500_000: 1228.8}
MAX_OVER_VALIDATE = 1.2
MAX_OVER_FLOOR = 2.5
FLOOR_TARGET_SIZES = (100_000, 1_000_000)


@dataclass
class Child:
    """One measured child: wall and CPU seconds, peak RSS, exit code, output."""

    seconds: float
    cpu: float
    peak_rss_mb: float
    exit_code: int
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)

    def as_run(self) -> Run:
        return Run(self.seconds, self.peak_rss_mb, self.exit_code, self.stdout, self.stderr)


@dataclass
class Tree:
    """A tree of code measured: its label and the environment its children run with."""

    label: str
    env: dict[str, str]


@dataclass
class Results:
    """Per tree, size and measurement: the runs, and what was wrong with their outcomes."""

    runs: dict[str, dict[int, dict[str, list[Child]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    floor_parts: dict[int, list[dict[str, float]]] = field(default_factory=dict)

    def add(self, tree: str, size: int, name: str, child: Child) -> None:
        self.runs.setdefault(tree, {}).setdefault(size, {}).setdefault(name, []).append(child)

    def get(self, tree: str, size: int, name: str) -> list[Child]:
        return self.runs.get(tree, {}).get(size, {}).get(name, [])


def run_child(command: list[str], env: dict[str, str], timeout: float) -> Child:
    """Run a command through the launcher; return wall and CPU time, peak RSS and output."""
    launch, out, err = launch_child(command, VENV_BIN / "python", env, timeout)
    return Child(
        launch.seconds, launch.cpu_seconds, launch.maxrss_kib / MB, launch.exit_code, out, err
    )


def floor_rows(workbook: Path) -> tuple[Path, Path]:
    """The COPY text of the workbook's units and people (cached beside it)."""
    units, people = (workbook.with_name(f"{workbook.stem}_{name}.copy") for name in ("u", "p"))
    if not (units.exists() and people.exists()):
        log(f"writing the floor's COPY text of {workbook.name}")
        partial = [path.with_suffix(".partial") for path in (units, people)]
        subprocess.run(
            [str(VENV_BIN / "python"), "-c", ROWS_CODE, str(workbook), *map(str, partial)],
            check=True,
            cwd=BENCH_DIR.parent,
        )
        for done, path in zip(partial, (units, people), strict=True):
            done.replace(path)
    return units, people


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="people per workbook, comma-separated (each with 5,000 units)",
    )
    parser.add_argument("--units", type=int, default=UNITS, help="units in every workbook")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians of these)")
    parser.add_argument("--baseline-tree", type=Path, default=None, help="also measure this tree")
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite first load")
    parser.add_argument(
        "--only",
        default="",
        help="measurements to run, '|'-separated parts of their names (default: all; the floor"
        " always runs, and a re-upload or delta needs its first load)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run dies")
    parser.add_argument("--pg-server", default=PG_SERVER, help="user@host:port of PostgreSQL")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "scale.json")
    return parser.parse_args(argv)


def tree_env(root: Path | None, base: dict[str, str]) -> dict[str, str]:
    """Children import the code of ``root`` first; bytecode cached per tree (a deployed
    machine compiles its code once)."""
    env = dict(base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), base.get("PYTHONPATH")]))
        tag = hashlib.sha256(str(root).encode()).hexdigest()[:10]
        env["PYTHONPYCACHEPREFIX"] = str(CACHE_DIR / "pycache_scale" / tag)
    return env


def wanted(args: argparse.Namespace, name: str) -> bool:
    if name == SQLITE and args.skip_sqlite:
        return False
    chosen = [part.strip() for part in args.only.split("|") if part.strip()]
    return name in (FLOOR, PARSE) or not chosen or any(part in name for part in chosen)


def measure_size(
    args: argparse.Namespace,
    size: int,
    trees: list[Tree],
    results: Results,
    dbs: PgDatabases,
    homes: Homes,
) -> None:
    """Every repetition of one size, all trees."""
    units = args.units
    first = ensure_workbook(size, units, spoiled=False)
    cosmetic, delta, delta_changes = ensure_variants(size, units)
    units_rows, people_rows = floor_rows(first)
    orgload = str(VENV_BIN / "orgload")
    for attempt in range(args.repeat):
        order = trees if attempt % 2 == 0 else list(reversed(trees))
        url = dbs.create(f"s{size}")
        try:
            for tree in order:
                # one database per repetition; each tree loads its own clients into it
                client = f"{tree.label}{attempt}"
                env = child_env(tree.env, homes.new(f"{tree.label}{size}"), url, FIRST_NOW)
                if tree is order[0]:
                    setup(env, [orgload, "db", "upgrade"], args)
                    floor = run_child(
                        [
                            str(VENV_BIN / "python"),
                            "-c",
                            FLOOR_CODE,
                            str(first),
                            str(units_rows),
                            str(people_rows),
                            url.replace("postgresql+psycopg", "postgresql"),
                        ],
                        env,
                        args.timeout,
                    )
                    record_floor(results, size, floor)
                    parse = run_child(
                        [str(VENV_BIN / "python"), "-c", PARSE_CODE, str(first)], env, args.timeout
                    )
                    for label in results.runs:
                        results.add(label, size, PARSE, parse)
                    log(
                        f"{size:,} {PARSE}: {parse.seconds:.2f} s, CPU {parse.cpu:.2f} s,"
                        f" {parse.peak_rss_mb:.0f} MB, exit {parse.exit_code}"
                    )
                setup(env, [orgload, "clients", "add", client, "--name", client.title()], args)
                steps = (
                    (VALIDATE, "validate", first, FIRST_NOW, None),
                    (FIRST, "load", first, FIRST_NOW, ("applied", first_load_changes(size, units))),
                    (VALIDATE_COSMETIC, "validate", cosmetic, COSMETIC_NOW, None),
                    (
                        COSMETIC,
                        "load",
                        cosmetic,
                        COSMETIC_NOW,
                        ("no_changes", unchanged_changes(size, units)),
                    ),
                    (VALIDATE_DELTA, "validate", delta, DELTA_NOW, None),
                    (DELTA, "load", delta, DELTA_NOW, ("applied", delta_changes)),
                )
                for name, command, path, now, expected in steps:
                    if not wanted(args, name):
                        continue
                    if name in (COSMETIC, DELTA) and not results.get(tree.label, size, FIRST):
                        continue  # needs the first load of this repetition
                    step_env = child_env(tree.env, Path(env["ORGLOAD_HOME"]), url, now)
                    argv = [orgload, command, "--client", client, str(path), "--json"]
                    child = run_child(argv, step_env, args.timeout)
                    problem = outcome_problem(child, path, (size, units), delta_changes, expected)
                    note(results, tree.label, size, name, child, problem)
                if wanted(args, SQLITE):
                    home = homes.new(f"lite{tree.label}{size}")
                    lite_env = child_env(tree.env, home, None, FIRST_NOW)
                    setup(lite_env, [orgload, "db", "upgrade"], args)
                    setup(lite_env, [orgload, "clients", "add", client, "--name", "Lite"], args)
                    argv = [orgload, "load", "--client", client, str(first), "--json"]
                    child = run_child(argv, lite_env, args.timeout)
                    problem = check_load(child.as_run(), "applied", first_load_changes(size, units))
                    note(results, tree.label, size, SQLITE, child, problem)
        finally:
            dbs.drop(url)
            homes.remove_all()


def outcome_problem(
    child: Child,
    path: Path,
    sizes: tuple[int, int],
    delta_changes: dict[str, Any],
    expected: tuple[str, dict[str, Any]] | None,
) -> str | None:
    """Why a run's JSON is not the expected outcome (None when it is)."""
    if expected is not None:
        return check_load(child.as_run(), *expected)
    people, units = sizes
    if "_delta_" in path.name:
        changes = delta_changes["personas"]
        people += changes["inserted"] - changes["deactivated"]
    ok, detail = check_report(parse_report(child.as_run()), n_people=people, n_units=units, n_bad=0)
    return None if ok and child.exit_code == 0 else f"validate exit {child.exit_code}: {detail}"


def setup(env: dict[str, str], command: list[str], args: argparse.Namespace) -> None:
    child = run_child(command, env, args.timeout)
    if child.exit_code != 0:
        raise RuntimeError(f"{' '.join(command[1:])}: {last_message(child.stderr)}")


def record_floor(results: Results, size: int, child: Child) -> None:
    report = parse_report(child.as_run())
    if child.exit_code != 0 or report is None:
        results.problems.append(
            f"{size}: floor exit {child.exit_code}: {last_message(child.stderr)}"
        )
        return
    results.floor_parts.setdefault(size, []).append(report)
    for tree in results.runs or {"this": {}}:
        results.add(tree, size, FLOOR, child)
    log(
        f"{size:,} {FLOOR}: {child.seconds:.2f} s (inflate {report['inflate_s']:.2f} s,"
        f" COPY {report['copy_s']:.2f} s), CPU {child.cpu:.2f} s, {child.peak_rss_mb:.0f} MB"
    )


def note(
    results: Results, tree: str, size: int, name: str, child: Child, problem: str | None
) -> None:
    results.add(tree, size, name, child)
    if problem:
        results.problems.append(f"{tree} {size} {name}: {problem}")
    verdict = f" — {problem}" if problem else ""
    log(
        f"[{tree}] {size:,} {name}: {child.seconds:.2f} s, CPU {child.cpu:.2f} s,"
        f" {child.peak_rss_mb:.0f} MB, exit {child.exit_code}{verdict}"
    )


def floors_by_attempt(results: Results, size: int) -> list[float]:
    return [child.seconds for child in results.get(next(iter(results.runs)), size, FLOOR)]


def summary(results: Results, trees: list[Tree], sizes: list[int]) -> dict[str, Any]:
    """Medians per tree, size and measurement; floor multiples; ratios to the paired validate."""
    table: dict[str, Any] = {}
    for tree in trees:
        for size in sizes:
            floors = [c.seconds for c in results.get(tree.label, size, FLOOR)]
            for name in ORDER:
                runs = results.get(tree.label, size, name)
                if not runs:
                    continue
                entry: dict[str, Any] = {
                    "seconds": [round(c.seconds, 3) for c in runs],
                    "cpu_seconds": [round(c.cpu, 3) for c in runs],
                    "peak_rss_mb": [round(c.peak_rss_mb, 1) for c in runs],
                    "median_seconds": round(statistics.median(c.seconds for c in runs), 3),
                    "median_cpu_seconds": round(statistics.median(c.cpu for c in runs), 3),
                    "max_peak_rss_mb": round(max(c.peak_rss_mb for c in runs), 1),
                }
                if name != FLOOR and floors:
                    multiples = [c.seconds / f for c, f in zip(runs, floors, strict=False)]
                    entry["floor_multiples"] = [round(m, 2) for m in multiples]
                    entry["median_floor_multiple"] = round(statistics.median(multiples), 2)
                if name in PAIRS:
                    references = results.get(tree.label, size, PAIRS[name])
                    ratios = [c.seconds / r.seconds for c, r in zip(runs, references, strict=False)]
                    cpu = [c.cpu / r.cpu for c, r in zip(runs, references, strict=False)]
                    if ratios:
                        entry["over_validate"] = [round(r, 3) for r in ratios]
                        entry["median_over_validate"] = round(statistics.median(ratios), 3)
                        entry["median_cpu_over_validate"] = round(statistics.median(cpu), 3)
                table.setdefault(tree.label, {}).setdefault(str(size), {})[name] = entry
    return table


def before_after(table: dict[str, Any], trees: list[Tree]) -> dict[str, Any]:
    """Per size and measurement, this tree's median over the baseline's (wall and CPU), paired."""
    if len(trees) < 2:
        return {}
    this, base = trees[0].label, trees[1].label
    ratios: dict[str, Any] = {}
    for size, measurements in table.get(this, {}).items():
        for name, entry in measurements.items():
            other = table.get(base, {}).get(size, {}).get(name)
            if other is None or name == FLOOR:
                continue
            pairs = list(zip(entry["seconds"], other["seconds"], strict=False))
            cpu = list(zip(entry["cpu_seconds"], other["cpu_seconds"], strict=False))
            ratios.setdefault(size, {})[name] = {
                "wall": round(statistics.median(a / b for a, b in pairs), 3),
                "cpu": round(statistics.median(a / b for a, b in cpu), 3),
                "peak_rss": round(entry["max_peak_rss_mb"] / other["max_peak_rss_mb"], 3),
            }
    return ratios


def checks(table: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """The issue's targets on this tree's medians."""
    found: list[dict[str, Any]] = []

    def check(name: str, value: float, bound: str, passed: bool) -> None:
        found.append({"name": name, "value": value, "target": bound, "passed": passed})

    for size_text, measurements in table.get(label, {}).items():
        size = int(size_text)
        first = measurements.get(FIRST)
        if first and size in MAX_FIRST_S:
            seconds, rss = first["median_seconds"], first["max_peak_rss_mb"]
            check(
                f"{size:,} first load PostgreSQL, s",
                seconds,
                f"< {MAX_FIRST_S[size]:g}",
                seconds < MAX_FIRST_S[size],
            )
            check(
                f"{size:,} first load PostgreSQL, peak RSS MB",
                rss,
                f"<= {MAX_FIRST_RSS_MB[size]:g}",
                rss <= MAX_FIRST_RSS_MB[size],
            )
        if first and size in FLOOR_TARGET_SIZES and "median_floor_multiple" in first:
            multiple = first["median_floor_multiple"]
            check(
                f"{size:,} first load PostgreSQL / floor, x",
                multiple,
                f"<= {MAX_OVER_FLOOR:g}",
                multiple <= MAX_OVER_FLOOR,
            )
        for name in PAIRS:
            entry = measurements.get(name)
            if entry and "median_over_validate" in entry:
                ratio = entry["median_over_validate"]
                check(
                    f"{size:,} {name} / validate of it, x",
                    ratio,
                    f"<= {MAX_OVER_VALIDATE:g}",
                    ratio <= MAX_OVER_VALIDATE,
                )
    return found


def render(table: dict[str, Any], ratios: dict[str, Any], found: list[dict[str, Any]]) -> str:
    lines = []
    for label, sizes in table.items():
        lines += [
            f"\n### {label}\n",
            "| people | measurement | wall s | CPU s | peak RSS MB | × floor | × validate |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for size, measurements in sizes.items():
            for name, entry in measurements.items():
                multiple = entry.get("median_floor_multiple")
                over = entry.get("median_over_validate")
                lines.append(
                    f"| {int(size):,} | {name} | {entry['median_seconds']:.2f} |"
                    f" {entry['median_cpu_seconds']:.2f} | {entry['max_peak_rss_mb']:.0f} |"
                    f" {'' if multiple is None else f'{multiple:.2f}'} |"
                    f" {'' if over is None else f'{over:.2f}'} |"
                )
    if ratios:
        lines += [
            "\n### this tree / baseline (medians of paired runs)\n",
            "| people | measurement | wall | CPU | peak RSS |",
            "|---:|---|---:|---:|---:|",
        ]
        for size, measurements in ratios.items():
            for name, ratio in measurements.items():
                lines.append(
                    f"| {int(size):,} | {name} | {ratio['wall']:.2f} | {ratio['cpu']:.2f} |"
                    f" {ratio['peak_rss']:.2f} |"
                )
    lines += ["\n### targets\n", "| target | value | bound | result |", "|---|---:|---|---|"]
    for one in found:
        lines.append(
            f"| {one['name']} | {one['value']:.2f} | {one['target']} |"
            f" {'pass' if one['passed'] else '**MISSED**'} |"
        )
    return "\n".join(lines)


def warm_up(args: argparse.Namespace, trees: list[Tree], dbs: PgDatabases, homes: Homes) -> None:
    """Each tree's commands once on a tiny workbook, unmeasured: its bytecode gets cached."""
    tiny = ensure_workbook(TINY_PEOPLE, TINY_UNITS, spoiled=False)
    orgload = str(VENV_BIN / "orgload")
    url = dbs.create("warm")
    try:
        for tree in trees:
            for database in (url, None):
                env = child_env(tree.env, homes.new("warm"), database, FIRST_NOW)
                setup(env, [orgload, "db", "upgrade"], args)
                setup(env, [orgload, "clients", "add", f"w{tree.label}", "--name", "W"], args)
                for command in ("validate", "load"):
                    argv = [orgload, command, "--client", f"w{tree.label}", str(tiny), "--json"]
                    setup(env, argv, args)
    finally:
        dbs.drop(url)
        homes.remove_all()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    load_before = os.getloadavg()
    checkout = describe_checkout()
    dbs, homes, code = PgDatabases(args.pg_server), Homes(), Homes()
    results = Results()
    try:
        snapshot = snapshot_code(code)
        trees = [Tree("this", tree_env(snapshot, dict(os.environ)))]
        if args.baseline_tree is not None:
            trees.append(Tree("baseline", tree_env(args.baseline_tree.resolve(), dict(os.environ))))
        for tree in trees:
            results.runs[tree.label] = {}
        measured = code_fingerprint(snapshot)
        warm_up(args, trees, dbs, homes)
        for size in sizes:
            measure_size(args, size, trees, results, dbs, homes)
    finally:
        dbs.drop_all()
        homes.remove_all()
        code.remove_all()
    table = summary(results, trees, sizes)
    ratios = before_after(table, trees)
    found = checks(table, "this")
    passed = not results.problems and all(one["passed"] for one in found)
    machine = {
        **describe_machine(),
        "loadavg_start": load_before,
        "loadavg_end": os.getloadavg(),
        **checkout,
        "code": measured,
        "baseline_tree": str(args.baseline_tree) if args.baseline_tree else None,
    }
    output = {
        "machine": machine,
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "floor_parts": results.floor_parts,
        "measurements": table,
        "this_over_baseline": ratios,
        "checks": found,
        "problems": results.problems,
        "passed": passed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render(table, ratios, found))
    load_end = machine["loadavg_end"]
    print(
        f"\n- {machine['cpus']} CPUs; load average {'/'.join(f'{v:.1f}' for v in load_before)}"
        f" at start, {'/'.join(f'{v:.1f}' for v in load_end)} at end; commit"
        f" {checkout['commit']} + {len(checkout['uncommitted'])} modified files, code {measured}"
    )
    for problem in results.problems:
        print(f"- PROBLEM: {problem}")
    log(f"results written to {args.out}; {'all targets met' if passed else 'TARGET MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
