"""The ``orgload`` command: the root app, its global options and the console-script entry point.

Commands live one module per group (``cli/files.py``, ``cli/admin.py``, ``cli/incidents.py``)
and call only the service layer, imported inside each command so ``orgload --help`` stays
instant and a command only pays for what it uses.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import orgload
from cli import admin, files, incidents, users
from cli.common import State, out, say
from orgload.errors import OrgloadError, shown

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
        out.print(f"orgload {orgload.__version__}")
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
    import logging

    from orgload.masking import install_log_masking

    State.verbose = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_masking("")  # RUTs and e-mails never reach a log line (SPEC §9)


files.register(app)
admin.register(app)
incidents.register(app)
users.register(app)


def main() -> None:
    """Console-script entry point: user mistakes become one line on stderr, never a traceback.

    The safety net below the commands' own handling: an ``OrgloadError`` exits with its code;
    an ``OSError`` that escaped (a file system refusing a path) exits 2; anything else is a
    defect of orgload and exits 1 — with one line too, the traceback only with ``--verbose``.
    """
    try:
        app()
    except OrgloadError as exc:
        say(exc.message)
        sys.exit(exc.exit_code)
    except OSError as exc:
        _traceback_if_verbose()
        where = f" ({shown(exc.filename)})" if exc.filename else ""
        say(f"{exc.strerror or exc}{where}")
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        _traceback_if_verbose()
        say(f"unexpected error {type(exc).__name__}: {exc} (run with --verbose for details)")
        sys.exit(1)


def _traceback_if_verbose() -> None:
    if State.verbose:
        import traceback

        traceback.print_exc(file=sys.stderr)
