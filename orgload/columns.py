"""Sheet and column names of the upload format (v1), their aliases, and how headers are matched."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

UNIDADES = "unidades"
PERSONAS = "personas"

CODE_MAX = 40
NAME_MAX = 200
TEXT_MAX = 200
EMAIL_MAX = 254

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


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of a sheet: canonical name, accepted aliases, and its size limit."""

    name: str
    aliases: tuple[str, ...]
    required: bool
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class SheetSpec:
    """One sheet of the upload: canonical name, aliases and its columns in display order."""

    name: str
    aliases: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


UNIDADES_SHEET = SheetSpec(
    UNIDADES,
    ("units", "org_units"),
    (
        ColumnSpec("codigo_unidad", ("unit_code",), True, CODE_MAX),
        ColumnSpec("nombre_unidad", ("unit_name",), True, NAME_MAX),
        ColumnSpec("codigo_unidad_padre", ("parent_unit_code",), False, CODE_MAX),
        ColumnSpec("centro_costo", ("cost_center",), False, CODE_MAX),
        ColumnSpec("rut_jefatura", ("manager_rut",), False),
    ),
)

PERSONAS_SHEET = SheetSpec(
    PERSONAS,
    ("people", "colaboradores", "employees"),
    (
        ColumnSpec("rut", ("national_id",), True),
        ColumnSpec("nombres", ("first_names",), True, TEXT_MAX),
        ColumnSpec("apellidos", ("last_names",), True, TEXT_MAX),
        ColumnSpec("email", ("correo", "correo_electronico"), True, EMAIL_MAX),
        ColumnSpec("codigo_unidad", ("unit_code",), True, CODE_MAX),
        ColumnSpec("cargo", ("position",), False, TEXT_MAX),
        ColumnSpec("rut_jefatura", ("manager_rut",), False),
        ColumnSpec("fecha_ingreso", ("hire_date",), False),
        ColumnSpec("perfil", ("profile",), False),
    ),
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
