"""Upload limits checked before anything is parsed (SPEC §2), with the standard library only.

Kept free of pandas so that ``orgload validate`` can refuse an oversized file or a zip bomb
before paying for the heavy imports: a bomb is refused from the zip's declared sizes in
milliseconds, without inflating a byte.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orgload.settings import Settings
from schemas.report import Issue

ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class Limits:
    """What an upload may weigh before it is refused as ``file_too_large`` (SPEC §2)."""

    max_file_bytes: int = 50_000_000
    max_rows: int = 1_000_000
    max_ratio: float = 20.0
    max_uncompressed_bytes: int = 1_000_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_file_bytes=settings.max_file_bytes,
            max_rows=settings.max_rows,
            max_ratio=settings.max_xlsx_ratio,
            max_uncompressed_bytes=settings.max_uncompressed_bytes,
        )


class UnreadableUploadError(Exception):
    """A file of the upload cannot be read; carries the issue to report (never leaves loaders)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.code)
        self.issue = issue


def refuse(code: str, key: str, file: str, **params: object) -> UnreadableUploadError:
    return UnreadableUploadError(Issue(code=code, key=key, params={"file": file, **params}))


def check_file(path: Path, limits: Limits) -> int:
    """The file's size, once it is known to exist, be non-empty and be within the size limit."""
    name = path.name
    if not path.is_file():
        raise refuse("unreadable_file", "unreadable_file/not_found", name)
    size = path.stat().st_size
    if size == 0:
        raise refuse("unreadable_file", "unreadable_file/empty", name)
    if size > limits.max_file_bytes:
        raise refuse(
            "file_too_large",
            "file_too_large/size",
            name,
            size_mb=round(size / 1e6, 1),
            max_mb=round(limits.max_file_bytes / 1e6, 1),
        )
    return size


def check_expansion(name: str, size: int, uncompressed: int, limits: Limits) -> None:
    """Refuse zip/XML bombs by what the archive says it expands to."""
    if uncompressed > limits.max_uncompressed_bytes:
        raise refuse(
            "file_too_large",
            "file_too_large/uncompressed",
            name,
            uncompressed_mb=round(uncompressed / 1e6, 1),
            max_mb=round(limits.max_uncompressed_bytes / 1e6, 1),
        )
    if uncompressed > limits.max_ratio * size:
        raise refuse(
            "file_too_large",
            "file_too_large/ratio",
            name,
            uncompressed_mb=round(uncompressed / 1e6, 1),
            ratio=round(uncompressed / size),
            max_ratio=limits.max_ratio,
        )


def precheck(paths: Sequence[Path], limits: Limits) -> list[Issue]:
    """Size and expansion problems of every file, found without parsing any of them.

    Damaged archives are left for the reader, which reports them with more detail.
    """
    issues = []
    for path in paths:
        try:
            size = check_file(path, limits)
            with path.open("rb") as handle:
                is_zip = handle.read(4) == ZIP_MAGIC
            if is_zip:
                with zipfile.ZipFile(path) as archive:
                    declared = sum(m.file_size for m in archive.infolist())
                check_expansion(path.name, size, declared, limits)
        except UnreadableUploadError as refused:
            issues.append(refused.issue)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
            continue
    return issues
