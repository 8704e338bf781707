"""Export a client's current active data in the upload format (re-loading it changes nothing).

Every value is written inert (SPEC §9, ``loaders.writers.inert``): a name like
``=HYPERLINK(...)`` is a text cell in the workbook and ``'=HYPERLINK(...)`` in the CSV, and both
read back as the name.
"""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from sqlalchemy import Connection

from loaders.current import fetch_current
from loaders.store import KEYS
from loaders.writers.inert import cell_value, column_cells, csv_text
from orgload.columns import SHEETS

FORMATS = ("xlsx", "csv", "json")


def current_frames(conn: Connection, client_id: str) -> dict[str, pd.DataFrame]:
    """Active rows per sheet, canonical columns in format order, sorted by key."""
    frames = {}
    for name, spec in SHEETS.items():
        current = fetch_current(conn, client_id, name)
        active = current[current["active"]].drop(columns=["active", "load_id"])
        frames[name] = (
            active.reset_index()
            .rename(columns={"index": KEYS[name]})[list(spec.column_names)]
            .sort_values(KEYS[name], kind="stable", ignore_index=True)
        )
    return frames


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")  # type: ignore[return-value]


def export_json(frames: dict[str, pd.DataFrame]) -> str:
    return json.dumps({name: _records(f) for name, f in frames.items()}, ensure_ascii=False)


def export_xlsx(frames: dict[str, pd.DataFrame], path: Path) -> None:
    workbook = Workbook(write_only=True)
    for name, frame in frames.items():
        sheet = workbook.create_sheet(name)
        sheet.append([cell_value(sheet, c) for c in frame.columns])
        columns = []
        for column in frame.columns:
            if column == "fecha_ingreso":  # an Excel date, as the upload would have it
                columns.append([_date(v) for v in frame[column]])
            else:
                columns.append(column_cells(sheet, frame[column]))
        for row in zip(*columns, strict=True):
            sheet.append(row)
    workbook.save(path)


def _date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def export_csv(frames: dict[str, pd.DataFrame], path: Path) -> list[Path]:
    """``path`` ending in .zip gets one archive; otherwise a folder with the two CSV files."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, frame in frames.items():
                archive.writestr(f"{name}.csv", "\ufeff" + csv_text(frame))
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        target = path / f"{name}.csv"
        target.write_text("\ufeff" + csv_text(frame), encoding="utf-8", newline="")
        written.append(target)
    return written
