"""Archive each processed upload, content-addressed by SHA-256, for audit and replay (SPEC §3)."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArchivedUpload:
    """Where an upload is kept: its digest, its folder under the archive, its file names."""

    sha256: str
    folder: Path
    file_name: str

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def upload_sha256(paths: Sequence[Path]) -> str:
    """The digest of an upload: of the file itself, or of the sorted (name, digest) list."""
    if len(paths) == 1:
        return file_sha256(paths[0])
    manifest = "".join(f"{p.name}\0{file_sha256(p)}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(manifest.encode()).hexdigest()


def upload_name(paths: Sequence[Path]) -> str:
    return ", ".join(p.name for p in paths)


def archive_upload(archive_root: Path, paths: Sequence[Path]) -> ArchivedUpload:
    """Copy the upload to ``archive_root/<sha[:2]>/<sha>/`` (once; atomic per folder)."""
    sha = upload_sha256(paths)
    folder = archive_root / sha[:2] / sha
    if not folder.is_dir():
        staging = folder.with_name(f".{sha}.{os.getpid()}.tmp")
        staging.mkdir(parents=True, exist_ok=True)
        for path in paths:
            shutil.copy2(path, staging / path.name)
        try:
            staging.rename(folder)
        except OSError:  # another process archived the same upload first
            shutil.rmtree(staging, ignore_errors=True)
    return ArchivedUpload(sha, folder, upload_name(paths))
