"""Archive each processed upload, content-addressed by SHA-256, for audit and replay (SPEC §3).

Each file is read once to archive it: copied and hashed in the same pass, the folder named
after the digest only once the copy is complete. Only regular files are read (never a FIFO or
a device), and never more than ``max_bytes`` of one: an upload refused by the limits is not
archived at all (``loaders.load`` decides), and one that grew past them meanwhile is not either.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from loaders.limits import open_regular

CHUNK = 1 << 20


class TooLargeToArchiveError(OSError):
    """A file of the upload is larger than the bytes it may be read for."""


@dataclass(frozen=True, slots=True)
class ArchivedUpload:
    """Where an upload is kept: its digest, its folder under the archive, its file names."""

    sha256: str
    folder: Path
    file_name: str

    @property
    def files(self) -> list[Path]:
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
    archive_root: Path, paths: Sequence[Path], *, max_bytes: int | None = None
) -> ArchivedUpload:
    """Copy the upload to ``archive_root/<sha[:2]>/<sha>/`` (once; atomic per folder).

    Each file is copied and hashed in one read into a staging folder, which is then renamed
    to its digest; an upload archived before is kept as it was. Raises ``OSError`` (also
    ``NotRegularFileError``, ``TooLargeToArchiveError``) and leaves nothing behind.
    """
    archive_root.mkdir(parents=True, exist_ok=True)
    staging = archive_root / f".incoming.{os.getpid()}.{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        digests = {}
        for path in paths:
            target = staging / path.name
            with open_regular(path) as source:
                _check_size(source, max_bytes, path)
                with target.open("xb") as copy:
                    digests[path] = _digest(source, copy, max_bytes, path)
            shutil.copystat(path, target)
        sha = _combine(paths, digests)
        folder = archive_root / sha[:2] / sha
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(folder)
            except OSError:  # another process archived the same upload first
                if not folder.is_dir():
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ArchivedUpload(sha, folder, upload_name(paths))


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
