"""Staff pages (support and ops): every client, incidents with their deadlines, a client's
loads, and the actions that need a reason — authorize a mass change, override the quota,
revert the latest load — each recorded with the staff user."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from orgload.errors import UsageError
from web.app import Form, StaffCtx
from web.pages_client import archived_download, render_status

router = APIRouter(prefix="/staff")

STATUSES = ("reported", "in_review", "resolved", "closed")
CORRECTIONS = ("recommendation", "configuration", "data", "database", "application")


@router.get("")
def clients(ctx: StaffCtx) -> Response:
    from service.overview import clients_overview

    with ctx.scope():
        rows = clients_overview(ctx.settings, ctx.engine)
    return ctx.render("staff_clients.html", rows=rows)


@router.get("/clients/{client_id}")
def client(ctx: StaffCtx, client_id: str) -> Response:
    from service.overview import client_home

    with ctx.scope():
        summary = client_home(ctx.settings, client_id, ctx.engine)
    return ctx.render("staff_client.html", home=summary)


@router.get("/clients/{client_id}/loads/{load_id}")
def load(ctx: StaffCtx, client_id: str, load_id: int) -> Response:
    from service.overview import load_view

    with ctx.scope():
        view = load_view(ctx.settings, client_id, load_id, ctx.engine)
    return ctx.render("staff_load.html", load=view, prefect=ctx.web.prefect_ui_url)


@router.get("/clients/{client_id}/loads/{load_id}/file")
def load_file(ctx: StaffCtx, client_id: str, load_id: int) -> Response:
    return archived_download(ctx, client_id, load_id)


def _reason(form: dict[str, str]) -> str:
    reason = form.get("reason", "").strip()
    if not reason:
        raise UsageError("a reason is required", code="reason_required")
    return reason[:1000]


@router.post("/clients/{client_id}/loads/{load_id}/authorize")
def authorize(ctx: StaffCtx, client_id: str, load_id: int, form: Form) -> Response:
    from service.uploads import authorize_load

    what = form.get("what", "")
    if what not in ("mass_change", "override_quota"):
        raise UsageError("authorize mass_change or override_quota", code="authorize_what")
    with ctx.scope():
        upload = authorize_load(
            ctx.settings,
            client_id,
            load_id,
            what=what,  # type: ignore[arg-type]
            by=ctx.email,
            reason=_reason(form),
            engine=ctx.engine,
        )
    ctx.request.app.state.worker.submit(client_id, upload.id)
    return ctx.redirect(f"/staff/clients/{client_id}/uploads/{upload.id}")


@router.get("/clients/{client_id}/uploads/{upload_id}")
def upload_status(ctx: StaffCtx, client_id: str, upload_id: int) -> Response:
    return render_status(ctx, client_id, upload_id)


@router.post("/clients/{client_id}/loads/{load_id}/revert")
def revert(ctx: StaffCtx, client_id: str, load_id: int, form: Form) -> Response:
    from service.loads import revert_load

    with ctx.scope():
        outcome = revert_load(
            ctx.settings, client_id, load_id, f"{_reason(form)} — {ctx.email}", ctx.engine
        )
    return ctx.redirect(f"/staff/clients/{client_id}/loads/{outcome.load_id}")


@router.get("/data-docs/{path:path}")
def data_docs(ctx: StaffCtx, path: str) -> Response:
    """The Great Expectations Data Docs of the quality checkpoint, to staff only, from the
    storage the checkpoint published them to (any worker's, with the database store)."""
    import mimetypes

    from service.overview import data_docs_page

    body = data_docs_page(ctx.settings, path)
    kind = mimetypes.guess_type(path or "index.html")[0] or "text/html"
    if path.strip("/") and "." not in path.rsplit("/", 1)[-1]:
        kind = "text/html"  # a folder: its index.html
    return Response(body, media_type=kind)


@router.get("/incidents")
def incidents(
    ctx: StaffCtx,
    client: str = "",
    status: str = "",
    level: str = "",
    overdue: str = "",
) -> Response:
    from service.overview import staff_incidents

    chosen_level = int(level) if level in ("1", "2", "3") else None
    with ctx.scope():
        rows = staff_incidents(
            ctx.settings,
            client_id=client.strip() or None,
            status=status if status in STATUSES else None,
            level=chosen_level,
            overdue=overdue == "1",
            engine=ctx.engine,
        )
    filters = {"client": client, "status": status, "level": level, "overdue": overdue}
    return ctx.render(
        "incidents.html", incidents=rows, staff_view=True, filters=filters, statuses=STATUSES
    )


@router.get("/incidents/{incident_id}")
def incident(ctx: StaffCtx, incident_id: str) -> Response:
    from service.incidents import show_incident

    with ctx.scope():
        detail = show_incident(ctx.settings, incident_id[:40], ctx.engine)
    return ctx.render(
        "incident.html",
        incident=detail,
        staff_view=True,
        statuses=STATUSES,
        corrections=CORRECTIONS,
        prefect=ctx.web.prefect_ui_url,
    )


@router.post("/incidents/{incident_id}/transition")
def transition(ctx: StaffCtx, incident_id: str, form: Form) -> Response:
    from service.incidents import transition_incident

    with ctx.scope():
        transition_incident(
            ctx.settings,
            incident_id[:40],
            form.get("to", ""),
            correction=form.get("correction") or None,
            by=ctx.email,
            comment=(form.get("comment") or "").strip()[:1000] or None,
            engine=ctx.engine,
        )
    return ctx.redirect(f"/staff/incidents/{incident_id[:40]}")


@router.post("/incidents/{incident_id}/escalate")
def escalate(ctx: StaffCtx, incident_id: str, form: Form) -> Response:
    from service.incidents import escalate_incident

    with ctx.scope():
        escalate_incident(
            ctx.settings, incident_id[:40], _reason(form), by=ctx.email, engine=ctx.engine
        )
    return ctx.redirect(f"/staff/incidents/{incident_id[:40]}")
