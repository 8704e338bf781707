"""What ops hand a Prefect run, checked before any work, and what a run leaves for the client
(SPEC §5, §7): run labels, parameter checks, the outbox report of a rejected load.

An operator's mistake (an unknown client, a file that is not there, an override without its
reason) is a usage error: the run fails at once with one line, opens no incident and takes no
concurrency slot. ``check_load_parameters`` finds it and says so as data, never raising, so a
flow can end its run with that one line.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgload import clock
from orgload.errors import OrgloadError, UnknownClientError, shown
from orgload.settings import Settings
from orgload.slugs import check_client_id

__all__ = [
    "ParameterCheck",
    "RejectionReport",
    "check_load_parameters",
    "check_validation_parameters",
    "run_label",
    "upload_path",
    "write_rejection_report",
]

log = logging.getLogger(__name__)

LABEL_PART = 60  # a run name stays readable in the UI's lists


@dataclass(frozen=True, slots=True)
class ParameterCheck:
    """The parameters of a run as checked: ``problem`` is None when the run may go on,
    otherwise a stable code (``invalid_client_id``, ``unknown_client``, ``file_not_found``,
    ``not_a_regular_file``, ``reason_required``, ``reason_without_override``) and one line."""

    client_id: str
    period: str
    file_name: str
    problem: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "period": self.period,
            "file_name": self.file_name,
            "problem": self.problem,
            "message": self.message,
        }


def _client_timezone(settings: Settings, client_id: str) -> str | None:
    """The registered client's timezone; None when it is not registered. Raises
    ``DatabaseUnavailableError`` when the database cannot say."""
    from loaders.store import get_client
    from orgload.db import engine_for, reachable, reading, staff

    with staff(), reachable(settings), engine_for(settings) as bound, reading(bound) as conn:
        try:
            return get_client(conn, client_id).timezone
        except UnknownClientError:
            return None


def _period(settings: Settings, timezone: str | None) -> str:
    return clock.period_of(clock.now(settings), timezone or settings.timezone)


def run_label(
    settings: Settings, client_id: str, file: str, *, lookup: bool = True, suffix: str = ""
) -> str:
    """``acme · 2026-12 · organizacion.xlsx``: a run's name. The period is the client's (its
    timezone, when ``lookup`` and the database answers), else the default timezone's. Never
    raises: a name must not cost a run."""
    try:
        timezone = None
        if lookup:
            try:
                timezone = _client_timezone(settings, check_client_id(client_id))
            except Exception:  # noqa: BLE001 - unreachable or unknown: the default timezone
                timezone = None
        period = _period(settings, timezone)
    except Exception:  # noqa: BLE001 - a clock or settings problem: the name goes without
        period = "?"
    name = Path(file).name if file else "?"
    parts = [shown(client_id or "?", LABEL_PART), period, shown(name, LABEL_PART)]
    return " · ".join(parts) + (f" · {suffix}" if suffix else "")


def _file_problem(file: str) -> tuple[str, str] | None:
    if not file or not file.strip():
        return "file_not_found", "file is empty: give the path of the upload as the worker sees it"
    try:
        mode = os.stat(file).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "file_not_found", f"file not found on the worker: {shown(file, 120)}"
    except OSError as exc:  # no permission, a name too long, a loop of links
        return "file_not_found", f"cannot read {shown(file, 120)}: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return (
            "not_a_regular_file",
            f"{shown(file, 120)} is a folder, not a file: name the upload inside it "
            "(an .xlsx or a .zip of the two CSV files)",
        )
    if not stat.S_ISREG(mode):
        return "not_a_regular_file", f"{shown(file, 120)} is not a regular file: not read"
    return None


def check_validation_parameters(settings: Settings, client_id: str, file: str) -> ParameterCheck:
    """``validate-upload``: a client id shaped as one and a regular file (no database: a
    validation needs none, SPEC §6)."""
    period = _period(settings, None)
    name = Path(file).name if file else ""
    try:
        check_client_id(client_id)
    except OrgloadError as exc:
        return ParameterCheck(client_id, period, name, "invalid_client_id", exc.message)
    found = _file_problem(file)
    if found is not None:
        return ParameterCheck(client_id, period, name, *found)
    return ParameterCheck(client_id, period, name)


def check_load_parameters(
    settings: Settings,
    client_id: str,
    file: str,
    *,
    override_quota: bool = False,
    reason: str | None = None,
    stored_file: str = "",
) -> ParameterCheck:
    """``monthly-load``: everything an operator may get wrong, before any work.

    The upload is ``file`` (a path on the worker) or ``stored_file`` (a key of the configured
    store, e.g. ``archive/3e/3e2a…/org.xlsx``: any worker can load it), never both.
    The options first (they need nothing), then the client (registered), then the file. A
    database that cannot be reached is not the operator's mistake: the check lets the run go
    on, and the load itself answers ``failed`` with its level-3 incident (SPEC §5).
    """
    period = _period(settings, None)
    name = Path(file).name if file else stored_file.rsplit("/", 1)[-1]
    given = bool(reason and reason.strip())
    if file.strip() and stored_file.strip():
        return ParameterCheck(
            client_id,
            period,
            name,
            "file_and_stored_file",
            "give file (a path on the worker) or stored_file (a key of the store), not both",
        )
    if override_quota and not given:
        return ParameterCheck(
            client_id,
            period,
            name,
            "reason_required",
            "override_quota needs a reason: say why this correction load may use a second "
            "load this period",
        )
    if given and not override_quota:
        return ParameterCheck(
            client_id,
            period,
            name,
            "reason_without_override",
            "a reason was given without override_quota: turn override_quota on, or clear the "
            "reason",
        )
    try:
        check_client_id(client_id)
    except OrgloadError as exc:
        return ParameterCheck(client_id, period, name, "invalid_client_id", exc.message)
    try:
        timezone = _client_timezone(settings, client_id)
        if timezone is None:
            return ParameterCheck(
                client_id,
                period,
                name,
                "unknown_client",
                f"unknown client {shown(client_id, repr_=True)}: register it with "
                f"`orgload clients add {client_id} --name NAME`",
            )
        period = _period(settings, timezone)
    except Exception as exc:  # noqa: BLE001 - the database's problem, not the operator's
        log.warning("could not look client %s up: %s", client_id, exc)
    found = _stored_problem(settings, client_id, stored_file) if stored_file else None
    if not stored_file:
        found = _file_problem(file)
    if found is not None:
        return ParameterCheck(client_id, period, name, *found)
    return ParameterCheck(client_id, period, name)


def _stored_problem(settings: Settings, client_id: str, key: str) -> tuple[str, str] | None:
    """A ``stored_file`` that is not a key, or not an object of this client in the store."""
    from orgload.db import tenant
    from orgload.storage import check_key, open_storage

    try:
        check_key(key)
    except ValueError:
        return "file_not_found", f"stored_file is not a key of the store: {shown(key, 120)}"
    try:
        with tenant(client_id):
            if open_storage(settings).exists(key, client_id=client_id):
                return None
    except OSError as exc:  # the store's problem, not the operator's: the load will say
        log.warning("could not look stored file %s up: %s", shown(key, 120), exc)
        return None
    return (
        "file_not_found",
        f"no stored file {shown(key, 120)} of client {client_id} in the {settings.storage} store",
    )


@dataclass(frozen=True, slots=True)
class RejectionReport:
    """What a rejected load left in ``outbox/<client_id>/`` of the store: its JSON and, when
    cells were wrong, the annotated workbook (paths in ORGLOAD_HOME's layout; ``keys`` in the
    store, ``locations`` where they are for people); ``counts`` are the data rows read per
    sheet (None when the file could not be read again)."""

    json_path: Path
    xlsx_path: Path | None
    counts: dict[str, int] | None
    keys: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()


def write_rejection_report(
    settings: Settings, client_id: str, paths: list[Path], result: dict[str, Any]
) -> RejectionReport:
    """The report of a rejected load for the client admin, as the inbox writes one: the load
    JSON (the admin's own data, unmasked, as in every outbox report) and, when the file has
    cell errors, the annotated workbook. A rejection for ``mass_change`` alone has no cell to
    mark: no workbook (a clean file gets none). Both go to the configured store, each
    complete or not at all."""
    import shutil

    from loaders.archive import upload_sha256
    from orgload.db import tenant
    from orgload.storage import open_storage, temp_folder
    from service.validation import validate_files

    check_client_id(client_id)
    store = open_storage(settings)
    outbox = f"outbox/{client_id}"
    stem = paths[0].stem if len(paths) == 1 else "unidades-personas"
    try:
        sha = upload_sha256(paths)[:8]
    except OSError:
        sha = "unread"
    json_key = f"{outbox}/{stem}.{sha}.load.json"
    cell_errors = [e for e in result.get("errors") or [] if e.get("code") != "mass_change"]
    xlsx_key: str | None = None
    counts: dict[str, int] | None = None
    with tenant(client_id):
        if cell_errors:
            scratch = temp_folder(settings.home)
            target = scratch / f"{stem}.{sha}.errores.xlsx"
            try:
                validated = validate_files(settings, paths, lang=settings.lang, report_path=target)
                counts = dict(validated.report.counts)
                with target.open("rb") as source:
                    xlsx_key = store.put(f"{outbox}/{target.name}", source, client_id=client_id).key
            except (OrgloadError, OSError) as exc:  # the file went away since the load read it
                log.warning("could not write the annotated workbook of %s: %s", stem, exc)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        document = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
        store.put_bytes(json_key, document.encode("utf-8"), client_id=client_id)
    keys = (json_key, xlsx_key) if xlsx_key else (json_key,)
    return RejectionReport(
        settings.home / json_key,
        settings.home / xlsx_key if xlsx_key else None,
        counts,
        keys,
        tuple(store.location(k) for k in keys),
    )


@contextmanager
def upload_path(
    settings: Settings, client_id: str, file: str = "", stored_file: str = ""
) -> Iterator[Path]:
    """The upload of a run as a path for the block: ``file`` itself, or a temporary copy of
    the client's ``stored_file`` under ORGLOAD_HOME/tmp/ (the file itself on a local
    store), removed afterwards."""
    if not stored_file:
        yield Path(file)
        return
    from orgload.db import tenant
    from orgload.storage import open_storage

    check_client_id(client_id)
    with (
        tenant(client_id),
        open_storage(settings).local_copy(stored_file, client_id=client_id) as p,
    ):
        yield p
