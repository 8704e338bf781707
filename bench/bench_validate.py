"""Benchmark ``orgload validate`` against a naive pandas read, plus a zip-bomb check (SPEC §2).

Usage::

    python bench/bench_validate.py [--people 100000] [--units 5000] [--big 500000]
                                   [--out bench/results/validate.json]

Workbooks are generated with ``sample_data/generate.py`` and cached in ``bench/.cache/``. Every
measurement runs in a fresh child process, started by a minimal launcher (``python -I -S``) that
times it and reads its peak RSS from ``os.wait4``. The launcher matters: on Linux a child's
``ru_maxrss`` starts from the RSS of the process that forked it, so spawning straight from this
script (which holds the generated rows) would inflate every figure to this script's size.
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# the generator lives in sample_data/ at the repository root, which is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sample_data.generate import Row, build_org, spoil_check_digit, write_xlsx

REPO_ROOT = Path(__file__).resolve().parents[1]

BENCH_DIR = REPO_ROOT / "bench"
CACHE_DIR = BENCH_DIR / ".cache"
VENV_BIN = REPO_ROOT / ".venv" / "bin"
GENERATOR = REPO_ROOT / "sample_data" / "generate.py"
BENCH_SEED = 20261101
BAD_FRACTION = 0.01
CLIENT_ID = "bench"
TINY_PEOPLE = 30
TINY_UNITS = 5
MAX_BLANK_ROWS = 3  # sample_data.generate.pick_blank_positions

MIN_BASELINE_RATIO = 5.0
MAX_BAD_OVER_VALID = 1.5
MAX_RSS_MB = 500.0
MAX_BOMB_EXTRA_SECONDS = 1.0
MAX_BOMB_RSS_MB = 100.0

# The launcher every benchmark runs its children through: spawns argv[2:], waits for it with
# os.wait4, writes "seconds maxrss_kib exit_code cpu_seconds" (CPU: user + system, all the
# child's threads) to argv[1], exits alike. Read back with ``read_launch``.
LAUNCHER_CODE = """
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as result:
    result.write(f"{seconds} {usage.ru_maxrss} {code} {usage.ru_utime + usage.ru_stime}")
sys.exit(code if 0 <= code < 256 else 1)
"""


@dataclass(frozen=True)
class Launch:
    """What the launcher wrote of one child: wall seconds, peak RSS, exit code, CPU seconds."""

    seconds: float
    maxrss_kib: int
    exit_code: int
    cpu_seconds: float


def read_launch(text: str) -> Launch:
    seconds, maxrss_kib, exit_code, cpu = text.split()
    return Launch(float(seconds), int(maxrss_kib), int(exit_code), float(cpu))


BASELINE_CODE = (
    "import sys, pandas as pd; pd.read_excel(sys.argv[1], sheet_name=None, engine='openpyxl')"
)
BOMB_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
BOMB_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)
BOMB_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Personas" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>"
)
BOMB_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet"/>'
    "</Relationships>"
)
BOMB_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
BOMB_SHEET_TAIL = "</sheetData></worksheet>"
BOMB_ROW = '<row><c t="inlineStr"><is><t>bomba</t></is></c></row>'


@dataclass
class Run:
    """One child process: wall time, peak RSS, exit code and what it printed."""

    seconds: float
    peak_rss_mb: float
    exit_code: int
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)


@dataclass
class Measurement:
    """Repeated runs of one command, summarized as median time and highest peak RSS."""

    name: str
    workbook: str
    command: list[str]
    seconds: list[float]
    peak_rss_mb: list[float]
    exit_codes: list[int]
    notes: list[str] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        """Median wall time over the runs."""
        return statistics.median(self.seconds)

    @property
    def max_rss_mb(self) -> float:
        """Highest peak RSS over the runs (the conservative figure)."""
        return max(self.peak_rss_mb)

    def to_dict(self) -> dict[str, Any]:
        """Return the measurement as JSON-ready data, summary figures included."""
        return {
            **asdict(self),
            "median_seconds": round(self.median_seconds, 3),
            "max_rss_mb": round(self.max_rss_mb, 1),
        }


@dataclass
class Context:
    """How to run orgload: the executable, its environment, runs per measurement, time limit."""

    orgload: Path
    python: Path
    env: dict[str, str]
    repeat: int
    timeout: float
    bomb_mb: int


@dataclass
class Inputs:
    """The workbooks of a run, all in the cache."""

    valid: Path
    bad: Path
    big: Path | None
    tiny: Path
    bomb: Path


@dataclass
class References:
    """Start-up costs the other timings are read against."""

    interpreter: Measurement
    cli: Measurement
    tiny_validate: Measurement


@dataclass
class Check:
    """One target: the measured value, the bound and whether it was met."""

    name: str
    value: float | None
    target: str
    passed: bool
    detail: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000, help="people in the main workbook")
    parser.add_argument("--units", type=int, default=5_000, help="units in every workbook")
    parser.add_argument("--big", type=int, default=0, help="also validate a workbook this large")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "validate.json")
    parser.add_argument("--repeat", type=int, default=3, help="runs per orgload measurement")
    parser.add_argument("--bomb-mb", type=int, default=300, help="uncompressed bomb sheet size")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a run dies")
    parser.add_argument("--orgload", type=Path, default=VENV_BIN / "orgload")
    parser.add_argument("--python", type=Path, default=VENV_BIN / "python")
    return parser.parse_args(argv)


def log(message: str) -> None:
    """Print progress on stderr, so stdout keeps only the results table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def fingerprint_generator() -> str:
    """Return a short hash of the generator source: a changed generator invalidates the cache."""
    return hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:10]


def corrupt_people(rows: list[Row], n_bad: int, seed: int) -> list[Row]:
    """Return a copy of the person rows with ``n_bad`` of them spoiled, three faults mixed.

    Faults go to people nobody reports to (invalid RUT check digit, invalid email, unknown unit
    code), so each bad row yields exactly one error and nothing cascades.
    """
    rng = random.Random(seed)
    managers = {row["rut_jefatura"] for row in rows}
    candidates = [index for index, row in enumerate(rows) if row["rut"] not in managers]
    spoiled = list(rows)
    for order, index in enumerate(sorted(rng.sample(candidates, n_bad))):
        row = dict(rows[index])
        kind = order % 3
        if kind == 0:
            row["rut"] = spoil_check_digit(row["rut"])
        elif kind == 1:
            row["email"] = row["email"].replace("@", " at ")
        else:
            row["codigo_unidad"] = f"NOEXISTE-{order:05d}"
        spoiled[index] = row
    return spoiled


def count_bad_rows(n_people: int) -> int:
    """Return how many person rows the spoiled workbook has bad (1 %)."""
    return round(n_people * BAD_FRACTION)


def blank_rows_fit(n_people: int) -> bool:
    """Whether the generator's blank rows (up to three) keep a sheet of ``n_people`` within
    the default data-row limit, which counts blank rows: 1,000,000 people get none, or the
    workbook would be refused as ``file_too_large``."""
    from loaders.limits import Limits

    return n_people + MAX_BLANK_ROWS <= Limits().max_rows


def ensure_workbook(n_people: int, n_units: int, *, spoiled: bool) -> Path:
    """Return the cached workbook (valid, or with 1 % bad person rows), generating it if needed.

    The file name carries a hash of the generator, so editing the generator regenerates it; it is
    written under a temporary name and renamed, so an interrupted run never leaves half a file.
    """
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    kind = "bad1pct" if spoiled else "valid"
    path = CACHE_DIR / f"org_{n_people}p_{n_units}u_{fingerprint_generator()}_{kind}.xlsx"
    blanks = blank_rows_fit(n_people)
    if not blanks:
        path = path.with_name(f"{path.stem}_noblank.xlsx")
    if path.exists():
        return path
    log(f"generating {path.name} (cached afterwards)")
    started = time.perf_counter()
    units, people = build_org(n_people, n_units, BENCH_SEED)
    if spoiled:
        people = corrupt_people(people, count_bad_rows(n_people), BENCH_SEED)
    partial = path.with_name(f"{path.stem}.partial.xlsx")
    write_xlsx(partial, units, people, seed=BENCH_SEED, blank_rows=blanks)
    partial.replace(path)
    log(f"generated in {time.perf_counter() - started:.1f} s")
    return path


def build_bomb(path: Path, uncompressed_mb: int) -> None:
    """Write an .xlsx-named zip whose one worksheet inflates to ``uncompressed_mb`` megabytes."""
    partial = path.with_name(f"{path.stem}.partial.xlsx")
    target = uncompressed_mb * 1024 * 1024
    chunk = (BOMB_ROW * (1024 * 1024 // len(BOMB_ROW))).encode()
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", BOMB_CONTENT_TYPES)
        archive.writestr("_rels/.rels", BOMB_ROOT_RELS)
        archive.writestr("xl/workbook.xml", BOMB_WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", BOMB_WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(BOMB_SHEET_HEAD.encode())
            written = len(BOMB_SHEET_HEAD)
            while written < target:
                sheet.write(chunk)
                written += len(chunk)
            sheet.write(BOMB_SHEET_TAIL.encode())
    partial.replace(path)


def ensure_bomb(uncompressed_mb: int) -> Path:
    """Return the cached zip bomb, building it first if needed."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"bomb_{uncompressed_mb}mb.xlsx"
    if not path.exists():
        log(f"building a {uncompressed_mb} MB zip bomb")
        build_bomb(path, uncompressed_mb)
    return path


def launch_child(
    command: list[str], python: Path, env: dict[str, str], timeout: float
) -> tuple[Launch, bytes, bytes]:
    """Run a command through the launcher (``LAUNCHER_CODE`` under ``python -I -S``); return
    what it measured and the command's stdout and stderr. Killed, with its group, at
    ``timeout`` (``subprocess.TimeoutExpired``)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".txt") as result,
    ):
        launcher = [str(python), "-I", "-S", "-c", LAUNCHER_CODE, result.name, *command]
        process = subprocess.Popen(
            launcher, stdout=out, stderr=err, env=env, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        launch = read_launch(result.read())
        out.seek(0)
        err.seek(0)
        return launch, out.read(), err.read()


def run_child(command: list[str], ctx: Context) -> Run:
    """Run a command through the launcher; return its wall time, peak RSS, exit code, output."""
    launch, out, err = launch_child(command, ctx.python, ctx.env, ctx.timeout)
    return Run(launch.seconds, launch.maxrss_kib / 1024, launch.exit_code, out, err)


def measure(
    name: str, workbook: str, command: list[str], ctx: Context, repeat: int
) -> tuple[Measurement, list[Run]]:
    """Run a command ``repeat`` times and summarize the runs."""
    runs: list[Run] = []
    for attempt in range(1, repeat + 1):
        runs.append(run_child(command, ctx))
        log(
            f"{name} #{attempt}: {runs[-1].seconds:.2f} s, {runs[-1].peak_rss_mb:.0f} MB,"
            f" exit {runs[-1].exit_code}"
        )
    measurement = Measurement(
        name=name,
        workbook=workbook,
        command=[str(part) for part in command],
        seconds=[round(run.seconds, 3) for run in runs],
        peak_rss_mb=[round(run.peak_rss_mb, 1) for run in runs],
        exit_codes=[run.exit_code for run in runs],
    )
    return measurement, runs


def parse_report(run: Run) -> dict[str, Any] | None:
    """Return the JSON report a validate run printed, or None when it printed none."""
    try:
        report = json.loads(run.stdout)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def last_message(stderr: bytes) -> str:
    """Return the last line of a child's stderr that says something (rich box lines skipped)."""
    for line in reversed(stderr.decode(errors="replace").splitlines()):
        text = line.strip(" │╭╮╰╯─\t")
        if any(ch.isalnum() for ch in text):
            return text[:200]
    return "no message"


def describe_report(run: Run, report: dict[str, Any] | None) -> str:
    """Summarize a validate run for the notes: validity, counts, error codes, or the failure."""
    if report is None:
        return f"no JSON report (exit {run.exit_code}): {last_message(run.stderr)}"
    errors = report.get("errors") or []
    codes = sorted({str(error.get("code")) for error in errors if isinstance(error, dict)})
    return (
        f"valid={report.get('valid')} counts={report.get('counts')} "
        f"errors={len(errors)} codes={codes} warnings={len(report.get('warnings') or [])}"
    )


def check_report(
    report: dict[str, Any] | None, *, n_people: int, n_units: int, n_bad: int
) -> tuple[bool, str]:
    """Check a report is what the file must give: valid with no errors, or ``n_bad`` errors."""
    if report is None:
        return False, "validate printed no JSON report"
    counts = report.get("counts") or {}
    if counts.get("personas") != n_people or counts.get("unidades") != n_units:
        return False, f"counts {counts} != personas {n_people}, unidades {n_units}"
    errors = report.get("errors") or []
    if n_bad == 0 and (report.get("valid") is not True or errors):
        return False, f"valid file reported valid={report.get('valid')} with {len(errors)} errors"
    if n_bad and (report.get("valid") is not False or len(errors) < n_bad):
        return False, f"{n_bad} bad rows but valid={report.get('valid')}, {len(errors)} errors"
    return True, "report as expected"


def prepare_client(ctx: Context) -> list[str]:
    """Create the schema and the ``bench`` client in the bench home, in case validate needs them.

    Failures are returned as notes, not raised: ``validate`` may not need a database at all.
    """
    notes = []
    for command in (
        [str(ctx.orgload), "db", "upgrade"],
        [str(ctx.orgload), "clients", "add", CLIENT_ID, "--name", "Benchmark"],
    ):
        run = run_child(command, ctx)
        if run.exit_code != 0:
            notes.append(
                f"`{' '.join(command[1:])}` exit {run.exit_code}: {last_message(run.stderr)}"
            )
    return notes


def run_validate(
    label: str, workbook: str, path: Path, ctx: Context, *, n_people: int, n_units: int, n_bad: int
) -> tuple[Measurement, Check]:
    """Measure ``orgload validate`` on a workbook and check its report and exit code."""
    command = [str(ctx.orgload), "validate", "--client", CLIENT_ID, str(path), "--json"]
    measurement, runs = measure(label, workbook, command, ctx, ctx.repeat)
    report = parse_report(runs[-1])
    measurement.notes.append(describe_report(runs[-1], report))
    ok, detail = check_report(report, n_people=n_people, n_units=n_units, n_bad=n_bad)
    expected_exit = 1 if n_bad else 0
    if ok and any(code != expected_exit for code in measurement.exit_codes):
        ok, detail = False, f"exit codes {measurement.exit_codes}, expected {expected_exit}"
    return measurement, Check(f"{label}: report", None, "as generated", ok, detail)


def run_bomb(path: Path, ctx: Context, references: References) -> tuple[Measurement, list[Check]]:
    """Measure ``orgload validate`` on the zip bomb: refused as file_too_large, fast, small.

    The time target is on what comes after the bare interpreter start; the time beyond a
    tiny-file validate (same imports, no data) is noted to tell import cost from bomb cost.
    """
    command = [str(ctx.orgload), "validate", "--client", CLIENT_ID, str(path), "--json"]
    workbook = f"{path.name} ({describe_size(path)}, sheet1.xml inflates to {ctx.bomb_mb} MB)"
    measurement, runs = measure("orgload validate, zip bomb", workbook, command, ctx, ctx.repeat)
    report = parse_report(runs[-1])
    measurement.notes.append(describe_report(runs[-1], report))
    beyond_interpreter = measurement.median_seconds - references.interpreter.median_seconds
    beyond_validate = measurement.median_seconds - references.tiny_validate.median_seconds
    measurement.notes.append(
        f"total {measurement.median_seconds:.2f} s = {beyond_interpreter:.2f} s beyond the bare"
        f" interpreter start, {beyond_validate:.2f} s beyond validating a tiny file"
    )
    errors = (report or {}).get("errors") or []
    codes = sorted({str(e.get("code")) for e in errors if isinstance(e, dict)})
    refused = "file_too_large" in codes
    return measurement, [
        Check("zip bomb: refused", None, "file_too_large", refused, f"error codes {codes}"),
        Check(
            "zip bomb: s beyond interpreter start",
            beyond_interpreter,
            f"< {MAX_BOMB_EXTRA_SECONDS:g}",
            beyond_interpreter < MAX_BOMB_EXTRA_SECONDS,
        ),
        Check(
            "zip bomb: peak RSS MB",
            measurement.max_rss_mb,
            f"< {MAX_BOMB_RSS_MB:g}",
            measurement.max_rss_mb < MAX_BOMB_RSS_MB,
        ),
    ]


def compare_runs(baseline: Measurement | None, valid: Measurement, bad: Measurement) -> list[Check]:
    """Check the speed ratios and the memory ceiling of the main workbook."""
    checks: list[Check] = []
    if baseline is not None:
        ratio = baseline.median_seconds / valid.median_seconds
        checks.append(
            Check(
                "baseline / orgload (valid), x",
                ratio,
                f">= {MIN_BASELINE_RATIO:g}",
                ratio >= MIN_BASELINE_RATIO,
            )
        )
    ratio = bad.median_seconds / valid.median_seconds
    checks.append(
        Check(
            "orgload 1% bad / valid, x",
            ratio,
            f"<= {MAX_BAD_OVER_VALID:g}",
            ratio <= MAX_BAD_OVER_VALID,
        )
    )
    checks += [
        Check(
            f"peak RSS MB, {measurement.name}",
            measurement.max_rss_mb,
            f"<= {MAX_RSS_MB:g}",
            measurement.max_rss_mb <= MAX_RSS_MB,
        )
        for measurement in (valid, bad)
    ]
    return checks


def describe_size(path: Path) -> str:
    """Return a file's size in megabytes, for the table."""
    return f"{path.stat().st_size / 1e6:.1f} MB"


def describe_workbook(path: Path, n_people: int, n_units: int, note: str = "") -> str:
    """Describe a benchmark workbook for the table."""
    extra = f", {note}" if note else ""
    return f"{n_people:,} people / {n_units:,} units{extra} ({describe_size(path)})"


def build_env() -> dict[str, str]:
    """Return the child environment: orgload state kept in the bench cache, never elsewhere."""
    env = dict(os.environ)
    env["ORGLOAD_HOME"] = str(CACHE_DIR / "home")
    env.pop("ORGLOAD_DATABASE_URL", None)
    return env


def describe_machine() -> dict[str, Any]:
    """Return what the figures depend on: CPU, Python, platform, date."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def format_value(value: float | None) -> str:
    """Format a measured value for the table."""
    return "—" if value is None else f"{value:.2f}"


def render_markdown(
    measurements: list[Measurement], checks: list[Check], machine: dict[str, Any]
) -> str:
    """Render the results as markdown tables, ready for docs/performance.md."""
    summary = (
        f"Machine: {machine['platform']}, {machine['cpus']} CPUs, Python {machine['python']},"
        f" {machine['date']}."
    )
    lines = [
        summary,
        "",
        "| Measurement | Workbook | Time (s) | Peak RSS (MB) | Runs |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {m.name} | {m.workbook} | {m.median_seconds:.2f} | {m.max_rss_mb:.0f}"
        f" | {len(m.seconds)} |"
        for m in measurements
    ]
    lines += [
        "",
        "Time is the median wall time of the runs, peak RSS the highest of the runs.",
        "",
        "| Target | Measured | Bound | Result |",
        "|---|---:|---|---|",
    ]
    for check in checks:
        result = "pass" if check.passed else f"**FAIL** {check.detail}".rstrip()
        lines.append(f"| {check.name} | {format_value(check.value)} | {check.target} | {result} |")
    notes = [f"- {m.name}: {note}" for m in measurements for note in m.notes]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def measure_references(
    ctx: Context, python: Path, tiny: Path
) -> tuple[References | None, list[Check]]:
    """Measure the start-up costs: bare interpreter, ``orgload --help``, a tiny-file validate.

    Returns None for the references when the CLI does not run, with a failed check saying why.
    """
    interpreter, _ = measure(
        "python -c pass (interpreter start)", "-", [str(python), "-c", "pass"], ctx, ctx.repeat
    )
    if not ctx.orgload.exists():
        return None, [Check("orgload CLI runs", None, "exit 0", False, f"no {ctx.orgload}")]
    cli, runs = measure(
        "orgload --help (CLI start-up)", "-", [str(ctx.orgload), "--help"], ctx, ctx.repeat
    )
    if runs[-1].exit_code != 0:
        reason = f"exit {runs[-1].exit_code}: {last_message(runs[-1].stderr)}"
        return None, [Check("orgload CLI runs", None, "exit 0", False, reason)]
    cli.notes += prepare_client(ctx)
    tiny_validate, tiny_check = run_validate(
        "orgload validate, tiny file (start-up)",
        describe_workbook(tiny, TINY_PEOPLE, TINY_UNITS, "valid"),
        tiny,
        ctx,
        n_people=TINY_PEOPLE,
        n_units=TINY_UNITS,
        n_bad=0,
    )
    return References(interpreter, cli, tiny_validate), [tiny_check]


def prepare_inputs(args: argparse.Namespace) -> Inputs:
    """Generate (or find in the cache) every workbook the run needs."""
    return Inputs(
        valid=ensure_workbook(args.people, args.units, spoiled=False),
        bad=ensure_workbook(args.people, args.units, spoiled=True),
        big=ensure_workbook(args.big, args.units, spoiled=False) if args.big else None,
        tiny=ensure_workbook(TINY_PEOPLE, TINY_UNITS, spoiled=False),
        bomb=ensure_bomb(args.bomb_mb),
    )


def run_main_workbooks(
    args: argparse.Namespace, ctx: Context, inputs: Inputs, baseline: Measurement
) -> tuple[list[Measurement], list[Check]]:
    """Validate the valid and the 1 %-bad workbook, and the big one when asked."""
    n_bad = count_bad_rows(args.people)
    valid, valid_check = run_validate(
        "orgload validate, valid",
        baseline.workbook,
        inputs.valid,
        ctx,
        n_people=args.people,
        n_units=args.units,
        n_bad=0,
    )
    bad, bad_check = run_validate(
        "orgload validate, 1% bad",
        describe_workbook(inputs.bad, args.people, args.units, f"{n_bad:,} bad rows"),
        inputs.bad,
        ctx,
        n_people=args.people,
        n_units=args.units,
        n_bad=n_bad,
    )
    measurements = [valid, bad]
    checks = [valid_check, bad_check, *compare_runs(baseline, valid, bad)]
    if inputs.big is not None:
        big, big_check = run_validate(
            "orgload validate, big",
            describe_workbook(inputs.big, args.big, args.units, "valid"),
            inputs.big,
            ctx,
            n_people=args.big,
            n_units=args.units,
            n_bad=0,
        )
        measurements.append(big)
        checks.append(big_check)
    return measurements, checks


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the markdown tables, write the JSON; 1 when a target is missed."""
    args = parse_args(argv)
    ctx = Context(args.orgload, args.python, build_env(), args.repeat, args.timeout, args.bomb_mb)
    inputs = prepare_inputs(args)
    baseline, _ = measure(
        "naive pandas.read_excel (openpyxl)",
        describe_workbook(inputs.valid, args.people, args.units, "valid"),
        [str(args.python), "-c", BASELINE_CODE, str(inputs.valid)],
        ctx,
        1,
    )
    measurements = [baseline]
    references, checks = measure_references(ctx, args.python, inputs.tiny)
    if references is not None:
        measurements += [references.interpreter, references.cli, references.tiny_validate]
        main_measurements, main_checks = run_main_workbooks(args, ctx, inputs, baseline)
        bomb, bomb_checks = run_bomb(inputs.bomb, ctx, references)
        measurements += [*main_measurements, bomb]
        checks += [*main_checks, *bomb_checks]
    machine = describe_machine()
    passed = all(check.passed for check in checks)
    results = {
        "machine": machine,
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "measurements": [m.to_dict() for m in measurements],
        "checks": [asdict(check) for check in checks],
        "passed": passed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render_markdown(measurements, checks, machine))
    log(f"results written to {args.out}; {'all targets met' if passed else 'TARGET MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
