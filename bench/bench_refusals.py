"""Benchmark the refusals of files over a limit: cheap whatever the file's size (issue 15, item 2).

Usage::

    python bench/bench_refusals.py [--repeat 3] [--out bench/results/refusals.json]

A file refused by a limit (SPEC §2) must be refused before it is parsed: in under a second and
under 100 MB of peak memory, however large it is. Each case below is an upload a client could
send, built once and cached in ``bench/.cache/``:

- a 1,000,001-person workbook (one data row over the row limit, ~550 MB of sheet XML);
- the same people as CSV (two files, ~90 MB);
- a 120 MB file (over the 100 MB file limit);
- a 300 MB zip bomb (0.9 MB file, over the 20× expansion ratio; from ``bench_validate.py``).

Every case is run as ``orgload validate --json`` and as ``orgload load --json`` of a registered
client, on SQLite (the embedded default) and on PostgreSQL (a database made for the run and
dropped at the end; ``--skip-postgres`` to leave it out). A load is recorded as ``rejected``
with its incident, so it pays for the database on top of the refusal. Each run is a fresh child
process started by the minimal launcher of ``bench_validate.py`` (wall time and peak RSS from
``os.wait4``); the figure is the median wall time and the highest peak RSS of ``--repeat``
runs, next to a one-row validate in the same rounds (what any validate pays before it reads a
byte). Exits non-zero when a case is not refused as ``file_too_large`` or misses a target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import PG_SERVER, Homes, PgDatabases, child_env
from bench_validate import (
    BENCH_DIR,
    BOMB_CONTENT_TYPES,
    BOMB_ROOT_RELS,
    CACHE_DIR,
    CLIENT_ID,
    VENV_BIN,
    Context,
    build_env,
    describe_machine,
    ensure_bomb,
    ensure_workbook,
    run_child,
)

MAX_SECONDS = 1.0
MAX_RSS_MB = 100.0
OVER_ROWS = 1_000_001  # one data row over the default limit (the header is not counted)
OVER_MB = 120  # over the default 100 MB file limit

# the bomb's package parts (bench_validate), with a second worksheet
CONTENT_TYPES = BOMB_CONTENT_TYPES.replace(
    "</Types>",
    '<Override PartName="/xl/worksheets/sheet2.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>",
)
ROOT_RELS = BOMB_ROOT_RELS
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Unidades" sheetId="1" r:id="rId1"/>'
    '<sheet name="Personas" sheetId="2" r:id="rId2"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet2.xml"/></Relationships>'
)
SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:{last}"/><sheetData>'
)
SHEET_TAIL = "</sheetData></worksheet>"
UNIT_HEADER = ("Código Unidad", "Nombre Unidad", "Código Unidad Padre")
PERSON_HEADER = ("RUT", "Nombres", "Apellidos", "Email", "Código Unidad", "Cargo")
COLUMNS = "ABCDEFGHI"


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def row(number: int, values: tuple[str, ...]) -> str:
    cells = "".join(cell(f"{COLUMNS[i]}{number}", v) for i, v in enumerate(values))
    return f'<row r="{number}">{cells}</row>'


def rut(number: int) -> str:
    """A valid RUT (modulo-11 check digit) for ``number``."""
    total, factor = 0, 2
    for digit in reversed(str(number)):
        total += int(digit) * factor
        factor = 2 if factor == 7 else factor + 1
    check = 11 - total % 11
    return f"{number}-{'0' if check == 11 else 'K' if check == 10 else check}"


def person(n: int) -> tuple[str, ...]:
    return (
        rut(10_000_000 + n),
        f"Nombre{n % 997} Segundo{n % 89}",
        f"Apellido{n % 991} Materno{n % 83}",
        f"persona{n}@empresa.cl",
        f"U{n % 5000:04d}",
        "Analista",
    )


def unit(n: int) -> tuple[str, ...]:
    return (f"U{n:04d}", f"Unidad {n}", "" if n == 0 else "U0000")


def build_over_rows_workbook(path: Path, people: int) -> None:
    """A workbook of ``people`` data rows (Excel's own shape: inline strings, a true dimension),
    written straight as XML: openpyxl would take minutes for a million rows."""
    partial = path.with_name(f"{path.stem}.partial.xlsx")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        units = [row(1, UNIT_HEADER)] + [row(n + 2, unit(n)) for n in range(5000)]
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            SHEET_HEAD.format(last="C5001") + "".join(units) + SHEET_TAIL,
        )
        with archive.open("xl/worksheets/sheet2.xml", "w", force_zip64=True) as sheet:
            sheet.write(SHEET_HEAD.format(last=f"F{people + 1}").encode())
            sheet.write(row(1, PERSON_HEADER).encode())
            for start in range(0, people, 10_000):
                rows = (row(n + 2, person(n)) for n in range(start, min(start + 10_000, people)))
                sheet.write("".join(rows).encode())
            sheet.write(SHEET_TAIL.encode())
    partial.replace(path)


def build_over_rows_csv(folder: Path, people: int) -> None:
    """The same upload as two CSV files (``;``, UTF-8), as Spanish-locale Excel saves them."""
    partial = folder.with_name(f"{folder.name}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    with open(partial / "unidades.csv", "w", encoding="utf-8", newline="") as units:
        units.write(";".join(UNIT_HEADER) + "\r\n")
        units.writelines(";".join(unit(n)) + "\r\n" for n in range(5000))
    with open(partial / "personas.csv", "w", encoding="utf-8", newline="") as rows:
        rows.write(";".join(PERSON_HEADER) + "\r\n")
        for start in range(0, people, 10_000):
            block = range(start, min(start + 10_000, people))
            rows.write("".join(";".join(person(n)) + "\r\n" for n in block))
    partial.rename(folder)


def build_oversized(path: Path, megabytes: int) -> None:
    """A workbook padded past the file limit with an incompressible stored part."""
    partial = path.with_name(f"{path.stem}.partial.xlsx")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open(zipfile.ZipInfo("xl/media/image1.bin"), "w", force_zip64=True) as blob:
            for _ in range(megabytes):
                blob.write(os.urandom(1_000_000))
    partial.replace(path)


def cases() -> dict[str, list[Path]]:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    over_rows = CACHE_DIR / f"over_rows_{OVER_ROWS}.xlsx"
    if not over_rows.exists():
        print(f"[bench] writing {over_rows.name}", file=sys.stderr)
        build_over_rows_workbook(over_rows, OVER_ROWS)
    csv_folder = CACHE_DIR / f"over_rows_{OVER_ROWS}_csv"
    if not csv_folder.exists():
        print(f"[bench] writing {csv_folder.name}", file=sys.stderr)
        build_over_rows_csv(csv_folder, OVER_ROWS)
    oversized = CACHE_DIR / f"oversized_{OVER_MB}mb.xlsx"
    if not oversized.exists():
        build_oversized(oversized, OVER_MB)
    return {
        f"{OVER_ROWS:,} people, xlsx": [over_rows],
        f"{OVER_ROWS:,} people, CSV": [csv_folder / "unidades.csv", csv_folder / "personas.csv"],
        f"a {OVER_MB} MB file": [oversized],
        "300 MB zip bomb": [ensure_bomb(300)],
    }


def describe(paths: list[Path]) -> str:
    return " + ".join(f"{p.name} ({p.stat().st_size / 1e6:.1f} MB)" for p in paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "refusals.json")
    parser.add_argument("--orgload", type=Path, default=VENV_BIN / "orgload")
    parser.add_argument("--skip-postgres", action="store_true", help="loads on SQLite only")
    parser.add_argument("--pg-server", default=PG_SERVER, help="user@host:port of PostgreSQL")
    args = parser.parse_args(argv)
    ctx = Context(args.orgload, VENV_BIN / "python", build_env(), args.repeat, 300.0, 300)
    load_start = os.getloadavg()
    inputs = {"one-row validate (reference)": [ensure_workbook(1, 1, spoiled=False)], **cases()}
    homes, databases = Homes(), PgDatabases(args.pg_server)
    try:
        # what is reported → (the orgload command, its environment)
        commands = {"validate": ("validate", ctx.env)}
        for label, url in [("SQLite", None)] + (
            [] if args.skip_postgres else [("PostgreSQL", databases.create("refusals"))]
        ):
            env = child_env(ctx.env, homes.new(f"refusals_{label.lower()}"), url, None)
            commands[f"load, {label}"] = ("load", env)
            for setup in (["db", "upgrade"], ["clients", "add", CLIENT_ID, "--name", "Bench"]):
                done = run_child([str(ctx.orgload), *setup], replace(ctx, env=env))
                if done.exit_code != 0:
                    raise SystemExit(f"{' '.join(setup)} failed: {done.stderr.decode()[-500:]}")
        runs: dict[tuple[str, str], list[Any]] = {}
        for _ in range(args.repeat):  # rounds: every case once per round, so noise falls alike
            for name, paths in inputs.items():
                for command, (subcommand, env) in commands.items():
                    if name.endswith("(reference)") and subcommand != "validate":
                        continue
                    argv_ = [str(ctx.orgload), subcommand, "--client", CLIENT_ID, *map(str, paths)]
                    run = run_child([*argv_, "--json"], replace(ctx, env=env))
                    runs.setdefault((name, command), []).append(run)
    finally:
        databases.drop_all()
        homes.remove_all()
    results, failed = [], False
    print(
        "\n| upload | command | answer | wall (s) | peak RSS (MB) | target |"
        "\n|---|---|---|---:|---:|---|"
    )
    for (name, command), done in runs.items():
        paths = inputs[name]
        report = json.loads(done[-1].stdout or b"{}")
        codes = sorted({e["code"] for e in report.get("errors", [])})
        seconds = statistics.median(r.seconds for r in done)
        rss = max(r.peak_rss_mb for r in done)
        reference = name.endswith("(reference)")
        answered = codes == ["file_too_large"] and (
            command == "validate" or report.get("status") == "rejected"
        )
        met = reference or (answered and seconds < MAX_SECONDS and rss < MAX_RSS_MB)
        failed |= not met
        target = "" if reference else f"file_too_large, < {MAX_SECONDS:g} s, < {MAX_RSS_MB:g} MB"
        verdict = "" if reference else (" **pass**" if met else " **MISS**")
        answer = ", ".join(codes) or "valid"
        if command != "validate":
            answer = f"{report.get('status')}: {answer}"
        figures = f"{seconds:.2f} | {rss:.0f}"
        upload = f"{name}: {describe(paths)}"
        print(f"| {upload} | {command} | {answer} | {figures} | {target}{verdict} |")
        results.append(
            {
                "case": name,
                "command": command,
                "files": describe(paths),
                "status": report.get("status"),
                "codes": codes,
                "messages": [e["message"] for e in report.get("errors", [])][:3],
                "seconds": [round(r.seconds, 3) for r in done],
                "median_seconds": round(seconds, 3),
                "max_rss_mb": round(rss, 1),
                "met": met,
            }
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        **describe_machine(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }
    args.out.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    print(f"\nload average {load_start[0]:.1f} → {os.getloadavg()[0]:.1f}; written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
