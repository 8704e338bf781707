"""Generate the sample upload files under sample_data/ (deterministic: same seed, same content).

Run ``python sample_data/generate.py`` to rewrite every file. The functions are reusable: the
benchmark imports ``build_org`` and ``write_xlsx`` to build large workbooks.

Rows are dicts keyed by the canonical column names of SPEC §1 holding *normalized* values
(RUT ``12345678-5``, lowercase email, ``datetime.date``, canonical perfil). The writers add the
messiness of a real Spanish-locale export on the way out, so the normalized content of a file is
exactly the rows it was written from.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from stdnum.cl import rut as stdnum_rut

Row = dict[str, Any]
RenderedRow = list[Any] | None  # None is a fully blank row

SAMPLE_DIR = Path(__file__).resolve().parent
EMAIL_DOMAIN = "empresa.cl"
NOVEMBER_SEED = 202611
DECEMBER_SEED = 202612
INVALID_SEED = 4242
FROZEN_TIMESTAMP = dt.datetime(2026, 11, 1, 9, 0, 0)

UNIDADES_COLUMNS = (
    "codigo_unidad",
    "nombre_unidad",
    "codigo_unidad_padre",
    "centro_costo",
    "rut_jefatura",
)
PERSONAS_COLUMNS = (
    "rut",
    "nombres",
    "apellidos",
    "email",
    "codigo_unidad",
    "cargo",
    "rut_jefatura",
    "fecha_ingreso",
    "perfil",
)
SPANISH_HEADERS = {
    "unidades": {
        "codigo_unidad": "Código Unidad",
        "nombre_unidad": "Nombre Unidad",
        "codigo_unidad_padre": "Código Unidad Padre",
        "centro_costo": "Centro Costo",
        "rut_jefatura": "RUT Jefatura",
    },
    "personas": {
        "rut": "RUT",
        "nombres": "Nombres",
        "apellidos": "Apellidos",
        "email": "Correo Electrónico",
        "codigo_unidad": "Código Unidad",
        "cargo": "Cargo",
        "rut_jefatura": "RUT Jefatura",
        "fecha_ingreso": "Fecha Ingreso",
        "perfil": "Perfil",
    },
}
SHEET_TITLES = {"unidades": "Unidades", "personas": "Personas"}

# (code prefix, separator used in child codes, area name, department names)
AREAS = (
    (
        "ADM",
        "-",
        "Gerencia de Administración y Finanzas",
        ("Contabilidad", "Tesorería", "Control de Gestión", "Compras y Abastecimiento", "Cobranza"),
    ),
    (
        "OPS",
        ".",
        "Gerencia de Operaciones",
        ("Logística", "Bodega Central", "Transporte", "Planificación", "Mantención"),
    ),
    (
        "COM",
        "-",
        "Gerencia Comercial",
        ("Ventas Zona Norte", "Ventas Zona Centro", "Ventas Zona Sur", "Servicio al Cliente"),
    ),
    (
        "PER",
        ".",
        "Gerencia de Personas",
        ("Remuneraciones", "Selección y Desarrollo", "Relaciones Laborales", "Bienestar"),
    ),
    (
        "TI",
        "-",
        "Gerencia de Tecnología",
        ("Desarrollo de Software", "Infraestructura", "Soporte Usuarios", "Ciberseguridad"),
    ),
    ("LEG", "-", "Fiscalía", ("Asuntos Legales", "Cumplimiento")),
    ("MKT", ".", "Gerencia de Marketing", ("Marca", "Estudios de Mercado")),
    ("CAL", "-", "Gerencia de Calidad", ("Aseguramiento de Calidad", "Laboratorio")),
)
SUBUNIT_KINDS = ("Sucursal", "Equipo", "Sección", "Turno")
CITIES = (
    "Arica",
    "Iquique",
    "Antofagasta",
    "Calama",
    "Copiapó",
    "La Serena",
    "Valparaíso",
    "Viña del Mar",
    "Rancagua",
    "Talca",
    "Chillán",
    "Concepción",
    "Temuco",
    "Valdivia",
    "Osorno",
    "Puerto Montt",
    "Coyhaique",
    "Punta Arenas",
    "Santiago Centro",
    "Maipú",
)
MALE_NAMES = (
    "Agustín", "Alejandro", "Álvaro", "Andrés", "Benjamín", "Carlos", "Cristián", "Diego",
    "Eduardo", "Felipe", "Francisco", "Gonzalo", "Ignacio", "Javier", "Joaquín", "Jorge",
    "José", "Juan", "Luis", "Manuel", "Matías", "Nicolás", "Pablo", "Patricio", "Rodrigo",
    "Sebastián", "Tomás", "Vicente",
)  # fmt: skip
FEMALE_NAMES = (
    "Alejandra", "Antonia", "Camila", "Carolina", "Catalina", "Constanza", "Daniela", "Fernanda",
    "Francisca", "Gabriela", "Isidora", "Javiera", "Josefa", "Macarena", "María", "Marcela",
    "Paula", "Pía", "Sofía", "Trinidad", "Valentina", "Verónica", "Ximena", "Ñusta",
)  # fmt: skip
SURNAMES = (
    "González", "Muñoz", "Rojas", "Díaz", "Pérez", "Soto", "Contreras", "Silva", "Martínez",
    "Sepúlveda", "Morales", "Rodríguez", "López", "Fuentes", "Hernández", "Torres", "Araya",
    "Flores", "Espinoza", "Valenzuela", "Castillo", "Tapia", "Reyes", "Gutiérrez", "Castro",
    "Pizarro", "Álvarez", "Vásquez", "Sánchez", "Fernández", "Ramírez", "Carrasco", "Gómez",
    "Cortés", "Herrera", "Núñez", "Jara", "Vergara", "Rivera", "Figueroa", "Riquelme", "Bravo",
    "Olivares", "Vera", "Molina", "Sáez", "Ibáñez", "Cáceres", "Orellana", "Zúñiga", "Peña",
)  # fmt: skip
CARGOS = (
    "Analista",
    "Analista Contable",
    "Analista de Datos",
    "Asistente Administrativo",
    "Asistente de Gerencia",
    "Ejecutivo Comercial",
    "Ejecutivo de Cuentas",
    "Ingeniero de Proyectos",
    "Ingeniero de Software",
    "Técnico de Mantención",
    "Operario de Bodega",
    "Conductor",
    "Supervisor de Turno",
    "Coordinador",
    "Especialista",
    "Administrativo",
    "Recepcionista",
    "Vendedor",
    "Cajero",
    "Prevencionista de Riesgos",
)


def make_rut(number: int) -> str:
    """Return the normalized RUT (``12345678-5``) of a RUT number."""
    return f"{number}-{stdnum_rut.calc_check_digit(str(number))}"


def format_rut(rut: str, *, dotted: bool = False, lower_k: bool = False) -> str:
    """Write a normalized RUT the way a person would type it (``12.345.678-5``, ``…-k``)."""
    number, check = rut.split("-")
    if dotted:
        number = f"{int(number):,}".replace(",", ".")
    return f"{number}-{check.lower() if lower_k else check}"


def spoil_check_digit(rut: str) -> str:
    """Return the RUT with a wrong check digit (same number)."""
    number, check = rut.split("-")
    digits = "0123456789K"
    return f"{number}-{digits[(digits.index(check) + 1) % len(digits)]}"


def strip_accents(text: str) -> str:
    """Drop diacritics (``Núñez`` → ``Nunez``) for the local part of an email address."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def draw_rut_numbers(count: int, rng: random.Random, exclude: Iterable[str] = ()) -> list[int]:
    """Draw ``count`` distinct plausible RUT numbers, none of which is in ``exclude``."""
    taken = {int(rut.split("-")[0]) for rut in exclude}
    numbers: list[int] = []
    while len(numbers) < count:
        for number in rng.sample(range(4_000_000, 27_000_000), count - len(numbers)):
            if number not in taken:
                taken.add(number)
                numbers.append(number)
    return numbers


def allocate_email(nombres: str, apellidos: str, taken: set[str]) -> str:
    """Return a free ``nombre.apellido@domain`` address, adding a number when it is taken."""
    first = strip_accents(nombres.split(maxsplit=1)[0]).lower()
    last = strip_accents(apellidos.split(maxsplit=1)[0]).lower()
    base = f"{first}.{last}"
    email = f"{base}@{EMAIL_DOMAIN}"
    suffix = 2
    while email in taken:
        email = f"{base}{suffix}@{EMAIL_DOMAIN}"
        suffix += 1
    taken.add(email)
    return email


def draw_name(rng: random.Random) -> tuple[str, str]:
    """Draw Chilean ``(nombres, apellidos)``: one or two given names, two surnames."""
    names = FEMALE_NAMES if rng.random() < 0.5 else MALE_NAMES
    given = rng.sample(names, 2 if rng.random() < 0.55 else 1)
    return " ".join(given), " ".join(rng.sample(SURNAMES, 2))


def draw_hire_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    """Draw a hire date between ``start`` and ``end`` (inclusive)."""
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def build_units(n_units: int) -> tuple[list[Row], dict[str, str]]:
    """Build a balanced unit tree and the cargo of each unit's manager, keyed by unit code.

    Level 0 is ``GG`` (Gerencia General), level 1 the areas, level 2 their departments
    (``ADM-01``, ``OPS.02``), deeper levels branches such as ``ADM-01-03`` when many are asked.
    """
    units: list[Row] = [
        {"codigo_unidad": "GG", "nombre_unidad": "Gerencia General", "codigo_unidad_padre": None}
    ]
    manager_cargo = {"GG": "Gerente General"}
    n_areas = min(len(AREAS), max(1, (n_units - 1) // 4), n_units - 1)
    separators: dict[str, str] = {}
    for prefix, separator, name, _ in AREAS[:n_areas]:
        units.append({"codigo_unidad": prefix, "nombre_unidad": name, "codigo_unidad_padre": "GG"})
        manager_cargo[prefix] = (
            "Fiscal" if name == "Fiscalía" else name.replace("Gerencia", "Gerente")
        )
        separators[prefix] = separator
    level = [unit["codigo_unidad"] for unit in units[1:]]
    department_names = {prefix: departments for prefix, _, _, departments in AREAS}
    depth = 2
    while len(units) < n_units:
        next_level: list[str] = []
        per_parent = Counter[str]()
        # round-robin over the parents keeps the tree balanced whatever n_units is
        while len(units) < n_units and len(next_level) < 6 * len(level):
            parent = level[len(next_level) % len(level)]
            per_parent[parent] += 1
            index = per_parent[parent]
            if depth == 2:
                code = f"{parent}{separators[parent]}{index:02d}"
                known = department_names[parent]
                name = known[index - 1] if index <= len(known) else f"Departamento {code}"
                cargo = f"Jefe de {name}"
            else:
                code = f"{parent}-{index:02d}"
                kind = SUBUNIT_KINDS[depth % len(SUBUNIT_KINDS)]
                name = f"{kind} {CITIES[(len(units) * 7) % len(CITIES)]}"
                cargo = f"Jefe de {kind}"
            units.append(
                {"codigo_unidad": code, "nombre_unidad": name, "codigo_unidad_padre": parent}
            )
            manager_cargo[code] = cargo
            next_level.append(code)
        level = next_level
        depth += 1
    units = order_units(units)
    for index, unit in enumerate(units):
        # roughly one unit in ten has no cost center: the column is optional
        unit["centro_costo"] = None if index % 10 == 7 else f"CC-{1000 + index}"
        unit["rut_jefatura"] = None
    return units, manager_cargo


def order_units(units: Sequence[Row]) -> list[Row]:
    """Order units as an export sorted by hierarchy does: each unit followed by its subtree."""
    children: dict[str | None, list[Row]] = {}
    for unit in units:
        children.setdefault(unit["codigo_unidad_padre"], []).append(unit)
    ordered: list[Row] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        unit = stack.pop()
        ordered.append(unit)
        stack.extend(reversed(children.get(unit["codigo_unidad"], [])))
    return ordered


def make_person(
    rng: random.Random, rut: str, unit: Row, emails: set[str], hired: tuple[dt.date, dt.date]
) -> Row:
    """Make a colaborador of ``unit`` reporting to the unit's manager."""
    nombres, apellidos = draw_name(rng)
    return {
        "rut": rut,
        "nombres": nombres,
        "apellidos": apellidos,
        "email": allocate_email(nombres, apellidos, emails),
        "codigo_unidad": unit["codigo_unidad"],
        "cargo": rng.choice(CARGOS),
        "rut_jefatura": unit["rut_jefatura"],
        # about 3 % of people have no hire date on record
        "fecha_ingreso": None if rng.random() < 0.03 else draw_hire_date(rng, *hired),
        "perfil": "colaborador",
    }


def build_org(n_people: int, n_units: int, seed: int) -> tuple[list[Row], list[Row]]:
    """Build a valid organization: ``(unidades_rows, personas_rows)`` with normalized values.

    Every unit has a manager (perfil ``jefatura``) who belongs to it; everyone else reports to
    their unit's manager, a unit manager to the parent unit's manager, the root manager to no one.
    """
    if n_units < 1 or n_people < n_units:
        raise ValueError("need at least one unit and at least one person per unit")
    rng = random.Random(seed)
    units, manager_cargo = build_units(n_units)
    ruts = [make_rut(number) for number in draw_rut_numbers(n_people, rng)]
    emails: set[str] = set()
    hired = (dt.date(1992, 3, 1), dt.date(2026, 10, 31))
    by_code = {unit["codigo_unidad"]: unit for unit in units}
    for unit, rut in zip(units, ruts, strict=False):
        unit["rut_jefatura"] = rut
    managers: list[Row] = []
    for unit, rut in zip(units, ruts, strict=False):
        parent = unit["codigo_unidad_padre"]
        manager = make_person(rng, rut, unit, emails, hired)
        manager.update(
            cargo=manager_cargo[unit["codigo_unidad"]],
            rut_jefatura=by_code[parent]["rut_jefatura"] if parent else None,
            perfil="jefatura",
        )
        managers.append(manager)
    parents = {unit["codigo_unidad_padre"] for unit in units}
    # leaves hold most people; management units hold their manager plus a few assistants
    weights = [
        rng.uniform(0.4, 2.0) if unit["codigo_unidad"] not in parents else 0.25 for unit in units
    ]
    members = rng.choices(units, weights=weights, k=n_people - n_units)
    staff = [
        make_person(rng, rut, unit, emails, hired)
        for unit, rut in zip(members, ruts[n_units:], strict=True)
    ]
    for person in rng.sample(staff, min(2, len(staff))):
        person["perfil"] = "administrador"
    return units, sort_personas(units, managers + staff)


def sort_personas(unidades: Sequence[Row], personas: Iterable[Row]) -> list[Row]:
    """Order people as an HR export does: by unit, the unit's manager first, then by surname."""
    position = {unit["codigo_unidad"]: index for index, unit in enumerate(unidades)}
    manager_of = {unit["codigo_unidad"]: unit["rut_jefatura"] for unit in unidades}
    return sorted(
        personas,
        key=lambda p: (
            position.get(p["codigo_unidad"], len(position)),
            p["rut"] != manager_of.get(p["codigo_unidad"]),
            p["apellidos"],
            p["nombres"],
        ),
    )


def pad_text(text: str, rng: random.Random) -> str:
    """Surround or split ``text`` with the stray spaces and NBSPs of hand-edited cells."""
    choice = rng.randrange(4)
    if choice == 0:
        return f" {text}"
    if choice == 1:
        return f"{text}  "
    if choice == 2:
        return f"{text}\u00a0"
    return text.replace(" ", "\u00a0", 1) if " " in text else f"\u00a0{text}"


def render_email(email: str, rng: random.Random) -> str:
    """Write an email with the capitalisation people type (``Juan.Perez@Empresa.cl``)."""
    roll = rng.random()
    if roll < 0.08:
        return email.upper()
    if roll < 0.2 and "@" in email:
        local, domain = email.split("@", 1)
        return f"{local.title()}@{domain.capitalize()}"
    return email


def render_perfil(perfil: str, rng: random.Random) -> str | None:
    """Write a perfil as exports mix them: ``Colaborador``, blank, ``JEFATURA`` and so on."""
    if perfil == "colaborador":
        return rng.choice(("Colaborador", "Colaborador", "Colaborador", None, None, "colaborador"))
    if perfil == "jefatura":
        return rng.choice(("JEFATURA", "Jefatura", "jefatura"))
    return perfil


def render_rut(rut: str, rng: random.Random) -> str:
    """Write a RUT with dots about half the time and a lowercase ``k`` half the time."""
    return format_rut(rut, dotted=rng.random() < 0.5, lower_k=rng.random() < 0.5)


def render_date(value: dt.date, rng: random.Random) -> dt.date | str:
    """Keep most dates as real Excel dates; about one in twelve was typed as text."""
    return value.strftime("%d-%m-%Y") if rng.random() < 0.08 else value


VALUE_RENDERERS: dict[str, Callable[[Any, random.Random], Any]] = {
    "rut": render_rut,
    "rut_jefatura": render_rut,
    "email": render_email,
    "perfil": render_perfil,
    "fecha_ingreso": render_date,
}


def render_value(column: str, value: Any, rng: random.Random) -> Any:
    """Render one normalized value with the messiness of a real Spanish-locale export."""
    if value is None:
        return None
    if column in VALUE_RENDERERS:
        return VALUE_RENDERERS[column](value, rng)
    if isinstance(value, str) and rng.random() < 0.03:
        return pad_text(value, rng)
    return value


def pick_blank_positions(n_rows: int) -> list[int]:
    """Return the data-row indexes before which a fully blank row is inserted (two or three)."""
    if n_rows < 4:
        return []
    return sorted({n_rows * 3 // 10, n_rows // 2, n_rows * 7 // 10})


def list_columns(rows: Sequence[Row | None], canonical: Sequence[str]) -> list[str]:
    """Return the canonical columns followed by any extra keys the rows carry, in order."""
    columns = list(canonical)
    for row in rows:
        for key in row or ():
            if key not in columns:
                columns.append(key)
    return columns


def render_sheet(
    sheet: str,
    rows: Sequence[Row | None],
    *,
    messy: bool,
    blank_rows: bool,
    seed: int,
) -> tuple[list[str], list[RenderedRow]]:
    """Lay out a sheet: its column keys and its rows of cell values (None for a blank row)."""
    canonical = UNIDADES_COLUMNS if sheet == "unidades" else PERSONAS_COLUMNS
    columns = list_columns(rows, canonical)
    rng = random.Random(f"{seed}:{sheet}")
    rendered: list[RenderedRow] = []
    for row in rows:
        if row is None:
            rendered.append(None)
        elif messy:
            rendered.append([render_value(column, row.get(column), rng) for column in columns])
        else:
            rendered.append([row.get(column) for column in columns])
    if blank_rows and sheet == "personas":
        for offset, position in enumerate(pick_blank_positions(len(rendered))):
            # one "blank" row keeps empty-string cells, as left behind by clearing a row's content
            blank = [""] * len(columns) if offset == 1 else None
            rendered.insert(position + offset, blank)
    return columns, rendered


def label_headers(sheet: str, columns: Sequence[str], *, spanish_headers: bool) -> list[str]:
    """Return the header row: Spanish export labels, or the canonical names."""
    labels = SPANISH_HEADERS[sheet] if spanish_headers else {}
    return [labels.get(column, column) for column in columns]


def write_xlsx(
    path: Path | str,
    unidades_rows: Sequence[Row | None],
    personas_rows: Sequence[Row | None],
    *,
    spanish_headers: bool = True,
    messy: bool = True,
    blank_rows: bool = True,
    seed: int = 0,
) -> None:
    """Write a two-sheet upload workbook (openpyxl write-only mode, so large files are fast).

    A ``None`` row is written as a blank row; keys beyond the canonical columns become extra
    columns headed by the key. Dates become real Excel dates formatted ``dd-mm-yyyy``.
    """
    workbook = Workbook(write_only=True)
    for sheet, rows in (("unidades", unidades_rows), ("personas", personas_rows)):
        worksheet = workbook.create_sheet(SHEET_TITLES[sheet])
        columns, rendered = render_sheet(sheet, rows, messy=messy, blank_rows=blank_rows, seed=seed)
        worksheet.append(label_headers(sheet, columns, spanish_headers=spanish_headers))
        for values in rendered:
            worksheet.append([] if values is None else [to_cell(worksheet, v) for v in values])
    workbook.save(path)


def to_cell(worksheet: Any, value: Any) -> Any:
    """Turn a date into a date-formatted cell; leave any other value as is."""
    if not isinstance(value, dt.date):
        return value
    cell = WriteOnlyCell(worksheet, value=dt.datetime.combine(value, dt.time()))
    cell.number_format = "dd-mm-yyyy"
    return cell


def write_csv(
    directory: Path,
    unidades_rows: Sequence[Row | None],
    personas_rows: Sequence[Row | None],
    *,
    messy: bool = True,
    blank_rows: bool = True,
    seed: int = 0,
) -> None:
    """Write ``unidades.csv`` and ``personas.csv`` as Spanish-locale Excel saves them.

    cp1252, ``;`` separator, CRLF line ends, dates as ``dd-mm-yyyy``; the cell values are the
    same as ``write_xlsx`` writes for the same rows and seed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for sheet, rows in (("unidades", unidades_rows), ("personas", personas_rows)):
        columns, rendered = render_sheet(sheet, rows, messy=messy, blank_rows=blank_rows, seed=seed)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(label_headers(sheet, columns, spanish_headers=True))
        for values in rendered:
            writer.writerow([format_csv_value(v) for v in values or [None] * len(columns)])
        (directory / f"{sheet}.csv").write_bytes(buffer.getvalue().encode("cp1252"))


def format_csv_value(value: Any) -> str:
    """Format a cell value as Excel's CSV export shows it (dates ``dd-mm-yyyy``)."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d-%m-%Y")
    return str(value)


def freeze_xlsx(path: Path, when: dt.datetime = FROZEN_TIMESTAMP) -> None:
    """Pin the zip entry times and document dates so regenerating gives identical bytes."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in members:
            payload = (
                re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
                if name == "docProps/core.xml"
                else data
            )
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, payload)


def move_person(person: Row, unit: Row) -> None:
    """Move a person into ``unit``: they now report to its manager."""
    person["codigo_unidad"] = unit["codigo_unidad"]
    person["rut_jefatura"] = unit["rut_jefatura"]


def build_next_month(
    unidades: Sequence[Row], personas: Sequence[Row], seed: int
) -> tuple[list[Row], list[Row]]:
    """Build the same organization one month later, still valid.

    Hires, departures, cargo changes and moves; one unit added, one renamed, one removed (its
    people moved to a sibling first, so nothing points at it).
    """
    rng = random.Random(seed)
    units = [dict(unit) for unit in unidades]
    people = [dict(person) for person in personas]
    by_code = {unit["codigo_unidad"]: unit for unit in units}
    parents = {unit["codigo_unidad_padre"] for unit in units}
    managers = {unit["rut_jefatura"] for unit in units}
    leaves = [u for u in units if u["codigo_unidad"] not in parents and u["codigo_unidad_padre"]]
    size = Counter(person["codigo_unidad"] for person in people)

    # a small department is merged into a sibling: its people move, then the unit goes away
    removed = min(leaves, key=lambda unit: size[unit["codigo_unidad"]])
    siblings = [
        u
        for u in leaves
        if u["codigo_unidad_padre"] == removed["codigo_unidad_padre"] and u is not removed
    ]
    target = siblings[0] if siblings else by_code[removed["codigo_unidad_padre"]]
    moved = [p for p in people if p["codigo_unidad"] == removed["codigo_unidad"]]
    for person in moved:
        move_person(person, target)
        if person["rut"] == removed["rut_jefatura"]:
            person.update(perfil="colaborador", cargo="Especialista Senior")
    units.remove(removed)
    leaves.remove(removed)

    renamed = next((u for u in units if u["nombre_unidad"] == "Remuneraciones"), leaves[0])
    renamed["nombre_unidad"] = (
        "Compensaciones y Beneficios"
        if renamed["nombre_unidad"] == "Remuneraciones"
        else f"{renamed['nombre_unidad']} y Mejora Continua"
    )

    untouched = [p for p in people if p["rut"] not in managers and p not in moved]
    gone, promoted, transferred, email_changed = split_sample(rng, untouched, (5, 2, 3, 1))
    for person in gone:
        people.remove(person)
    for person in promoted:
        person["cargo"] = f"{person['cargo'] or 'Analista'} Senior"
    for person in email_changed:
        local, domain = person["email"].split("@")
        person["email"] = (
            f"{local}.{strip_accents(person['apellidos'].split()[-1]).lower()}@{domain}"
        )

    area = by_code.get("OPS") or by_code["GG"]
    emails = {person["email"] for person in people}
    new_unit = {
        # a code never used before: reusing the removed unit's code would reactivate it
        "codigo_unidad": next_child_code(area["codigo_unidad"], [*unidades, *units]),
        "nombre_unidad": "Sustentabilidad",
        "codigo_unidad_padre": area["codigo_unidad"],
        "centro_costo": f"CC-{1000 + len(unidades) + 1}",
        "rut_jefatura": None,
    }
    units.append(new_unit)
    hires_window = (dt.date(2026, 11, 2), dt.date(2026, 12, 1))
    new_ruts = [make_rut(n) for n in draw_rut_numbers(8, rng, exclude=[p["rut"] for p in personas])]
    head = make_person(rng, new_ruts[0], new_unit, emails, hires_window)
    head.update(
        cargo="Jefe de Sustentabilidad", perfil="jefatura", rut_jefatura=area["rut_jefatura"]
    )
    new_unit["rut_jefatura"] = head["rut"]
    hires = [head, make_person(rng, new_ruts[1], new_unit, emails, hires_window)]
    hires += [
        make_person(rng, rut, rng.choice(leaves), emails, hires_window) for rut in new_ruts[2:]
    ]
    destinations = [new_unit, *rng.sample(leaves, 2)]
    for person, destination in zip(transferred, destinations, strict=True):
        current = person["codigo_unidad"]
        move_person(
            person,
            destination
            if destination["codigo_unidad"] != current
            else next(u for u in leaves if u["codigo_unidad"] != current),
        )
    units = order_units(units)
    return units, sort_personas(units, people + hires)


def split_sample(rng: random.Random, rows: Sequence[Row], sizes: Sequence[int]) -> list[list[Row]]:
    """Draw disjoint random groups of the given sizes from ``rows``."""
    drawn = rng.sample(list(rows), sum(sizes))
    groups: list[list[Row]] = []
    start = 0
    for size in sizes:
        groups.append(drawn[start : start + size])
        start += size
    return groups


def next_child_code(parent_code: str, units: Sequence[Row]) -> str:
    """Return the next free department code under an area (``OPS.06`` after ``OPS.05``)."""
    separator = next((s for prefix, s, _, _ in AREAS if prefix == parent_code), "-")
    codes = {unit["codigo_unidad"] for unit in units}
    index = 1
    while f"{parent_code}{separator}{index:02d}" in codes:
        index += 1
    return f"{parent_code}{separator}{index:02d}"


def build_invalid_org(seed: int) -> tuple[list[Row | None], list[Row | None], dict[str, Any]]:
    """Build a small organization with every kind of problem of SPEC §2 at least once.

    Returns ``(unidades_rows, personas_rows, expected)``: rows may be ``None`` (a blank row) and
    may carry an extra ``Observaciones`` column; ``expected`` lists the errors and warnings a
    validator must report, with the row numbers Excel shows. Faults are placed on people nobody
    reports to, so none of them causes a second error elsewhere.
    """
    rng = random.Random(seed)
    units, people = build_org(38, 19, seed)
    faults: list[tuple[str, Row, str, str]] = []
    parents = {unit["codigo_unidad_padre"] for unit in units}
    leaves = [unit for unit in units if unit["codigo_unidad"] not in parents]
    nameless, long_named, orphan, own_parent, *ring = leaves[:7]
    nameless["nombre_unidad"] = None
    long_named["nombre_unidad"] = "Departamento de" + " Coordinación Regional y Proyectos" * 6
    orphan["codigo_unidad_padre"] = "NOEXISTE-99"
    own_parent["codigo_unidad_padre"] = own_parent["codigo_unidad"]
    for unit, parent in zip(ring, ring[1:] + ring[:1], strict=True):
        unit["codigo_unidad_padre"] = parent["codigo_unidad"]
        faults.append(("unidades", unit, "codigo_unidad_padre", "cycle"))
    badly_coded = {
        "codigo_unidad": "VENTAS 01!",
        "nombre_unidad": "Ventas Retail",
        "codigo_unidad_padre": "GG",
        "centro_costo": "CC-1990",
        "rut_jefatura": None,
    }
    units.append(badly_coded)
    faults += [
        ("unidades", nameless, "nombre_unidad", "required"),
        ("unidades", long_named, "nombre_unidad", "too_long"),
        ("unidades", orphan, "codigo_unidad_padre", "unknown_reference"),
        ("unidades", own_parent, "codigo_unidad_padre", "self_reference"),
        ("unidades", badly_coded, "codigo_unidad", "invalid_code"),
    ]

    managers = {unit["rut_jefatura"] for unit in units}
    staff = [person for person in people if person["rut"] not in managers]
    (
        bad_rut,
        bad_email,
        surnameless,
        lost,
        own_manager,
        bad_date,
        ancient,
        bad_perfil,
        *chain,
        rut_original,
        email_original,
    ) = staff[:13]
    bad_rut.update(rut=spoil_check_digit(bad_rut["rut"]), Observaciones="Revisar RUT")
    bad_email["email"] = bad_email["email"].replace("@", ".")
    surnameless["apellidos"] = None
    lost.update(codigo_unidad="ZZZ-99", Observaciones="Unidad nueva, aún no creada")
    own_manager["rut_jefatura"] = own_manager["rut"]
    bad_date["fecha_ingreso"] = "31-02-2024"
    ancient["fecha_ingreso"] = "1850-01-01"
    bad_perfil["perfil"] = "gerente"
    for person, manager in zip(chain, chain[1:] + chain[:1], strict=True):
        person["rut_jefatura"] = manager["rut"]
        faults.append(("personas", person, "rut_jefatura", "cycle"))

    emails = {person["email"] for person in people}
    (extra_number,) = draw_rut_numbers(1, rng, exclude=[person["rut"] for person in people])
    unit_of = {unit["codigo_unidad"]: unit for unit in units}
    recent = (dt.date(2020, 1, 1), dt.date(2026, 10, 1))
    same_rut = make_person(
        rng, rut_original["rut"], unit_of[rut_original["codigo_unidad"]], emails, recent
    )
    same_rut["rut"] = format_rut(rut_original["rut"], dotted=True)
    same_email = make_person(
        rng, make_rut(extra_number), unit_of[email_original["codigo_unidad"]], emails, recent
    )
    same_email["email"] = email_original["email"].upper()
    people += [same_rut, same_email]
    faults += [
        ("personas", bad_rut, "rut", "invalid_rut"),
        ("personas", bad_email, "email", "invalid_email"),
        ("personas", surnameless, "apellidos", "required"),
        ("personas", lost, "codigo_unidad", "unknown_reference"),
        ("personas", own_manager, "rut_jefatura", "self_reference"),
        ("personas", bad_date, "fecha_ingreso", "invalid_date"),
        ("personas", ancient, "fecha_ingreso", "date_out_of_range"),
        ("personas", bad_perfil, "perfil", "invalid_choice"),
        ("personas", same_rut, "rut", "duplicate"),
        ("personas", same_email, "email", "duplicate"),
    ]

    personas: list[Row | None] = list(people)
    personas.insert(len(people) // 2, None)
    sheets: dict[str, list[Row | None]] = {"unidades": list(units), "personas": personas}
    errors = [
        {
            "sheet": sheet,
            "row": excel_row(sheets[sheet], row),
            "column": column,
            "value": row[column],
            "code": code,
        }
        for sheet, row, column, code in faults
    ]
    errors.sort(key=lambda e: (e["sheet"] != "unidades", e["row"], e["column"]))
    expected = {
        "valid": False,
        "counts": {"unidades": len(units), "personas": len(people)},
        "errors": errors,
        "warnings": [{"sheet": "personas", "header": "Observaciones", "code": "unknown_column"}],
    }
    return sheets["unidades"], personas, expected


def excel_row(rows: Sequence[Row | None], target: Row) -> int:
    """Return the row number Excel shows for ``target`` (header is row 1)."""
    return next(index for index, row in enumerate(rows) if row is target) + 2


def count_changes(before: Sequence[Row], after: Sequence[Row], key: str) -> dict[str, int]:
    """Count what a full-snapshot load of ``after`` over ``before`` does, keyed by ``key``."""
    old = {row[key]: row for row in before}
    new = {row[key]: row for row in after}
    kept = old.keys() & new.keys()
    updated = sum(1 for k in kept if old[k] != new[k])
    return {
        "inserted": len(new.keys() - old.keys()),
        "updated": updated,
        "deactivated": len(old.keys() - new.keys()),
        "unchanged": len(kept) - updated,
    }


def main() -> None:
    """Rewrite every sample file and ``expected.json`` under sample_data/."""
    november = build_org(250, 22, NOVEMBER_SEED)
    december = build_next_month(*november, seed=DECEMBER_SEED)
    invalid_units, invalid_people, invalid_expected = build_invalid_org(INVALID_SEED)
    outputs = (
        ("organizacion_2026-11.xlsx", november, NOVEMBER_SEED, True),
        ("organizacion_2026-12.xlsx", december, DECEMBER_SEED, True),
        ("organizacion_invalida.xlsx", (invalid_units, invalid_people), INVALID_SEED, False),
    )
    for name, (units, people), seed, messy in outputs:
        path = SAMPLE_DIR / name
        write_xlsx(path, units, people, messy=messy, blank_rows=messy, seed=seed)
        freeze_xlsx(path)
    write_csv(SAMPLE_DIR / "csv", *november, seed=NOVEMBER_SEED)
    expected = {
        "organizacion_2026-11.xlsx": summarize_valid(*november),
        "organizacion_2026-12.xlsx": {
            **summarize_valid(*december),
            "changes_after_2026-11": {
                "unidades": count_changes(november[0], december[0], "codigo_unidad"),
                "personas": count_changes(november[1], december[1], "rut"),
            },
        },
        "csv/unidades.csv + csv/personas.csv": summarize_valid(*november),
        "organizacion_invalida.xlsx": invalid_expected,
    }
    text = json.dumps(expected, ensure_ascii=False, indent=2, default=str)
    (SAMPLE_DIR / "expected.json").write_text(text + "\n", encoding="utf-8")
    print(text)


def summarize_valid(units: Sequence[Row], people: Sequence[Row]) -> dict[str, Any]:
    """Return what validating a valid file must report: valid, its row counts, no problems."""
    counts = {"unidades": len(units), "personas": len(people)}
    return {"valid": True, "counts": counts, "errors": [], "warnings": []}


if __name__ == "__main__":
    main()
