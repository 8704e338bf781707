"""``orgload users`` (add, list) and ``orgload web``: the web app's users and the app itself."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from cli.common import AsJson, fail, one_line_errors, out, print_json, settings

users_app = typer.Typer(help="Usuarios de la app web / web app users.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.command("web")(web)


@users_app.command("add")
@one_line_errors
def users_add(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="Correo / e-mail address.")],
    client: Annotated[
        str | None, typer.Option("--client", help="Administrador de este cliente / client admin.")
    ] = None,
    staff: Annotated[
        bool, typer.Option("--staff", help="Soporte y operaciones (todos los clientes) / staff.")
    ] = False,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            envvar="ORGLOAD_WEB_BASE_URL",
            help="Dirección pública de la app / the app's public address.",
        ),
    ] = "http://127.0.0.1:8000",
    as_json: AsJson = False,
) -> None:
    """Agrega un usuario y su enlace de un solo uso / add a user, print its one-time link."""
    if (client is None) == (not staff):
        fail("give exactly one of --client ID or --staff")
    config = settings()
    from service.users import add_user

    added = add_user(config, email, client_id=client, staff_user=staff)
    link = added.link(base_url)
    if as_json:
        print_json({**added.user.to_dict(), "set_password_link": link})
        return
    out.print(
        f"{escape(added.user.email)} ({added.user.role}"
        f"{', ' + escape(added.user.client_id) if added.user.client_id else ''})"
    )
    out.print("Enlace para definir la contraseña (un solo uso, 72 h) / one-time link:")
    out.print(escape(link))


@users_app.command("list")
@one_line_errors
def users_list(as_json: AsJson = False) -> None:
    """Lista los usuarios / list the users."""
    config = settings()
    from service.users import list_users

    found = list_users(config)
    if as_json:
        print_json([u.to_dict() for u in found])
        return
    for user in found:
        state = "password set" if user.has_password else "link pending"
        out.print(f"{escape(user.email)}\t{user.role}\t{escape(user.client_id or '-')}\t{state}")


@one_line_errors
def web(
    host: Annotated[
        str, typer.Option("--host", envvar="ORGLOAD_WEB_HOST", help="Dirección / address.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", envvar="ORGLOAD_WEB_PORT", min=1, max=65535, help="Puerto / port."),
    ] = 8000,
) -> None:
    """Inicia la app web / start the web app (uvicorn)."""
    import uvicorn

    config = settings()
    from service.database import open_database

    open_database(config).close()  # reachable, schema current: one line now, not per request
    out.print(f"orgload web: http://{host}:{port}/")
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
    )
