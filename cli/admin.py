"""``orgload db``, ``clients``, ``quota``, ``history`` and ``revert``: the client's record."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from cli.common import (
    AsJson,
    ClientId,
    LangOption,
    client_id,
    database,
    language,
    one_line_errors,
    out,
    print_json,
    settings,
)
from cli.render import status_word, word

db_app = typer.Typer(help="Esquema de la base de datos / database schema.", no_args_is_help=True)
clients_app = typer.Typer(help="Clientes registrados / registered clients.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(clients_app, name="clients")
    app.command()(quota)
    app.command()(history)
    app.command()(revert)


@db_app.command("upgrade")
@one_line_errors
def db_upgrade(lang: LangOption = None) -> None:
    """Crea o migra el esquema (Alembic) / create or migrate the schema."""
    config = settings()
    chosen = language(config, lang)
    from service.database import upgrade_database

    out.print(word(chosen, "schema", rev=upgrade_database(config)))


@clients_app.command("add")
@one_line_errors
def clients_add(
    new_id: Annotated[
        str,
        typer.Argument(
            metavar="ID", help="Id del cliente: 1-40 de a-z 0-9 - _ / client id (a slug)."
        ),
    ],
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
    apply_off_peak: Annotated[
        bool,
        typer.Option(
            "--apply-off-peak",
            help="Cargas confirmadas en la web entre 06:00 y 21:59 se aplican desde las 22:00 "
            "(hora de Chile) / web confirms in peak hours wait for the off-peak window.",
        ),
    ] = False,
    as_json: AsJson = False,
    lang: LangOption = None,
) -> None:
    """Registra un cliente / register a client."""
    config = settings()
    chosen = language(config, lang)
    client_id(new_id)  # before the database is opened (the service checks it again)
    from service.clients import register_client

    client = register_client(
        config,
        new_id,
        name,
        timezone=timezone,
        admin_email=admin_email,
        allow_mass_change=allow_mass_change,
        apply_off_peak=apply_off_peak,
        engine=database(config),
    )
    if as_json:
        print_json(client.to_dict())
    else:
        out.print(
            word(
                chosen,
                "registered",
                id=escape(client.id),
                name=escape(client.name),
                tz=client.timezone,
            )
        )


@clients_app.command("list")
@one_line_errors
def clients_list(as_json: AsJson = False) -> None:
    """Lista los clientes / list clients."""
    config = settings()
    from service.clients import registered_clients

    found = registered_clients(config, database(config))
    if as_json:
        print_json([c.to_dict() for c in found])
        return
    for c in found:
        out.print(f"{escape(c.id)}\t{escape(c.name)}\t{c.timezone}\t{escape(c.admin_email or '-')}")


@one_line_errors
def quota(client: ClientId, as_json: AsJson = False, lang: LangOption = None) -> None:
    """Estado de la cuota mensual / monthly quota status."""
    config = settings()
    chosen = language(config, lang)
    client_id(client)  # before the database is opened
    from service.history import client_quota

    status = client_quota(config, client, database(config))
    if as_json:
        print_json(status.to_dict())
        return
    data = status.to_dict()
    state = word(chosen, "used" if data["used"] else "available")
    out.print(
        word(
            chosen,
            "quota_line",
            period=data["period"],
            state=state,
            next=data["next_period_starts"],
        )
    )


@one_line_errors
def history(client: ClientId, as_json: AsJson = False, lang: LangOption = None) -> None:
    """Historial de cargas, más reciente primero / load history, newest first."""
    config = settings()
    chosen = language(config, lang)
    client_id(client)  # before the database is opened
    from service.history import client_history

    entries = client_history(config, client, database(config)).to_dict()
    if as_json:
        print_json(entries)
        return
    for e in entries:
        out.print(
            f"{e['load_id']:>6}  {e['created_at']}  {e['period']}  "
            f"{status_word(chosen, e['status']):<16} {escape(e['file_name'] or '')}"
            + (f"  — {escape(e['reason'])}" if e["reason"] else "")
        )


@one_line_errors
def revert(
    load_id: Annotated[int, typer.Option("--load", help="Id de la carga a revertir.")],
    client: ClientId,
    reason: Annotated[str, typer.Option("--reason", help="Motivo / reason (recorded).")],
    as_json: AsJson = False,
    lang: LangOption = None,
) -> None:
    """Revierte la última carga aplicada del cliente / revert the client's latest load."""
    config = settings()
    chosen = language(config, lang)
    from service.loads import revert_load

    outcome = revert_load(config, client, load_id, reason, database(config))
    if as_json:
        print_json(outcome.to_dict())
    else:
        out.print(word(chosen, "reverted", reverted=outcome.reverted_load_id, load=outcome.load_id))
