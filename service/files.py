"""Files we hand to client admins: the export of their current data and the blank template."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orgload.errors import UsageError
from orgload.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orgload.settings import Lang


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
    """The client's current active data in the upload format (re-loading it changes nothing)."""
    from loaders.store import get_client
    from loaders.writers.export import (
        FORMATS,
        current_frames,
        export_csv,
        export_json,
        export_xlsx,
    )

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    from orgload.db import engine_for

    with engine_for(settings, engine) as bound, bound.connect() as conn:
        get_client(conn, client_id)
        frames = current_frames(conn, client_id)
    if fmt == "json":
        text = export_json(frames)
        if output is None:
            return ExportResult(client_id, fmt, text=text)
        output.write_text(text + "\n", encoding="utf-8")
        return ExportResult(client_id, fmt, [output])
    if fmt == "xlsx":
        target = output or Path(f"{client_id}.xlsx")
        export_xlsx(frames, target)
        return ExportResult(client_id, fmt, [target])
    return ExportResult(client_id, fmt, export_csv(frames, output or Path(f"{client_id}-csv")))


def template_name(lang: Lang) -> Path:
    return Path("plantilla_orgload.xlsx" if lang == "es" else "orgload_template.xlsx")


def write_template(output: Path | None, lang: Lang = "es") -> Path:
    """The blank upload workbook with instructions and dropdowns; returns where it went."""
    target = output or template_name(lang)
    if target.is_dir():
        raise UsageError(
            f"{target} is a folder: give a file name, e.g. -o {target / 'plantilla.xlsx'}"
        )
    if not target.parent.is_dir():
        raise UsageError(f"folder not found / no existe la carpeta: {target.parent}")
    from loaders.writers.template import write_template as write_workbook

    write_workbook(target, lang)
    return target
