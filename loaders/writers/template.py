"""The blank upload workbook of ``orgload template`` (SPEC §6).

Both sheets with their headers (which the reader matches to the canonical columns), an
instructions sheet (ignored by the reader, as any other sheet), dropdowns for the profile and
for unit codes, a date check on the hire date, and text format on codes and RUTs so that Excel
does not turn ``0101`` into ``101``. The dropdowns only warn: the validation of the upload is
what decides, with its report. Every text is written inert (``loaders.writers.inert``): an
example or a header is never a formula.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from loaders.writers.inert import set_text
from orgload.columns import PERSONAS, PROFILES, SHEETS, UNIDADES
from schemas.messages import Lang

LAST_ROW = 1_048_576  # Excel's last row: validations and formats cover the whole column
LANGS: tuple[Lang, ...] = ("es", "en")
HELP_TITLES = {"es": "Instrucciones", "en": "Instructions"}
# The sheet titles and headers come from the column specs (orgload/columns.py), the same names
# the validation messages show.
SHEET_TITLES = {
    lang: {**{name: sheet.title(lang) for name, sheet in SHEETS.items()}, "help": HELP_TITLES[lang]}
    for lang in LANGS
}
HEADERS = {
    lang: {
        (name, column.name): column.title(lang)
        for name, sheet in SHEETS.items()
        for column in sheet.columns
    }
    for lang in LANGS
}
# What each column holds, for the instructions sheet: (es, en, example)
RULES: dict[tuple[str, str], tuple[str, str, str]] = {
    (UNIDADES, "codigo_unidad"): (
        "Código único de la unidad: 1 a 40 letras, dígitos, punto, guion o guion bajo.",
        "Unique code of the unit: 1 to 40 letters, digits, dot, hyphen or underscore.",
        "GER-01",
    ),
    (UNIDADES, "nombre_unidad"): (
        "Nombre de la unidad (hasta 200 caracteres).",
        "Name of the unit (up to 200 characters).",
        "Gerencia General",
    ),
    (UNIDADES, "codigo_unidad_padre"): (
        "Código de la unidad de la que depende; en blanco para la unidad raíz. Sin ciclos.",
        "Code of the unit it reports to; blank for the root unit. No cycles.",
        "",
    ),
    (UNIDADES, "centro_costo"): (
        "Centro de costo (opcional, hasta 40 caracteres).",
        "Cost center (optional, up to 40 characters).",
        "CC-100",
    ),
    (UNIDADES, "rut_jefatura"): (
        "RUT de la jefatura de la unidad; debe estar en la hoja de personas.",
        "RUT of the unit's manager; must be in the people sheet.",
        "12.345.678-5",
    ),
    (PERSONAS, "rut"): (
        "RUT con dígito verificador (con o sin puntos); único.",
        "Chilean RUT with its check digit (dots optional); unique.",
        "12.345.678-5",
    ),
    (PERSONAS, "nombres"): ("Nombres.", "First names.", "Ana María"),
    (PERSONAS, "apellidos"): ("Apellidos.", "Last names.", "Pérez Soto"),
    (PERSONAS, "email"): (
        "Correo electrónico; único (sin distinguir mayúsculas).",
        "E-mail address; unique (case-insensitive).",
        "ana.perez@empresa.cl",
    ),
    (PERSONAS, "codigo_unidad"): (
        "Código de su unidad; debe estar en la hoja de unidades.",
        "Code of the person's unit; must be in the units sheet.",
        "GER-01",
    ),
    (PERSONAS, "cargo"): ("Cargo (opcional).", "Position (optional).", "Analista"),
    (PERSONAS, "rut_jefatura"): (
        "RUT de su jefatura (opcional); una persona de la hoja, no ella misma, sin ciclos.",
        "RUT of the person's manager (optional): someone in the sheet, not themself, no cycles.",
        "",
    ),
    (PERSONAS, "fecha_ingreso"): (
        "Fecha de ingreso (opcional): fecha de Excel, aaaa-mm-dd o dd-mm-aaaa.",
        "Hire date (optional): an Excel date, yyyy-mm-dd or dd-mm-yyyy.",
        "2024-03-01",
    ),
    (PERSONAS, "perfil"): (
        "colaborador (si se deja en blanco), jefatura o administrador.",
        "employee (when blank), manager or admin.",
        "colaborador",
    ),
}
PROFILE_CHOICES = {"es": PROFILES, "en": ("employee", "manager", "admin")}
TEXT_COLUMNS = {"codigo_unidad", "codigo_unidad_padre", "centro_costo", "rut", "rut_jefatura"}
INTRO = {
    "es": (
        "Complete las hojas Unidades y Personas: una fila por unidad y por persona, desde la "
        "fila 2. El archivo es su organización completa: quien no esté en él quedará inactivo. "
        "Puede agregar columnas propias (se ignoran) y borrar esta hoja. Se permite una carga "
        "por mes."
    ),
    "en": (
        "Fill in the Units and People sheets: one row per unit and per person, from row 2. "
        "The file is your whole organization: anyone not in it becomes inactive. Extra columns "
        "of your own are ignored, and this sheet may be deleted. One load per month is allowed."
    ),
}
HELP_HEADER = {
    "es": ("Hoja", "Columna", "Obligatoria", "Qué contiene", "Ejemplo"),
    "en": ("Sheet", "Column", "Required", "What it holds", "Example"),
}
YES_NO = {"es": ("Sí", "No"), "en": ("Yes", "No")}
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")


def write_template(path: Path, lang: Lang = "es") -> Path:
    """Write the blank upload workbook in ``lang`` to ``path``."""
    workbook = Workbook()
    help_sheet = workbook.worksheets[0]
    titles = SHEET_TITLES[lang]
    help_sheet.title = titles["help"]
    _write_help(help_sheet, lang)
    for name in (UNIDADES, PERSONAS):
        sheet = workbook.create_sheet(titles[name])
        _write_sheet(sheet, name, lang)
    units = f"'{titles[UNIDADES]}'!$A$2:$A${LAST_ROW}"
    _dropdown(workbook[titles[UNIDADES]], UNIDADES, "codigo_unidad_padre", units)
    _dropdown(workbook[titles[PERSONAS]], PERSONAS, "codigo_unidad", units)
    choices = ",".join(PROFILE_CHOICES[lang])
    _dropdown(workbook[titles[PERSONAS]], PERSONAS, "perfil", f'"{choices}"')
    _date_check(workbook[titles[PERSONAS]], lang)
    workbook.active = 1  # open on the units sheet
    workbook.save(path)
    return path


def _letter(sheet_name: str, column: str) -> str:
    return get_column_letter(SHEETS[sheet_name].column_names.index(column) + 1)


def _write_sheet(sheet: Worksheet, name: str, lang: Lang) -> None:
    for position, column in enumerate(SHEETS[name].column_names, start=1):
        cell = set_text(sheet.cell(row=1, column=position), HEADERS[lang][(name, column)])
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = max(16, len(str(cell.value)) + 4)
        if column in TEXT_COLUMNS:
            sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"


def _write_help(sheet: Worksheet, lang: Lang) -> None:
    set_text(sheet["A1"], INTRO[lang])
    sheet["A1"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells("A1:E1")
    sheet.row_dimensions[1].height = 60
    for position, title in enumerate(HELP_HEADER[lang], start=1):
        cell = set_text(sheet.cell(row=3, column=position), title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    yes, no = YES_NO[lang]
    row = 4
    for name in (UNIDADES, PERSONAS):
        for spec in SHEETS[name].columns:
            es, en, example = RULES[(name, spec.name)]
            values = (
                SHEET_TITLES[lang][name],
                HEADERS[lang][(name, spec.name)],
                yes if spec.required else no,
                es if lang == "es" else en,
                example,
            )
            for position, value in enumerate(values, start=1):
                set_text(sheet.cell(row=row, column=position), value)
            row += 1
    for letter, width in zip("ABCDE", (12, 22, 12, 80, 22), strict=True):
        sheet.column_dimensions[letter].width = width


def _dropdown(sheet: Worksheet, name: str, column: str, formula: str) -> None:
    """A list to pick from that only warns when something else is typed or pasted."""
    validation = DataValidation(
        type="list", formula1=formula, allow_blank=True, errorStyle="warning"
    )
    validation.showErrorMessage = True
    letter = _letter(name, column)
    validation.add(f"{letter}2:{letter}{LAST_ROW}")
    sheet.add_data_validation(validation)


def _date_check(sheet: Worksheet, lang: Lang) -> None:
    validation = DataValidation(
        type="date",
        operator="between",
        formula1="DATE(1900,1,1)",
        formula2="DATE(2100,12,31)",
        allow_blank=True,
        errorStyle="warning",
    )
    validation.showErrorMessage = True
    validation.error = "Use una fecha (aaaa-mm-dd)." if lang == "es" else "Use a date (yyyy-mm-dd)."
    letter = _letter(PERSONAS, "fecha_ingreso")
    validation.add(f"{letter}2:{letter}{LAST_ROW}")
    sheet.add_data_validation(validation)
