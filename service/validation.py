"""Validate an upload without writing anything to the database (SPEC §2, ``orgload validate``)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loaders.progress import STAGES, Progress, Step
from orgload import clock
from orgload.settings import Settings

if TYPE_CHECKING:
    from orgload.settings import Lang
    from schemas.report import Issue, Report

__all__ = [
    "STAGES",
    "Progress",
    "Step",
    "ValidationResult",
    "quiet_imports",
    "refusals",
    "start_reading",
    "validate_files",
]


@dataclass(slots=True)
class ValidationResult:
    """The report of one upload; ``to_dict`` is the JSON of ``orgload validate --json``."""

    report: Report
    file_names: list[str]
    report_path: Path | None = None

    @property
    def valid(self) -> bool:
        return self.report.valid

    @property
    def exit_code(self) -> int:
        return 0 if self.report.valid else 1

    def to_dict(self, lang: Lang = "es") -> dict[str, Any]:
        return self.report.to_dict(lang)


@contextmanager
def quiet_imports() -> Iterator[None]:
    """Import the heavy libraries without the cyclic garbage collector, then freeze what they made.

    Importing pandas, pandera, pyarrow and SQLAlchemy creates ~100,000 objects that live until
    the process ends (modules, classes, functions): the collector would pass over them a few
    hundred times while they are imported, again in every full collection of the work, and
    twice more at exit. ``gc.freeze`` moves them out of its reach (they are still freed by
    their reference counts); objects made afterwards are collected as ever. About a quarter of
    the CPU of a one-row ``orgload validate`` (docs/performance.md, "Fixed cost").
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def start_reading(settings: Settings, paths: Sequence[Path]) -> None:
    """Start parsing the workbooks in the background while the caller imports and connects;
    the parse would otherwise come after all of that (loaders/xlsx.py). Never raises."""
    from loaders.limits import Limits
    from loaders.xlsx import parse_ahead

    parse_ahead(paths, Limits.from_settings(settings))


def refusals(settings: Settings, paths: Sequence[Path]) -> list[Issue]:
    """What refuses the upload before it is parsed (size, expansion, rows counted or declared):
    cheap whatever its size, and without pandas. Empty: the reader decides the rest."""
    from loaders.limits import Limits
    from loaders.xlsx import precheck_upload

    return precheck_upload(paths, Limits.from_settings(settings))


def validate_files(
    settings: Settings,
    paths: Sequence[Path],
    *,
    lang: Lang = "es",
    report_path: Path | None = None,
    progress: Progress | None = None,
) -> ValidationResult:
    """Every problem of the upload at once; with ``report_path``, also the annotated workbook.

    A file refused by the size or expansion limits, or a sheet declaring more rows than the
    limit, is answered before pandas is even imported.
    """
    from loaders.limits import Limits

    if report_path is not None:  # before any work: never the upload itself (SPEC §6)
        from service.files import check_output, database_files

        check_output(
            report_path,
            option="--report",
            inputs=paths,
            protected=database_files(settings),
            create_folders=True,
            example="errores.xlsx",
        )
    limits = Limits.from_settings(settings)
    names = [p.name for p in paths]
    refused = [] if report_path is not None else refusals(settings, paths)
    if refused:
        from schemas.report import Report

        return ValidationResult(Report(issues=refused), names)
    start_reading(settings, paths)

    if "loaders.validate" in sys.modules:
        from loaders.validate import validate_upload
    else:  # the first validate of this process: pandas, pandera, pyarrow come in here
        with quiet_imports():
            from loaders.validate import validate_upload

    validated = validate_upload(
        paths, limits=limits, on_date=clock.today(settings), progress=progress
    )
    if report_path is not None:
        from loaders.writers.annotate import write_annotated_report
        from service.files import written_whole

        with written_whole(report_path, create_folders=True) as temporary:
            write_annotated_report(temporary, validated, lang)
    return ValidationResult(validated.report, names, report_path)
