"""The columns of the upload format (v1): names, aliases, how headers are matched, and the
facts every layer reads from here: required in the upload, nullable once normalized, length
limits, and the stored type. The pandera models (``schemas/``), the live tables
(``orgload/db.py``) and the quality suites (``quality/``) are derived from these specs."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

UNIDADES = "unidades"
PERSONAS = "personas"

CODE_MAX = 40
NAME_MAX = 200
TEXT_MAX = 200
EMAIL_MAX = 254
RUT_STORED = 12  # a normalized RUT, "12345678-5", is at most 10 characters
PROFILE_STORED = 20

PROFILES = ("colaborador", "jefatura", "administrador")
PROFILE_ALIASES = {
    "colaborador": "colaborador",
    "employee": "colaborador",
    "jefatura": "jefatura",
    "manager": "jefatura",
    "administrador": "administrador",
    "admin": "administrador",
}
DEFAULT_PROFILE = "colaborador"


ColumnKind = Literal["text", "date"]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a sheet.

    - ``required``: the upload must give a value (a blank cell is the error ``required``).
    - ``max_length``: longer values are the error ``too_long``; None: no length rule.
    - ``default``: what normalization puts in a blank cell (``perfil``: ``colaborador``).
    - ``stored_length``: the ``String(n)`` of a column with no ``max_length`` rule, whose
      values are bounded by another rule (a valid RUT, a known profile).
    - ``kind``: ``text``, or ``date`` (ISO text in the upload, a ``Date`` in the database).
    - ``title_es``, ``title_en``: the header the template writes (``orgload template``), which
      messages show too; each one is matched to the column like any alias.
    """

    name: str
    aliases: tuple[str, ...]
    required: bool
    max_length: int | None = None
    default: str | None = None
    stored_length: int | None = None
    kind: ColumnKind = "text"
    title_es: str = ""
    title_en: str = ""

    def title(self, lang: str = "es") -> str:
        """The column's header in the template (``orgload template``) and in messages."""
        return (self.title_en if lang == "en" else self.title_es) or self.name

    @property
    def nullable(self) -> bool:
        """Whether a normalized value may be missing: optional in the upload and no default.
        The pandera model and the live table both follow this."""
        return not self.required and self.default is None

    @property
    def db_length(self) -> int | None:
        """The ``String(n)`` length of the column in the database (None for a date)."""
        return self.stored_length if self.stored_length is not None else self.max_length


@dataclass(frozen=True, slots=True)
class SheetSpec:
    """One sheet of the upload: canonical name, aliases, its columns in display order, and the
    column that identifies a row (the key of the load's diff, with the client)."""

    name: str
    aliases: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    key: str
    title_es: str = ""
    title_en: str = ""

    def title(self, lang: str = "es") -> str:
        """The sheet's name in the template (``orgload template``) and in messages."""
        return (self.title_en if lang == "en" else self.title_es) or self.name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


UNIDADES_SHEET = SheetSpec(
    UNIDADES,
    ("units", "org_units"),
    (
        ColumnSpec(
            "codigo_unidad",
            ("unit_code",),
            True,
            CODE_MAX,
            title_es="Código Unidad",
            title_en="Unit Code",
        ),
        ColumnSpec(
            "nombre_unidad",
            ("unit_name",),
            True,
            NAME_MAX,
            title_es="Nombre Unidad",
            title_en="Unit Name",
        ),
        ColumnSpec(
            "codigo_unidad_padre",
            ("parent_unit_code",),
            False,
            CODE_MAX,
            title_es="Código Unidad Padre",
            title_en="Parent Unit Code",
        ),
        ColumnSpec(
            "centro_costo",
            ("cost_center",),
            False,
            CODE_MAX,
            title_es="Centro Costo",
            title_en="Cost Center",
        ),
        ColumnSpec(
            "rut_jefatura",
            ("manager_rut",),
            False,
            stored_length=RUT_STORED,
            title_es="RUT Jefatura",
            title_en="Manager RUT",
        ),
    ),
    key="codigo_unidad",
    title_es="Unidades",
    title_en="Units",
)

PERSONAS_SHEET = SheetSpec(
    PERSONAS,
    ("people", "colaboradores", "employees"),
    (
        ColumnSpec(
            "rut",
            ("national_id",),
            True,
            stored_length=RUT_STORED,
            title_es="RUT",
            title_en="National ID",
        ),
        ColumnSpec(
            "nombres",
            ("first_names",),
            True,
            TEXT_MAX,
            title_es="Nombres",
            title_en="First Names",
        ),
        ColumnSpec(
            "apellidos",
            ("last_names",),
            True,
            TEXT_MAX,
            title_es="Apellidos",
            title_en="Last Names",
        ),
        ColumnSpec(
            "email",
            ("correo", "correo_electronico"),
            True,
            EMAIL_MAX,
            title_es="Email",
            title_en="Email",
        ),
        ColumnSpec(
            "codigo_unidad",
            ("unit_code",),
            True,
            CODE_MAX,
            title_es="Código Unidad",
            title_en="Unit Code",
        ),
        ColumnSpec("cargo", ("position",), False, TEXT_MAX, title_es="Cargo", title_en="Position"),
        ColumnSpec(
            "rut_jefatura",
            ("manager_rut",),
            False,
            stored_length=RUT_STORED,
            title_es="RUT Jefatura",
            title_en="Manager RUT",
        ),
        ColumnSpec(
            "fecha_ingreso",
            ("hire_date",),
            False,
            kind="date",
            title_es="Fecha Ingreso",
            title_en="Hire Date",
        ),
        ColumnSpec(
            "perfil",
            ("profile",),
            False,
            default=DEFAULT_PROFILE,
            stored_length=PROFILE_STORED,
            title_es="Perfil",
            title_en="Profile",
        ),
    ),
    key="rut",
    title_es="Personas",
    title_en="People",
)

SHEETS: dict[str, SheetSpec] = {UNIDADES: UNIDADES_SHEET, PERSONAS: PERSONAS_SHEET}

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def match_key(text: str) -> str:
    """Fold a sheet or header name so that case, accents and spacing do not matter.

    ``"Código  Unidad"``, ``"codigo_unidad"`` and ``"CODIGO-UNIDAD"`` all give ``"codigo_unidad"``.
    """
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return _NON_ALNUM.sub("_", plain).strip("_")


def _lookup(names: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, aliases in names.items():
        for alias in (canonical, *aliases):
            table[match_key(alias)] = canonical
    return table


SHEET_LOOKUP = _lookup({s.name: s.aliases for s in SHEETS.values()})
COLUMN_LOOKUP = {s.name: _lookup({c.name: c.aliases for c in s.columns}) for s in SHEETS.values()}


def canonical_sheet(name: str) -> str | None:
    """The canonical sheet name a sheet (or CSV file stem) stands for, or None."""
    return SHEET_LOOKUP.get(match_key(name))


def canonical_column(sheet: str, header: str) -> str | None:
    """The canonical column a header of ``sheet`` stands for, or None if unknown."""
    return COLUMN_LOOKUP[sheet].get(match_key(header))
