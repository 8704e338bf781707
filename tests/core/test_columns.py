"""Sheet and header names: folding, canonical names and aliases (orgload/columns.py)."""

from __future__ import annotations

import pytest

from orgload.columns import (
    DEFAULT_PROFILE,
    PERSONAS,
    PROFILE_ALIASES,
    PROFILES,
    SHEETS,
    UNIDADES,
    canonical_column,
    canonical_sheet,
    match_key,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("codigo_unidad", "codigo_unidad"),
        ("Código Unidad", "codigo_unidad"),
        ("Código  Unidad", "codigo_unidad"),
        ("CODIGO-UNIDAD", "codigo_unidad"),
        ("  código\u00a0unidad  ", "codigo_unidad"),
        ("Correo Electrónico", "correo_electronico"),
        ("Año", "ano"),
        ("__x__", "x"),
        ("", ""),
    ],
)
def test_match_key_ignores_case_accents_and_spacing(text, expected):
    assert match_key(text) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("unidades", UNIDADES),
        ("Unidades", UNIDADES),
        ("UNIDADES ", UNIDADES),
        ("Units", UNIDADES),
        ("org units", UNIDADES),
        ("Org_Units", UNIDADES),
        ("personas", PERSONAS),
        ("People", PERSONAS),
        ("Colaboradores", PERSONAS),
        ("employees", PERSONAS),
        ("Hoja1", None),
        ("Instrucciones", None),
        ("", None),
    ],
)
def test_canonical_sheet_accepts_spanish_names_and_english_aliases(name, expected):
    assert canonical_sheet(name) == expected


@pytest.mark.parametrize(
    ("sheet", "header", "expected"),
    [
        (UNIDADES, "Código Unidad", "codigo_unidad"),
        (UNIDADES, "CODIGO UNIDAD", "codigo_unidad"),
        (UNIDADES, "unit_code", "codigo_unidad"),
        (UNIDADES, "Parent Unit Code", "codigo_unidad_padre"),
        (UNIDADES, "Código Unidad Padre", "codigo_unidad_padre"),
        (UNIDADES, "Cost Center", "centro_costo"),
        (UNIDADES, "RUT Jefatura", "rut_jefatura"),
        (UNIDADES, "rut", None),
        (PERSONAS, "RUT", "rut"),
        (PERSONAS, "National ID", "rut"),
        (PERSONAS, "Correo Electrónico", "email"),
        (PERSONAS, "correo", "email"),
        (PERSONAS, "E-mail", None),
        (PERSONAS, "unit_code", "codigo_unidad"),
        (PERSONAS, "Manager RUT", "rut_jefatura"),
        (PERSONAS, "Fecha Ingreso", "fecha_ingreso"),
        (PERSONAS, "hire date", "fecha_ingreso"),
        (PERSONAS, "Profile", "perfil"),
        (PERSONAS, "Teléfono", None),
        (PERSONAS, "nombre_unidad", None),
    ],
)
def test_canonical_column_accepts_aliases_of_its_own_sheet_only(sheet, header, expected):
    assert canonical_column(sheet, header) == expected


@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_every_column_name_and_alias_maps_to_its_column(sheet):
    spec = SHEETS[sheet]
    for column in spec.columns:
        for written in (column.name, *column.aliases, column.name.upper().replace("_", " ")):
            assert canonical_column(sheet, written) == column.name


@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_every_sheet_name_and_alias_maps_to_its_sheet(sheet):
    for written in (sheet, *SHEETS[sheet].aliases):
        assert canonical_sheet(written.title()) == sheet


def test_no_alias_is_shared_between_columns_of_one_sheet():
    for spec in SHEETS.values():
        keys = [match_key(a) for c in spec.columns for a in (c.name, *c.aliases)]
        assert len(keys) == len(set(keys))


def test_profile_aliases_and_default_are_canonical_profiles():
    assert set(PROFILE_ALIASES.values()) == set(PROFILES)
    assert all(PROFILE_ALIASES[p] == p for p in PROFILES)
    assert DEFAULT_PROFILE in PROFILES


@pytest.mark.parametrize(
    ("sheet", "required"),
    [
        (UNIDADES, {"codigo_unidad", "nombre_unidad"}),
        (PERSONAS, {"rut", "nombres", "apellidos", "email", "codigo_unidad"}),
    ],
)
def test_required_columns_are_those_of_the_spec(sheet, required):
    assert {c.name for c in SHEETS[sheet].columns if c.required} == required


# --- one spec, every layer: the pandera models and the live tables follow the column specs ---

SPEC_COLUMNS = [
    pytest.param(sheet, column, id=f"{sheet}.{column.name}")
    for sheet, spec in SHEETS.items()
    for column in spec.columns
]


def test_perfil_is_optional_in_the_upload_but_never_null_once_normalized():
    perfil = SHEETS[PERSONAS].column("perfil")
    assert (perfil.required, perfil.default, perfil.nullable) == (False, DEFAULT_PROFILE, False)


@pytest.mark.parametrize(
    ("sheet", "nullable"),
    [
        (UNIDADES, {"codigo_unidad_padre", "centro_costo", "rut_jefatura"}),
        (PERSONAS, {"cargo", "rut_jefatura", "fecha_ingreso"}),
    ],
)
def test_nullable_columns_are_the_optional_ones_without_a_default(sheet, nullable):
    assert {c.name for c in SHEETS[sheet].columns if c.nullable} == nullable


@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_each_sheet_model_and_table_has_exactly_the_spec_columns_in_order(sheet):
    from orgload.db import people, units
    from schemas.cells import sheet_schema

    table = {UNIDADES: units, PERSONAS: people}[sheet]
    names = SHEETS[sheet].column_names
    assert tuple(sheet_schema(sheet).columns) == names
    assert tuple(c.name for c in table.columns) == ("client_id", *names, "active", "load_id")
    assert [c.name for c in table.primary_key.columns] == ["client_id", SHEETS[sheet].key]


@pytest.mark.parametrize(("sheet", "column"), SPEC_COLUMNS)
def test_the_pandera_model_follows_the_spec(sheet, column):
    import pandas as pd

    from schemas.cells import sheet_schema

    model = sheet_schema(sheet).columns[column.name]
    assert model.nullable is column.nullable
    length_checks = [c for c in model.checks if c.error == "too_long"]
    if column.max_length is None:
        assert length_checks == []
        return
    assert len(length_checks) == 1
    # invalid_character and Excel error values come first, then too long, before any shape rule
    assert model.checks[0].error == "invalid_character"
    assert model.checks[2] is length_checks[0]
    limit = column.max_length
    values = pd.Series(["x" * limit, "x" * (limit + 1), "é" * limit], dtype="str")
    assert length_checks[0](values).check_output.tolist() == [True, False, True]


@pytest.mark.parametrize(("sheet", "column"), SPEC_COLUMNS)
def test_the_live_table_follows_the_spec(sheet, column):
    from sqlalchemy import Date, String

    from orgload.db import people, units

    stored = {UNIDADES: units, PERSONAS: people}[sheet].c[column.name]
    assert stored.nullable is column.nullable
    if column.kind == "date":
        assert isinstance(stored.type, Date)
        assert column.db_length is None
    else:
        assert isinstance(stored.type, String)
        assert stored.type.length == column.db_length
        assert column.db_length is not None
        assert column.max_length is None or column.db_length >= column.max_length


@pytest.mark.parametrize(
    ("sheet", "column", "length"),
    [
        (UNIDADES, "codigo_unidad", 40),
        (UNIDADES, "nombre_unidad", 200),
        (UNIDADES, "codigo_unidad_padre", 40),
        (UNIDADES, "centro_costo", 40),
        (UNIDADES, "rut_jefatura", 12),
        (PERSONAS, "rut", 12),
        (PERSONAS, "nombres", 200),
        (PERSONAS, "apellidos", 200),
        (PERSONAS, "email", 254),
        (PERSONAS, "codigo_unidad", 40),
        (PERSONAS, "cargo", 200),
        (PERSONAS, "rut_jefatura", 12),
        (PERSONAS, "fecha_ingreso", None),
        (PERSONAS, "perfil", 20),
    ],
)
def test_stored_lengths_are_those_of_the_migrations(sheet, column, length):
    assert SHEETS[sheet].column(column).db_length == length


def test_ruts_are_stored_in_12_characters_without_a_length_rule():
    for sheet, name in ((UNIDADES, "rut_jefatura"), (PERSONAS, "rut"), (PERSONAS, "rut_jefatura")):
        column = SHEETS[sheet].column(name)
        assert (column.max_length, column.stored_length) == (None, 12)


@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_the_quality_suites_require_the_non_nullable_columns(sheet):
    from quality.suites import REQUIRED

    assert REQUIRED[sheet] == tuple(c.name for c in SHEETS[sheet].columns if not c.nullable)
