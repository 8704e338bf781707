"""Database tables (SQLAlchemy Core), the engine, and the one translation of driver errors.

Store functions take a connection first and never commit: the caller opens exactly one
``engine.begin()`` per unit of work (a load's apply, a load record, an incident).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.types import TypeDecorator

from orgload.columns import PERSONAS_SHEET, UNIDADES_SHEET, SheetSpec
from orgload.errors import ConfigurationError, DatabaseUnavailableError
from orgload.settings import Settings, ensure_home

log = logging.getLogger(__name__)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


clients = Table(
    "clients",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("admin_email", String(254)),
    Column("allow_mass_change", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Web confirms made in the high-concurrency hours wait for the off-peak window (SPEC §8,
    # §7: 22:00-05:59 Chile time) instead of applying at once (migration 0006).
    Column("apply_off_peak", Boolean, nullable=False, default=False),
)


def _sheet_columns(sheet: SheetSpec) -> list[Column[Any]]:
    """The data columns of a sheet's live table, in the sheet's order, as its column specs say:
    ``String(db_length)`` (``Date`` for a date), nullable as ``ColumnSpec.nullable``, the
    sheet's key part of the primary key."""
    columns: list[Column[Any]] = []
    for spec in sheet.columns:
        kind: Date | String = Date() if spec.kind == "date" else String(spec.db_length)
        if spec.name == sheet.key:
            columns.append(Column(spec.name, kind, primary_key=True))
        else:
            columns.append(Column(spec.name, kind, nullable=spec.nullable))
    return columns


# The current data of each client, one table per sheet (SPEC §3): rows are never deleted, a key
# missing from a load is deactivated.
units = Table(
    "units",
    metadata,
    Column("client_id", String(64), ForeignKey("clients.id"), primary_key=True),
    *_sheet_columns(UNIDADES_SHEET),
    Column("active", Boolean, nullable=False),
    Column("load_id", Integer, nullable=False),
)

people = Table(
    "people",
    metadata,
    Column("client_id", String(64), ForeignKey("clients.id"), primary_key=True),
    *_sheet_columns(PERSONAS_SHEET),
    Column("active", Boolean, nullable=False),
    Column("load_id", Integer, nullable=False),
)

loads = Table(
    "loads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), ForeignKey("clients.id"), nullable=False),
    Column("kind", String(10), nullable=False),  # load | revert
    Column("status", String(20), nullable=False),  # a LoadStatus (orgload/status.py)
    Column("period", String(7), nullable=False),
    Column("file_name", String(500)),
    Column("sha256", String(64)),
    Column("archive_path", String(1000)),
    Column("allow_mass_change", Boolean, nullable=False, default=False),
    Column("override_quota", Boolean, nullable=False, default=False),
    Column("reason", Text),
    Column("changes", JsonDoc),
    Column("summary", JsonDoc),
    Column("flow_run_id", String(64)),
    Column("reverted_load_id", Integer),
    Column("reverted_by_load_id", Integer),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_loads_client_period", "client_id", "period"),
    Index("ix_loads_client_sha", "client_id", "sha256"),
)

# One row per client and period whose monthly load was applied: the primary key is what
# makes "one applied load per month" hold under concurrency (SPEC §4).
quota_periods = Table(
    "quota_periods",
    metadata,
    Column("client_id", String(64), ForeignKey("clients.id"), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("load_id", Integer, ForeignKey("loads.id"), nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
)

change_log = Table(
    "change_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    # Not a foreign key: written only by the load's own transaction right after its load record,
    # and a per-row check cost more than the rest of the log's write (migration 0004).
    Column("load_id", Integer, nullable=False, index=True),
    Column("entity", String(10), nullable=False),
    Column("key", String(40), nullable=False),
    Column("action", String(12), nullable=False),  # insert | update | reactivate | deactivate
    # ``json`` (text kept as written) rather than JSONB: never queried inside, cheaper to write.
    Column("before", JSON),
    Column("after", JSON),
)


# Support incidents (SPEC §5). Ids are text ("INC-…") so that an incident spooled while the
# database was down keeps its id when imported: importing twice hits the primary key.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("category", String(20), nullable=False),
    Column("level", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("client_id", String(64), nullable=False, index=True),
    Column("period", String(7)),
    Column("load_id", Integer),
    Column("flow_run_id", String(64)),
    Column("failed_step", String(40)),
    Column("diagnostics", JsonDoc, nullable=False),
    Column("occurrences", Integer, nullable=False, default=1),
    Column("reported_at", UtcDateTime, nullable=False),
    Column("review_due_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_incidents_open", "client_id", "period", "status", "level"),
)

incident_history = Table(
    "incident_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(20), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("by", String(200), nullable=False),
    Column("action", String(20), nullable=False),  # reported | repeated | escalated | transition
    Column("from_status", String(12)),
    Column("to_status", String(12)),
    Column("from_level", Integer),
    Column("to_level", Integer),
    Column("correction", String(20)),
    Column("comment", Text),
)

# E-mails waiting to be sent; a failed send stays here and is retried (never lost, sent once).
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(20), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # reported | escalated | repeated | overdue
    Column("recipient", String(254)),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("attachment_name", String(200)),
    Column("attachment", Text),
    Column("status", String(10), nullable=False),  # pending | sent
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
)


# --- tenant isolation (SPEC §9) ----------------------------------------------------------------
#
# On PostgreSQL the application acts as ``APP_ROLE`` (migration 0005), which owns nothing, so
# the row-level security policies apply to it; every transaction starts by setting its tenant
# (``orgload.client_id``) or the explicit staff mode (``orgload.scope``) from the scope of the
# calling code, both local to the transaction, so a pooled connection never carries them over.
# No scope: the transaction sees no client rows at all.

APP_ROLE = "orgload_app"


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose rows a unit of work may see: one client's, or every client's (staff)."""

    client_id: str | None = None
    staff: bool = False


_scope: ContextVar[Scope | None] = ContextVar("orgload_scope", default=None)


@contextmanager
def tenant(client_id: str) -> Iterator[None]:
    """Work done in this block (this thread and tasks started with its context) sees only
    ``client_id``'s rows."""
    token = _scope.set(Scope(client_id=client_id))
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def staff() -> Iterator[None]:
    """Work done in this block sees every client's rows: support and ops, said explicitly."""
    token = _scope.set(Scope(staff=True))
    try:
        yield
    finally:
        _scope.reset(token)


def current_scope() -> Scope | None:
    return _scope.get()


def make_engine(settings: Settings, *, owner: bool = False) -> Engine:
    """The engine for the configured database; SQLite gets WAL, a busy timeout and IMMEDIATE
    transactions so that concurrent writers queue instead of failing. On PostgreSQL the
    engine acts as the application role under row-level security, unless ``owner`` (the
    migrations, which keep DDL; tests that set up and inspect data)."""
    url = settings.resolved_database_url
    try:
        if url.startswith("sqlite"):
            # The default database lives in ORGLOAD_HOME (with its -wal/-shm files): a home
            # that cannot be written is refused here, in one line, not by SQLite later.
            ensure_home(settings, writable=settings.database_url is None)
            engine = create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)
            _configure_sqlite(engine)
            return engine
        # hide_parameters: a driver error never carries rows of personal data into a log
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        _configure_postgres(engine, act_as=None if owner else APP_ROLE)
        return engine
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError, TypeError) as exc:
        # A URL that does not parse (``host:port`` not a number) or names a driver that is
        # not installed. The message never repeats the URL: it may hold a password.
        raise ConfigurationError(
            f"invalid configuration: ORGLOAD_DATABASE_URL cannot be used "
            f"({type(exc).__name__}: {_without_url(str(exc), url)})"
        ) from exc


def _without_url(message: str, url: str) -> str:
    return message.replace(url, "<ORGLOAD_DATABASE_URL>")


@contextmanager
def engine_for(settings: Settings, engine: Engine | None = None) -> Iterator[Engine]:
    """The engine for one call: the caller's ``engine`` untouched, or a new one from
    ``make_engine(settings)`` that is disposed of when the block ends."""
    if engine is not None:
        yield engine
        return
    owned = make_engine(settings)
    try:
        yield owned
    finally:
        owned.dispose()


def _configure_postgres(engine: Engine, *, act_as: str | None) -> None:
    if act_as is not None:

        @event.listens_for(engine, "connect")
        def _act_as(dbapi_connection: Any, _record: Any) -> None:
            # Set for the session and committed (a rolled-back SET would be undone). A
            # database not migrated yet has no role: ``ensure_current`` then asks for an
            # upgrade before anything is read.
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (act_as,))
                if cursor.fetchone() is not None:
                    cursor.execute(f'SET ROLE "{act_as}"')
            dbapi_connection.commit()

    @event.listens_for(engine, "begin")
    def _set_scope(conn: Any) -> None:
        scope = _scope.get()
        conn.exec_driver_sql(
            "SELECT set_config('orgload.client_id', %(client)s, true), "
            "set_config('orgload.scope', %(scope)s, true)",
            {
                "client": (scope.client_id or "") if scope else "",
                "scope": "staff" if scope and scope.staff else "",
            },
        )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        # 64 MB of page cache instead of SQLite's 2 MB: a 100,000-person client's tables and
        # key index then stay in memory through a load (key lookups were 10x slower without).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write transaction takes the write lock up front: a deferred one that upgrades from
        # read to write fails at once with "database is locked" instead of waiting its turn.
        # A reader (``reading``) never takes it: under WAL it reads the last committed state
        # while a load is writing, and never waits for it.
        if connection.get_execution_options().get(READING):
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


READING = "orgload_reading"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite its transaction is deferred, so that a reader
    never takes (nor waits for) the write lock a load holds; elsewhere a plain ``connect()``.
    Writing through it is a bug: use ``engine.begin()``."""
    with engine.connect() as conn:
        conn.execution_options(**{READING: True})
        yield conn


def is_postgres(engine_or_conn: Any) -> bool:
    return bool(engine_or_conn.dialect.name == "postgresql")


@contextmanager
def reachable(settings: Settings) -> Iterator[None]:
    """Turn "cannot reach the database" driver errors into ``DatabaseUnavailableError``."""
    try:
        yield
    except (OperationalError, SAInterfaceError) as exc:
        if _is_connection_problem(exc):
            raise unavailable(settings, exc) from exc
        raise


def unavailable(settings: Settings, exc: DBAPIError) -> DatabaseUnavailableError:
    """The one wording of "cannot reach the database", on one line (drivers write several)."""
    reason = " ".join(str(exc.orig).split())
    return DatabaseUnavailableError(
        f"the database is unreachable ({_safe_url(settings)}): {reason}"
    )


def check_connection(settings: Settings, engine: Engine) -> None:
    """Connect once: any driver error while *connecting* (refused, unknown host, bad login,
    unknown database, a bad connection option) means the database cannot be used, and is
    ``DatabaseUnavailableError``. Errors after connecting keep their own meaning."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise unavailable(settings, exc) from exc


def _is_connection_problem(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return (
        exc.connection_invalidated
        or any(
            needle in message
            for needle in (
                "connection refused",
                "could not connect",
                "connection failed",
                "server closed the connection",
                "unable to open database file",
                "terminating connection",
                "does not exist",
                "timeout expired",
                "no such host",
                # name resolution (psycopg, libpq, getaddrinfo wordings)
                "failed to resolve host",
                "could not translate host name",
                "name or service not known",
                "temporary failure in name resolution",
                "nodename nor servname",
            )
        )
        or _sqlstate(exc).startswith(("08", "57P01", "57P02", "57P03"))
    )


def _sqlstate(exc: DBAPIError) -> str:
    """The SQLSTATE of a PostgreSQL error ("" for SQLite or none): class 08 is a connection
    exception, 57P01-03 a server shutting down or starting."""
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def now_utc() -> datetime:
    return datetime.now(UTC)


def ping(engine: Engine) -> None:
    with reading(engine) as conn:
        conn.execute(text("SELECT 1"))


# Uploads found in ORGLOAD_HOME/inbox/<client_id>/ (SPEC §7): validated once per content (the
# unique index), queued while valid, applied in the off-peak window. Status: invalid | queued |
# applying | applied | skipped | failed (meanings in service/inbox.py). No foreign key on
# client_id: a file dropped in the folder of an unregistered client is recorded too.
inbox_files = Table(
    "inbox_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False),
    Column("file_name", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", String(1000), nullable=False),  # where the upload sits now
    Column("status", String(12), nullable=False),
    Column("load_id", Integer),
    Column("load_status", String(20)),
    Column("report_json_path", String(1000)),
    Column("report_xlsx_path", String(1000)),
    Column("errors", Integer),
    Column("note", String(500)),
    Column("seen_at", UtcDateTime, nullable=False),
    Column("validated_at", UtcDateTime),
    Column("claimed_at", UtcDateTime),
    Column("applied_at", UtcDateTime),
    Column("flow_run_id", String(64)),
    Index("uq_inbox_files_client_sha", "client_id", "sha256", unique=True),
    Index("ix_inbox_files_status", "status", "seen_at"),
)


# --- the web app (SPEC §8) ---------------------------------------------------------------------
#
# Users sign in to the web app: a client admin belongs to one client, staff (support and ops)
# to none and see every client. Passwords are argon2 hashes; a user without one has a one-time
# set-password token (its SHA-256 only). Failed sign-ins are counted on the row: slow-down,
# then a lockout until ``locked_until``. Row-level security (migration 0006): a client's users
# under its tenant, staff users only in staff mode; sessions through their user.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False),
    Column("role", String(20), nullable=False),  # client_admin | staff
    Column("client_id", String(64), ForeignKey("clients.id")),  # null for staff
    Column("password_hash", String(200)),
    Column("set_token_sha256", String(64)),
    Column("set_token_expires_at", UtcDateTime),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("last_failed_at", UtcDateTime),
    Column("locked_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_set_at", UtcDateTime),
    Index("uq_users_email", "email", unique=True),
    Index("ix_users_client", "client_id"),
)

# Server-side sessions: the cookie holds a random token, the table only its SHA-256, so a
# read of the table never yields a usable cookie. ``csrf`` is the session's form token.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's token
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

# Uploads made in the web app: validated, previewed, confirmed, applied (by a worker of the
# app or the ``monthly-load`` deployment). The file itself lives in the archive, under its
# SHA-256 (``archive_path``); its reports next to it. Status: invalid | valid | queued |
# applying | done (then ``load_status`` says how the load ended).
web_uploads = Table(
    "web_uploads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), ForeignKey("clients.id"), nullable=False),
    Column("file_name", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("archive_path", String(1000), nullable=False),
    Column("status", String(12), nullable=False),
    Column("errors", Integer, nullable=False, default=0),
    Column("warnings", Integer, nullable=False, default=0),
    Column("counts", JsonDoc),
    Column("created_by", String(254), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("confirmed_by", String(254)),
    Column("confirmed_at", UtcDateTime),
    Column("allow_mass_change", Boolean, nullable=False, default=False),
    Column("override_quota", Boolean, nullable=False, default=False),
    Column("reason", Text),
    Column("load_id", Integer),
    Column("load_status", String(20)),
    Column("flow_run_id", String(64)),
    Column("detail", String(500)),
    Column("finished_at", UtcDateTime),
    # A confirm of an off-peak client made in the high-concurrency hours: not applied before
    # this instant (the next 22:00 Chile time); null means at once.
    Column("apply_after", UtcDateTime),
    Column("claimed_at", UtcDateTime),  # when a worker or a flow run took it (``applying``)
    Index("ix_web_uploads_client", "client_id", "created_at"),
)


# --- stored files (orgload/storage.py, ``ORGLOAD_STORAGE=database``) ---------------------------
#
# Uploads, the archive, reports and Data Docs when they live in the database, so that every
# worker reaches them: one row per object under its key (a path relative to ORGLOAD_HOME), its
# bytes in 1 MB chunks of ``stored_chunks``. ``client_id`` is the owner: a client, or
# ``STAFF_OWNER`` for what only staff may read (Data Docs). Row-level security (migration 0007):
# an object under its client's tenant, a staff object only in staff mode, chunks through their
# object. An object is written in one transaction under a temporary key and renamed to its key
# as the last statement: readers never see half an object.
STAFF_OWNER = "_staff"  # not a client id (a slug starts with a letter or digit)

stored_objects = Table(
    "stored_objects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False),
    Column("key", String(1000), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("uq_stored_objects_client_key", "client_id", "key", unique=True),
)

stored_chunks = Table(
    "stored_chunks",
    metadata,
    Column(
        "object_id",
        Integer,
        ForeignKey("stored_objects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
