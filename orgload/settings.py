"""One typed settings object, read from ``ORGLOAD_*`` environment variables."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orgload.clock import CHILE_TZ_NAME
from orgload.errors import ConfigurationError, shown

Lang = Literal["es", "en"]  # the languages of every message and page
StorageKind = Literal["local", "database"]  # where stored files live (orgload/storage.py)

DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")
"""The databases orgload runs on (SPEC §0): SQLite, and PostgreSQL through psycopg 3."""

NOW_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
NOW_LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""The range ORGLOAD_NOW may take (the real clock is always inside it)."""


class Settings(BaseSettings):
    """Everything orgload can be configured with. Bad values fail fast at start-up."""

    model_config = SettingsConfigDict(env_prefix="ORGLOAD_", extra="ignore", frozen=True)

    home: Path = Field(
        default_factory=lambda: Path.home() / ".orgload",
        description="Working folder: inbox/, outbox/, archive/, spool/, default SQLite file.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file orgload.db under ORGLOAD_HOME.",
    )
    now: datetime | None = Field(
        default=None,
        description="ISO-8601 instant with UTC offset used as 'now' (tests, replays).",
    )
    storage: StorageKind = Field(
        default="local",
        description=(
            "Where uploads, the archive, reports and Data Docs live: 'local' (folders of "
            "ORGLOAD_HOME) or 'database' (the orgload database, reachable by every worker)."
        ),
    )
    lang: Lang = Field(default="es", description="Default language of messages.")
    timezone: str = Field(default=CHILE_TZ_NAME, description="Default client timezone (IANA name).")
    max_file_mb: float = Field(
        default=100, gt=0, le=10_000, description="Largest accepted upload, in MB."
    )
    max_rows: int = Field(
        default=1_000_000, ge=1, le=50_000_000, description="Most data rows per sheet."
    )
    attempt_stale_minutes: float = Field(
        default=30,
        ge=1,
        le=10_080,
        description="A load attempt still running after this long, on another host, is dead.",
    )
    max_xlsx_ratio: float = Field(
        default=20,
        gt=1,
        le=1_000,
        description="Refuse an xlsx/zip that expands to more than this many times its size.",
    )
    max_uncompressed_mb: float = Field(
        default=1024,
        gt=0,
        le=100_000,
        description="An xlsx/zip whose uncompressed content exceeds this is refused, in MB.",
    )
    max_columns: int = Field(
        default=200,
        ge=1,
        le=16_384,
        description="Most columns per sheet; a cell further right refuses the file.",
    )
    max_cell_chars: int = Field(
        default=32_767,
        ge=1,
        le=1_000_000,
        description="Most characters in one cell (Excel's own limit is 32,767).",
    )

    smtp_host: str | None = Field(
        default=None, description="SMTP server for notifications; unset = e-mails stay queued."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP user, if it needs login.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP link with STARTTLS.")
    smtp_timeout: float = Field(default=10, gt=0, le=300, description="SMTP timeout, seconds.")
    mail_from: str = Field(
        default="orgload@localhost", description="Sender address of notifications."
    )
    support_email: str | None = Field(
        default=None, description="Support address: receives level 2 and 3 incidents."
    )
    sla_soon_hours: float = Field(
        default=2,
        ge=0,
        le=9,
        description="The SLA watch flags incidents due within this many coverage hours.",
    )

    @field_validator("now")
    @classmethod
    def _now_has_offset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("ORGLOAD_NOW needs a UTC offset, e.g. 2026-11-25T10:00:00-03:00")
        if value is not None and not NOW_EARLIEST <= value < NOW_LATEST:
            # Periods, the next period's start, the SLA clock and the date checks add days
            # and months to "now": near year 1 or 9999 that arithmetic overflows.
            raise ValueError(
                f"must be from {NOW_EARLIEST.date()} to before {NOW_LATEST.date()} (UTC)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_is_supported(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0].lower() if "://" in value else None
        if scheme not in DATABASE_SCHEMES:
            # Never echo the URL: it may hold a password.
            named = f"{scheme!r} is not supported" if scheme else "not a database URL"
            raise ValueError(f"{named}; use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
            raise ValueError(f"unknown timezone {shown(value, repr_=True)}") from exc
        return value

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    @property
    def max_uncompressed_bytes(self) -> int:
        return int(self.max_uncompressed_mb * 1_000_000)

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool" / "incidents"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'orgload.db'}"


def load_settings() -> Settings:
    """Read the settings from the environment, turning bad values into one clear error."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"ORGLOAD_{'_'.join(str(p) for p in err['loc']).upper()}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from exc


def ensure_home(settings: Settings, *, writable: bool = True) -> Path:
    """ORGLOAD_HOME, created if missing; with ``writable``, proven writable by creating a file
    there (permission bits are not enough: root ignores them, a read-only mount does not).
    A home that cannot be used is a ``ConfigurationError``: nothing was done."""
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        if writable:
            handle, probe = tempfile.mkstemp(prefix=".orgload-probe-", dir=home)
            os.close(handle)
            os.unlink(probe)
    except OSError as exc:
        raise ConfigurationError(
            f"ORGLOAD_HOME {home} is not a folder orgload can write "
            f"({exc.strerror or exc}); set ORGLOAD_HOME to one"
        ) from exc
    return home
