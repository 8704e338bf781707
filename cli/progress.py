"""The progress display of ``validate`` and ``load`` on stderr: one line per stage (reading, with
the rows read; validating; planning; applying, with the rows written), shown only when stderr
is a terminal and the command prints no JSON — piped or ``--json``, nothing extra is written.

The service tells each stage through its ``progress`` callback (``service.validation.Step``),
in the thread doing the work; Rich redraws the display from its own thread. The display is
transient: it is gone before the command prints its answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cli.common import err

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

LABELS: dict[str, dict[str, str]] = {
    "es": {
        "reading": "Leyendo el archivo",
        "validating": "Validando",
        "planning": "Comparando con los datos vigentes",
        "applying": "Aplicando",
        "rows_read": "{n:,} filas leídas",
        "rows_written": "filas escritas",
    },
    "en": {
        "reading": "Reading the file",
        "validating": "Validating",
        "planning": "Planning the changes",
        "applying": "Applying",
        "rows_read": "{n:,} rows read",
        "rows_written": "rows written",
    },
}


def shown(as_json: bool) -> bool:
    """Whether this command shows progress: stderr is a terminal and no JSON was asked for."""
    return err.is_terminal and not as_json


class StageDisplay:
    """Turns the service's steps into Rich tasks: a stage starting ends the one before."""

    def __init__(self, progress: Progress, lang: str) -> None:
        self._progress = progress
        self._words = LABELS.get(lang, LABELS["es"])
        self._stage: str | None = None
        self._task: TaskID | None = None

    def __call__(self, step: str) -> None:
        done: int | None = getattr(step, "done", None)
        total: int | None = getattr(step, "total", None)
        name = str(step)
        if name != self._stage:
            self.close()
            self._stage = name
            self._task = self._progress.add_task(self._words.get(name, name), total=None, count="")
        assert self._task is not None
        if name == "validating" and done is not None:  # reading is over: what it read
            self._progress.update(self._task, count=self._words["rows_read"].format(n=done))
        elif name == "applying" and total is not None:
            written = f"{done or 0:,}/{total:,} {self._words['rows_written']}"
            self._progress.update(self._task, total=total, completed=done or 0, count=written)

    def close(self) -> None:
        """The stage under way is over: its bar full, its spinner a check mark."""
        if self._task is None:
            return
        total = self._progress.tasks[-1].total or 1
        self._progress.update(self._task, total=total, completed=total)
        self._task = None


@contextmanager
def stages(lang: str, *, enabled: bool) -> Iterator[Any]:
    """A ``progress`` callback for the service: a live display on stderr when ``enabled``,
    else None (the service then tells nobody)."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(finished_text="✓"),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, refresh_per_second=8) as progress:
        display = StageDisplay(progress, lang)
        try:
            yield display
        finally:
            display.close()
