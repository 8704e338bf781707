"""Where the bytes of one ``orgload`` command go: resident memory and Arrow's bytes per stage.

Usage (PostgreSQL, a fresh database per run; the database is dropped at the end)::

    python bench/profile_memory.py FILE [--command load|validate] [--preload FILE]
                                        [--out bench/results/memory.json]

Runs the command in this process (``cli.app`` as ``orgload`` would), with a thread sampling the
resident set (``/proc/self/statm``) every 2 ms, and wraps the pipeline's stages so each call
records its wall interval, the resident set when it began and ended and its highest sample, and
``pyarrow.total_allocated_bytes()`` (Arrow's own buffers) at both ends. What is resident and
not Arrow's is Python objects, calamine's parsed sheet (Rust) or the drivers. ``--preload``
first loads another workbook (unmeasured) into the same client, so a delta or a cosmetic
re-upload can be profiled. ``--tracemalloc`` also records Python's own allocations per stage
(several times slower; use it for the bytes, not the times).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_load import FIRST_NOW, PG_SERVER, PgDatabases
from bench_validate import BENCH_DIR, VENV_BIN, log

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20
# (module, attribute): the stages wrapped, where the caller looks them up
STAGES = (
    ("loaders.validate", "read_upload"),
    ("loaders.read", "_worksheet_grid"),
    ("loaders.read", "sheet_of_grid"),
    ("loaders.validate", "normalize_sheet"),
    ("loaders.validate", "check_cells"),
    ("loaders.validate", "check_rules"),
    ("loaders.load", "validate_upload"),
    ("loaders.load", "_read_current"),
    ("loaders.load", "archive_upload"),
    ("loaders.load", "plan_changes"),
    ("loaders.load", "_apply"),
    ("loaders.load", "apply_plan"),
    ("loaders.apply", "_copy_arrays"),
    ("loaders.apply", "_log_pieces"),
    ("loaders.apply", "copy_payload"),
)


def rss() -> int:
    """Resident bytes of this process now."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE


class Sampler(threading.Thread):
    """Samples the resident set; ``peak_since(mark)`` is the highest sample after a mark."""

    def __init__(self, every: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), rss()))
            time.sleep(self.every)

    def peak(self, start: float, end: float) -> int:
        inside = [value for at, value in self.samples if start <= at <= end]
        return max(inside, default=0)


class Recorder:
    """The calls of the wrapped stages, in the order they began."""

    def __init__(self, sampler: Sampler, traced: bool) -> None:
        self.sampler = sampler
        self.traced = traced
        self.calls: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.lock = threading.Lock()

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        import pyarrow as pa

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            entry: dict[str, Any] = {
                "stage": name,
                "thread": threading.current_thread().name,
                "start_s": time.perf_counter() - self.started,
                "rss_start_mb": rss() / MB,
                "arrow_start_mb": pa.total_allocated_bytes() / MB,
            }
            if self.traced:
                entry["python_start_mb"] = tracemalloc.get_traced_memory()[0] / MB
                tracemalloc.reset_peak()
            with self.lock:
                self.calls.append(entry)
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                entry["seconds"] = ended - began
                entry["rss_end_mb"] = rss() / MB
                entry["rss_peak_mb"] = max(self.sampler.peak(began, ended), rss()) / MB
                entry["arrow_end_mb"] = pa.total_allocated_bytes() / MB
                if self.traced:
                    now, peak = tracemalloc.get_traced_memory()
                    entry["python_end_mb"], entry["python_peak_mb"] = now / MB, peak / MB

        return wrapper


def install(recorder: Recorder) -> None:
    """Wrap every stage where its caller looks it up."""
    for module_name, attribute in STAGES:
        module = importlib.import_module(module_name)
        setattr(module, attribute, recorder.wrap(attribute, getattr(module, attribute)))


def orgload(env: dict[str, str], *args: str) -> None:
    """An unmeasured ``orgload`` command (setup); raises when it fails."""
    subprocess.run([str(VENV_BIN / "orgload"), *args], env=env, check=True, capture_output=True)


@contextlib.contextmanager
def database(server: str) -> Iterator[str]:
    dbs = PgDatabases(server)
    try:
        yield dbs.create("memory")
    finally:
        dbs.drop_all()


@contextlib.contextmanager
def _removed(folder: Path) -> Iterator[None]:
    """The command's ORGLOAD_HOME (its archive holds a copy of the upload), removed at the end."""
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--command", choices=("load", "validate"), default="load")
    parser.add_argument("--preload", type=Path, default=None, help="load this first, unmeasured")
    parser.add_argument("--now", default=FIRST_NOW, help="ORGLOAD_NOW of the measured command")
    parser.add_argument("--pg-server", default=PG_SERVER)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--cprofile", type=Path, default=None, help="also write cProfile stats")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "memory.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = BENCH_DIR / ".cache" / f"memory_home_{os.getpid()}"
    home.mkdir(parents=True, exist_ok=True)
    with database(args.pg_server) as url, _removed(home):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORGLOAD_")}
        env |= {"ORGLOAD_HOME": str(home), "ORGLOAD_DATABASE_URL": url, "ORGLOAD_NOW": FIRST_NOW}
        orgload(env, "db", "upgrade")
        orgload(env, "clients", "add", "mem", "--name", "Mem")
        if args.preload is not None:
            log(f"preloading {args.preload.name}")
            orgload(env, "load", "--client", "mem", str(args.preload), "--json")
        os.environ.update(env | {"ORGLOAD_NOW": args.now})
        sampler = Sampler()
        sampler.start()
        if args.tracemalloc:
            tracemalloc.start()
        recorder = Recorder(sampler, args.tracemalloc)
        from cli.app import main as cli_main

        command = [args.command, "--client", "mem", str(args.file), "--json"]
        sys.argv = ["orgload", *command]
        started = time.perf_counter()
        # the stages' modules are imported (and wrapped) before the command starts: the
        # parse-ahead then starts after the imports, so the times here are not the command's
        install(recorder)
        exit_code = 0
        stdout = sys.stdout
        try:
            with open(os.devnull, "w", encoding="utf-8") as sink:
                sys.stdout = sink
                if args.cprofile is not None:
                    import cProfile

                    profiler = cProfile.Profile()
                    try:
                        profiler.runcall(cli_main)
                    finally:
                        profiler.dump_stats(args.cprofile)
                else:
                    cli_main()
        except SystemExit as stop:
            exit_code = int(stop.code or 0)
        finally:
            sys.stdout = stdout
        seconds = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
    peak = max(value for _, value in sampler.samples) / MB
    result = {
        "command": command,
        "file": str(args.file),
        "preload": str(args.preload) if args.preload else None,
        "exit_code": exit_code,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "calls": recorder.calls,
        "timeline": [
            (round(at - recorder.started, 3), round(value / MB, 1))
            for at, value in sampler.samples[:: max(1, len(sampler.samples) // 400)]
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{' '.join(command)}: exit {exit_code}, {seconds:.2f} s, peak RSS {peak:.0f} MB")
    print(
        f"{'stage':<18} {'start':>6} {'s':>6} {'rss0':>6} {'peak':>6} {'rss1':>6} {'arrow0':>7} "
        f"{'arrow1':>7}"
    )
    for call in recorder.calls:
        print(
            f"{call['stage']:<18} {call['start_s']:6.2f} {call.get('seconds', 0):6.2f}"
            f" {call['rss_start_mb']:6.0f} {call.get('rss_peak_mb', 0):6.0f}"
            f" {call.get('rss_end_mb', 0):6.0f} {call['arrow_start_mb']:7.0f}"
            f" {call.get('arrow_end_mb', 0):7.0f}"
            + (
                f"  py {call['python_start_mb']:.0f}→{call.get('python_end_mb', 0):.0f}"
                f" (peak {call.get('python_peak_mb', 0):.0f})"
                if "python_start_mb" in call
                else ""
            )
        )
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
