"""The ``orgload`` command: the root app, its global options and the console-script entry point.

Commands live one module per group (``cli/files.py``, ``cli/admin.py``, ``cli/incidents.py``)
and call only the service layer, imported inside each command so ``orgload --help`` stays
instant and a command only pays for what it uses.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.markup import escape

from cli import admin, files, incidents
from cli.common import err, out
from orgload import __version__
from orgload.errors import OrgloadError

app = typer.Typer(
    name="orgload",
    help="Carga mensual de datos organizacionales (unidades y personas). "
    "Monthly load of organizational data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


files.register(app)
admin.register(app)
incidents.register(app)


def main() -> None:
    """Console-script entry point: user mistakes become one line on stderr, never a traceback."""
    try:
        app()
    except OrgloadError as exc:
        err.print(f"orgload: {escape(exc.message)}")
        sys.exit(exc.exit_code)
