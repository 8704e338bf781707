"""Where stored files live: one interface, a local-folder default and the database.

Uploads, the archive, the outbox and web reports and the Data Docs are *objects* under a *key*,
a path relative to ORGLOAD_HOME (``archive/3e/3e2a…/org.xlsx``, ``outbox/acme/org.3e2a9007.
load.json``). Each object has an owner: the client whose data it is, or ``STAFF_OWNER`` for
what only staff read. ``ORGLOAD_STORAGE`` chooses the implementation:

- ``local`` (default): ``LocalStorage``, today's folders of ORGLOAD_HOME. Keys never leave it
  and no symlink is followed on the way (every folder is opened with ``O_NOFOLLOW`` from the
  one above).
- ``database``: ``DatabaseStorage``, the orgload database (``stored_objects`` + 1 MB chunks
  of ``stored_chunks``, migration 0007) under the same row-level security as the other tables,
  so every worker that reaches the database reaches the files, and one client never reaches
  another's.

Writes stream: the bytes are hashed (SHA-256) as they are written, memory holds one chunk, a
``max_bytes`` budget stops the write, and the object appears under its key only once complete
(a temporary name then a rename; in the database one transaction): a failed or killed write
leaves nothing under the key. Readers that need a path (calamine) get ``local_copy``: the file
itself in a local folder, else a temporary copy under ``ORGLOAD_HOME/tmp/`` removed afterwards
(``service.housekeeping`` sweeps the copies of a killed process). Why the database and not
an object store or ``pg_largeobject``: docs/storage.md.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import shutil
import stat
import threading
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from orgload.db import STAFF_OWNER, current_scope, staff, stored_chunks, stored_objects, tenant
from orgload.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = [
    "CHUNK",
    "STAFF_OWNER",
    "DatabaseStorage",
    "LocalStorage",
    "Storage",
    "StorageError",
    "StoredObject",
    "TooLargeToStoreError",
    "check_key",
    "open_storage",
    "storage_at",
]

CHUNK = 1 << 20  # bytes per read, per write, per database row
TEMP_PREFIX = ".incoming"  # keys (and names) of writes under way; never listed
_KEY_PART = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,255}$")


class StorageError(OSError):
    """The file store cannot do what was asked (unreachable database, refused by its policy)."""


class TooLargeToStoreError(OSError):
    """The bytes written passed the write's ``max_bytes``; nothing was stored."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object as written: its key, its size in bytes and the SHA-256 of its bytes."""

    key: str
    size: int
    sha256: str


def check_key(key: str) -> str:
    """A key is a relative path of plain names: no ``..``, no ``.``, no empty part, no
    backslash or control character, at most 900 characters. Anything else is ``ValueError``."""
    parts = key.split("/") if isinstance(key, str) else []
    if not parts or len(key) > 900 or key.startswith("/"):
        raise ValueError(f"not a storage key: {key!r}")
    for part in parts:
        if part in (".", "..") or not _KEY_PART.match(part):
            raise ValueError(f"not a storage key: {key!r}")
    return key


def _chunks(source: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    if hasattr(source, "read"):
        while chunk := source.read(CHUNK):
            yield chunk
    else:
        for chunk in source:
            for start in range(0, len(chunk), CHUNK):
                yield chunk[start : start + CHUNK]


class _Budget:
    """Hash and count the bytes of one write; ``TooLargeToStoreError`` past ``max_bytes``."""

    def __init__(self, key: str, max_bytes: int | None) -> None:
        self.key, self.max_bytes = key, max_bytes
        self.digest = hashlib.sha256()
        self.size = 0

    def take(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLargeToStoreError(
                f"{self.key.rsplit('/', 1)[-1]} is larger than {self.max_bytes} bytes"
            )
        self.digest.update(chunk)
        return chunk

    def stored(self) -> StoredObject:
        return StoredObject(self.key, self.size, self.digest.hexdigest())


class Storage(ABC):
    """Objects under keys, each owned by a client (or ``STAFF_OWNER``)."""

    kind: str

    @abstractmethod
    def put(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        *,
        client_id: str,
        max_bytes: int | None = None,
        replace: bool = True,
    ) -> StoredObject:
        """Stream ``source`` into ``key``: hashed while written, complete or not at all.
        ``replace=False`` keeps an object already there (content-addressed keys) and returns
        it. ``TooLargeToStoreError`` past ``max_bytes``; ``OSError`` when the store fails."""

    @abstractmethod
    def open(self, key: str, *, client_id: str) -> BinaryIO:
        """A binary stream of the object (close it); ``FileNotFoundError`` when missing."""

    @abstractmethod
    def exists(self, key: str, *, client_id: str) -> bool: ...

    @abstractmethod
    def list_keys(self, prefix: str, *, client_id: str) -> list[str]:
        """The keys starting with ``prefix``, sorted (writes under way are not listed)."""

    @abstractmethod
    def delete(self, key: str, *, client_id: str) -> bool:
        """Remove one object; False when there was none."""

    @abstractmethod
    def rename_prefix(self, old: str, new: str, *, client_id: str) -> bool:
        """Move every object under the folder ``old/`` to ``new/`` at once. When ``new/``
        already holds objects, nothing moves, ``old/`` is removed and the answer is False
        (another writer stored the same content-addressed folder first)."""

    @abstractmethod
    def delete_prefix(self, prefix: str, *, client_id: str) -> int:
        """Remove every object under the folder ``prefix/``; how many."""

    @abstractmethod
    def local_copy(self, key: str, *, client_id: str) -> AbstractContextManager[Path]:
        """A real path holding the object's bytes for the block (readers that need a path)."""

    @abstractmethod
    def location(self, key: str) -> str:
        """Where the object is, for people (a path on this machine, or ``database:KEY``)."""

    def read_bytes(self, key: str, *, client_id: str) -> bytes:
        """A whole small object (reports); large ones should be streamed with ``open``."""
        with self.open(key, client_id=client_id) as handle:
            return handle.read()

    def put_bytes(self, key: str, data: bytes, *, client_id: str) -> StoredObject:
        return self.put(key, [data], client_id=client_id)

    @contextmanager
    def local_copies(self, keys: Iterable[str], *, client_id: str) -> Iterator[list[Path]]:
        """``local_copy`` of several objects at once."""
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(self.local_copy(k, client_id=client_id)) for k in keys]


# --- local folders ----------------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class LocalStorage(Storage):
    """Objects as files under ``root`` (ORGLOAD_HOME), in today's layout. The owner is not
    part of the path: keys already name the client where a layout has one."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The file of ``key`` (not checked for symlinks: use the methods to open it)."""
        return self.root.joinpath(*check_key(key).split("/"))

    def location(self, key: str) -> str:
        return str(self.path(key))

    @contextmanager
    def _folder(self, parts: list[str], *, create: bool) -> Iterator[int]:
        """A descriptor of the folder ``root/parts…``, each step opened without following a
        symlink (``OSError`` ELOOP/ENOTDIR for one); created on the way with ``create``."""
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:
            for part in parts:
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o700, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def put(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        *,
        client_id: str,
        max_bytes: int | None = None,
        replace: bool = True,
    ) -> StoredObject:
        *folder, name = check_key(key).split("/")
        budget = _Budget(key, max_bytes)
        temp = f"{TEMP_PREFIX}.{name[:100]}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
        with self._folder(folder, create=True) as dir_fd:
            if not replace and _is_file(name, dir_fd):
                with self.open(key, client_id=client_id) as existing:
                    return _described(key, existing)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            handle = os.open(temp, flags | getattr(os, "O_CLOEXEC", 0), 0o600, dir_fd=dir_fd)
            try:
                with os.fdopen(handle, "wb", closefd=True) as out:
                    for chunk in _chunks(source):
                        out.write(budget.take(chunk))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                raise
        return budget.stored()

    def open(self, key: str, *, client_id: str) -> BinaryIO:
        *folder, name = check_key(key).split("/")
        try:
            with self._folder(folder, create=False) as dir_fd:
                fd = os.open(
                    name,
                    os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                    dir_fd=dir_fd,
                )
        except NotADirectoryError as exc:
            raise FileNotFoundError(errno.ENOENT, "no such stored object", key) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink on the way: as if absent, never followed
                raise FileNotFoundError(errno.ENOENT, "no such stored object", key) from exc
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "not a regular stored object", key)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def exists(self, key: str, *, client_id: str) -> bool:
        try:
            self.open(key, client_id=client_id).close()
        except OSError:
            return False
        return True

    def list_keys(self, prefix: str, *, client_id: str) -> list[str]:
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        parts = check_key(folder).split("/") if folder else []
        found: list[str] = []
        try:
            with self._folder(parts, create=False) as dir_fd:
                _walk(dir_fd, folder, found)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return []
            raise
        return sorted(k for k in found if k.startswith(prefix))

    def delete(self, key: str, *, client_id: str) -> bool:
        *folder, name = check_key(key).split("/")
        try:
            with self._folder(folder, create=False) as dir_fd:
                if not _is_file(name, dir_fd):
                    return False
                os.unlink(name, dir_fd=dir_fd)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def delete_prefix(self, prefix: str, *, client_id: str) -> int:
        *folder, name = check_key(prefix.rstrip("/")).split("/")
        count = len(self.list_keys(prefix.rstrip("/") + "/", client_id=client_id))
        try:
            with self._folder(folder, create=False) as dir_fd:
                shutil.rmtree(name, dir_fd=dir_fd)  # removes symlinks as links
        except FileNotFoundError:
            return 0
        return count

    def rename_prefix(self, old: str, new: str, *, client_id: str) -> bool:
        *old_folder, old_name = check_key(old.rstrip("/")).split("/")
        *new_folder, new_name = check_key(new.rstrip("/")).split("/")
        with (
            self._folder(old_folder, create=False) as src,
            self._folder(new_folder, create=True) as dst,
        ):
            try:
                os.stat(new_name, dir_fd=dst, follow_symlinks=False)
                taken = True
            except FileNotFoundError:
                taken = False
            if not taken:
                try:
                    os.rename(old_name, new_name, src_dir_fd=src, dst_dir_fd=dst)
                    return True
                except OSError as exc:  # another process stored the same folder first
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            shutil.rmtree(old_name, dir_fd=src, ignore_errors=True)
        return False

    @contextmanager
    def local_copy(self, key: str, *, client_id: str) -> Iterator[Path]:
        # The file itself, once shown to be a regular file reached without a symlink.
        self.open(key, client_id=client_id).close()
        yield self.path(key)


def _is_file(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _walk(dir_fd: int, prefix: str, found: list[str]) -> None:
    for entry in os.scandir(dir_fd):
        if entry.name.startswith("."):  # writes under way, staging folders
            continue
        key = f"{prefix}/{entry.name}" if prefix else entry.name
        if entry.is_dir(follow_symlinks=False):
            child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                _walk(child, key, found)
            finally:
                os.close(child)
        elif entry.is_file(follow_symlinks=False):
            found.append(key)


def _described(key: str, handle: BinaryIO) -> StoredObject:
    budget = _Budget(key, None)
    for chunk in _chunks(handle):
        budget.take(chunk)
    return budget.stored()


# --- the database -----------------------------------------------------------------------------


class DatabaseStorage(Storage):
    """Objects as rows of the orgload database: every worker that reaches it reaches them.

    Each call runs in the caller's tenant scope (``orgload.db.tenant``/``staff``), so that on
    PostgreSQL row-level security checks the caller, not the store; a caller with no scope
    at all works in the owner's (a client's tenant; staff for ``STAFF_OWNER``). Every query
    also filters by the owner, which is SQLite's only guard.
    """

    kind = "database"

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine if engine is not None else _shared_engine(settings)

    def location(self, key: str) -> str:
        return f"database:{check_key(key)}"

    @contextmanager
    def _scoped(self, client_id: str) -> Iterator[None]:
        """The caller's scope, or the owner's when the caller has none."""
        if current_scope() is not None:
            yield
        elif client_id == STAFF_OWNER:
            with staff():
                yield
        else:
            with tenant(client_id):
                yield

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A driver error (unreachable, refused by the policy) is a ``StorageError`` (an
        ``OSError``, as a failing disk would be): callers handle one kind of store failure."""
        from sqlalchemy.exc import DBAPIError

        try:
            yield
        except DBAPIError as exc:
            reason = " ".join(str(exc.orig).split())[:300]
            raise StorageError(f"the database file store failed: {reason}") from exc

    def _id(self, conn: Connection, key: str, client_id: str) -> int | None:
        from sqlalchemy import select

        found = conn.execute(
            select(stored_objects.c.id).where(
                stored_objects.c.client_id == client_id, stored_objects.c.key == key
            )
        ).scalar()
        return int(found) if found is not None else None

    def put(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        *,
        client_id: str,
        max_bytes: int | None = None,
        replace: bool = True,
    ) -> StoredObject:
        check_key(key)
        try:
            return self._put(key, source, client_id, max_bytes, replace=replace)
        except _KeepExisting:
            return self._describe(key, client_id)

    def _put(
        self,
        key: str,
        source: BinaryIO | Iterable[bytes],
        client_id: str,
        max_bytes: int | None,
        *,
        replace: bool,
    ) -> StoredObject:
        from sqlalchemy import delete, insert, select, text, update
        from sqlalchemy.exc import IntegrityError

        from orgload.db import now_utc

        budget = _Budget(key, max_bytes)
        temp = f"{TEMP_PREFIX}/{uuid.uuid4().hex}"
        with self._scoped(client_id), self._errors(), self.engine.begin() as conn:
            if not replace:
                row = conn.execute(
                    select(stored_objects.c.size, stored_objects.c.sha256).where(
                        stored_objects.c.client_id == client_id, stored_objects.c.key == key
                    )
                ).first()
                if row is not None:
                    return StoredObject(key, int(row[0]), str(row[1]))
            object_id = conn.execute(
                insert(stored_objects)
                .values(client_id=client_id, key=temp, size=0, sha256="", created_at=now_utc())
                .returning(stored_objects.c.id)
            ).scalar_one()
            for seq, chunk in enumerate(_chunks(source)):
                conn.execute(
                    insert(stored_chunks).values(
                        object_id=object_id, seq=seq, data=budget.take(chunk)
                    )
                )
            stored = budget.stored()
            # The rename is the commit point: the old object (if any) goes in the same
            # transaction, so readers see the old bytes or the new, never a mix. Writers of
            # one key take turns for it (PostgreSQL: a transaction lock on the key; SQLite
            # has one writer at a time anyway), so the last to commit wins cleanly.
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                    {"name": f"orgload-storage:{client_id}:{key}"},
                )
            for _attempt in range(5):
                old = self._id(conn, key, client_id)
                if old is not None and not replace:  # stored meanwhile by another writer
                    raise _KeepExisting
                try:
                    with conn.begin_nested():
                        if old is not None:
                            conn.execute(delete(stored_objects).where(stored_objects.c.id == old))
                        conn.execute(
                            update(stored_objects)
                            .where(stored_objects.c.id == object_id)
                            .values(
                                key=key,
                                size=stored.size,
                                sha256=stored.sha256,
                                created_at=now_utc(),
                            )
                        )
                    break
                except IntegrityError:  # another writer committed the key meanwhile: again
                    continue
            else:
                raise StorageError(f"{key} is being written by others; try again")
        return stored

    def _describe(self, key: str, client_id: str) -> StoredObject:
        from sqlalchemy import select

        from orgload.db import reading

        with self._scoped(client_id), self._errors(), reading(self.engine) as conn:
            row = conn.execute(
                select(stored_objects.c.size, stored_objects.c.sha256).where(
                    stored_objects.c.client_id == client_id, stored_objects.c.key == key
                )
            ).first()
        if row is None:
            raise FileNotFoundError(errno.ENOENT, "no such stored object", key)
        return StoredObject(key, int(row[0]), str(row[1]))

    def open(self, key: str, *, client_id: str) -> BinaryIO:
        from orgload.db import reading

        check_key(key)
        with self._scoped(client_id), self._errors(), reading(self.engine) as conn:
            object_id = self._id(conn, key, client_id)
        if object_id is None:
            raise FileNotFoundError(errno.ENOENT, "no such stored object", key)
        raw = _ChunkReader(self, object_id, key, client_id)
        return io.BufferedReader(raw, CHUNK)

    def read_chunk(self, object_id: int, seq: int, client_id: str) -> bytes | None:
        from sqlalchemy import select

        from orgload.db import reading

        with self._scoped(client_id), self._errors(), reading(self.engine) as conn:
            data = conn.execute(
                select(stored_chunks.c.data).where(
                    stored_chunks.c.object_id == object_id, stored_chunks.c.seq == seq
                )
            ).scalar()
        return bytes(data) if data is not None else None

    def exists(self, key: str, *, client_id: str) -> bool:
        from orgload.db import reading

        check_key(key)
        with self._scoped(client_id), self._errors(), reading(self.engine) as conn:
            return self._id(conn, key, client_id) is not None

    def list_keys(self, prefix: str, *, client_id: str) -> list[str]:
        from sqlalchemy import select

        from orgload.db import reading

        with self._scoped(client_id), self._errors(), reading(self.engine) as conn:
            keys = conn.execute(
                select(stored_objects.c.key).where(
                    stored_objects.c.client_id == client_id,
                    stored_objects.c.key.startswith(prefix, autoescape=True),
                    # as the local folders: names starting with a dot are writes under way
                    ~stored_objects.c.key.startswith(".", autoescape=True),
                    ~stored_objects.c.key.contains("/.", autoescape=True),
                )
            ).scalars()
            return sorted(str(k) for k in keys)

    def delete(self, key: str, *, client_id: str) -> bool:
        from sqlalchemy import delete

        check_key(key)
        with self._scoped(client_id), self._errors(), self.engine.begin() as conn:
            done = conn.execute(
                delete(stored_objects).where(
                    stored_objects.c.client_id == client_id, stored_objects.c.key == key
                )
            )
            return bool(done.rowcount)

    def delete_prefix(self, prefix: str, *, client_id: str) -> int:
        from sqlalchemy import delete

        folder = check_key(prefix.rstrip("/")) + "/"
        with self._scoped(client_id), self._errors(), self.engine.begin() as conn:
            done = conn.execute(
                delete(stored_objects).where(
                    stored_objects.c.client_id == client_id,
                    stored_objects.c.key.startswith(folder, autoescape=True),
                )
            )
            return int(done.rowcount)

    def rename_prefix(self, old: str, new: str, *, client_id: str) -> bool:
        from sqlalchemy import delete, func, literal, select, update
        from sqlalchemy.exc import IntegrityError

        source = check_key(old.rstrip("/")) + "/"
        target = check_key(new.rstrip("/")) + "/"
        under_source = stored_objects.c.key.startswith(source, autoescape=True)
        mine = stored_objects.c.client_id == client_id
        with self._scoped(client_id), self._errors(), self.engine.begin() as conn:
            taken = conn.execute(
                select(stored_objects.c.id)
                .where(mine, stored_objects.c.key.startswith(target, autoescape=True))
                .limit(1)
            ).first()
            if taken is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            update(stored_objects)
                            .where(mine, under_source)
                            .values(
                                key=literal(target)
                                + func.substr(stored_objects.c.key, len(source) + 1)
                            )
                        )
                    return True
                except IntegrityError:  # the same folder stored meanwhile by another writer
                    pass
            conn.execute(delete(stored_objects).where(mine, under_source))
        return False

    @contextmanager
    def local_copy(self, key: str, *, client_id: str) -> Iterator[Path]:
        folder = temp_folder(self.settings.home)
        try:
            target = folder / check_key(key).rsplit("/", 1)[-1]
            with self.open(key, client_id=client_id) as source, target.open("xb") as copy:
                shutil.copyfileobj(source, copy, CHUNK)
            yield target
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def sweep(self, older_than: timedelta) -> int:
        """Remove writes under way for longer than ``older_than`` (their process died)."""
        from sqlalchemy import delete

        from orgload.db import now_utc

        cutoff: datetime = now_utc() - older_than
        with staff(), self._errors(), self.engine.begin() as conn:
            done = conn.execute(
                delete(stored_objects).where(
                    stored_objects.c.key.startswith(TEMP_PREFIX, autoescape=True)
                    | stored_objects.c.key.contains("/" + TEMP_PREFIX, autoescape=True),
                    stored_objects.c.created_at < cutoff,
                )
            )
            return int(done.rowcount)


class _KeepExisting(Exception):  # noqa: N818 - control flow: roll the write back, keep theirs
    """A ``replace=False`` write found the key stored meanwhile."""


class _ChunkReader(io.RawIOBase):
    """Reads an object chunk by chunk: one row in memory at a time."""

    def __init__(self, store: DatabaseStorage, object_id: int, key: str, client_id: str) -> None:
        super().__init__()
        self.store, self.object_id, self.key, self.client_id = store, object_id, key, client_id
        self.seq, self.buffer, self.done = 0, b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self.buffer and not self.done:
            chunk = self.store.read_chunk(self.object_id, self.seq, self.client_id)
            if chunk is None:
                self.done = True
            else:
                self.buffer, self.seq = chunk, self.seq + 1
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


TMP_FOLDER = "tmp"  # ORGLOAD_HOME/tmp/: temporary local copies (swept by housekeeping)


def temp_folder(home: Path) -> Path:
    """A new private folder under ``ORGLOAD_HOME/tmp/`` for a temporary copy."""
    parent = home / TMP_FOLDER
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / f"copy.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    folder.mkdir(mode=0o700)
    return folder


# --- choosing the store -----------------------------------------------------------------------

_engines: OrderedDict[str, Engine] = OrderedDict()
_engines_lock = threading.Lock()
ENGINES_KEPT = 4


def _shared_engine(settings: Settings) -> Engine:
    """One engine per database URL for the stores of this process (a few kept)."""
    from orgload.db import make_engine

    url = settings.resolved_database_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(settings)
            _engines[url] = engine
            while len(_engines) > ENGINES_KEPT:
                _url, old = _engines.popitem(last=False)
                old.dispose()
        _engines.move_to_end(url)
        return engine


def open_storage(settings: Settings, engine: Engine | None = None) -> Storage:
    """The store ``settings.storage`` names; ``engine`` (the caller's) for the database one."""
    if settings.storage == "database":
        return DatabaseStorage(settings, engine)
    return LocalStorage(settings.home)


def storage_at(home: Path) -> Storage:
    """The store of ``home``: the configured one (``ORGLOAD_STORAGE``) when ``home`` is the
    configured ORGLOAD_HOME, else its local folders. For callers that are handed a folder
    of ORGLOAD_HOME (``archive_upload(home / "archive", …)``) rather than the settings."""
    from orgload.settings import load_settings

    settings = load_settings()
    if settings.storage == "database" and _same(settings.home, home):
        return open_storage(settings)
    return LocalStorage(home)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b
