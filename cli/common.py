"""What every command shares: options, consoles, one-line errors, settings, the database.

Nothing here imports pandas, SQLAlchemy or pydantic at import time: ``orgload --help`` imports
little beyond typer and rich (``tests/cli/test_cli_imports.py``); the settings are imported by
the first command that reads them.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from orgload.errors import OrgloadError, one_line, shown
from orgload.slugs import check_client_id

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orgload.settings import Lang, Settings

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

LangOption = Annotated[
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

_open: list[Any] = []  # databases opened by this command, closed when it returns


class State:
    """Global options of this run (``--verbose``), read by the entry point's safety net."""

    verbose = False


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """User mistakes and refusals become one line on stderr with their exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OrgloadError as exc:
            fail(exc.message, exc.exit_code)
        finally:
            while _open:  # close pooled connections before the command returns
                _open.pop().close()

    return wrapper


def fail(message: str, exit_code: int = 2) -> NoReturn:
    say(message)
    raise typer.Exit(exit_code)


def say(message: str) -> None:
    """One line on stderr: a driver's multi-line text is flattened, control characters (a
    terminal escape in a file name) are spelled ``U+001B``, a long message is cut."""
    err.print(f"orgload: {escape(one_line(message))}")


def settings() -> Settings:
    from orgload.settings import load_settings  # pydantic-settings: not for ``--help``

    try:
        return load_settings()
    except OrgloadError as exc:
        fail(exc.message, exc.exit_code)


def language(config: Settings, lang: str | None) -> Lang:
    chosen = lang or config.lang
    if chosen not in ("es", "en"):
        fail(f"--lang must be 'es' or 'en', not {chosen!r}")
    return chosen  # type: ignore[return-value]


def database(config: Settings) -> Engine:
    """The engine of this command: reachable, schema current, spooled incidents imported."""
    from service.database import open_database

    opened = open_database(config)
    _open.append(opened)
    if opened.imported_spool:
        err.print(
            f"orgload: imported {len(opened.imported_spool)} spooled incident(s): "
            f"{', '.join(opened.imported_spool)}"
        )
    return opened.engine


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def existing(files: list[Path]) -> None:
    """Every FILE names a file that is there (exit 2 otherwise, before any work)."""
    missing = []
    for path in files:
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            missing.append(shown(path))
            continue
        except OSError as exc:  # a name over 255 bytes, a loop of links, no permission
            fail(f"cannot read {shown(path)}: {exc.strerror or exc}")
        if stat.S_ISDIR(mode):
            fail(
                f"{shown(path)} is a folder, not a file: name the upload inside it "
                f"(an .xlsx, the two .csv files or a .zip)"
            )
    if missing:
        fail(f"file not found / no existe: {', '.join(missing)}")


def client_id(value: str) -> str:
    """A --client value checked against the slug rule (SPEC §6), exit 2 otherwise."""
    try:
        return check_client_id(value)
    except OrgloadError as exc:
        fail(exc.message, exc.exit_code)
