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
