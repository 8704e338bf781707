"""Receive an upload from the browser: streamed to a scratch folder, limits held while streaming.

The body is never read whole into memory and never read past the limit: a ``Content-Length``
over the limit is refused before a byte of the body is read; a body without one (chunked) is
counted as it arrives and refused the moment it passes the limit. Each file part is written
under a name made here (a safe stem and a known suffix), never the name the browser sent, and
the form's CSRF token must arrive before the first file byte.
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FILES = 2  # an .xlsx, a .zip, or unidades.csv + personas.csv
MAX_FIELDS = 4
MAX_FIELD_BYTES = 1024
SUFFIXES = (".xlsx", ".csv", ".zip", ".txt", ".tsv", ".xlsm", ".xls", ".ods")
DISPLAY_MAX = 200


class UploadRefused(Exception):  # noqa: N818 - a refusal, with the HTTP status to answer
    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


@dataclass(slots=True)
class Received:
    """What a form brought: the scratch paths, the names as the browser gave them, fields."""

    folder: Path
    paths: list[Path] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def safe_name(name: str, taken: set[str]) -> str:
    """A file name for the scratch folder: the stem folded to ``a-z 0-9 _ -`` (so that
    ``Unidades.csv`` stays ``unidades.csv`` for the CSV pair), a known suffix, unique."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = f".{suffix.lower()}" if f".{suffix.lower()}" in SUFFIXES else ".bin"
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()
    clean = re.sub(r"[^a-z0-9_-]+", "_", folded).strip("_")[:60] or "upload"
    candidate, n = f"{clean}{suffix}", 1
    while candidate in taken:
        n += 1
        candidate = f"{clean}-{n}{suffix}"
    taken.add(candidate)
    return candidate


def display(name: str) -> str:
    """The browser's file name as pages may show it (escaped by the templates anyway)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    return shown[:DISPLAY_MAX] or "upload"


async def receive(
    headers: Any,
    stream: AsyncIterator[bytes],
    folder: Path,
    *,
    max_body: int,
    max_file: int,
    csrf_ok: Callable[[str], bool],
) -> Received:
    """Parse a multipart body into ``folder``; ``UploadRefused`` (413 too large, 400 bad form,
    403 CSRF) stops it at once, with the rest of the body left unread."""
    declared = headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_body:
                raise UploadRefused(413, "too_large")
        except ValueError as exc:
            raise UploadRefused(400, "bad_form") from exc
    content_type = headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "bad_form")
    trusted = bool(headers.get("x-csrf-token")) and csrf_ok(headers["x-csrf-token"])

    folder.mkdir(parents=True, exist_ok=True)
    result = Received(folder)
    taken: set[str] = set()
    state: dict[str, Any] = {
        "headers": {},
        "name": b"",
        "value": b"",
        "field": None,
        "file": None,
        "size": 0,
        "data": bytearray(),
        "trusted": trusted,
    }

    def begin() -> None:
        state.update(headers={}, field=None, file=None, size=0, data=bytearray())

    def header_field(data: bytes, start: int, end: int) -> None:
        state["name"] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def header_end() -> None:
        state["headers"][state["name"].lower()] = state["value"]
        state["name"], state["value"] = b"", b""

    def headers_done() -> None:
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = opts.get(b"name")
        if name is None:
            raise UploadRefused(400, "bad_form")
        state["field"] = name.decode("utf-8", "replace")
        if b"filename" in opts:
            if not state["trusted"]:
                raise UploadRefused(403, "csrf")
            if len(result.paths) >= MAX_FILES:
                raise UploadRefused(400, "too_many_files")
            original = opts[b"filename"].decode("utf-8", "replace")
            if not original:  # an empty file input
                state["file"] = False
                return
            path = folder / safe_name(original, taken)
            state["file"] = path.open("xb")
            result.paths.append(path)
            result.names.append(display(original))
        elif len(result.fields) >= MAX_FIELDS:
            raise UploadRefused(400, "bad_form")

    def part_data(data: bytes, start: int, end: int) -> None:
        handle: IO[bytes] | bool | None = state["file"]
        chunk = data[start:end]
        if handle is False:
            return
        if handle is None:
            if len(state["data"]) + len(chunk) > MAX_FIELD_BYTES:
                raise UploadRefused(400, "bad_form")
            state["data"].extend(chunk)
            return
        state["size"] += len(chunk)
        if state["size"] > max_file:
            raise UploadRefused(413, "too_large")
        handle.write(chunk)  # type: ignore[union-attr]

    def part_end() -> None:
        handle = state["file"]
        if handle is None:
            value = bytes(state["data"]).decode("utf-8", "replace")
            result.fields[state["field"]] = value
            if state["field"] == "csrf" and csrf_ok(value):
                state["trusted"] = True
        elif handle is not False:
            handle.close()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_part_data": part_data,
            "on_part_end": part_end,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_done,
        },
    )
    read = 0
    try:
        async for chunk in stream:
            read += len(chunk)
            if read > max_body:
                raise UploadRefused(413, "too_large")
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadRefused(400, "bad_form") from exc
    finally:
        handle = state["file"]
        if handle not in (None, False) and not handle.closed:
            handle.close()
    if not state["trusted"]:
        raise UploadRefused(403, "csrf")
    return result


def scratch_folder(home: Path) -> Path:
    return home / "scratch" / secrets.token_hex(12)


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
