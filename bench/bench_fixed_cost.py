"""Benchmark the fixed cost of a command (issue 15): ``orgload --help``, a one-row ``validate``
and a one-row ``load`` (SQLite, the default database), against floors measured in the same run.

Usage::

    python bench/bench_fixed_cost.py [--repeat 15] [--out bench/results/fixed_cost.json]
                                     [--baseline-tree DIR]

Every figure is a fresh child process started with ``os.posix_spawn`` and reaped with
``os.wait4`` (wall time, CPU time, peak RSS). The commands and the floors run interleaved, one
of each per round, so a burst of load on this shared machine hits them alike; each figure is
the median of ``--repeat`` rounds. The floors: ``python -c pass`` (the interpreter) and
``python -c 'import typer'`` (the command-line library every command needs). Each ``load``
round applies the one-row workbook for a client of its own (registered before the rounds), so
every round is a first load that writes, never ``already_applied``.

The children cache bytecode under ``bench/.cache/pycache`` (``PYTHONPYCACHEPREFIX``, with
``PYTHONDONTWRITEBYTECODE`` unset), as a deployed machine has its code compiled once; one
warm-up round comes first. ``--baseline-tree DIR`` also measures the code in DIR (e.g.
``git archive HEAD | tar -x -C DIR``) in the same rounds: the before/after of a change.

The targets are for a quiet machine. Start-up is single-threaded CPU work, so on a quiet
machine its wall time is its CPU time; on a loaded one (load average above the CPU count) wall
time also counts the waits for a CPU. The verdict is on the wall median when the machine was
quiet, else on the CPU median, and says which. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgload.columns import PERSONAS_SHEET, UNIDADES_SHEET

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"
CACHE_DIR = BENCH_DIR / ".cache"
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
RESULTS = BENCH_DIR / "results" / "fixed_cost.json"
NOW = "2026-11-10T10:00:00-03:00"

# the targets of issue 15, item 4 (seconds, quiet machine)
TARGETS = {"help": 0.2, "validate": 0.6, "load": 0.9}
ENTRY = "import sys; sys.argv[0] = 'orgload'; from cli.app import main; main()"

# the upload format's columns, in their order (orgload/columns.py)
UNIDADES = list(UNIDADES_SHEET.column_names)
PERSONAS = list(PERSONAS_SHEET.column_names)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds (median of them)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--baseline-tree", type=Path, help="also measure the code in this tree")
    return parser.parse_args(argv)


def rut(body: int) -> str:
    """A valid RUT for a numeric body (modulo 11 check digit)."""
    total, factor = 0, 2
    for digit in reversed(str(body)):
        total += int(digit) * factor
        factor = 2 if factor == 7 else factor + 1
    check = {10: "K", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
    return f"{body}-{check}"


def one_row_workbook(path: Path) -> Path:
    """A valid upload with one unit and one person (its manager)."""
    from openpyxl import Workbook

    boss = rut(11111111)
    workbook = Workbook()
    units = workbook.active
    units.title = "Unidades"
    units.append(UNIDADES)
    units.append(["GER", "Gerencia General", None, "CC-100", boss])
    people = workbook.create_sheet("Personas")
    people.append(PERSONAS)
    people.append([boss, "Ana", "Pérez", "ana@empresa.cl", "GER", "CEO", None, None, "jefatura"])
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


@dataclass(slots=True)
class Series:
    """One command (or floor) measured once per round."""

    name: str
    argv: list[str]
    tree: Path | None = None  # None: a floor, run from anywhere
    target: float | None = None
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)

    def median(self, values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "argv": self.argv,
            "tree": str(self.tree) if self.tree else None,
            "target_seconds": self.target,
            "wall_median": round(self.median(self.wall), 4),
            "wall_min": round(min(self.wall), 4) if self.wall else None,
            "cpu_median": round(self.median(self.cpu), 4),
            "rss_mb_median": round(self.median(self.rss_mb), 1),
            "exit_codes": sorted(set(self.exit_codes)),
            "wall": [round(w, 4) for w in self.wall],
            "cpu": [round(c, 4) for c in self.cpu],
        }


def spawn(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, int]:
    """Run ``argv`` (stdout and stderr to /dev/null); wall s, CPU s, peak RSS MB, exit code."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=devnull, stderr=devnull
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    finally:
        os.close(devnull)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode


def child_env(home: Path, tree: Path | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ORGLOAD_") and k != "PYTHONPATH"
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(CACHE_DIR / "pycache")
    env["ORGLOAD_HOME"] = str(home)  # the default SQLite database lives there
    env["ORGLOAD_NOW"] = NOW
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def orgload(tree: Path, *args: str) -> list[str]:
    return [str(PYTHON), "-c", ENTRY, *args]


def prepare_home(tree: Path, home: Path, clients: list[str]) -> None:
    """A migrated SQLite database with the clients the load rounds use."""
    env = child_env(home, tree)
    code = (
        "import sys; from datetime import datetime\n"
        "from orgload.settings import load_settings\n"
        "from service.database import upgrade_database, open_database\n"
        "from orgload.db import staff\n"
        "from loaders.store import add_client\n"
        "settings = load_settings(); upgrade_database(settings)\n"
        "engine = open_database(settings).engine\n"
        "with staff(), engine.begin() as conn:\n"
        "    for name in sys.argv[1:]:\n"
        "        now = datetime.now().astimezone()\n"
        "        add_client(conn, name, name, 'America/Santiago', None, now)\n"
    )
    subprocess.run(
        [str(PYTHON), "-c", code, *clients], cwd=tree, env=env, check=True, capture_output=True
    )


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def tree_dirty() -> bool | None:
    try:
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "cli", "service", "loaders", "orgload"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return bool(changed.strip())


def measure(args: argparse.Namespace) -> dict[str, Any]:
    workbook = one_row_workbook(CACHE_DIR / "fixed_cost_one_row.xlsx")
    trees = {"": REPO_ROOT}
    if args.baseline_tree:
        trees = {"baseline ": args.baseline_tree.resolve(), **trees}
    rounds = args.repeat + 1  # the first one warms the bytecode cache and is dropped
    scratch = Path(tempfile.mkdtemp(prefix="orgload-fixed-cost-"))
    try:
        floors = [
            Series("python -c pass", [str(PYTHON), "-c", "pass"]),
            Series("python -c 'import typer'", [str(PYTHON), "-c", "import typer"]),
        ]
        commands: list[tuple[Series, Path, str]] = []
        for label, tree in trees.items():
            home = scratch / f"home{len(commands)}"
            home.mkdir()
            clients = [f"bench{n}" for n in range(rounds)]
            prepare_home(tree, home, clients)
            commands += [
                (Series(f"{label}orgload --help", ["--help"], tree, TARGETS["help"]), home, ""),
                (
                    Series(
                        f"{label}orgload validate (1 row)",
                        ["validate", "--client", "bench0", str(workbook), "--json"],
                        tree,
                        TARGETS["validate"],
                    ),
                    home,
                    "",
                ),
                (
                    Series(
                        f"{label}orgload load (1 row, SQLite)",
                        ["load", "--client", "{client}", str(workbook), "--json"],
                        tree,
                        TARGETS["load"],
                    ),
                    home,
                    "load",
                ),
            ]
        load_start = os.getloadavg()
        for n in range(rounds):
            for floor in floors:
                record(floor, spawn(floor.argv, child_env(scratch, None), scratch), n)
            for series, home, kind in commands:
                assert series.tree is not None
                argv = [a.replace("{client}", f"bench{n}") for a in series.argv]
                env = child_env(home, series.tree)
                record(series, spawn(orgload(series.tree, *argv), env, series.tree), n)
                if kind == "load" and series.exit_codes and series.exit_codes[-1] != 0:
                    raise SystemExit(f"{series.name}: exit {series.exit_codes[-1]}")
        load_end = os.getloadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report(floors, [c[0] for c in commands], load_start, load_end, args)


def record(series: Series, measured: tuple[float, float, float, int], round_number: int) -> None:
    if round_number == 0:
        return  # warm-up
    wall, cpu, rss, code = measured
    series.wall.append(wall)
    series.cpu.append(cpu)
    series.rss_mb.append(rss)
    series.exit_codes.append(code)


def report(
    floors: list[Series],
    commands: list[Series],
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    args: argparse.Namespace,
) -> dict[str, Any]:
    cpus = os.cpu_count() or 1
    quiet = max(load_start[0], load_end[0]) <= cpus
    bare, typer = (statistics.median(f.wall) for f in floors)
    rows = []
    for series in commands:
        summary = series.summary()
        wall, cpu = summary["wall_median"], summary["cpu_median"]
        judged = wall if quiet else cpu
        summary.update(
            over_python=round(wall - bare, 4),
            over_typer=round(wall - typer, 4),
            judged_on="wall median" if quiet else "CPU median (machine loaded)",
            passed=judged <= (series.target or float("inf")) and summary["exit_codes"] == [0],
        )
        rows.append(summary)
    return {
        "benchmark": "fixed cost of a command (issue 15, item 4)",
        "machine": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": cpus,
            "python": platform.python_version(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in load_end],
            "quiet": quiet,
        },
        "commit": git_commit(),
        "uncommitted_changes": tree_dirty(),
        "baseline_tree": str(args.baseline_tree) if args.baseline_tree else None,
        "repeat": args.repeat,
        "floors": [f.summary() for f in floors],
        "commands": rows,
    }


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"fixed cost, medians of {result['repeat']} rounds · {machine['cpus']} CPUs · load "
        f"{machine['load_average_start'][0]} → {machine['load_average_end'][0]}"
        f" ({'quiet' if machine['quiet'] else 'loaded: judged on CPU time'})",
        "",
        f"{'measurement':<40} {'wall':>7} {'min':>7} {'CPU':>7} {'RSS MB':>7} "
        f"{'−python':>8} {'−typer':>8} {'target':>7}  result",
    ]
    for floor in result["floors"]:
        lines.append(
            f"{floor['name']:<40} {floor['wall_median']:>7.3f} {floor['wall_min']:>7.3f} "
            f"{floor['cpu_median']:>7.3f} {floor['rss_mb_median']:>7.0f} {'':>8} {'':>8} "
            f"{'floor':>7}"
        )
    for row in result["commands"]:
        verdict = "pass" if row["passed"] else "MISS"
        lines.append(
            f"{row['name']:<40} {row['wall_median']:>7.3f} {row['wall_min']:>7.3f} "
            f"{row['cpu_median']:>7.3f} {row['rss_mb_median']:>7.0f} "
            f"{row['over_python']:>8.3f} {row['over_typer']:>8.3f} "
            f"{row['target_seconds']:>7.2f}  {verdict} ({row['judged_on']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = measure(args)
    print(render(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"\nwritten: {args.out}")
    ours = [r for r in result["commands"] if r["tree"] == str(REPO_ROOT)]
    return 0 if all(r["passed"] for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
