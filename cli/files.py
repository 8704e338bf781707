"""``orgload validate``, ``load``, ``export`` and ``template``: the commands about files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    AsJson,
    ClientId,
    Files,
    LangOption,
    client_id,
    database,
    err,
    existing,
    language,
    one_line_errors,
    print_json,
    settings,
)
from cli.progress import shown, stages
from cli.render import print_report, show_load, word


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(load)
    app.command()(export)
    app.command()(template)


@one_line_errors
def validate(
    client: ClientId,
    files: Files,
    as_json: AsJson = False,
    lang: LangOption = None,
    report_path: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Escribe un .xlsx anotado con los errores / annotated workbook."
        ),
    ] = None,
) -> None:
    """Valida un archivo sin escribir nada. Exit 0 válido, 1 inválido."""
    config = settings()
    chosen = language(config, lang)
    client_id(client)
    existing(files)
    from service.validation import validate_files

    with stages(chosen, enabled=shown(as_json)) as progress:
        result = validate_files(
            config, files, lang=chosen, report_path=report_path, progress=progress
        )
    if as_json:
        print_json(result.to_dict(chosen))
    else:
        print_report(result.to_dict(chosen), chosen, result.file_names)
    raise typer.Exit(result.exit_code)


@one_line_errors
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
    lang: LangOption = None,
) -> None:
    """Carga el archivo mensual / apply the monthly file (SPEC §3-4).

    Exit: 0 applied, dry_run, already_applied, no_changes; 1 rejected; 3 quota_exhausted; 4 failed.
    """
    config = settings()
    chosen = language(config, lang)
    client_id(client)  # before the parse starts (the service checks it again)
    existing(files)
    from service.validation import quiet_imports, refusals, start_reading

    # A file over a limit is recorded as rejected without pandas or a parse (< 100 MB); any
    # other starts parsing at once, while the libraries are imported and the database opened.
    refused = refusals(config, files)
    if not refused:
        start_reading(config, files)
    with quiet_imports():  # SQLAlchemy; pandas, pandera, pyarrow while the workbook is parsed
        from service.loads import LoadRequest, import_pipeline, run_load

        if not refused:
            import_pipeline()

    request = LoadRequest(
        client_id=client,
        paths=files,
        dry_run=dry_run,
        allow_mass_change=allow_mass_change,
        override_quota=override_quota,
        reason=reason,
    )
    with stages(chosen, enabled=shown(as_json)) as progress:
        outcome = run_load(config, request, progress=progress, prechecked=refused)
    show_load(outcome, chosen, as_json=as_json)
    raise typer.Exit(outcome.exit_code)


@one_line_errors
def export(
    client: ClientId,
    fmt: Annotated[str, typer.Option("--format", help="xlsx | csv | json")] = "xlsx",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Archivo o carpeta de salida.")
    ] = None,
    lang: LangOption = None,
) -> None:
    """Exporta los datos vigentes en el formato de carga / export current data."""
    config = settings()
    chosen = language(config, lang)
    client_id(client)  # before the database is opened
    from service.files import export_client

    result = export_client(config, client, fmt, output, database(config))
    if result.text is not None:
        typer.echo(result.text)
        return
    err.print(word(chosen, "wrote", paths=", ".join(str(p) for p in result.written)))


@one_line_errors
def template(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Archivo de salida (por defecto plantilla_orgload.xlsx / orgload_template.xlsx).",
        ),
    ] = None,
    lang: LangOption = None,
) -> None:
    """Planilla en blanco con instrucciones y listas / blank upload workbook with instructions."""
    config = settings()
    chosen = language(config, lang)
    from service.files import write_template

    target = write_template(output, chosen, settings=config)
    err.print(word(chosen, "wrote", paths=str(target)))
