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
    "invalid_character",
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
        "es": "Falta la columna obligatoria «{title}» en la hoja {sheet}.",
        "en": "Required column '{title}' is missing from sheet {sheet}.",
    },
    "missing_column/no_header": {
        "es": "Falta la columna obligatoria «{title}» en la hoja {sheet}: no hay fila de "
        "encabezados en las primeras {rows} filas (póngala en la fila 1, como en la plantilla).",
        "en": "Required column '{title}' is missing from sheet {sheet}: no header row in the "
        "first {rows} rows (put it in row 1, as in the template).",
    },
    "unknown_column": {
        "es": "«{header}»: columna desconocida en la hoja {sheet}; se ignorará.",
        "en": "'{header}': unknown column in sheet {sheet}; it will be ignored.",
    },
    "unknown_column/suggest": {
        "es": "«{header}»: columna desconocida en la hoja {sheet}; ¿quiso decir «{suggested}»? "
        "Mientras no se corrija, se ignorará.",
        "en": "'{header}': unknown column in sheet {sheet}; did you mean '{suggested}'? "
        "Until it is corrected, it will be ignored.",
    },
    "duplicate/header": {
        "es": "La columna «{title}» aparece dos veces en la hoja {sheet} (otra vez como "
        "«{header}»); deje solo una.",
        "en": "Column '{title}' appears twice in sheet {sheet} (again as '{header}'); keep only "
        "one.",
    },
    "required": {
        "es": "Falta el valor obligatorio de «{header}».",
        "en": "Required value of '{header}' is missing.",
    },
    "invalid_rut": {
        "es": "«{value}» no es un RUT válido (revise el número y el dígito verificador).",
        "en": "'{value}' is not a valid RUT (check the number and its check digit).",
    },
    "invalid_rut/scientific": {
        "es": "«{value}»: Excel convirtió el RUT en un número en notación científica y perdió "
        "dígitos. Dé formato de texto a la columna y escriba el RUT con guion (12.345.678-5).",
        "en": "'{value}': Excel turned the RUT into a number in scientific notation, losing "
        "digits. Format the column as text and type the RUT with its hyphen (12.345.678-5).",
    },
    "invalid_rut/number": {
        "es": "«{value}» no es un RUT válido. Si Excel lo guardó como número, pudo perder el guion "
        "y el dígito verificador: dé formato de texto a la columna.",
        "en": "'{value}' is not a valid RUT. If Excel stored it as a number, it may have lost the "
        "hyphen and check digit: format the column as text.",
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
    "invalid_character": {
        "es": "El valor contiene el carácter de control invisible {char}, que no se puede "
        "guardar; bórrelo (suele venir de copiar y pegar desde otro sistema).",
        "en": "The value holds the invisible control character {char}, which cannot be stored; "
        "delete it (it usually comes from copying and pasting from another system).",
    },
    "invalid_character/line_break": {
        "es": "El valor tiene un salto de línea dentro de la celda ({char}); escríbalo en una "
        "sola línea.",
        "en": "The value has a line break inside the cell ({char}); write it on one line.",
    },
    "invalid_character/tab": {
        "es": "El valor tiene una tabulación dentro de la celda ({char}); cámbiela por un espacio.",
        "en": "The value has a tab inside the cell ({char}); replace it with a space.",
    },
    "duplicate": {
        "es": "«{value}» está repetido; aparece primero en la fila {first_row}.",
        "en": "'{value}' is repeated; it first appears in row {first_row}.",
    },
    "unknown_reference/unit": {
        "es": "La unidad «{value}» no existe en la hoja Unidades.",
        "en": "Unit '{value}' does not exist in sheet Units.",
    },
    "unknown_reference/unit_zeros": {
        "es": "La unidad «{value}» no existe en la hoja Unidades, pero sí «{match}»: Excel quitó "
        "los ceros a la izquierda. Dé formato de texto a la columna.",
        "en": "Unit '{value}' does not exist in sheet Units, but '{match}' does: Excel dropped "
        "the leading zeros. Format the column as text.",
    },
    "unknown_reference/person": {
        "es": "No hay una persona con RUT {value} en la hoja Personas.",
        "en": "There is no person with RUT {value} in sheet People.",
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
    "mass_change/reidentified": {
        "es": "La carga cambiaría el nombre o el correo de {count} de {active} {entity} activas "
        "(máximo {limit}). ¿Es el archivo de otra organización? Revise que sea el de esta "
        "empresa; soporte puede autorizarla.",
        "en": "The load would change the name or e-mail of {count} of {active} active {entity} "
        "(maximum {limit}). Is this another organization's file? Check it is this company's; "
        "support can authorise it.",
    },
    "mass_change/blanked": {
        "es": "La carga dejaría en blanco «{header}» en {count} de {active} {entity} activas "
        "(máximo {limit}). Si esas celdas quedaron vacías por error, complételas; para no tocar "
        "la columna, quítela del archivo. Soporte puede autorizarla.",
        "en": "The load would blank '{header}' for {count} of {active} active {entity} "
        "(maximum {limit}). If those cells were emptied by mistake, fill them in; to leave the "
        "column untouched, remove it from the file. Support can authorise it.",
    },
}

# An Excel error value (#N/A, #REF!, …) where a value should be: reported under the code of the
# column's first value rule (``required`` where the column has none), with this message.
EXCEL_ERROR_CODES = (
    "required",
    "invalid_rut",
    "invalid_email",
    "invalid_date",
    "invalid_choice",
    "invalid_code",
)
MESSAGES.update(
    {
        f"{code}/excel_error": {
            "es": "La celda muestra el error de Excel {value} en lugar de un valor (una fórmula "
            "que falló, p. ej. un BUSCARV sin resultado). Escriba el valor o pegue solo valores.",
            "en": "The cell shows the Excel error {value} instead of a value (a formula that "
            "failed, e.g. a VLOOKUP without a match). Type the value or paste values only.",
        }
        for code in EXCEL_ERROR_CODES
    }
)

# Bad input at the boundary (issue 11): what a file is when it is not an upload, files that are
# not regular files, damaged text, and the size limits a file or a sheet ran into.
MESSAGES.update(
    {
        "unreadable_file/directory": {
            "es": "{file} es una carpeta, no un archivo. Indique el .xlsx o los CSV que contiene.",
            "en": "{file} is a folder, not a file. Give the .xlsx or the CSV files inside it.",
        },
        "unreadable_file/special": {
            "es": "{file} no es un archivo común (es un dispositivo, una tubería o un socket); "
            "no se leyó. Suba el .xlsx o los CSV.",
            "en": "{file} is not a regular file (it is a device, a pipe or a socket); it was not "
            "read. Upload the .xlsx or the CSV files.",
        },
        "unreadable_file/symlink": {
            "es": "{file} es un enlace simbólico; por seguridad no se sigue ni se lee. Copie el "
            "archivo mismo en la carpeta.",
            "en": "{file} is a symbolic link; for safety it is neither followed nor read. Copy "
            "the file itself into the folder.",
        },
        "unreadable_file/unopened": {
            "es": "No se pudo abrir {file} ({detail}).",
            "en": "{file} could not be opened ({detail}).",
        },
        "unreadable_file/encrypted": {
            "es": "{file} está protegido con contraseña. Ábralo en Excel, quite la contraseña "
            "(Archivo › Información › Proteger libro) y guárdelo como .xlsx.",
            "en": "{file} is password-protected. Open it in Excel, remove the password "
            "(File › Info › Protect Workbook) and save it as .xlsx.",
        },
        "unreadable_file/old_xls": {
            "es": "{file} es un libro de Excel 97-2003 (.xls). Ábralo en Excel y guárdelo como "
            "«Libro de Excel (.xlsx)».",
            "en": "{file} is an Excel 97-2003 workbook (.xls). Open it in Excel and save it as "
            "'Excel Workbook (.xlsx)'.",
        },
        "unreadable_file/doc": {
            "es": "{file} es un documento de Word (.doc), no una planilla. Suba el .xlsx, o "
            "unidades.csv y personas.csv.",
            "en": "{file} is a Word document (.doc), not a spreadsheet. Upload the .xlsx, or "
            "unidades.csv and personas.csv.",
        },
        "unreadable_file/docx": {
            "es": "{file} es un documento de Word (.docx), no una planilla. Suba el .xlsx, o "
            "unidades.csv y personas.csv.",
            "en": "{file} is a Word document (.docx), not a spreadsheet. Upload the .xlsx, or "
            "unidades.csv and personas.csv.",
        },
        "unreadable_file/pptx": {
            "es": "{file} es una presentación de PowerPoint (.pptx), no una planilla. Suba el "
            ".xlsx, o unidades.csv y personas.csv.",
            "en": "{file} is a PowerPoint presentation (.pptx), not a spreadsheet. Upload the "
            ".xlsx, or unidades.csv and personas.csv.",
        },
        "unreadable_file/xlsb": {
            "es": "{file} es un libro binario de Excel (.xlsb). Ábralo en Excel y guárdelo como "
            "«Libro de Excel (.xlsx)».",
            "en": "{file} is an Excel binary workbook (.xlsb). Open it in Excel and save it as "
            "'Excel Workbook (.xlsx)'.",
        },
        "unreadable_file/ods": {
            "es": "{file} es una planilla OpenDocument (.ods, de LibreOffice u OpenOffice). "
            "Guárdela como «Libro de Excel 2007-365 (.xlsx)».",
            "en": "{file} is an OpenDocument spreadsheet (.ods, from LibreOffice or OpenOffice). "
            "Save it as 'Excel 2007-365 (.xlsx)'.",
        },
        "unreadable_file/odf": {
            "es": "{file} es un documento OpenDocument que no es una planilla. Suba el .xlsx, o "
            "unidades.csv y personas.csv.",
            "en": "{file} is an OpenDocument file that is not a spreadsheet. Upload the .xlsx, "
            "or unidades.csv and personas.csv.",
        },
        "unreadable_file/numbers": {
            "es": "{file} es un archivo de Apple Numbers (o de otra app de iWork). En Numbers "
            "use Archivo › Exportar a › Excel y suba el .xlsx.",
            "en": "{file} is an Apple Numbers file (or another iWork app's). In Numbers use "
            "File › Export To › Excel and upload the .xlsx.",
        },
        "unreadable_file/html": {
            "es": "{file} es una página web (HTML), aunque su nombre diga otra cosa. Ábrala en "
            "Excel y guárdela como «Libro de Excel (.xlsx)».",
            "en": "{file} is a web page (HTML), whatever its name says. Open it in Excel and "
            "save it as 'Excel Workbook (.xlsx)'.",
        },
        "unreadable_file/xml2003": {
            "es": "{file} es una hoja de cálculo XML de Excel 2003. Ábrala en Excel y guárdela "
            "como «Libro de Excel (.xlsx)».",
            "en": "{file} is an Excel 2003 XML spreadsheet. Open it in Excel and save it as "
            "'Excel Workbook (.xlsx)'.",
        },
        "unreadable_file/utf8": {
            "es": "{file} está en UTF-8 pero tiene un byte inválido ({byte}) en la línea {line} "
            "(byte {offset}); leerlo de otro modo cambiaría las tildes. Guárdelo de nuevo como "
            "«CSV UTF-8» o suba el .xlsx.",
            "en": "{file} is UTF-8 but holds an invalid byte ({byte}) on line {line} (byte "
            "{offset}); reading it otherwise would garble accents. Save it again as 'CSV UTF-8' "
            "or upload the .xlsx.",
        },
        "file_too_large/range": {
            "es": "La hoja «{sheet_name}» de {file} tiene datos en la celda {cell}, más allá "
            "de la columna {max_column} ({max_columns} columnas) o de {max_rows} filas de "
            "datos. Borre lo que haya fuera de la tabla (Ctrl+Fin lleva a la última celda "
            "usada) y guarde de nuevo.",
            "en": "Sheet '{sheet_name}' of {file} has data in cell {cell}, beyond column "
            "{max_column} ({max_columns} columns) or {max_rows} data rows. Delete whatever "
            "lies outside the table (Ctrl+End goes to the last used cell) and save again.",
        },
        "file_too_large/declared_rows": {
            "es": "La hoja «{sheet_name}» de {file} declara {rows} filas de datos; el máximo "
            "es {max_rows}. Si tiene menos, borre lo que haya bajo la tabla (Ctrl+Fin lleva "
            "a la última celda usada) y guarde de nuevo.",
            "en": "Sheet '{sheet_name}' of {file} declares {rows} data rows; the maximum is "
            "{max_rows}. If it has fewer, delete whatever lies below the table (Ctrl+End goes "
            "to the last used cell) and save again.",
        },
        "file_too_large/cell": {
            "es": "La celda de «{header}» en la fila {row} de la hoja «{sheet_name}» tiene "
            "{length} caracteres; una celda admite como máximo {max_chars} (el límite de Excel).",
            "en": "The cell of '{header}' in row {row} of sheet '{sheet_name}' holds {length} "
            "characters; a cell holds at most {max_chars} (Excel's limit).",
        },
        "file_too_large/csv_cell": {
            "es": "{file} tiene en la línea {line} un valor de más de {max_chars} caracteres "
            "(el límite de una celda de Excel); revise que las comillas estén cerradas.",
            "en": "{file} holds on line {line} a value of more than {max_chars} characters "
            "(the limit of an Excel cell); check that its quotes are closed.",
        },
        "file_too_large/columns": {
            "es": "{file} tiene {columns} columnas en la fila {row}; el máximo es {max_columns}.",
            "en": "{file} has {columns} columns in row {row}; the maximum is {max_columns}.",
        },
        "file_too_large/members": {
            "es": "{file} contiene {members} archivos comprimidos; el máximo es {max}. Suba el "
            ".xlsx, o unidades.csv y personas.csv.",
            "en": "{file} holds {members} compressed files; the maximum is {max}. Upload the "
            ".xlsx, or unidades.csv and personas.csv.",
        },
        "file_too_large/inflated": {
            "es": "{file} se descomprime a más de {max_mb} MB (más de lo que declara); se "
            "rechaza por seguridad. Guárdelo de nuevo desde Excel.",
            "en": "{file} expands to more than {max_mb} MB (more than it declares); refused "
            "for safety. Save it again from Excel.",
        },
    }
)


def render(key: str, lang: Lang, params: Mapping[str, Any]) -> str:
    """The message of ``key`` in ``lang`` with ``params`` filled in."""
    return MESSAGES[key][lang].format_map(params)
