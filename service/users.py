"""Users of the web app as use cases: add, list, set a password, sign in, sessions (SPEC §8).

A user is a ``client_admin`` of one client or ``staff`` (support and ops, every client).
Passwords are argon2id hashes (argon2-cffi), set through a one-time link whose token is kept
only as its SHA-256. Sign-in failures are counted on the user: from ``slow_after`` failures on,
each further attempt must wait (``slow_seconds``, by default 1 s, then 2 s, 4 s… since the last
failure) and is refused unchecked
before that; at ``lock_after`` failures the account is locked for ``lock_minutes``. Sessions are
server-side: the cookie carries a random token, the table its SHA-256 and the session's CSRF
token; a sign-in always makes a new session (never one the browser brought along).

Finding a user by e-mail or a session by its token happens before anyone's tenant is known, so
those lookups run in the explicit staff scope; everything a signed-in user then does runs in
the scope of that user (``orgload.db.tenant`` for a client admin). Security timing follows the
real clock, never ``ORGLOAD_NOW`` (which replays loads): a test passes ``now`` instead.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orgload.db import engine_for, reading, sessions, staff, users
from orgload.errors import NotFoundError, OrgloadError, UsageError
from orgload.settings import Settings
from orgload.slugs import check_client_id

__all__ = [
    "AuthPolicy",
    "NewUser",
    "SessionUser",
    "SignIn",
    "User",
    "add_user",
    "authenticate",
    "close_session",
    "list_users",
    "open_session",
    "session_user",
    "set_password",
    "token_user",
]

Role = Literal["client_admin", "staff"]
EMAIL_MAX = 254
PASSWORD_MIN = 12
PASSWORD_MAX = 256  # argon2 hashes anything; a huge body is just work for nothing

_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters
# Verified against when the e-mail is unknown, so that an unknown address costs the same time
# as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountExistsError(OrgloadError):
    code = "user_exists"
    exit_code = 1


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """How sign-in failures are slowed down and locked out, and how long things live."""

    slow_after: int = 3
    slow_seconds: float = 1.0  # the first wait; it doubles with each further failure
    lock_after: int = 5
    lock_minutes: float = 15
    session_idle_hours: float = 8
    session_max_hours: float = 12
    set_token_hours: float = 72


DEFAULT_POLICY = AuthPolicy()


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    role: Role
    client_id: str | None
    has_password: bool
    locked_until: datetime | None
    created_at: datetime

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "client_id": self.client_id,
            "has_password": self.has_password,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user just added, and the one-time token of its set-password link."""

    user: User
    token: str

    def link(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/password/{self.token}"


@dataclass(frozen=True, slots=True)
class SignIn:
    """The answer to a sign-in: ``ok`` with the user, or why not (``bad_credentials``,
    ``slow_down`` until ``retry_at``, ``locked`` until ``retry_at``)."""

    status: Literal["ok", "bad_credentials", "slow_down", "locked"]
    user: User | None = None
    retry_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The signed-in user behind a session cookie, with the session's CSRF token."""

    user: User
    csrf: str
    session_id: str


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    value = unicodedata.normalize("NFC", email.strip()).lower()
    if (
        not value
        or len(value) > EMAIL_MAX
        or value.count("@") != 1
        or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in value)
    ):
        raise UsageError(
            f"not a valid e-mail address (1-{EMAIL_MAX} characters, one @)", code="invalid_email"
        )
    local, domain = value.split("@")
    if not local or "." not in domain.strip("."):
        raise UsageError("not a valid e-mail address (name@domain.tld)", code="invalid_email")
    return value


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        client_id=row["client_id"],
        has_password=row["password_hash"] is not None,
        locked_until=row["locked_until"],
        created_at=row["created_at"],
    )


def add_user(
    settings: Settings,
    email: str,
    *,
    client_id: str | None = None,
    staff_user: bool = False,
    policy: AuthPolicy = DEFAULT_POLICY,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> NewUser:
    """Add a client admin (``client_id``) or a staff user; returns its one-time token."""
    from loaders.store import get_client

    if (client_id is None) == (not staff_user):
        raise UsageError("give exactly one of --client ID or --staff")
    address = normalize_email(email)
    if client_id is not None:
        check_client_id(client_id)
    at = _now(now)
    token = secrets.token_urlsafe(32)
    with staff(), engine_for(settings, engine) as bound, bound.begin() as conn:
        if client_id is not None:
            get_client(conn, client_id)  # unknown_client, exit 2
        try:
            with conn.begin_nested():
                user_id = conn.execute(
                    insert(users)
                    .values(
                        email=address,
                        role="staff" if staff_user else "client_admin",
                        client_id=client_id,
                        set_token_sha256=_sha(token),
                        set_token_expires_at=at + timedelta(hours=policy.set_token_hours),
                        failed_logins=0,
                        created_at=at,
                    )
                    .returning(users.c.id)
                ).scalar_one()
        except IntegrityError as exc:
            raise AccountExistsError(f"a user {address} exists already") from exc
        row = conn.execute(select(users).where(users.c.id == user_id)).mappings().one()
    return NewUser(_user(row), token)


def list_users(settings: Settings, engine: Engine | None = None) -> list[User]:
    """Every user, staff first, then by client and e-mail."""
    with staff(), engine_for(settings, engine) as bound, reading(bound) as conn:
        rows = conn.execute(
            select(users).order_by(users.c.client_id.is_not(None), users.c.client_id, users.c.email)
        ).mappings()
        return [_user(r) for r in rows]


def token_user(
    settings: Settings, token: str, engine: Engine | None = None, *, now: datetime | None = None
) -> User:
    """The user a set-password token is for; ``NotFoundError`` if unknown, used or expired."""
    with staff(), engine_for(settings, engine) as bound, reading(bound) as conn:
        return _user(_token_row(conn, token, _now(now)))


def _token_row(conn: Connection, token: str, now: datetime) -> Any:
    row = (
        conn.execute(select(users).where(users.c.set_token_sha256 == _sha(token)))
        .mappings()
        .first()
    )
    if row is None or row["set_token_expires_at"] is None or row["set_token_expires_at"] < now:
        raise NotFoundError(
            "this link is not valid any more; ask support for a new one", code="link_invalid"
        )
    return row


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN or len(password) > PASSWORD_MAX:
        raise UsageError(
            f"the password must have {PASSWORD_MIN}-{PASSWORD_MAX} characters",
            code="password_length",
        )


def set_password(
    settings: Settings,
    token: str,
    password: str,
    engine: Engine | None = None,
    *,
    now: datetime | None = None,
) -> User:
    """Set the password through a one-time token (which is then spent); every session of the
    user ends and the failure count starts again."""
    check_password(password)
    at = _now(now)
    digest = _hasher.hash(password)
    with staff(), engine_for(settings, engine) as bound, bound.begin() as conn:
        row = _token_row(conn, token, at)
        spent = conn.execute(
            update(users)
            .where(users.c.id == row["id"], users.c.set_token_sha256 == _sha(token))
            .values(
                password_hash=digest,
                password_set_at=at,
                set_token_sha256=None,
                set_token_expires_at=None,
                failed_logins=0,
                locked_until=None,
            )
        )
        if spent.rowcount != 1:  # another request spent it a moment ago
            raise NotFoundError(
                "this link is not valid any more; ask support for a new one", code="link_invalid"
            )
        conn.execute(delete(sessions).where(sessions.c.user_id == row["id"]))
        row = conn.execute(select(users).where(users.c.id == row["id"])).mappings().one()
    return _user(row)


def authenticate(
    settings: Settings,
    email: str,
    password: str,
    engine: Engine | None = None,
    *,
    policy: AuthPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> SignIn:
    """Check an e-mail and password, counting failures (slow-down, then lockout).

    An attempt while locked or too early is refused without checking the password (and does
    not count). The answer never tells an unknown address from a wrong password.
    """
    at = _now(now)
    try:
        address = normalize_email(email)
    except UsageError:
        address = None
    with staff(), engine_for(settings, engine) as bound, bound.begin() as conn:
        row = (
            conn.execute(select(users).where(users.c.email == address)).mappings().first()
            if address is not None
            else None
        )
        if row is None or row["password_hash"] is None:
            _verify(_DUMMY_HASH, password)
            return SignIn("bad_credentials")
        if row["locked_until"] is not None and row["locked_until"] > at:
            return SignIn("locked", retry_at=row["locked_until"])
        failures = row["failed_logins"]
        if failures >= policy.slow_after and row["last_failed_at"] is not None:
            wait_until = row["last_failed_at"] + timedelta(
                seconds=policy.slow_seconds * 2 ** (failures - policy.slow_after)
            )
            if wait_until > at:
                return SignIn("slow_down", retry_at=wait_until)
        if _verify(row["password_hash"], password):
            conn.execute(
                update(users)
                .where(users.c.id == row["id"])
                .values(failed_logins=0, last_failed_at=None, locked_until=None)
            )
            return SignIn("ok", user=_user(row))
        failures += 1
        locked = at + timedelta(minutes=policy.lock_minutes)
        conn.execute(
            update(users)
            .where(users.c.id == row["id"])
            .values(
                # a lockout that ran out starts the count again
                failed_logins=0 if failures >= policy.lock_after else failures,
                last_failed_at=at,
                locked_until=locked if failures >= policy.lock_after else None,
            )
        )
        if failures >= policy.lock_after:
            return SignIn("locked", retry_at=locked)
        return SignIn("bad_credentials")


def _verify(digest: str, password: str) -> bool:
    try:
        return _hasher.verify(digest, password[:PASSWORD_MAX])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def open_session(
    settings: Settings,
    user: User,
    engine: Engine | None = None,
    *,
    replaces: str | None = None,
    policy: AuthPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> tuple[str, str]:
    """A new session for ``user``: returns (cookie token, CSRF token). The session the browser
    had before (``replaces``, a token) ends: the id always changes at sign-in."""
    at = _now(now)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with staff(), engine_for(settings, engine) as bound, bound.begin() as conn:
        if replaces:
            conn.execute(delete(sessions).where(sessions.c.id == _sha(replaces)))
        conn.execute(delete(sessions).where(sessions.c.expires_at < at))  # housekeeping
        conn.execute(
            insert(sessions).values(
                id=_sha(token),
                user_id=user.id,
                csrf=csrf,
                created_at=at,
                last_seen_at=at,
                expires_at=at + timedelta(hours=policy.session_max_hours),
            )
        )
    return token, csrf


def session_user(
    settings: Settings,
    token: str | None,
    engine: Engine | None = None,
    *,
    policy: AuthPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> SessionUser | None:
    """The user signed in with this cookie token, or None (unknown, expired or idle too long)."""
    if not token or len(token) > 200:
        return None
    at = _now(now)
    session_id = _sha(token)
    with staff(), engine_for(settings, engine) as bound, bound.begin() as conn:
        row = (
            conn.execute(
                select(
                    sessions.c.user_id,
                    sessions.c.csrf,
                    sessions.c.last_seen_at,
                    sessions.c.expires_at,
                    *(c for c in users.c if c.name != "id"),
                )
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id == session_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        idle = row["last_seen_at"] + timedelta(hours=policy.session_idle_hours)
        if row["expires_at"] <= at or idle <= at or row["password_hash"] is None:
            conn.execute(delete(sessions).where(sessions.c.id == session_id))
            return None
        if at - row["last_seen_at"] > timedelta(minutes=1):  # not a write on every request
            conn.execute(
                update(sessions).where(sessions.c.id == session_id).values(last_seen_at=at)
            )
        user = _user({**row, "id": row["user_id"]})
    return SessionUser(user, row["csrf"], session_id)


def close_session(settings: Settings, token: str | None, engine: Engine | None = None) -> None:
    """Sign out: the session is deleted server-side (the cookie alone is then worthless)."""
    if not token:
        return
    with staff(), engine_for(settings, engine) as bound, bound.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.id == _sha(token)))
