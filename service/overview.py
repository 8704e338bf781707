"""What the web app's pages show at a glance (SPEC §8): a client's home, every client for
staff, a client's incidents and loads, and the files behind a load.

Client functions run under ``tenant(client_id)``; the staff overview under ``staff()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from loaders.quota import QuotaStatus, quota_status
from loaders.store import Client, get_client, get_load, latest_applied_load, list_clients
from loaders.store import load_history as store_history
from orgload import clock
from orgload.clock import chile_iso, period_of
from orgload.db import engine_for, reading, staff, tenant
from orgload.errors import NotFoundError, RefusedError
from orgload.settings import Settings
from orgload.slugs import check_client_id
from service.incidents import IncidentDetail, show_incident, transition_incident
from support import incidents as desk

__all__ = [
    "ClientHome",
    "ClientRow",
    "LoadView",
    "approve_incident",
    "client_home",
    "client_incidents",
    "clients_overview",
    "load_archive_files",
    "load_view",
]


@dataclass(frozen=True, slots=True)
class LoadView:
    """One load record as pages show it."""

    id: int
    client_id: str
    kind: str
    status: str
    period: str
    file_name: str | None
    sha256: str | None
    created_at: datetime
    changes: dict[str, Any] | None
    reason: str | None
    allow_mass_change: bool
    override_quota: bool
    codes: dict[str, int]
    detail: str | None
    flow_run_id: str | None
    archived: bool
    latest_applied: bool
    reverted_by_load_id: int | None


def _load_view(row: dict[str, Any], latest: int | None) -> LoadView:
    summary = row["summary"] or {}
    return LoadView(
        id=row["id"],
        client_id=row["client_id"],
        kind=row["kind"],
        status=row["status"],
        period=row["period"],
        file_name=row["file_name"],
        sha256=row["sha256"],
        created_at=row["created_at"],
        changes=row["changes"],
        reason=row["reason"],
        allow_mass_change=row["allow_mass_change"],
        override_quota=row["override_quota"],
        codes=summary.get("codes", {}) if isinstance(summary, dict) else {},
        detail=summary.get("detail") if isinstance(summary, dict) else None,
        flow_run_id=row["flow_run_id"],
        archived=bool(row["archive_path"]),
        latest_applied=row["id"] == latest,
        reverted_by_load_id=row["reverted_by_load_id"],
    )


@dataclass(frozen=True, slots=True)
class ClientHome:
    client: Client
    quota: QuotaStatus
    last_load: LoadView | None
    open_incidents: list[dict[str, Any]]
    loads: list[LoadView]


def _open(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    opened = [r for r in rows if r["status"] != desk.IncidentStatus.CLOSED]
    return [
        {**desk.incident_summary(r), "overdue": desk.is_overdue(r, now), "due": r["review_due_at"]}
        for r in opened
    ]


def client_home(settings: Settings, client_id: str, engine: Engine | None = None) -> ClientHome:
    """The quota of this period and the next one's start, the loads, the incidents not closed."""
    check_client_id(client_id)
    now = clock.now(settings)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        client = get_client(conn, client_id)
        quota = quota_status(conn, client.id, period_of(now, client.timezone), client.timezone)
        latest = latest_applied_load(conn, client.id)
        loads = [_load_view(r, latest) for r in store_history(conn, client.id)]
        incidents = desk.list_incidents(conn, now, client_id=client.id)
    return ClientHome(client, quota, loads[0] if loads else None, _open(incidents, now), loads)


def client_incidents(
    settings: Settings, client_id: str, engine: Engine | None = None
) -> list[dict[str, Any]]:
    """Every incident of a client, newest first, with whether it is overdue."""
    check_client_id(client_id)
    now = clock.now(settings)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        rows = desk.list_incidents(conn, now, client_id=client_id)
    return [
        {**desk.incident_summary(r), "overdue": desk.is_overdue(r, now), "due": r["review_due_at"]}
        for r in rows
    ]


def approve_incident(
    settings: Settings, client_id: str, incident_id: str, *, by: str, engine: Engine | None = None
) -> IncidentDetail:
    """The client's representative approves the correction: a resolved incident is closed."""
    detail = show_incident(settings, incident_id, engine, client_id=client_id)
    if detail.summary["status"] != desk.IncidentStatus.RESOLVED:
        raise RefusedError(
            f"incident {incident_id} is not resolved yet: nothing to approve",
            code="incident_not_resolved",
        )
    return transition_incident(
        settings,
        incident_id,
        desk.IncidentStatus.CLOSED,
        by=by,
        comment="approved by the client",
        engine=engine,
        client_id=client_id,
    )


def load_view(
    settings: Settings, client_id: str, load_id: int, engine: Engine | None = None
) -> LoadView:
    """A load of ``client_id``; another client's load is ``NotFoundError``, as a missing one."""
    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        row = get_load(conn, load_id)
        if row is None or row["client_id"] != client_id:
            raise NotFoundError(f"load {load_id} not found")
        return _load_view(row, latest_applied_load(conn, client_id))


def load_archive_files(
    settings: Settings, client_id: str, load_id: int, engine: Engine | None = None
) -> list[Path]:
    """The archived upload of a load of ``client_id``: its files on a local store; from the
    database, copies under ORGLOAD_HOME/tmp/ that ``service.housekeeping`` removes once an
    hour old (the caller serves them after this function returns)."""
    import shutil

    from loaders.archive import archive_key
    from orgload.storage import LocalStorage, open_storage, temp_folder

    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound:
        with reading(bound) as conn:
            row = get_load(conn, load_id)
        if row is None or row["client_id"] != client_id or not row["archive_path"]:
            raise NotFoundError(f"load {load_id} has no archived file")
        store = open_storage(settings, bound)
        if not isinstance(store, LocalStorage):
            key = archive_key(row["archive_path"])
            keys = store.list_keys(f"{key}/", client_id=client_id) if key else []
            if not keys:
                raise NotFoundError(f"load {load_id} has no archived file")
            folder = temp_folder(settings.home)
            copies = []
            for name in keys:
                target = folder / name.rsplit("/", 1)[-1]
                with store.open(name, client_id=client_id) as source, target.open("xb") as out:
                    shutil.copyfileobj(source, out)
                copies.append(target)
            return copies
    folder = Path(row["archive_path"])
    archive = (settings.home / "archive").resolve()
    if not folder.resolve().is_relative_to(archive) or not folder.is_dir():
        raise NotFoundError(f"load {load_id} has no archived file")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())


@dataclass(frozen=True, slots=True)
class ClientRow:
    client: Client
    quota: QuotaStatus
    last_load: LoadView | None
    open_incidents: int
    overdue_incidents: int


def clients_overview(settings: Settings, engine: Engine | None = None) -> list[ClientRow]:
    """Every client with this period's quota, its last load and its open incidents (staff)."""
    now = clock.now(settings)
    rows = []
    with staff(), engine_for(settings, engine) as bound, reading(bound) as conn:
        incidents = desk.list_incidents(conn, now)
        for client in list_clients(conn):
            quota = quota_status(conn, client.id, period_of(now, client.timezone), client.timezone)
            history = store_history(conn, client.id)
            latest = latest_applied_load(conn, client.id)
            mine = [i for i in incidents if i["client_id"] == client.id]
            opened = [i for i in mine if i["status"] in desk.OPEN_STATUSES]
            rows.append(
                ClientRow(
                    client,
                    quota,
                    _load_view(history[0], latest) if history else None,
                    len(opened),
                    sum(desk.is_overdue(i, now) for i in opened),
                )
            )
    return rows


def staff_incidents(
    settings: Settings,
    *,
    client_id: str | None = None,
    status: str | None = None,
    level: int | None = None,
    overdue: bool = False,
    engine: Engine | None = None,
) -> list[dict[str, Any]]:
    """Incidents for support: overdue first, then by review deadline, then newest."""
    from service.incidents import list_incidents

    now = clock.now(settings)
    found = list_incidents(
        settings,
        client_id=client_id or None,
        status=status or None,
        level=level,
        overdue=overdue,
        engine=engine,
    )
    rows = []
    for item in found:
        data = item.to_dict()
        due = datetime.fromisoformat(data["review_due_at"]) if data["review_due_at"] else None
        overdue_now = data["status"] == "reported" and due is not None and due <= now
        rows.append({**data, "overdue": overdue_now, "due": due})
    far = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (not r["overdue"], r["status"] == "closed", r["due"] or far))
    return rows


def staff_client_loads(
    settings: Settings, client_id: str, engine: Engine | None = None
) -> list[LoadView]:
    """A client's loads for support (staff looks through the client's own scope)."""
    check_client_id(client_id)
    with tenant(client_id), engine_for(settings, engine) as bound, reading(bound) as conn:
        get_client(conn, client_id)
        latest = latest_applied_load(conn, client_id)
        return [_load_view(r, latest) for r in store_history(conn, client_id)]


def when(instant: datetime | None) -> str | None:
    """An instant as pages show it: Chile time, ``2026-12-09 14:00``."""
    iso = chile_iso(instant)
    return iso[:16].replace("T", " ") if iso else None


DATA_DOCS_KEY = "outbox/_data_docs"  # where quality.suites publishes the Data Docs site


def data_docs_page(settings: Settings, path: str, engine: Engine | None = None) -> bytes:
    """One file of the quality checkpoint's Data Docs site (``index.html`` for a folder), from
    wherever the site was published: this machine's outbox, or the database, where any worker
    published it (docs/storage.md). Staff only; a path that is no file of the site is
    ``NotFoundError``."""
    from orgload.db import STAFF_OWNER, staff
    from orgload.storage import check_key, open_storage

    path = path.strip("/") or "index.html"
    try:
        key = check_key(f"{DATA_DOCS_KEY}/{path}")
    except ValueError as exc:
        raise NotFoundError("data docs") from exc
    with staff(), engine_for(settings, engine) as bound:
        store = open_storage(settings, bound)
        for candidate in (key, f"{key}/index.html"):
            if store.exists(candidate, client_id=STAFF_OWNER):
                return store.read_bytes(candidate, client_id=STAFF_OWNER)
    raise NotFoundError("data docs")
