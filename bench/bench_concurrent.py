"""Benchmark 1, 2 and 4 clients loading at once into one PostgreSQL (issue 15, item 6).

Usage::

    python bench/bench_concurrent.py [--people 100000] [--clients 1 2 4] [--rounds 2]
                                     [--out bench/results/concurrent.json]

More clients means more workers on one database (SPEC §7). Each round creates a fresh
database, registers N clients and starts N ``orgload load`` processes at the same moment, one
first load of the same 100k-person workbook per client (each in an ORGLOAD_HOME of its own, as
separate workers would be), while a separate connection samples ``pg_stat_activity`` every
20 ms: what the loads' backends were doing (on the CPU, or waiting, and for what). Reported per
N: the makespan (first start to last end), each load's wall time, the throughput in people per
second, and the makespan as a multiple of one client's; the wait-event histogram of the active
backends. Wall times come from the minimal launcher of ``bench_validate.py`` (``os.wait4``).
On a 2-core machine running the database too, 4 loads share 2 CPUs with PostgreSQL: the
figures show how the work queues, not how a larger server would scale.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import PG_SERVER, PgDatabases, child_env
from bench_validate import (
    BENCH_DIR,
    CACHE_DIR,
    LAUNCHER_CODE,
    VENV_BIN,
    describe_machine,
    ensure_workbook,
    read_launch,
)

NOW = "2026-11-10T10:00:00-03:00"
SAMPLE_SECONDS = 0.02
SAMPLE_SQL = """
SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'running'), query
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Sampler(threading.Thread):
    """Counts, every ``SAMPLE_SECONDS``, what each active backend of the database is doing."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.stop = threading.Event()
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                for kind, event, _query in conn.execute(SAMPLE_SQL).fetchall():
                    self.counts[f"{kind}:{event}"] += 1
                self.samples += 1
                time.sleep(SAMPLE_SECONDS)


def orgload(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(VENV_BIN / "orgload"), *args], env=env, capture_output=True, check=True, timeout=300
    )


def one_round(n: int, workbook: Path, dbs: PgDatabases, base: dict[str, str]) -> dict[str, Any]:
    url = dbs.create(f"c{n}")
    try:
        homes = [Path(tempfile.mkdtemp(prefix=f"concurrent_{n}_", dir=CACHE_DIR)) for _ in range(n)]
        envs = [child_env(base, home, url, NOW) for home in homes]
        orgload(envs[0], "db", "upgrade")
        for i in range(n):
            orgload(envs[0], "clients", "add", f"cliente{i}", "--name", f"Cliente {i}")
        sampler = Sampler(url)
        sampler.start()
        results = [Path(tempfile.mktemp(suffix=".txt", dir=CACHE_DIR)) for _ in range(n)]
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [
                    str(VENV_BIN / "python"), "-I", "-S", "-c", LAUNCHER_CODE, str(results[i]),
                    str(VENV_BIN / "orgload"), "load", "--client", f"cliente{i}", str(workbook),
                    "--json",
                ],
                env=envs[i],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            for i in range(n)
        ]  # fmt: skip
        outputs = [p.communicate(timeout=900)[0] for p in processes]
        makespan = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        loads = []
        for result, output in zip(results, outputs, strict=True):
            launch = read_launch(result.read_text())
            result.unlink()
            status = json.loads(output or b"{}").get("status")
            loads.append(
                {"seconds": launch.seconds, "rss_mb": launch.maxrss_kib / 1024,
                 "exit": launch.exit_code, "status": status}
            )  # fmt: skip
        for home in homes:
            subprocess.run(["rm", "-rf", str(home)], check=False)
        return {
            "clients": n,
            "makespan": makespan,
            "loads": loads,
            "waits": dict(sampler.counts.most_common()),
            "samples": sampler.samples,
        }
    finally:
        dbs.drop(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=5_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "concurrent.json")
    args = parser.parse_args(argv)
    workbook = ensure_workbook(args.people, args.units, spoiled=False)
    base = dict(os.environ)
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base["PYTHONPYCACHEPREFIX"] = str(CACHE_DIR / "pycache")
    dbs = PgDatabases(PG_SERVER)
    load_start = os.getloadavg()
    rounds: dict[int, list[dict[str, Any]]] = {n: [] for n in args.clients}
    try:
        one_round(1, ensure_workbook(30, 5, spoiled=False), dbs, base)  # warm the bytecode
        for r in range(args.rounds):
            for n in args.clients:  # interleaved: the machine's noise falls on every N alike
                log(f"round {r + 1}: {n} client(s) at once")
                rounds[n].append(one_round(n, workbook, dbs, base))
    finally:
        dbs.drop_all()
    one = statistics.median(x["makespan"] for x in rounds[args.clients[0]])
    summary = []
    print(
        f"\n{args.people:,} people per client, PostgreSQL, medians of {args.rounds} rounds\n\n"
        "| clients at once | makespan (s) | × one client | each load (s) | people/s | "
        "peak RSS each (MB) | all applied | backends' time (samples) |\n"
        "|---:|---:|---:|---:|---:|---:|---|---|"
    )
    for n, runs in rounds.items():
        makespan = statistics.median(x["makespan"] for x in runs)
        each = statistics.median(load["seconds"] for x in runs for load in x["loads"])
        rss = max(load["rss_mb"] for x in runs for load in x["loads"])
        applied = all(load["status"] == "applied" for x in runs for load in x["loads"])
        waits: collections.Counter[str] = collections.Counter()
        for x in runs:
            waits.update(x["waits"])
        total = sum(waits.values()) or 1
        top = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in waits.most_common(4))
        throughput = n * args.people / makespan
        print(
            f"| {n} | {makespan:.2f} | {makespan / one:.2f} | {each:.2f} | {throughput:,.0f} | "
            f"{rss:.0f} | {'yes' if applied else 'NO'} | {top} |"
        )
        summary.append(
            {"clients": n, "makespan": makespan, "over_one": makespan / one, "each_load": each,
             "people_per_second": throughput, "max_rss_mb": rss, "all_applied": applied,
             "waits": dict(waits.most_common())}
        )  # fmt: skip
    machine = {**describe_machine(), "load_average_start": load_start}
    machine["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine, "people": args.people, "summary": summary, "rounds": rounds}
    args.out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"\nload average {load_start[0]:.1f} → {os.getloadavg()[0]:.1f}; written to {args.out}")
    return 0 if all(s["all_applied"] for s in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
