"""The ``orgload`` command line (SPEC §6): thin commands over the pipeline functions.

Pipeline packages are imported inside the commands, so ``orgload --help`` stays instant and a
command only pays for what it uses.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from orgload import __version__
from orgload.errors import OrgloadError
from orgload.settings import Settings, load_settings

app = typer.Typer(
    name="orgload",
    help="Carga mensual de datos organizacionales (unidades y personas). "
    "Monthly load of organizational data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ERRORS_SHOWN_PER_SHEET = 20
PROGRESS_MIN_BYTES = 2_000_000

Lang = Annotated[
    str | None,
    typer.Option("--lang", help="Idioma de los mensajes / message language: es | en."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Salida JSON en stdout / JSON output.")]
ClientId = Annotated[str, typer.Option("--client", help="Id del cliente / client id.")]


def _fail(message: str, exit_code: int = 2) -> NoReturn:
    err.print(f"orgload: {escape(message)}")
    raise typer.Exit(exit_code)


def _settings() -> Settings:
    try:
        return load_settings()
    except OrgloadError as exc:
        _fail(exc.message, exc.exit_code)


def _lang(settings: Settings, lang: str | None) -> Any:
    chosen = lang or settings.lang
    if chosen not in ("es", "en"):
        _fail(f"--lang must be 'es' or 'en', not {chosen!r}")
    return chosen


def _version(value: bool) -> None:
    if value:
        out.print(f"orgload {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def validate(
    client: ClientId,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Un .xlsx, o unidades.csv y personas.csv, o un .zip con ellos.",
            show_default=False,
        ),
    ],
    as_json: AsJson = False,
    lang: Lang = None,
    report_path: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Escribe un .xlsx anotado con los errores / annotated workbook."
        ),
    ] = None,
) -> None:
    """Valida un archivo sin escribir nada. Exit 0 válido, 1 inválido."""
    settings = _settings()
    language = _lang(settings, lang)
    from loaders.read import Limits
    from loaders.validate import validate_upload

    missing = [str(f) for f in files if not f.exists()]
    if missing:
        _fail(f"file not found / no existe: {', '.join(missing)}")
    limits = Limits(
        max_file_bytes=settings.max_file_bytes,
        max_rows=settings.max_rows,
        max_ratio=settings.max_xlsx_ratio,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
    )
    from orgload.clock import today

    big = sum(f.stat().st_size for f in files if f.is_file()) > PROGRESS_MIN_BYTES
    if big and err.is_terminal and not as_json:
        with err.status("Leyendo / reading…") as status:
            labels = {"reading": "Leyendo / reading…", "validating": "Validando / validating…"}
            result = validate_upload(
                files,
                limits=limits,
                on_date=today(settings),
                progress=lambda stage: status.update(labels.get(stage, stage)),
            )
    else:
        result = validate_upload(files, limits=limits, on_date=today(settings))
    report = result.report
    if report_path is not None:
        from loaders.annotate import write_annotated_report

        write_annotated_report(report_path, result, language)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(language), ensure_ascii=False) + "\n")
    else:
        _print_report(report.to_dict(language), language, [f.name for f in files])
    raise typer.Exit(0 if report.valid else 1)


def _where(entry: dict[str, Any], es: bool) -> str:
    """``fila 7, Correo: `` — where an entry points, as the admin sees it in Excel."""
    parts = []
    if entry["row"]:
        parts.append(f"{'fila' if es else 'row'} {entry['row']}")
    if entry["header"] or entry["column"]:
        parts.append(entry["header"] or entry["column"])
    return ", ".join(parts) + ": " if parts else ""


def _print_report(data: dict[str, Any], lang: str, names: list[str]) -> None:
    """Summary line, then entries grouped by sheet, each group capped with a count of the rest."""
    es = lang == "es"
    counts, errors, warnings = data["counts"], data["errors"], data["warnings"]
    if es:
        verdict = "[green]VÁLIDO[/]" if data["valid"] else "[red]INVÁLIDO[/]"
        rows = f"{counts['unidades']} unidades, {counts['personas']} personas"
        summary = f"{len(errors)} errores, {len(warnings)} advertencias"
    else:
        verdict = "[green]VALID[/]" if data["valid"] else "[red]INVALID[/]"
        rows = f"{counts['unidades']} units, {counts['personas']} people"
        summary = f"{len(errors)} errors, {len(warnings)} warnings"
    out.print(f"{verdict} {escape(', '.join(names))}: {rows}; {summary}")
    sections = (("Errores", "Errors", errors), ("Advertencias", "Warnings", warnings))
    for title_es, title_en, entries in sections:
        groups: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            groups.setdefault(entry["sheet"] or ("archivo" if es else "file"), []).append(entry)
        for sheet, group in groups.items():
            title = title_es if es else title_en
            out.print(f"\n[bold]{title} — {escape(sheet)}[/] ({len(group)})")
            for entry in group[:ERRORS_SHOWN_PER_SHEET]:
                text = escape(_where(entry, es) + entry["message"])
                out.print(f"  {text} [dim]({entry['code']})[/]")
            rest = len(group) - ERRORS_SHOWN_PER_SHEET
            if rest > 0:
                more = (
                    f"… y {rest} más (use --json o --report para verlos todos)"
                    if es
                    else f"… and {rest} more (use --json or --report to see them all)"
                )
                out.print(f"  [dim]{more}[/]")


def main() -> None:
    """Console-script entry point: user mistakes become one line on stderr, never a traceback."""
    try:
        app()
    except OrgloadError as exc:
        err.print(f"orgload: {escape(exc.message)}")
        sys.exit(exc.exit_code)
