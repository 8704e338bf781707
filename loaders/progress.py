"""How far a validation or a load has got, told to a caller's ``progress`` callback (stdlib only:
the CLI and the flows name these types without importing pandas).

The stages, in order: ``reading`` (the upload is being read), ``validating`` (read: ``done`` =
``total`` = the data rows read), ``planning`` (valid: the diff against the current data is being
made; ``total`` = the rows of the upload), ``applying`` (the load's transaction: ``done`` of
``total`` entity rows written, told again after each COPY or batch of rows, never per row).
A validation ends after ``validating``, a dry run or an upload with nothing to apply after
``planning``; a refused or failed load wherever it stopped.
"""

from __future__ import annotations

from collections.abc import Callable

STAGES: tuple[str, ...] = ("reading", "validating", "planning", "applying")


class Step(str):
    """A stage as it starts or advances: its name (it compares equal to that string, so a plain
    ``Callable[[str], None]`` can take it) and, where the stage counts rows, ``done`` of
    ``total`` (None where not known)."""

    done: int | None
    total: int | None

    def __new__(cls, name: str, done: int | None = None, total: int | None = None) -> Step:
        step = super().__new__(cls, name)
        step.done, step.total = done, total
        return step


Progress = Callable[[str], None]
"""Told each ``Step``, in the thread doing the work: it must be quick and must not raise."""
