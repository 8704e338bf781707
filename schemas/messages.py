"""Report codes (SPEC §2) and their messages in Spanish (default) and English.

A message key is the code, or ``code/variant`` where one code has several situations.
Messages are written for the client admin: what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orgload.settings import Lang

WARNING_CODES = frozenset({"unknown_column"})

CODES = (
    "unreadable_file",
    "file_too_large",
    "missing_sheet",
    "missing_column",
    "unknown_column",
    "required",
    "invalid_rut",
    "invalid_email",
    "invalid_date",
    "date_out_of_range",
    "invalid_choice",
    "too_long",
    "invalid_code",
    "duplicate",
    "unknown_reference",
    "self_reference",
    "cycle",
    "mass_change",
)

MESSAGES: dict[str, dict[Lang, str]] = {
    "unreadable_file/empty": {
        "es": "El archivo {file} está vacío.",
        "en": "File {file} is empty.",
    },
    "unreadable_file/pdf": {
        "es": "{file} es un PDF, no una planilla. Suba el .xlsx, o unidades.csv y personas.csv.",
        "en": "{file} is a PDF, not a spreadsheet. Upload the .xlsx, or unidades.csv and personas.csv.",
    },
    "unreadable_file/xls": {
        "es": "{file} está en el formato antiguo .xls o protegido con contraseña. Ábralo en Excel y "
        "guárdelo como .xlsx sin contraseña.",
        "en": "{file} is in the old .xls format or password-protected. Open it in Excel and save it "
        "as .xlsx without a password.",
    },
    "unreadable_file/type": {
        "es": "{file} no es una planilla .xlsx ni un CSV. Suba un .xlsx, o unidades.csv y "
        "personas.csv (sueltos o dentro de un .zip).",
        "en": "{file} is neither an .xlsx workbook nor a CSV. Upload an .xlsx, or unidades.csv and "
        "personas.csv (loose or inside one .zip).",
    },
    "unreadable_file/corrupt": {
        "es": "{file} está dañado o no es un .xlsx válido ({detail}). Vuelva a guardarlo desde Excel.",
        "en": "{file} is damaged or not a valid .xlsx ({detail}). Save it again from Excel.",
    },
    "unreadable_file/binary": {
        "es": "{file} no es un CSV de texto (contiene datos binarios). Expórtelo desde Excel como "
        "«CSV (delimitado por comas)» o suba el .xlsx.",
        "en": "{file} is not a text CSV (it holds binary data). Export it from Excel as "
        "'CSV (comma delimited)' or upload the .xlsx.",
    },
    "unreadable_file/csv": {
        "es": "{file} no se pudo interpretar como CSV ({detail}).",
        "en": "{file} could not be parsed as CSV ({detail}).",
    },
    "unreadable_file/zip_empty": {
        "es": "El .zip {file} no contiene unidades.csv ni personas.csv.",
        "en": "The .zip {file} holds neither unidades.csv nor personas.csv.",
    },
    "unreadable_file/not_found": {
        "es": "No se encontró el archivo {file}.",
        "en": "File {file} was not found.",
    },
    "unreadable_file/twice": {
        "es": "La hoja {sheet} viene más de una vez (en {file}); envíe cada hoja una sola vez.",
        "en": "Sheet {sheet} was given more than once (in {file}); send each sheet once.",
    },
    "file_too_large/size": {
        "es": "{file} pesa {size_mb} MB; el máximo permitido es {max_mb} MB.",
        "en": "{file} is {size_mb} MB; the maximum allowed is {max_mb} MB.",
    },
    "file_too_large/ratio": {
        "es": "{file} se descomprime a {uncompressed_mb} MB ({ratio}× su tamaño, máximo {max_ratio:g}×); "
        "se rechaza por seguridad. Guárdelo de nuevo desde Excel.",
        "en": "{file} expands to {uncompressed_mb} MB ({ratio}× its size, maximum {max_ratio:g}×); "
        "refused for safety. Save it again from Excel.",
    },
    "file_too_large/uncompressed": {
        "es": "{file} descomprimido ocupa {uncompressed_mb} MB; el máximo es {max_mb} MB.",
        "en": "{file} uncompressed takes {uncompressed_mb} MB; the maximum is {max_mb} MB.",
    },
    "file_too_large/rows": {
        "es": "La hoja {sheet} tiene {rows} filas; el máximo es {max_rows}.",
        "en": "Sheet {sheet} has {rows} rows; the maximum is {max_rows}.",
    },
    "missing_sheet": {
        "es": "Falta la hoja «{sheet}». Hojas encontradas: {found}.",
        "en": "Sheet '{sheet}' is missing. Sheets found: {found}.",
    },
    "missing_column": {
        "es": "Falta la columna obligatoria «{column}» en la hoja {sheet}.",
        "en": "Required column '{column}' is missing from sheet {sheet}.",
    },
    "unknown_column": {
        "es": "La columna «{header}» de la hoja {sheet} no se reconoce; se ignorará.",
        "en": "Column '{header}' of sheet {sheet} is not recognised; it will be ignored.",
    },
    "duplicate/header": {
        "es": "La columna «{column}» aparece dos veces en la hoja {sheet}; deje solo una.",
        "en": "Column '{column}' appears twice in sheet {sheet}; keep only one.",
    },
    "required": {
        "es": "Falta el valor obligatorio de «{header}».",
        "en": "Required value of '{header}' is missing.",
    },
    "invalid_rut": {
        "es": "«{value}» no es un RUT válido (revise el número y el dígito verificador).",
        "en": "'{value}' is not a valid RUT (check the number and its check digit).",
    },
    "invalid_email": {
        "es": "«{value}» no es un correo electrónico válido.",
        "en": "'{value}' is not a valid email address.",
    },
    "invalid_date": {
        "es": "«{value}» no es una fecha válida; use una fecha de Excel, aaaa-mm-dd o dd-mm-aaaa.",
        "en": "'{value}' is not a valid date; use an Excel date, yyyy-mm-dd or dd-mm-yyyy.",
    },
    "date_out_of_range": {
        "es": "La fecha {value} está fuera del rango permitido ({min_date} a {max_date}).",
        "en": "Date {value} is outside the allowed range ({min_date} to {max_date}).",
    },
    "invalid_choice": {
        "es": "«{value}» no es un valor permitido de «{header}»; use uno de: {choices}.",
        "en": "'{value}' is not an allowed value of '{header}'; use one of: {choices}.",
    },
    "too_long": {
        "es": "El valor tiene {length} caracteres; el máximo de «{header}» es {max_length}.",
        "en": "The value has {length} characters; the maximum for '{header}' is {max_length}.",
    },
    "invalid_code": {
        "es": "«{value}» no es un código válido: use de 1 a 40 letras, dígitos, punto, guion o "
        "guion bajo, sin espacios.",
        "en": "'{value}' is not a valid code: use 1 to 40 letters, digits, dot, hyphen or "
        "underscore, without spaces.",
    },
    "duplicate": {
        "es": "«{value}» está repetido; aparece primero en la fila {first_row}.",
        "en": "'{value}' is repeated; it first appears in row {first_row}.",
    },
    "unknown_reference/unit": {
        "es": "La unidad «{value}» no existe en la hoja unidades.",
        "en": "Unit '{value}' does not exist in sheet unidades.",
    },
    "unknown_reference/person": {
        "es": "No hay una persona con RUT {value} en la hoja personas.",
        "en": "There is no person with RUT {value} in sheet personas.",
    },
    "self_reference/unit": {
        "es": "La unidad «{value}» no puede ser su propia unidad padre.",
        "en": "Unit '{value}' cannot be its own parent unit.",
    },
    "self_reference/person": {
        "es": "La persona no puede ser su propia jefatura ({value}).",
        "en": "A person cannot be their own manager ({value}).",
    },
    "cycle/unit": {
        "es": "Las unidades padre forman un ciclo: {path}. Una de ellas debe colgar de otra rama.",
        "en": "The parent units form a cycle: {path}. One of them must hang from another branch.",
    },
    "cycle/person": {
        "es": "La cadena de jefaturas forma un ciclo: {path}.",
        "en": "The chain of managers forms a cycle: {path}.",
    },
    "mass_change": {
        "es": "La carga desactivaría {count} de {active} {entity} activas (máximo {limit}). "
        "Revise que el archivo esté completo; soporte puede autorizarla.",
        "en": "The load would deactivate {count} of {active} active {entity} (maximum {limit}). "
        "Check the file is complete; support can authorise it.",
    },
}


def render(key: str, lang: Lang, params: Mapping[str, Any]) -> str:
    """The message of ``key`` in ``lang`` with ``params`` filled in."""
    return MESSAGES[key][lang].format_map(params)
