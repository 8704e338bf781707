"""``orgload incidents …``: support incidents and the SLA clock (SPEC §5-6)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import (
    AsJson,
    LangOption,
    client_id,
    database,
    language,
    one_line_errors,
    out,
    print_json,
    settings,
)
from cli.render import print_incident, print_incident_line, show_load, word

incidents_app = typer.Typer(
    help="Incidentes de soporte y plazo SLA / support incidents and the SLA clock.",
    no_args_is_help=True,
)

IncidentId = Annotated[str, typer.Argument(help="Id del incidente (INC-…).")]
OfClient = Annotated[
    str | None,
    typer.Option("--client", help="Solo si es de este cliente / only if it is this client's."),
]
By = Annotated[
    str | None, typer.Option("--by", help="Quién lo hace (por defecto, el usuario del sistema).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")


@incidents_app.command("list")
@one_line_errors
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
    lang: LangOption = None,
) -> None:
    """Lista incidentes / list incidents, newest first."""
    config = settings()
    chosen = language(config, lang)
    if client is not None:
        client_id(client)
    from service.incidents import list_incidents

    entries = [
        e.to_dict()
        for e in list_incidents(
            config,
            client_id=client,
            status=status,
            level=level,
            overdue=overdue,
            engine=database(config),
        )
    ]
    if as_json:
        print_json(entries)
        return
    for entry in entries:
        print_incident_line(entry, chosen)
    if not entries:
        out.print(word(chosen, "no_incidents"))


@incidents_app.command("show")
@one_line_errors
def incidents_show(
    incident_id: IncidentId,
    client: OfClient = None,
    as_json: AsJson = False,
    lang: LangOption = None,
) -> None:
    """Muestra un incidente con su diagnóstico e historial / show one incident."""
    config = settings()
    chosen = language(config, lang)
    from service.incidents import show_incident

    detail = show_incident(config, incident_id, database(config), client_id=client).to_dict()
    if as_json:
        print_json(detail)
    else:
        print_incident(detail, chosen)


@incidents_app.command("escalate")
@one_line_errors
def incidents_escalate(
    incident_id: IncidentId,
    reason: Annotated[str, typer.Option("--reason", help="Por qué se escala.")],
    client: OfClient = None,
    by: By = None,
    as_json: AsJson = False,
    lang: LangOption = None,
) -> None:
    """Escala de nivel 1 a 2; el plazo se reinicia / escalate level 1 → 2."""
    config = settings()
    chosen = language(config, lang)
    from service.incidents import escalate_incident

    detail = escalate_incident(
        config, incident_id, reason, by=by, engine=database(config), client_id=client
    ).to_dict()
    if as_json:
        print_json(detail)
    else:
        out.print(word(chosen, "escalated", id=incident_id, due=detail["review_due_at"]))


@incidents_app.command("transition")
@one_line_errors
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
    client: OfClient = None,
    by: By = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Comentario.")] = None,
    as_json: AsJson = False,
    lang: LangOption = None,
) -> None:
    """Avanza el ciclo de vida / move the incident along its lifecycle."""
    config = settings()
    chosen = language(config, lang)
    from service.incidents import transition_incident

    detail = transition_incident(
        config,
        incident_id,
        to,
        correction=correction,
        by=by,
        comment=comment,
        engine=database(config),
        client_id=client,
    ).to_dict()
    if as_json:
        print_json(detail)
    else:
        out.print(word(chosen, "transitioned", id=incident_id, status=detail["status"]))


@incidents_app.command("replay")
@one_line_errors
def incidents_replay(
    incident_id: IncidentId,
    client: OfClient = None,
    as_json: AsJson = False,
    lang: LangOption = None,
) -> None:
    """Re-ejecuta el archivo del incidente como simulación / replay the stored file as a dry run."""
    config = settings()
    chosen = language(config, lang)
    from service.loads import replay_incident

    outcome = replay_incident(config, incident_id, database(config), client_id=client)
    show_load(outcome, chosen, as_json=as_json)
    raise typer.Exit(outcome.exit_code)


@incidents_app.command("import-spool")
@one_line_errors
def incidents_import_spool(as_json: AsJson = False, lang: LangOption = None) -> None:
    """Importa los incidentes guardados mientras la base no estaba / import spooled incidents."""
    config = settings()
    chosen = language(config, lang)
    from service.incidents import import_spooled, spooled_count

    before = spooled_count(config)
    result = import_spooled(config, database(config), spooled_before=before)  # opening imports
    if as_json:
        print_json(result.to_dict())
    else:
        out.print(word(chosen, "spool", before=result.spooled_before, left=result.left))


@incidents_app.command("watch")
@one_line_errors
def incidents_watch(as_json: AsJson = False, lang: LangOption = None) -> None:
    """Plazos SLA: vencidos y por vencer; reintenta correos / SLA watch, retry e-mails."""
    config = settings()
    chosen = language(config, lang)
    from service.incidents import watch_sla

    result = watch_sla(config, database(config))
    if as_json:
        print_json(result)
        return
    out.print(
        word(
            chosen,
            "watch",
            overdue=len(result["overdue"]),
            soon=len(result["due_soon"]),
            sent=result["notifications"]["sent"],
            queued=result["notifications"]["failed"],
        )
    )
    for entry in result["overdue"]:
        print_incident_line(entry, chosen)
