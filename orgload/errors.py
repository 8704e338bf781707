"""The project's one error family: every failure a user or operator can meet is an OrgloadError."""

from __future__ import annotations


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
