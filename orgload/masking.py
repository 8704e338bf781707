"""Masking of personal data where it leaves the process (SPEC §9): logs, Prefect, support mail.

RUTs keep their first digits and the check digit (``12345678-5`` → ``12.3**.***-5``), e-mail
addresses their first character and the domain (``ana.perez@empresa.cl`` → ``a***@empresa.cl``),
other personal text its first character (``Ana María`` → ``A***``). The database tables and the
archive always keep the full data; this module never touches them. It is for short texts (log
lines, e-mails, the first errors of a report), not for a 100k-row column.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from orgload.columns import PERSONAS, UNIDADES

STARS = "***"

# A RUT inside free text: dotted (``12.345.678-5``), hyphenated (``12345678-5``, ``1-9``) or
# bare (``123456785``, only with a valid check digit: a bare number is too often not a RUT).
# Never inside a longer token: not next to a letter, a digit, an underscore, a dot or a hyphen
# on the left, nor a letter, digit or hyphen on the right (``2026-12-07`` is a date).
_BEFORE = r"(?<![^\W_])(?<![.\-])"
_AFTER = r"(?![^\W_])(?!-)"
_RUT_MARKED = r"(?:[0-9]{1,2}\.[0-9]{3}\.[0-9]{3}-?|[0-9]{1,3}\.[0-9]{3}-|[0-9]{1,8}-)[0-9kK]"
_RUT_BARE = r"[0-9]{7,8}[0-9kK]"
# An e-mail address: a local part of letters, digits, dots, plus signs, hyphens and
# underscores (not ``=`` or ``/``: ``email=ana@x.cl`` keeps ``email=``; no star: a masked address
# is not matched again), an @, and a domain of at least two labels.
_EMAIL = r"[\w.+-]+@(?:[\w-]+\.)+[\w-]+"
_FINDER = re.compile(
    rf"(?P<email>{_EMAIL})|{_BEFORE}(?P<rut>{_RUT_MARKED}){_AFTER}"
    rf"|{_BEFORE}(?P<bare>{_RUT_BARE}){_AFTER}"
)
_RUT_SHAPE = re.compile(r"([0-9]{1,8})([0-9K])")
_RUT_SEPARATORS = re.compile(r"[.\s-]")


def check_digit(body: str) -> str:
    """The modulo-11 check digit of a RUT body (``12345678`` → ``5``)."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body)))
    rest = 11 - total % 11
    return {11: "0", 10: "K"}.get(rest, str(rest))


def mask_value(value: str) -> str:
    """Any personal text: its first character and three stars (``Ana María`` → ``A***``).
    The length is not kept; an empty text stays empty."""
    return f"{value[:1]}{STARS}" if value else ""


def mask_rut(value: str) -> str:
    """``12345678-5`` → ``12.3**.***-5``: dots, a hyphen and an upper-case check digit whatever
    the input's format. The first 3 digits stay visible, never more than half of the body
    (``1234-5`` → ``1.2**-5``, ``1-9`` → ``*-9``). A value that is not RUT-shaped (a typo in a
    RUT column) is masked as any text: ``abc`` → ``a***``."""
    compact = _RUT_SEPARATORS.sub("", value).upper()
    shape = _RUT_SHAPE.fullmatch(compact)
    if shape is None:
        return mask_value(value)
    body, digit = shape.groups()
    keep = min(3, len(body) // 2)
    masked = body[:keep] + "*" * (len(body) - keep)
    groups = []
    while masked:
        groups.append(masked[-3:])
        masked = masked[:-3]
    return f"{'.'.join(reversed(groups))}-{digit}"


def mask_email(value: str) -> str:
    """``ana.perez@empresa.cl`` → ``a***@empresa.cl``: the domain stays, the local part keeps
    its first character (``ana+rrhh@mail.empresa.cl`` → ``a***@mail.empresa.cl``). A value
    without ``@`` is masked as any text."""
    if "@" not in value:
        return mask_value(value)
    local, domain = value.rsplit("@", 1)
    return f"{local[:1]}{STARS}@{domain}"


def _masked_match(match: re.Match[str]) -> str:
    if match["email"] is not None:
        return mask_email(match["email"])
    if match["rut"] is not None:
        return mask_rut(match["rut"])
    bare = match["bare"]
    body, digit = bare[:-1], bare[-1].upper()
    return mask_rut(bare) if check_digit(body) == digit else bare


def mask_text(text: str) -> str:
    """Every RUT and e-mail address inside free text masked; the rest unchanged.

    ``"RUT 12.345.678-K de ana@empresa.cl"`` → ``"RUT 12.3**.***-K de a***@empresa.cl"``.
    Masking masked text changes nothing."""
    return _FINDER.sub(_masked_match, text) if text else text


# --- the errors of a report (``Issue.to_dict()``), as support and Prefect see them ---------

# Which cells are personal data, by sheet and column, and how each is masked. Codes, dates and
# the profile stay: they identify nobody, and an analyst needs them to replicate.
PERSONAL_COLUMNS: dict[str, dict[str, Callable[[str], str]]] = {
    PERSONAS: {
        "rut": mask_rut,
        "rut_jefatura": mask_rut,
        "email": mask_email,
        "nombres": mask_value,
        "apellidos": mask_value,
        "cargo": mask_value,
    },
    UNIDADES: {"rut_jefatura": mask_rut},
}
_QUOTES = (("«", "»"), ("'", "'"), ('"', '"'))
_BARE_MIN = 4  # shorter values are replaced in a message only where quoted


def mask_cell(sheet: str | None, column: str | None, value: str) -> str:
    """A cell as written, masked by its column: personal columns always, others where they hold
    a RUT or an e-mail address."""
    masker = PERSONAL_COLUMNS.get(sheet or "", {}).get(column or "")
    return masker(value) if masker is not None else mask_text(value)


def _replace_value(message: str, value: str, masked: str) -> str:
    for left, right in _QUOTES:
        message = message.replace(f"{left}{value}{right}", f"{left}{masked}{right}")
    if len(value) >= _BARE_MIN and value in message:
        message = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", lambda _: masked, message)
    return message


def mask_issue(entry: dict[str, Any]) -> dict[str, Any]:
    """One report entry (``sheet``, ``row``, ``column``, ``header``, ``value``, ``code``,
    ``message``) with its value masked, in the message too (messages quote the value)."""
    masked = dict(entry)
    value = entry.get("value")
    message = entry.get("message")
    if isinstance(value, str) and value:
        masked["value"] = mask_cell(entry.get("sheet"), entry.get("column"), value)
        if isinstance(message, str) and masked["value"] != value:
            message = _replace_value(message, value, masked["value"])
    if isinstance(message, str):
        masked["message"] = mask_text(message)
    if isinstance(entry.get("header"), str):
        masked["header"] = mask_text(entry["header"])
    return masked


def mask_issues(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [mask_issue(e) for e in entries]


# SQLAlchemy appends the statement's parameters to a driver error (one line, a repr), and
# PostgreSQL a NOT NULL violation's whole row: rows of people, names included.
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*\]")
_FAILING_ROW = re.compile(r"(Failing row contains )\([^\n]*\)")
_NOT_KEPT = "(not kept: personal data)"


def mask_error_text(text: str) -> str:
    """An exception message or traceback for support: SQL parameters dropped, RUTs and e-mail
    addresses masked. The SQL statement, the error and the frames stay."""
    if not text:
        return text
    text = _SQL_PARAMETERS.sub(f"[parameters: {_NOT_KEPT}]", text)
    return mask_text(_FAILING_ROW.sub(rf"\g<1>{_NOT_KEPT}", text))


# --- logs -----------------------------------------------------------------------------------

# The project's top-level packages: their records are masked wherever they are handled.
PACKAGES = ("orgload", "schemas", "loaders", "quality", "support", "service", "cli", "flows", "ops")
_MASKED = "orgload_masked"


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a log record in place: its message (with its arguments merged in), the formatted
    exception and the stack. Done once per record, whatever number of handlers see it."""
    if getattr(record, _MASKED, False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: let logging report it as usual
        return record
    record.msg, record.args = mask_error_text(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = mask_error_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    setattr(record, _MASKED, True)
    return record


class MaskingFilter(logging.Filter):
    """Masks RUTs and e-mail addresses in every record it sees; never drops one.

    On a handler it covers every record the handler emits. (A filter on a logger covers only
    records logged on that very logger, not on its children: hence ``install_log_masking``.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def _ours(name: str) -> bool:
    return name.partition(".")[0] in PACKAGES


def install_log_masking(*handlers_of: str) -> None:
    """Mask personal data in logs, once per process (calling again adds nothing).

    Every record of the project's packages (``loaders.load``, ``service.loads``, …) is masked
    when it is created, so every handler sees it masked: stderr, pytest, Prefect's API handler
    (``PREFECT_LOGGING_EXTRA_LOGGERS``). The handlers of the loggers named in ``handlers_of``
    (``""`` is the root) also get a ``MaskingFilter``, for the records of other libraries
    (a driver error, a Prefect task's traceback) that they emit."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, _MASKED, False):

        def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            return mask_record(record) if _ours(record.name) else record

        setattr(masking_factory, _MASKED, True)
        logging.setLogRecordFactory(masking_factory)
    for name in handlers_of:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
