"""Masking of personal data (SPEC §9): RUTs, e-mail addresses, report entries, log records."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from orgload.masking import (
    MaskingFilter,
    check_digit,
    install_log_masking,
    mask_cell,
    mask_email,
    mask_error_text,
    mask_issue,
    mask_rut,
    mask_text,
)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("12345678-5", "12.3**.***-5"),  # the SPEC §9 example
        ("12.345.678-5", "12.3**.***-5"),
        ("123456785", "12.3**.***-5"),  # as Excel keeps it without the hyphen
        (" 12.345.678 - 5 ", "12.3**.***-5"),
        ("12.345.678-K", "12.3**.***-K"),
        ("12345678-k", "12.3**.***-K"),  # lowercase k
        ("6.048.097-4", "6.04*.***-4"),  # a 7-digit body
        ("12345678-1", "12.3**.***-1"),  # a wrong check digit is masked all the same
        ("123456-7", "123.***-7"),
        ("1234-5", "1.2**-5"),  # never more than half of a short body visible
        ("123-4", "1**-4"),
        ("12-3", "1*-3"),
        ("1-9", "*-9"),
        ("abc", "a***"),  # not RUT-shaped: masked as any text
        ("1,23E+07", "1***"),
        ("", ""),
    ],
)
def test_mask_rut_keeps_first_digits_and_check_digit(value: str, masked: str) -> None:
    assert mask_rut(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("ana.perez@empresa.cl", "a***@empresa.cl"),  # the SPEC §9 example
        ("ana+rrhh@empresa.cl", "a***@empresa.cl"),
        ("x@mail.sub.empresa.cl", "x***@mail.sub.empresa.cl"),
        ("JORGE.SAEZ@EMPRESA.CL", "J***@EMPRESA.CL"),
        ("a@b@empresa.cl", "a***@empresa.cl"),
        ("@empresa.cl", "***@empresa.cl"),
        ("alejandra.flores.empresa.cl", "a***"),  # no @: masked as any text
        ("", ""),
    ],
)
def test_mask_email_keeps_first_character_and_domain(value: str, masked: str) -> None:
    assert mask_email(value) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("RUT 12.345.678-K", "RUT 12.3**.***-K"),
        ("rut 12345678-k.", "rut 12.3**.***-K."),
        ("el RUT 1-9 existe", "el RUT *-9 existe"),
        ("«12345678-1» no es un RUT válido", "«12.3**.***-1» no es un RUT válido"),
        ("bare 123456785 valid", "bare 12.3**.***-5 valid"),
        ("bare 10000013K valid", "bare 10.0**.***-K valid"),
        ("bare 123456789 wrong check digit stays", "bare 123456789 wrong check digit stays"),
        ("12.345.6785 dotted without hyphen", "12.3**.***-5 dotted without hyphen"),
        (
            "ciclo: 8253927-1 → 8767165-8 → 18950823-9 → 8253927-1.",
            "ciclo: 8.25*.***-1 → 8.76*.***-8 → 18.9**.***-9 → 8.25*.***-1.",
        ),
        ("mail ana.perez@empresa.cl, ok", "mail a***@empresa.cl, ok"),
        ("<ana+rrhh@mail.empresa.cl>", "<a***@mail.empresa.cl>"),
        ("email=ana@x.cl", "email=a***@x.cl"),
        (
            "Key (client_id, rut)=(acme, 12345678-5) and (acme, ana@empresa.cl)",
            "Key (client_id, rut)=(acme, 12.3**.***-5) and (acme, a***@empresa.cl)",
        ),
        ("12345678-5@empresa.cl", "1***@empresa.cl"),  # the address, not a RUT inside it
        ("persona_12345678-5.xlsx", "persona_12.3**.***-5.xlsx"),
        ("a***@empresa.cl 12.3**.***-5", "a***@empresa.cl 12.3**.***-5"),  # masked twice: same
        ("", ""),
    ],
)
def test_mask_text_masks_every_rut_and_email_inside_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "periodo 2026-11, fecha 2026-12-07, 09-12-2026 14:00, 5-3-2024, 2024-3-5",
        "organizacion_2026-11.xlsx",
        "sha256 0123456789abcdef0123456789abcdef; INC-1A2B3C4D5E6F; load 42; 100000 rows",
        "uuid 12345678-1234-5678-1234-567812345678",
        "took 1.2345 s; 1.234.567 people; version 3.11.7",
        "10485760 bytes; +56912345678",
    ],
)
def test_mask_text_leaves_dates_periods_ids_and_numbers(text: str) -> None:
    assert mask_text(text) == text


def test_check_digit_is_modulo_11() -> None:
    assert [check_digit(b) for b in ("12345678", "1", "11111111", "10000013", "13203262")] == [
        "5",
        "9",
        "1",
        "K",
        "9",
    ]


@pytest.mark.parametrize(
    ("sheet", "column", "value", "masked"),
    [
        ("personas", "rut", "12345678-5", "12.3**.***-5"),
        ("personas", "rut_jefatura", "12345678-5", "12.3**.***-5"),
        ("unidades", "rut_jefatura", "12345678-5", "12.3**.***-5"),
        ("personas", "email", "ana.perez@empresa.cl", "a***@empresa.cl"),
        ("personas", "email", "ana.perez.empresa.cl", "a***"),
        ("personas", "nombres", "Ana María", "A***"),
        ("personas", "apellidos", "Pérez Soto", "P***"),
        ("personas", "cargo", "Gerente General", "G***"),
        ("personas", "codigo_unidad", "ZZZ-99", "ZZZ-99"),  # codes identify nobody
        ("personas", "fecha_ingreso", "31-02-2024", "31-02-2024"),
        ("personas", "perfil", "gerente", "gerente"),
        ("unidades", "nombre_unidad", "Gerencia General", "Gerencia General"),
        ("unidades", "codigo_unidad", "12345678-5", "12.3**.***-5"),  # a RUT is one anywhere
        (None, None, "ana@empresa.cl", "a***@empresa.cl"),
    ],
)
def test_mask_cell_masks_the_personal_columns(
    sheet: str | None, column: str | None, value: str, masked: str
) -> None:
    assert mask_cell(sheet, column, value) == masked


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        (
            {
                "sheet": "personas",
                "column": "rut",
                "value": "12345678-1",
                "message": "«12345678-1» no es un RUT válido.",
            },
            "12.3**.***-1",
            "«12.3**.***-1» no es un RUT válido.",
        ),
        (
            {
                "sheet": "personas",
                "column": "email",
                "value": "ana.perez.empresa.cl",
                "message": "'ana.perez.empresa.cl' is not a valid email address.",
            },
            "a***",
            "'a***' is not a valid email address.",
        ),
        (
            {
                "sheet": "personas",
                "column": "nombres",
                "value": "Ana",
                "message": "«Ana» está repetido; Ana aparece primero en la fila 3.",
            },
            "A***",
            "«A***» está repetido; Ana aparece primero en la fila 3.",  # short: only quoted
        ),
        (
            {
                "sheet": "personas",
                "column": "apellidos",
                "value": "Pérez",
                "message": "Pérez: Pérezoso (Pérez)",
            },
            "P***",
            "P***: Pérezoso (P***)",  # a longer word holding the value stays
        ),
        (
            {
                "sheet": "personas",
                "column": "rut_jefatura",
                "value": "8767165-8",
                "message": "ciclo: 8253927-1 → 8767165-8 → 8253927-1.",
            },
            "8.76*.***-8",
            "ciclo: 8.25*.***-1 → 8.76*.***-8 → 8.25*.***-1.",
        ),
        (
            {
                "sheet": "personas",
                "column": "codigo_unidad",
                "value": "ZZZ-99",
                "message": "La unidad «ZZZ-99» no existe.",
            },
            "ZZZ-99",
            "La unidad «ZZZ-99» no existe.",
        ),
        (
            {"sheet": "personas", "column": "apellidos", "value": None, "message": "Falta."},
            None,
            "Falta.",
        ),
    ],
)
def test_mask_issue_masks_the_value_and_the_message_quoting_it(
    entry: dict, value: str | None, message: str
) -> None:
    full = {"row": 7, "header": "RUT", "code": "some_code", **entry}
    masked = mask_issue(full)
    assert (masked["value"], masked["message"]) == (value, message)
    assert {k: masked[k] for k in ("sheet", "row", "column", "header", "code")} == {
        k: full[k] for k in ("sheet", "row", "column", "header", "code")
    }
    assert full["value"] == entry["value"]  # the entry given is not changed


def test_mask_error_text_drops_sql_parameters_and_failing_rows() -> None:
    text = (
        "(sqlite3.IntegrityError) rechazado 12345678-5\n"
        "DETAIL:  Failing row contains (acme, 12345678-5, Ana, Pérez, ana@empresa.cl).\n"
        "[SQL: INSERT INTO people (rut, nombres) VALUES (?, ?)]\n"
        "[parameters: [('12345678-5', 'Ana María'), ('9876543-3', 'Bruno')]]\n"
        "(Background on this error at: https://sqlalche.me/e/21/gkpj)"
    )
    masked = mask_error_text(text)
    assert masked == (
        "(sqlite3.IntegrityError) rechazado 12.3**.***-5\n"
        "DETAIL:  Failing row contains (not kept: personal data).\n"
        "[SQL: INSERT INTO people (rut, nombres) VALUES (?, ?)]\n"
        "[parameters: (not kept: personal data)]\n"
        "(Background on this error at: https://sqlalche.me/e/21/gkpj)"
    )


# --- log records ----------------------------------------------------------------------------


@pytest.fixture
def restore_record_factory() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def _logger_to(stream: io.StringIO, name: str) -> tuple[logging.Logger, logging.Handler]:
    logger = logging.getLogger(name)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, handler


def test_masking_filter_on_a_handler_masks_message_args_and_traceback() -> None:
    stream = io.StringIO()
    logger, handler = _logger_to(stream, "m6.thirdparty")
    handler.addFilter(MaskingFilter())
    try:
        logger.info("rut %s mail %s count %d", "12345678-5", "ana@empresa.cl", 3)
        try:
            raise ValueError("bad row 9876543-3 bruno@empresa.cl")
        except ValueError:
            logger.exception("failed for %s", "carla@empresa.cl")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "m6.thirdparty rut 12.3**.***-5 mail a***@empresa.cl count 3" in out
    assert "failed for c***@empresa.cl" in out
    assert "ValueError: bad row 9.87*.***-3 b***@empresa.cl" in out
    for raw in ("12345678-5", "ana@empresa.cl", "9876543-3", "bruno@", "carla@"):
        assert raw not in out


def test_install_log_masking_masks_records_of_child_loggers_created_later(
    restore_record_factory: None,
) -> None:
    install_log_masking()
    install_log_masking()  # twice: still one masking per record
    stream = io.StringIO()
    # created after the install, a child of a project package: a logger filter would miss it
    logger, handler = _logger_to(stream, "loaders.m6_created_later")
    other, other_handler = _logger_to(stream, "m6.notours")
    try:
        logger.warning("apply failed for %s (%s)", "12.345.678-K", "ana+rrhh@empresa.cl")
        other.warning("other library %s", "12345678-5")
    finally:
        logger.removeHandler(handler)
        other.removeHandler(other_handler)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "loaders.m6_created_later apply failed for 12.3**.***-K (a***@empresa.cl)",
        "m6.notours other library 12345678-5",  # not ours and no handler filter: untouched
    ]


def test_install_log_masking_filters_the_handlers_of_the_loggers_named(
    restore_record_factory: None,
) -> None:
    stream = io.StringIO()
    logger, handler = _logger_to(stream, "m6.handlers")
    try:
        install_log_masking("m6.handlers")
        install_log_masking("m6.handlers")
        logger.info("driver said %s", "Key (rut)=(12345678-5)")
        assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "m6.handlers driver said Key (rut)=(12.3**.***-5)\n"


def test_a_bad_format_string_is_left_to_logging() -> None:
    record = logging.LogRecord("loaders.x", logging.INFO, __file__, 1, "%d", ("x",), None)
    assert MaskingFilter().filter(record) is True
    assert (record.msg, record.args) == ("%d", ("x",))
