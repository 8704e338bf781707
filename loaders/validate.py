"""Validate an upload: read → normalize → cell rules → cross-sheet rules → one report (SPEC §2)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa

from loaders.normalize import normalize_sheet
from loaders.progress import Progress, Step
from loaders.read import Limits, RawSheet, RawUpload, read_upload
from orgload.columns import PERSONAS, SHEETS, UNIDADES
from schemas.cells import SheetCells, check_cells
from schemas.dates import load_date
from schemas.report import Issue, Report
from schemas.rules import check_rules

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ValidatedUpload:
    """The report of an upload and, for each sheet read, its text as read and normalized.

    ``headers``: per sheet, the canonical columns the file has and their header as written.
    An optional column absent from it is *not provided* (SPEC §1): the load keeps its stored
    values. Kept apart from ``raw``, which a load frees early.
    """

    report: Report
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    raw: dict[str, RawSheet] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.report.valid


def validate_upload(
    paths: Sequence[Path],
    *,
    limits: Limits | None = None,
    on_date: date | None = None,
    progress: Progress | None = None,
) -> ValidatedUpload:
    """Every problem of the upload at once; never raises for bad input."""
    notify = progress or (lambda _stage: None)
    notify(Step("reading"))
    upload = read_upload(paths, limits)
    report = Report(issues=list(upload.issues))
    if any(i.code in ("unreadable_file", "file_too_large") for i in upload.issues) and not (
        upload.sheets
    ):
        return ValidatedUpload(report)
    _report_missing_sheets(upload, report)
    rows = sum(len(sheet.frame) for sheet in upload.sheets.values())
    notify(Step("validating", done=rows, total=rows))  # the rows read
    cells: dict[str, SheetCells] = {}
    frames: dict[str, pd.DataFrame] = {}
    for name, sheet in upload.sheets.items():
        report.counts[name] = len(sheet.frame)
        values = normalize_sheet(name, sheet.frame)
        cells[name] = SheetCells(name, sheet.frame, values, sheet.headers)
        frames[name] = values
    with load_date(on_date) if on_date else nullcontext():
        for sheet_cells in cells.values():
            report.extend(check_cells(sheet_cells))
    report.extend(check_rules(cells.get(UNIDADES), cells.get(PERSONAS)))
    log.info(
        "validated %s: %s rows, %d errors",
        ", ".join(p.name for p in paths),
        report.counts,
        len(report.errors),
    )
    # Validation goes through ~100 MB of short-lived Arrow buffers at 100,000 rows. Arrow's
    # allocator keeps freed pages for Arrow alone; hand them back, so that what comes next in
    # a load (Python objects, the database driver) does not grow the process past them.
    pa.default_memory_pool().release_unused()
    headers = {name: dict(sheet.headers) for name, sheet in upload.sheets.items()}
    return ValidatedUpload(report, frames, dict(upload.sheets), headers)


def _report_missing_sheets(upload: RawUpload, report: Report) -> None:
    if any(i.code in ("unreadable_file", "file_too_large") for i in upload.issues):
        return  # the sheet is not missing, its file could not be read
    found = ", ".join(upload.found_sheets) or "—"
    for name in SHEETS:
        if name not in upload.sheets:
            report.add(Issue(code="missing_sheet", params={"sheet": name, "found": found}))
