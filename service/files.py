"""Files we hand to client admins: the export of their current data and the blank template.

Every file written for a user goes through ``check_output`` first (not a folder, not the
upload itself, not the database, its folder a folder) and is then written whole or not at all
(a temporary file in the same folder, renamed over the target): an error never leaves half a
workbook, and never a traceback.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orgload.errors import UsageError, shown
from orgload.settings import Settings
from orgload.slugs import check_client_id

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from orgload.settings import Lang

    Frames = dict[str, pd.DataFrame]

NAME_MAX_BYTES = 255  # a file name's limit on Linux, macOS and Windows file systems


@dataclass(slots=True)
class ExportResult:
    """What an export wrote: files, or (JSON without an output path) the text itself."""

    client_id: str
    format: str
    written: list[Path] = field(default_factory=list)
    text: str | None = None


def export_client(
    settings: Settings,
    client_id: str,
    fmt: str = "xlsx",
    output: Path | None = None,
    engine: Engine | None = None,
) -> ExportResult:
    """The client's current active data in the upload format (re-loading it changes nothing).

    Without ``output`` the file is ``<client_id>.xlsx`` (or ``<client_id>-csv/``) in the
    current folder: a client id is a slug, so that name never leaves the folder. The output
    path is checked before the database is read.
    """
    from loaders.store import get_client
    from loaders.writers.export import FORMATS, current_frames, export_json, export_xlsx

    check_client_id(client_id)
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    target = output
    if fmt == "xlsx":
        target = output or Path(f"{client_id}.xlsx")
    elif fmt == "csv":
        target = output or Path(f"{client_id}-csv")
    into_folder = fmt == "csv" and target is not None and target.suffix.lower() != ".zip"
    if target is not None:
        check_output(
            target,
            option="-o",
            protected=database_files(settings),
            folder=into_folder,
            example=f"{client_id}.{'zip' if fmt == 'csv' else fmt}",
        )
    from orgload.db import engine_for, reading, tenant

    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        get_client(conn, client_id)
        frames = current_frames(conn, client_id)
    if target is None:  # JSON on stdout
        return ExportResult(client_id, fmt, text=export_json(frames))
    if into_folder:
        return ExportResult(client_id, fmt, _export_csv_folder(frames, target))
    with written_whole(target) as temporary:
        if fmt == "json":
            temporary.write_text(export_json(frames) + "\n", encoding="utf-8")
        elif fmt == "xlsx":
            export_xlsx(frames, temporary)
        else:
            _export_csv_zip(frames, temporary)
    return ExportResult(client_id, fmt, [target])


def _export_csv_zip(frames: Frames, path: Path) -> None:
    from loaders.writers.export import export_csv

    export_csv(frames, path)  # the temporary path keeps the target's ``.zip`` suffix


def _export_csv_folder(frames: Frames, target: Path) -> list[Path]:
    """The two CSV files into ``target``: written in a temporary folder inside it, then both
    renamed into place, so a failure leaves the previous pair as it was."""
    from loaders.writers.export import export_csv

    try:
        target.mkdir(parents=True, exist_ok=True)
        scratch = target / f".orgload-{os.getpid()}-{secrets.token_hex(4)}.tmp"
        try:
            placed = []
            for path in export_csv(frames, scratch):
                os.replace(path, target / path.name)
                placed.append(target / path.name)
            return placed
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as exc:
        raise UsageError(f"cannot write {shown(target)}: {exc.strerror or exc}") from exc


def template_name(lang: Lang) -> Path:
    return Path("plantilla_orgload.xlsx" if lang == "es" else "orgload_template.xlsx")


def write_template(
    output: Path | None, lang: Lang = "es", *, settings: Settings | None = None
) -> Path:
    """The blank upload workbook with instructions and dropdowns; returns where it went."""
    target = output or template_name(lang)
    protected = database_files(settings) if settings is not None else []
    check_output(target, option="-o", protected=protected, example=template_name(lang).name)
    from loaders.writers.template import write_template as write_workbook

    with written_whole(target) as temporary:
        write_workbook(temporary, lang)
    return target


# --- output paths ---------------------------------------------------------------------------


def check_output(
    target: Path,
    *,
    option: str,
    inputs: Sequence[Path] = (),
    protected: Sequence[Path] = (),
    folder: bool = False,
    create_folders: bool = False,
    example: str = "salida.xlsx",
) -> None:
    """Refuse (``UsageError``, exit 2) an output path that cannot or must not be written,
    before any work is done: a name over 255 bytes; one of the ``inputs`` (SPEC §6: "an output
    path equal to an input file is refused") or a ``protected`` file such as the database; a
    folder where a file is wanted (or a file where a ``folder`` is); a path under a file; a
    missing folder unless ``create_folders``."""
    name_bytes = len(os.fsencode(target.name))
    if name_bytes > NAME_MAX_BYTES:
        raise UsageError(
            f"{option} {shown(target.name)}: the file name is too long "
            f"({name_bytes} bytes, at most {NAME_MAX_BYTES})"
        )
    for path in inputs:
        if same_file(target, path):
            raise UsageError(
                f"{option} {shown(target)} is the upload itself: give the report another "
                f"name (nothing was written)"
            )
    for path in protected:
        if same_file(target, path):
            raise UsageError(f"{option} {shown(target)} is orgload's database: choose another")
    kind = _kind(target)
    if folder and kind not in (None, "folder"):
        raise UsageError(
            f"{option} {shown(target)} is a file: give a folder, or a name ending in .zip"
        )
    if not folder and kind == "folder":
        raise UsageError(
            f"{option} {shown(target)} is a folder: give a file name, "
            f"e.g. {option} {shown(target / example)}"
        )
    blocker = _blocking_ancestor(target.parent)
    if blocker is not None:
        raise UsageError(f"cannot write {shown(target)}: {shown(blocker)} is a file, not a folder")
    if not folder and not create_folders and _kind(target.parent) is None:
        raise UsageError(f"folder not found / no existe la carpeta: {shown(target.parent)}")


@contextmanager
def written_whole(target: Path, *, create_folders: bool = False) -> Iterator[Path]:
    """A temporary path next to ``target`` to write to; renamed over ``target`` when the block
    ends, removed if it raises. ``OSError`` (permissions, disk full) becomes ``UsageError``."""
    temporary = target.with_name(
        f".orgload-{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix[:16]}"
    )
    try:
        if create_folders:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, target)
    except OSError as exc:
        raise UsageError(f"cannot write {shown(target)}: {exc.strerror or exc}") from exc
    finally:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (hard and symbolic
    links included), else the same resolved path."""
    with suppress(OSError, ValueError):
        return os.path.samefile(a, b)
    with suppress(OSError, RuntimeError, ValueError):
        return a.resolve() == b.resolve()
    return False


def database_files(settings: Settings) -> list[Path]:
    """The SQLite database file of ``settings`` and its companions (none for PostgreSQL)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(settings.resolved_database_url)
    except Exception:  # noqa: BLE001 - a bad URL protects nothing; opening it reports it
        return []
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return []
    main = Path(url.database)
    return [main, *(main.with_name(main.name + s) for s in ("-wal", "-shm", "-journal"))]


def _kind(path: Path) -> str | None:
    """ "folder", "file" (anything else that exists) or None (missing, or not reachable)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return "folder" if stat.S_ISDIR(mode) else "file"


def _blocking_ancestor(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` (itself included) when it is not a folder."""
    for candidate in (folder, *folder.parents):
        try:
            mode = os.stat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None  # unreadable: the write itself will say why
        return None if stat.S_ISDIR(mode) else candidate
    return None
