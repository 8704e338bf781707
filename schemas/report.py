"""The validation report: the small serializable result that leaves ``schemas/`` (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orgload.columns import PERSONAS, SHEETS, UNIDADES
from schemas.characters import show_controls
from schemas.messages import WARNING_CODES, Lang, render

VALUE_PREVIEW = 200
_SHEET_ORDER = {UNIDADES: 0, PERSONAS: 1}


def preview(value: object) -> str | None:
    """A cell value as shown in a report: text, control characters written as ``<U+0001>``
    (``schemas.characters.show_controls``), cut to a readable length."""
    if value is None:
        return None
    text = show_controls(str(value))
    return text if len(text) <= VALUE_PREVIEW else text[:VALUE_PREVIEW] + "…"


def _column_title(sheet: str | None, column: str | None, lang: Lang) -> str | None:
    """A column as the template heads it in ``lang`` (its canonical name if not a column)."""
    spec = SHEETS.get(sheet or "")
    if spec is None or column not in spec.column_names:
        return column
    return spec.column(column).title(lang)


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in an upload. File-level issues have no sheet, row or column."""

    code: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    header: str | None = None
    value: str | None = None
    key: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_warning(self) -> bool:
        return self.code in WARNING_CODES

    def message(self, lang: Lang = "es") -> str:
        """The message in ``lang``. Sheets and columns are named as the template names them
        (``Código Unidad``, ``Unidades``), a header as the file wrote it."""
        title = _column_title(self.sheet, self.column, lang)
        context = {
            "sheet": self.sheet,
            "column": self.column,
            "title": title,
            "header": self.header or title,
            "value": self.value,
            **self.params,
        }
        if "suggestion" in self.params:
            context["suggested"] = _column_title(self.sheet, self.params["suggestion"], lang)
        if context["sheet"] in SHEETS:
            context["sheet"] = SHEETS[context["sheet"]].title(lang)
        return render(self.key or self.code, lang, context)

    def to_dict(self, lang: Lang = "es") -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "header": self.header,
            "value": self.value,
            "code": self.code,
            "message": self.message(lang),
        }

    def sort_key(self) -> tuple[int, int, int, int, str]:
        sheet_rank = _SHEET_ORDER.get(self.sheet or "", -1)
        columns = SHEETS[self.sheet].column_names if self.sheet in SHEETS else ()
        column_rank = columns.index(self.column) if self.column in columns else -1
        return (sheet_rank, self.row or 0, column_rank, 0 if self.row is None else 1, self.code)


@dataclass(slots=True)
class Report:
    """Everything found in one upload: counts of data rows read, errors and warnings."""

    counts: dict[str, int] = field(default_factory=lambda: {UNIDADES: 0, PERSONAS: 0})
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return sorted((i for i in self.issues if not i.is_warning), key=Issue.sort_key)

    @property
    def warnings(self) -> list[Issue]:
        return sorted((i for i in self.issues if i.is_warning), key=Issue.sort_key)

    @property
    def valid(self) -> bool:
        return not any(not i.is_warning for i in self.issues)

    def add(self, issue: Issue) -> None:
        self.issues.append(issue)

    def extend(self, issues: list[Issue]) -> None:
        self.issues.extend(issues)

    def to_dict(self, lang: Lang = "es") -> dict[str, Any]:
        """The JSON shape of ``orgload validate --json`` (SPEC §6)."""
        return {
            "valid": self.valid,
            "counts": dict(self.counts),
            "errors": [i.to_dict(lang) for i in self.errors],
            "warnings": [i.to_dict(lang) for i in self.warnings],
        }
