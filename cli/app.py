"""The ``orgload`` command line (SPEC §6): thin commands over the pipeline functions.

Pipeline packages are imported inside the commands, so ``orgload --help`` stays instant and a
command only pays for what it uses.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from orgload import __version__
from orgload.errors import OrgloadError
from orgload.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from schemas.report import Report

P = ParamSpec("P")
R = TypeVar("R")

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
Files = Annotated[
    list[Path],
    typer.Argument(
        help="Un .xlsx, o unidades.csv y personas.csv, o un .zip con ellos.", show_default=False
    ),
]

db_app = typer.Typer(help="Esquema de la base de datos / database schema.", no_args_is_help=True)
clients_app = typer.Typer(help="Clientes registrados / registered clients.", no_args_is_help=True)
incidents_app = typer.Typer(
    help="Incidentes de soporte y plazo SLA / support incidents and the SLA clock.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(incidents_app, name="incidents")


def _one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """User mistakes and refusals become one line on stderr with their exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OrgloadError as exc:
            _fail(exc.message, exc.exit_code)
        finally:
            while _engines:  # close pooled connections before the command returns
                _engines.pop().dispose()

    return wrapper


def _fail(message: str, exit_code: int = 2) -> NoReturn:
    err.print(f"orgload: {escape(message)}")
    raise typer.Exit(exit_code)


def _settings() -> Settings:
    try:
        return load_settings()
    except OrgloadError as exc:
        _fail(exc.message, exc.exit_code)


_engines: list[Engine] = []


def _engine(settings: Settings) -> Engine:
    """The database engine, after checking it is reachable and its schema is current."""
    from orgload.db import make_engine, reachable
    from orgload.migrate import ensure_current

    engine = make_engine(settings)
    _engines.append(engine)
    with reachable(settings):
        ensure_current(engine)
        _import_spool(engine, settings)
    return engine


def _import_spool(engine: Engine, settings: Settings) -> None:
    """Incidents spooled while the database was down go in with the first command that
    reaches it again (exactly once: the import skips ids already stored)."""
    from orgload import clock
    from support.spool import import_spool, spooled_files

    if spooled_files(settings.spool_dir):
        imported = import_spool(engine, settings, clock.now(settings))
        if imported:
            err.print(
                f"orgload: imported {len(imported)} spooled incident(s): {', '.join(imported)}"
            )


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def _existing(files: list[Path]) -> None:
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        _fail(f"file not found / no existe: {', '.join(missing)}")


def _parse_ahead(files: list[Path], settings: Settings) -> None:
    """Start parsing the workbooks in the background while the command imports and connects
    (loaders/xlsx.py); the parse would otherwise come after all of that."""
    from loaders.limits import Limits
    from loaders.xlsx import parse_ahead

    parse_ahead(files, Limits.from_settings(settings))


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
@_one_line_errors
def validate(
    client: ClientId,
    files: Files,
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
    from loaders.limits import Limits, precheck

    _existing(files)
    limits = Limits.from_settings(settings)
    refused = precheck(files, limits) if report_path is None else []
    if refused:  # a bomb or an oversized file: answer before loading pandas at all
        from schemas.report import Report

        _print_validation(Report(issues=refused), language, files, as_json)
        raise typer.Exit(1)
    _parse_ahead(files, settings)

    from loaders.validate import validate_upload
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
        from loaders.writers.annotate import write_annotated_report

        write_annotated_report(report_path, result, language)
    _print_validation(report, language, files, as_json)
    raise typer.Exit(0 if report.valid else 1)


def _print_validation(report: Report, lang: Any, files: list[Path], as_json: bool) -> None:
    if as_json:
        _print_json(report.to_dict(lang))
    else:
        _print_report(report.to_dict(lang), lang, [f.name for f in files])


def _where(entry: dict[str, Any], es: bool) -> str:
    """``fila 7, Correo: `` — where an entry points, as the admin sees it in Excel."""
    parts = []
    if entry["row"]:
        parts.append(f"{'fila' if es else 'row'} {entry['row']}")
    if entry["header"] or entry["column"]:
        parts.append(entry["header"] or entry["column"])
    return ", ".join(parts) + ": " if parts else ""


def _print_report(
    data: dict[str, Any], lang: str, names: list[str], *, summary: bool = True
) -> None:
    """Summary line, then entries grouped by sheet, each group capped with a count of the rest."""
    es = lang == "es"
    counts, errors, warnings = data["counts"], data["errors"], data["warnings"]
    if es:
        verdict = "[green]VÁLIDO[/]" if data["valid"] else "[red]INVÁLIDO[/]"
        rows = f"{counts['unidades']} unidades, {counts['personas']} personas"
        totals = f"{len(errors)} errores, {len(warnings)} advertencias"
    else:
        verdict = "[green]VALID[/]" if data["valid"] else "[red]INVALID[/]"
        rows = f"{counts['unidades']} units, {counts['personas']} people"
        totals = f"{len(errors)} errors, {len(warnings)} warnings"
    if summary:
        out.print(f"{verdict} {escape(', '.join(names))}: {rows}; {totals}")
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


@db_app.command("upgrade")
@_one_line_errors
def db_upgrade() -> None:
    """Crea o migra el esquema (Alembic) / create or migrate the schema."""
    settings = _settings()
    from orgload.db import make_engine, reachable
    from orgload.migrate import current_revision, upgrade

    engine = make_engine(settings)
    _engines.append(engine)
    with reachable(settings):
        upgrade(engine)
        out.print(f"database schema at revision {current_revision(engine)}")


@clients_app.command("add")
@_one_line_errors
def clients_add(
    client_id: Annotated[str, typer.Argument(help="Id del cliente / client id.")],
    name: Annotated[str, typer.Option("--name", help="Nombre / name.")],
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="Zona horaria IANA (America/Santiago).")
    ] = None,
    admin_email: Annotated[
        str | None, typer.Option("--admin-email", help="Correo del administrador del cliente.")
    ] = None,
    allow_mass_change: Annotated[
        bool,
        typer.Option(
            "--allow-mass-change", help="Sin guardia de cambios masivos para este cliente."
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Registra un cliente / register a client."""
    settings = _settings()
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from loaders.store import add_client
    from orgload import clock

    if not client_id.strip() or len(client_id) > 64:
        _fail("client id must be 1-64 characters")
    zone = timezone or settings.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"unknown timezone {zone!r}")
    engine = _engine(settings)
    with engine.begin() as conn:
        client = add_client(
            conn, client_id, name, zone, admin_email, clock.now(settings), allow_mass_change
        )
    if as_json:
        _print_json(client.to_dict())
    else:
        out.print(
            f"client {escape(client.id)} registered ({escape(client.name)}, {client.timezone})"
        )


@clients_app.command("list")
@_one_line_errors
def clients_list(as_json: AsJson = False) -> None:
    """Lista los clientes / list clients."""
    settings = _settings()
    from loaders.store import list_clients

    with _engine(settings).connect() as conn:
        found = list_clients(conn)
    if as_json:
        _print_json([c.to_dict() for c in found])
        return
    for c in found:
        out.print(f"{escape(c.id)}\t{escape(c.name)}\t{c.timezone}\t{escape(c.admin_email or '-')}")


@app.command()
@_one_line_errors
def load(
    client: ClientId,
    files: Files,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Muestra el plan sin aplicarlo / plan only.")
    ] = False,
    allow_mass_change: Annotated[
        bool,
        typer.Option("--allow-mass-change", help="Permite desactivar sobre el límite (ops)."),
    ] = False,
    override_quota: Annotated[
        bool,
        typer.Option("--override-quota", help="Carga de corrección fuera de la cuota (ops)."),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Motivo, obligatorio con --override-quota.")
    ] = None,
    as_json: AsJson = False,
    lang: Lang = None,
) -> None:
    """Carga el archivo mensual / apply the monthly file (SPEC §3-4).

    Exit: 0 applied, dry_run, already_applied, no_changes; 1 rejected; 3 quota_exhausted; 4 failed.
    """
    settings = _settings()
    language = _lang(settings, lang)
    if override_quota and not (reason and reason.strip()):
        _fail("--override-quota needs --reason TEXT")
    _existing(files)
    _parse_ahead(files, settings)
    from loaders.load import LoadRequest, report_unavailable, run_load
    from orgload.errors import DatabaseUnavailableError

    request = LoadRequest(
        client_id=client,
        paths=files,
        dry_run=dry_run,
        allow_mass_change=allow_mass_change,
        override_quota=override_quota,
        reason=reason,
    )
    try:
        outcome = run_load(settings, request, _engine(settings))
    except DatabaseUnavailableError as exc:
        if dry_run:
            raise
        outcome = report_unavailable(settings, request, exc)
    data = outcome.to_dict(language)
    if as_json:
        _print_json(data)
    else:
        _print_load(outcome, data, language)
    raise typer.Exit(outcome.exit_code)


def _print_load(outcome: Any, data: dict[str, Any], lang: str) -> None:
    es = lang == "es"
    colour = {"applied": "green", "rejected": "red", "failed": "red", "quota_exhausted": "yellow"}
    status = data["status"]
    load_ref = f" (load {data['load_id']})" if data["load_id"] else ""
    out.print(
        f"[bold {colour.get(status, 'cyan')}]{status}[/]{load_ref} — "
        f"{escape(data['client_id'])}, {data['period']}"
    )
    if outcome.detail:
        out.print(f"  {escape(outcome.detail)}")
    if data["incident"]:
        inc = data["incident"]
        due = (
            f", revisión antes de {inc['review_due_at']}"
            if es and inc["review_due_at"]
            else (f", review due {inc['review_due_at']}" if inc["review_due_at"] else "")
        )
        out.print(f"  incident {inc['id']} (level {inc['level']}{due})")
    if data["changes"]:
        head = "entidad" if es else "entity"
        out.print(f"  {head:<10} inserted  updated  deactivated  unchanged")
        for name, c in data["changes"].items():
            out.print(
                f"  {name:<10} {c['inserted']:>8} {c['updated']:>8} {c['deactivated']:>12} "
                f"{c['unchanged']:>10}"
            )
    if status == "dry_run" and outcome.plan is not None:
        for name, entity in outcome.plan.entities.items():
            preview = entity.preview()
            if preview["inserted"]:
                out.print(f"  + {name}: {escape(', '.join(map(str, preview['inserted'])))} …")
            for change in preview["updated"]:
                fields = "; ".join(f"{f}: {a!r} → {b!r}" for f, (a, b) in change["fields"].items())
                out.print(f"  ~ {name} {escape(str(change['key']))}: {escape(fields)}")
            if preview["deactivated"]:
                out.print(f"  - {name}: {escape(', '.join(map(str, preview['deactivated'])))} …")
    if status == "quota_exhausted":
        q = data["quota"]
        if es:
            line = f"la carga mensual de {q['period']} ya fue aplicada; el próximo periodo comienza"
        else:
            line = f"the monthly load of {q['period']} was already applied; next period starts"
        out.print(f"  {line} {q['next_period_starts']}")
    if data["errors"]:
        _print_report(
            {
                "valid": False,
                "counts": {"unidades": "-", "personas": "-"},
                "errors": data["errors"],
                "warnings": data["warnings"],
            },
            lang,
            [],
            summary=False,
        )


@app.command()
@_one_line_errors
def quota(client: ClientId, as_json: AsJson = False) -> None:
    """Estado de la cuota mensual / monthly quota status."""
    settings = _settings()
    from loaders.quota import period_of, quota_status
    from loaders.store import get_client
    from orgload import clock

    with _engine(settings).connect() as conn:
        found = get_client(conn, client)
        status = quota_status(
            conn, found.id, period_of(clock.now(settings), found.timezone), found.timezone
        )
    if as_json:
        _print_json(status.to_dict())
    else:
        used = "used" if status.used else "available"
        out.print(
            f"{status.period}: {used}; next period starts {status.next_period_starts.isoformat()}"
        )


@app.command()
@_one_line_errors
def history(client: ClientId, as_json: AsJson = False) -> None:
    """Historial de cargas, más reciente primero / load history, newest first."""
    settings = _settings()
    from zoneinfo import ZoneInfo

    from loaders.store import get_client, load_history

    with _engine(settings).connect() as conn:
        found = get_client(conn, client)
        rows = load_history(conn, client)
    entries = [
        {
            "load_id": r["id"],
            "status": r["status"],
            "period": r["period"],
            "file_name": r["file_name"],
            "sha256": r["sha256"],
            "created_at": r["created_at"].astimezone(ZoneInfo(found.timezone)).isoformat(),
            "changes": r["changes"],
            "reason": r["reason"],
        }
        for r in rows
    ]
    if as_json:
        _print_json(entries)
        return
    for e in entries:
        out.print(
            f"{e['load_id']:>6}  {e['created_at']}  {e['period']}  {e['status']:<16} "
            f"{escape(e['file_name'] or '')}"
            + (f"  — {escape(e['reason'])}" if e["reason"] else "")
        )


@app.command()
@_one_line_errors
def revert(
    load_id: Annotated[int, typer.Option("--load", help="Id de la carga a revertir.")],
    reason: Annotated[str, typer.Option("--reason", help="Motivo / reason (recorded).")],
    as_json: AsJson = False,
) -> None:
    """Revierte la última carga aplicada del cliente / revert the client's latest load."""
    settings = _settings()
    if not reason.strip():
        _fail("--reason must not be empty")
    from loaders.load import run_revert

    outcome = run_revert(settings, load_id, reason, _engine(settings))
    if as_json:
        _print_json(outcome.to_dict())
    else:
        out.print(
            f"reverted load {outcome.reverted_load_id} (revert recorded as load {outcome.load_id})"
        )


@app.command()
@_one_line_errors
def export(
    client: ClientId,
    fmt: Annotated[str, typer.Option("--format", help="xlsx | csv | json")] = "xlsx",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Archivo o carpeta de salida.")
    ] = None,
) -> None:
    """Exporta los datos vigentes en el formato de carga / export current data."""
    settings = _settings()
    from loaders.store import get_client
    from loaders.writers.export import FORMATS, current_frames, export_csv, export_json, export_xlsx

    if fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}")
    with _engine(settings).connect() as conn:
        get_client(conn, client)
        frames = current_frames(conn, client)
    if fmt == "json":
        text = export_json(frames)
        if output is None:
            sys.stdout.write(text + "\n")
        else:
            output.write_text(text + "\n", encoding="utf-8")
        return
    if fmt == "xlsx":
        target = output or Path(f"{client}.xlsx")
        export_xlsx(frames, target)
        err.print(f"wrote {target}")
        return
    written = export_csv(frames, output or Path(f"{client}-csv"))
    err.print("wrote " + ", ".join(str(p) for p in written))


@app.command()
@_one_line_errors
def template(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Archivo de salida (por defecto plantilla_orgload.xlsx / orgload_template.xlsx).",
        ),
    ] = None,
    lang: Lang = None,
) -> None:
    """Planilla en blanco con instrucciones y listas / blank upload workbook with instructions."""
    settings = _settings()
    language = _lang(settings, lang)
    target = output or Path(
        "plantilla_orgload.xlsx" if language == "es" else "orgload_template.xlsx"
    )
    if target.is_dir():
        _fail(f"{target} is a folder: give a file name, e.g. -o {target / 'plantilla.xlsx'}")
    if not target.parent.is_dir():
        _fail(f"folder not found / no existe la carpeta: {target.parent}")
    from loaders.writers.template import write_template

    write_template(target, language)
    err.print(f"wrote {target}")


IncidentId = Annotated[str, typer.Argument(help="Id del incidente (INC-…).")]
By = Annotated[
    str | None, typer.Option("--by", help="Quién lo hace (por defecto, el usuario del sistema).")
]


def _who(by: str | None) -> str:
    import getpass

    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _incident_detail(conn: Any, incident_id: str) -> dict[str, Any]:
    from support.incidents import chile, get_incident, incident_history_of, incident_summary

    row = get_incident(conn, incident_id)
    history = [
        {
            "at": chile(h["at"]),
            "by": h["by"],
            "action": h["action"],
            "from_status": h["from_status"],
            "to_status": h["to_status"],
            "from_level": h["from_level"],
            "to_level": h["to_level"],
            "correction": h["correction"],
            "comment": h["comment"],
        }
        for h in incident_history_of(conn, incident_id)
    ]
    return {
        **incident_summary(row),
        "occurrences": row["occurrences"],
        "diagnostics": row["diagnostics"],
        "history": history,
    }


def _print_incident_line(entry: dict[str, Any]) -> None:
    due = entry["review_due_at"] or "-"
    out.print(
        f"{entry['id']}  L{entry['level']}  {entry['status']:<10} {entry['category']:<12} "
        f"{escape(entry['client_id'])}  {entry['period'] or '-'}  load {entry['load_id'] or '-'}  "
        f"reported {entry['reported_at']}  due {due}"
    )


@incidents_app.command("list")
@_one_line_errors
def incidents_list(
    client: Annotated[str | None, typer.Option("--client", help="Solo este cliente.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="reported | in_review | resolved | closed")
    ] = None,
    level: Annotated[int | None, typer.Option("--level", help="1, 2 o 3.")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Solo los que pasaron su plazo de revisión.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Lista incidentes / list incidents, newest first."""
    settings = _settings()
    from orgload import clock
    from support.incidents import STATUSES, incident_summary, list_incidents

    if status is not None and status not in STATUSES:
        _fail(f"--status must be one of {', '.join(STATUSES)}")
    if level is not None and level not in (1, 2, 3):
        _fail("--level must be 1, 2 or 3")
    with _engine(settings).connect() as conn:
        rows = list_incidents(
            conn,
            clock.now(settings),
            client_id=client,
            status=status,
            level=level,
            overdue=overdue,
        )
    entries = [incident_summary(r) for r in rows]
    if as_json:
        _print_json(entries)
        return
    for entry in entries:
        _print_incident_line(entry)
    if not entries:
        out.print("no incidents")


@incidents_app.command("show")
@_one_line_errors
def incidents_show(incident_id: IncidentId, as_json: AsJson = False) -> None:
    """Muestra un incidente con su diagnóstico e historial / show one incident."""
    settings = _settings()
    with _engine(settings).connect() as conn:
        detail = _incident_detail(conn, incident_id)
    if as_json:
        _print_json(detail)
        return
    _print_incident_line(detail)
    diag = detail["diagnostics"]
    for key in ("file_name", "sha256", "archive_path", "failed_step", "flow_run_id"):
        out.print(f"  {key}: {escape(str(diag.get(key)))}")
    if diag.get("exception"):
        out.print(
            f"  exception: {escape(diag['exception'].get('type', ''))}: "
            f"{escape(str(diag['exception'].get('message', '')))}"
        )
    if (diag.get("validation") or {}).get("codes"):
        out.print(f"  validation: {diag['validation']['codes']}")
    for h in detail["history"]:
        change = f"{h['from_status'] or ''}→{h['to_status'] or ''}" if h["to_status"] else ""
        out.print(
            f"  {h['at']}  {escape(h['by'])}  {h['action']} {change} "
            f"{escape(h['correction'] or '')} {escape(h['comment'] or '')}"
        )


@incidents_app.command("escalate")
@_one_line_errors
def incidents_escalate(
    incident_id: IncidentId,
    reason: Annotated[str, typer.Option("--reason", help="Por qué se escala.")],
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Escala de nivel 1 a 2; el plazo se reinicia / escalate level 1 → 2."""
    settings = _settings()
    from orgload import clock
    from support.incidents import escalate
    from support.notify import queue_notification, send_quietly

    if not reason.strip():
        _fail("--reason must not be empty")
    now = clock.now(settings)
    engine = _engine(settings)
    with engine.begin() as conn:
        row = escalate(conn, incident_id, reason, _who(by), now)
        queue_notification(conn, row, "escalated", settings, now, None)
    send_quietly(engine, settings, now, incident_id)
    with engine.connect() as conn:
        detail = _incident_detail(conn, incident_id)
    if as_json:
        _print_json(detail)
    else:
        out.print(f"{incident_id} escalated to level 2; review due {detail['review_due_at']}")


@incidents_app.command("transition")
@_one_line_errors
def incidents_transition(
    incident_id: IncidentId,
    to: Annotated[str, typer.Option("--to", help="in_review | resolved | closed")],
    correction: Annotated[
        str | None,
        typer.Option(
            "--correction",
            help="Con resolved: recommendation | configuration | data | database | application",
        ),
    ] = None,
    by: By = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Comentario.")] = None,
    as_json: AsJson = False,
) -> None:
    """Avanza el ciclo de vida / move the incident along its lifecycle."""
    settings = _settings()
    from orgload import clock
    from support.incidents import transition

    engine = _engine(settings)
    with engine.begin() as conn:
        transition(
            conn,
            incident_id,
            to,
            by=_who(by),
            now=clock.now(settings),
            correction=correction,
            comment=comment,
        )
    with engine.connect() as conn:
        detail = _incident_detail(conn, incident_id)
    if as_json:
        _print_json(detail)
    else:
        out.print(f"{incident_id} is now {detail['status']}")


@incidents_app.command("replay")
@_one_line_errors
def incidents_replay(incident_id: IncidentId, as_json: AsJson = False, lang: Lang = None) -> None:
    """Re-ejecuta el archivo del incidente como simulación / replay the stored file as a dry run."""
    settings = _settings()
    language = _lang(settings, lang)
    from loaders.load import LoadRequest, run_load
    from orgload.errors import NotFoundError
    from support.incidents import get_incident

    engine = _engine(settings)
    with engine.connect() as conn:
        row = get_incident(conn, incident_id)
    folder = row["diagnostics"].get("archive_path")
    files = sorted(p for p in Path(folder).iterdir() if p.is_file()) if folder else []
    if not files:
        raise NotFoundError(f"incident {incident_id} has no archived file to replay ({folder})")
    outcome = run_load(
        settings, LoadRequest(client_id=row["client_id"], paths=files, dry_run=True), engine
    )
    data = outcome.to_dict(language)
    if as_json:
        _print_json(data)
    else:
        _print_load(outcome, data, language)
    raise typer.Exit(outcome.exit_code)


@incidents_app.command("import-spool")
@_one_line_errors
def incidents_import_spool(as_json: AsJson = False) -> None:
    """Importa los incidentes guardados mientras la base no estaba / import spooled incidents."""
    settings = _settings()
    from orgload import clock
    from support.spool import import_spool, spooled_files

    before = len(spooled_files(settings.spool_dir))
    engine = _engine(settings)  # imports them already
    imported = import_spool(engine, settings, clock.now(settings))
    left = len(spooled_files(settings.spool_dir))
    if as_json:
        _print_json({"spooled_before": before, "imported": imported, "left": left})
    else:
        out.print(f"spool: {before} file(s) found, {left} left")


@incidents_app.command("watch")
@_one_line_errors
def incidents_watch(as_json: AsJson = False) -> None:
    """Plazos SLA: vencidos y por vencer; reintenta correos / SLA watch, retry e-mails."""
    settings = _settings()
    from orgload import clock
    from support.watch import run_sla_watch

    result = run_sla_watch(_engine(settings), settings, clock.now(settings))
    if as_json:
        _print_json(result)
        return
    out.print(
        f"overdue: {len(result['overdue'])}, due soon: {len(result['due_soon'])}, "
        f"e-mails sent: {result['notifications']['sent']}, "
        f"still queued: {result['notifications']['failed']}"
    )
    for entry in result["overdue"]:
        _print_incident_line(entry)


def main() -> None:
    """Console-script entry point: user mistakes become one line on stderr, never a traceback."""
    try:
        app()
    except OrgloadError as exc:
        err.print(f"orgload: {escape(exc.message)}")
        sys.exit(exc.exit_code)
