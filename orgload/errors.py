"""The project's one error family: every failure a user or operator can meet is an OrgloadError."""

from __future__ import annotations

import unicodedata

MESSAGE_MAX = 300
"""The longest message shown on one line (stderr, a flow's log line): longer ones are cut."""


class OrgloadError(Exception):
    """Base of every error orgload raises on purpose.

    ``code`` is stable (SPEC §2/§6 codes where one applies) and ``exit_code`` is what the CLI
    returns for it. ``message`` says what state the data is in and what to do next.
    """

    code: str = "error"
    exit_code: int = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(OrgloadError):
    """The settings (environment variables) are invalid; nothing was done."""

    code = "configuration"
    exit_code = 2


class UsageError(OrgloadError):
    """The command was called wrongly (missing file, bad combination of options)."""

    code = "usage"
    exit_code = 2


class DatabaseUnavailableError(OrgloadError):
    """The database cannot be reached; nothing was written there."""

    code = "unavailable"
    exit_code = 4


class IncidentNotRecordedError(OrgloadError):
    """A failure's incident could be kept neither in the database nor in the spool: the
    command fails loudly, naming the incident, instead of answering as if it were recorded."""

    code = "incident_not_recorded"
    exit_code = 4


class UnknownClientError(OrgloadError):
    """A command named a client that is not registered."""

    code = "unknown_client"
    exit_code = 2


class NotFoundError(OrgloadError):
    """A load, incident or other record named on the command line does not exist."""

    code = "not_found"
    exit_code = 1


class RefusedError(OrgloadError):
    """The operation is not allowed in the current state (e.g. reverting an older load)."""

    code = "refused"
    exit_code = 1


def _visible(char: str) -> str:
    """A control, format or line-separator character as ``<U+001B>`` (as reports show it);
    anything else as itself."""
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return f"<U+{ord(char):04X}>"
    return char


def shown(value: object, limit: int = 60, *, repr_: bool = False) -> str:
    """User-supplied text (a file name, an id) as it may appear inside a message: control and
    invisible characters spelled ``U+0001`` (a terminal escape is never echoed raw), cut in the
    middle to ``limit`` characters so the end (a file's extension) stays visible."""
    text = str(value)
    if len(text) > limit:  # cut before spelling out, so a ``U+001B`` is never cut in two
        head = (limit * 2) // 3
        text = f"{text[:head]}…{text[-(limit - head - 1) :]}"
    text = "".join(_visible(c) for c in text)
    return f"'{text}'" if repr_ else text


def one_line(message: str, limit: int = MESSAGE_MAX) -> str:
    """``message`` on one line of at most ``limit`` characters: line breaks and tabs become
    spaces (a driver's multi-line error, too), other control characters ``U+…``."""
    flat = " ".join(message.split())
    text = "".join(_visible(c) for c in flat)
    return text if len(text) <= limit else text[: limit - 1] + "…"
