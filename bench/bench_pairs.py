"""Paired, alternating runs of ``orgload validate`` from two source trees (issue 11 speed).

Usage::

    git worktree add /tmp/wt-base 347a8ef
    python bench/bench_pairs.py --base /tmp/wt-base --new . --pairs 30 FILE [FILE...]

Each pair runs the same command from both trees back to back, in alternating order (A B, B A,
…), so that the noise of a shared machine falls on both alike; the figure is the median of the
per-pair ratios new / base, with its quartiles. Every run is a fresh process started by the
minimal launcher of ``bench_validate.py`` (``python -I -S``: wall time and peak RSS from
``os.wait4``); each tree's bytecode is compiled once beforehand into its own cache
(``PYTHONPYCACHEPREFIX``), so no run compiles the project's modules. Results are printed and,
with ``--out``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validate import launch_child

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
PACKAGES = ("cli", "loaders", "schemas", "orgload", "service", "quality", "support")
MAIN_CODE = 'import sys; sys.argv[0] = "orgload"; from cli.app import main; main()'


def compile_tree(tree: Path, cache: Path) -> None:
    folders = [str(tree / p) for p in PACKAGES if (tree / p).is_dir()]
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [str(PYTHON), "-m", "compileall", "-q", *folders],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run(tree: Path, cache: Path, home: Path, files: list[str]) -> tuple[float, float, int, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(cache)}
    env["ORGLOAD_HOME"] = str(home)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [str(PYTHON), "-P", "-c", MAIN_CODE, "validate", "--client", "bench", *files]
    launch, _out, _err = launch_child(command, PYTHON, env, timeout=1800)
    return launch.seconds, launch.maxrss_kib / 1024, launch.exit_code, launch.cpu_seconds


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="source tree of the baseline")
    parser.add_argument("--new", type=Path, default=REPO_ROOT, help="source tree measured")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded pairs first")
    parser.add_argument("--out", type=Path)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-pairs-"))
    trees = {"base": args.base.resolve(), "new": args.new.resolve()}
    caches = {name: work / f"pyc-{name}" for name in trees}
    for name, tree in trees.items():
        compile_tree(tree, caches[name])
    times: dict[str, list[float]] = {name: [] for name in trees}
    rss: dict[str, list[float]] = {name: [] for name in trees}
    codes: dict[str, set[int]] = {name: set() for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    for pair in range(-args.warmup, args.pairs):
        order = ["base", "new"] if pair % 2 == 0 else ["new", "base"]
        got = {}
        for name in order:
            got[name] = run(trees[name], caches[name], work / "home", args.files)
        if pair < 0:
            continue
        for name, (seconds, peak, code, used) in got.items():
            times[name].append(seconds)
            rss[name].append(peak)
            codes[name].add(code)
            cpu[name].append(used)
        ratios.append(got["new"][0] / got["base"][0])
        cpu_ratios.append(got["new"][3] / got["base"][3])
        print(
            f"pair {pair + 1:3}: base {got['base'][0]:.3f} s  new {got['new'][0]:.3f} s  "
            f"ratio {ratios[-1]:.3f}  (cpu {cpu_ratios[-1]:.3f})  load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    low, high = quartiles(ratios)
    summary: dict[str, Any] = {
        "files": args.files,
        "pairs": len(ratios),
        "median_ratio": round(statistics.median(ratios), 4),
        "ratio_quartiles": [round(low, 4), round(high, 4)],
        "ratio_range": [round(min(ratios), 4), round(max(ratios), 4)],
        "geometric_mean_ratio": round(statistics.geometric_mean(ratios), 4),
        "median_cpu_ratio": round(statistics.median(cpu_ratios), 4),
        "cpu_ratio_quartiles": [round(q, 4) for q in quartiles(cpu_ratios)],
        "median_seconds": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "median_cpu_seconds": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "median_peak_rss_mb": {k: round(statistics.median(v), 1) for k, v in rss.items()},
        "exit_codes": {k: sorted(v) for k, v in codes.items()},
        "trees": {k: str(v) for k, v in trees.items()},
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        record = {**summary, "ratios": ratios, "cpu_ratios": cpu_ratios, "times": times}
        args.out.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
