"""Archive each processed upload, content-addressed by SHA-256, for audit and replay (SPEC §3).

The archive lives in the configured store (``orgload.storage``: ORGLOAD_HOME's folders, or the
database every worker reaches) under ``archive/<sha[:2]>/<sha>/<file name>``. Each file is read
once to archive it: streamed into a staging folder of the store and hashed in the same pass,
the folder renamed after the digest only once every file is complete. Only regular files are
read (never a FIFO or a device), and never more than ``max_bytes`` of one: an upload refused by
the limits is not archived at all (``loaders.load`` decides), and one that grew past them
meanwhile is not either.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from loaders.limits import open_regular
from orgload.db import current_scope
from orgload.storage import (
    LocalStorage,
    Storage,
    StorageError,
    TooLargeToStoreError,
    storage_at,
)

CHUNK = 1 << 20


class TooLargeToArchiveError(TooLargeToStoreError):
    """A file of the upload is larger than the bytes it may be read for."""


@dataclass(frozen=True, slots=True)
class ArchivedUpload:
    """Where an upload is kept: its digest, its folder under the archive (the path it has in
    ORGLOAD_HOME's layout, recorded as the load's ``archive_path``), its file names, and the
    store and keys that hold it."""

    sha256: str
    folder: Path
    file_name: str
    keys: tuple[str, ...] = ()
    store: Storage | None = field(default=None, compare=False)

    @property
    def files(self) -> list[Path]:
        """The archived files, on a local store (a database store has no files: use
        ``archived_files``)."""
        return sorted(p for p in self.folder.iterdir() if p.is_file())


def file_sha256(path: Path, *, max_bytes: int | None = None, follow_symlinks: bool = True) -> str:
    """The SHA-256 of a regular file (``NotRegularFileError`` for anything else, without
    opening it); ``TooLargeToArchiveError`` past ``max_bytes``."""
    with open_regular(path, follow_symlinks=follow_symlinks) as handle:
        _check_size(handle, max_bytes, path)
        return _digest(handle, None, max_bytes, path)


def upload_sha256(
    paths: Sequence[Path], *, max_bytes: int | None = None, follow_symlinks: bool = True
) -> str:
    """The digest of an upload: of the file itself, or of the sorted (name, digest) list."""
    digests = {
        p: file_sha256(p, max_bytes=max_bytes, follow_symlinks=follow_symlinks) for p in paths
    }
    return _combine(paths, digests)


def upload_digest(paths: Sequence[Path], max_bytes: int) -> str | None:
    """``upload_sha256``, or None when a file is missing, not a regular file or larger than
    ``max_bytes`` (such an upload was refused unread: its digest would cost a read past the
    limits, or never end)."""
    try:
        return upload_sha256(paths, max_bytes=max_bytes)
    except OSError:
        return None


def upload_name(paths: Sequence[Path]) -> str:
    return ", ".join(p.name for p in paths)


def archive_upload(
    archive_root: Path,
    paths: Sequence[Path],
    *,
    max_bytes: int | None = None,
    storage: Storage | None = None,
    client_id: str | None = None,
) -> ArchivedUpload:
    """Store the upload under ``archive/<sha[:2]>/<sha>/`` (once; atomic per folder).

    ``archive_root`` is ``ORGLOAD_HOME/archive``; the store is ``storage``, else the one
    configured for that home (``orgload.storage.storage_at``). ``client_id`` owns the copy
    (default: the tenant of the calling code). Each file is streamed and hashed in one read
    into a staging folder, which is then renamed to its digest; an upload archived before is
    kept as it was. Raises ``OSError`` (also ``NotRegularFileError``,
    ``TooLargeToArchiveError``, ``StorageError``) and leaves nothing behind.
    """
    store = storage if storage is not None else storage_at(archive_root.parent)
    owner = client_id or _tenant(store)
    area = archive_root.name
    staging = f"{area}/.incoming.{os.getpid()}.{uuid.uuid4().hex}"
    digests = {}
    try:
        for path in paths:
            with open_regular(path) as source:
                _check_size(source, max_bytes, path)
                try:
                    stored = store.put(
                        f"{staging}/{path.name}", source, client_id=owner, max_bytes=max_bytes
                    )
                except TooLargeToStoreError as exc:
                    raise TooLargeToArchiveError(str(exc)) from exc
            digests[path] = stored.sha256
            if isinstance(store, LocalStorage):  # the copy keeps the upload's times
                shutil.copystat(path, store.path(f"{staging}/{path.name}"))
        sha = _combine(paths, digests)
        folder = f"{area}/{sha[:2]}/{sha}"
        store.rename_prefix(staging, folder, client_id=owner)  # False: archived before
    finally:
        with suppress(OSError):  # the staging folder is swept later if this fails too
            store.delete_prefix(staging, client_id=owner)
    keys = tuple(sorted(f"{folder}/{p.name}" for p in paths))
    return ArchivedUpload(sha, archive_root / sha[:2] / sha, upload_name(paths), keys, store)


def _tenant(store: Storage) -> str:
    """The client of the calling code's tenant: the owner of what it archives (a local store
    has no owners: its layout is the same for everyone)."""
    scope = current_scope()
    if scope is None or scope.client_id is None:
        if isinstance(store, LocalStorage):
            return ""
        raise StorageError("an archived upload belongs to a client: run it under its tenant")
    return scope.client_id


def archive_key(archive_path: str | Path) -> str | None:
    """The store's folder key of an ``archive_path`` recorded by any worker
    (``…/archive/<sha[:2]>/<sha>``): the layout is the same everywhere, the home may differ."""
    folder = Path(archive_path)
    sha, prefix = folder.name, folder.parent.name
    if len(sha) != 64 or prefix != sha[:2] or any(c not in "0123456789abcdef" for c in sha):
        return None
    return f"{folder.parent.parent.name or 'archive'}/{prefix}/{sha}"


@contextmanager
def archived_files(
    home: Path,
    archive_path: str | Path | None,
    *,
    client_id: str | None = None,
    storage: Storage | None = None,
) -> Iterator[list[Path]]:
    """The files of an archived upload as paths for the block, wherever it was archived:
    the archive's own files on a local store, temporary copies under ORGLOAD_HOME/tmp/
    (removed afterwards) from the database. Empty when nothing is archived there."""
    key = archive_key(archive_path) if archive_path else None
    if key is None:
        yield []
        return
    store = storage if storage is not None else storage_at(home)
    owner = client_id or _tenant(store)
    keys = store.list_keys(f"{key}/", client_id=owner)
    with store.local_copies(keys, client_id=owner) as paths:
        yield sorted(paths)


def _check_size(handle: BinaryIO, max_bytes: int | None, path: Path) -> None:
    """Refuse before reading a byte a file already larger than ``max_bytes``."""
    if max_bytes is not None and os.fstat(handle.fileno()).st_size > max_bytes:
        raise TooLargeToArchiveError(f"{path.name} is larger than {max_bytes} bytes")


def _digest(source: BinaryIO, copy: BinaryIO | None, max_bytes: int | None, path: Path) -> str:
    digest = hashlib.sha256()
    read = 0
    while chunk := source.read(CHUNK):
        read += len(chunk)
        if max_bytes is not None and read > max_bytes:
            raise TooLargeToArchiveError(f"{path.name} is larger than {max_bytes} bytes")
        digest.update(chunk)
        if copy is not None:
            copy.write(chunk)
    return digest.hexdigest()


def _combine(paths: Sequence[Path], digests: dict[Path, str]) -> str:
    if len(paths) == 1:
        return digests[paths[0]]
    manifest = "".join(f"{p.name}\0{digests[p]}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(manifest.encode()).hexdigest()
