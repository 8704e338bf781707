"""The client admin's pages: home, template, upload, result, preview, confirm, status,
history with downloads, incidents. The client is always the signed-in user's own (never an id
from the URL or a form), and every call runs in that client's tenant scope."""

from __future__ import annotations

import math
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from orgload.settings import Lang
from web.app import ClientCtx, Form
from web.context import Ctx
from web.uploads import UploadRefused, receive, same_token, scratch_folder

router = APIRouter()

ENTITIES = ("unidades", "personas")
KINDS = ("inserted", "updated", "deactivated")


@router.get("/home")
def home(ctx: ClientCtx) -> Response:
    from service.overview import client_home
    from service.uploads import recent_uploads

    with ctx.scope():
        summary = client_home(ctx.settings, ctx.client_id, ctx.engine)
        waiting = [
            u for u in recent_uploads(ctx.settings, ctx.client_id, ctx.engine) if u.waiting_off_peak
        ]
    return ctx.render("home.html", home=summary, waiting=waiting)


@router.get("/template")
def template_page(ctx: ClientCtx) -> Response:
    return ctx.render("template.html")


@router.get("/template/{lang}.xlsx")
def template_download(ctx: ClientCtx, lang: str) -> Response:
    from service.files import template_name, write_template

    chosen: Lang = "en" if lang == "en" else "es"
    target = ctx.settings.home / "web" / f"template-{chosen}.xlsx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        write_template(target, chosen, settings=ctx.settings)
    return _download(target, template_name(chosen).name)


@router.get("/upload")
def upload_page(ctx: ClientCtx) -> Response:
    return ctx.render("upload.html", error=None)


@router.post("/upload")
async def upload(request: Request, ctx: ClientCtx) -> Response:
    from service.uploads import discard_scratch, receive_upload

    folder = scratch_folder(ctx.settings.home)
    limit = ctx.settings.max_file_bytes
    try:
        received = await receive(
            request.headers,
            request.stream(),
            folder,
            max_body=limit + ctx.web.upload_overhead_kb * 1024,
            max_file=limit,
            csrf_ok=lambda given: same_token(ctx.csrf, given),
        )
        if not received.paths:
            raise UploadRefused(400, "no_file")

        def store() -> int:
            with ctx.scope():
                return receive_upload(
                    ctx.settings,
                    ctx.client_id,
                    received.paths,
                    by=ctx.email,
                    display_name=", ".join(received.names),
                    lang=ctx.lang,
                    engine=ctx.engine,
                ).id

        upload_id = await run_in_threadpool(store)
    except UploadRefused as refused:
        message = ctx.t(refused.key, mb=f"{ctx.settings.max_file_mb:g}")
        response = ctx.render("upload.html", status=refused.status, error=message)
        if refused.status == 413:
            response.headers["connection"] = "close"  # the rest of the body is not read
        return response
    finally:
        discard_scratch(folder)
    if "application/json" in request.headers.get("accept", ""):  # the page's progress script
        from fastapi.responses import JSONResponse

        return JSONResponse({"location": f"/uploads/{upload_id}"})
    return ctx.redirect(f"/uploads/{upload_id}")


@router.get("/uploads/{upload_id}")
def result(ctx: ClientCtx, upload_id: int) -> Response:
    from service.uploads import get_upload, upload_report

    with ctx.scope():
        upload = get_upload(ctx.settings, ctx.client_id, upload_id, ctx.engine)
        if upload.status in ("queued", "applying", "done"):
            return ctx.redirect(f"/uploads/{upload_id}/status")
        report = upload_report(ctx.settings, ctx.client_id, upload_id, ctx.lang, ctx.engine)
    return ctx.render("result.html", upload=upload, report=report)


@router.get("/uploads/{upload_id}/report.xlsx")
def report_download(ctx: ClientCtx, upload_id: int) -> Response:
    from service.uploads import report_file

    with ctx.scope():
        path = report_file(ctx.settings, ctx.client_id, upload_id, ctx.engine)
    return _download(
        path, f"errores-{upload_id}.xlsx" if ctx.lang == "es" else f"errors-{upload_id}.xlsx"
    )


@router.get("/uploads/{upload_id}/preview")
def preview(
    ctx: ClientCtx,
    upload_id: int,
    entity: str = "",
    kind: str = "",
    page: int = 1,
) -> Response:
    return render_preview(ctx, ctx.client_id, upload_id, entity, kind, page, base="/uploads")


def render_preview(
    ctx: Ctx, client_id: str, upload_id: int, entity: str, kind: str, page: int, *, base: str
) -> Response:
    from service.uploads import PAGE_SIZE, applies_at, preview_upload

    with ctx.scope():
        shown = preview_upload(ctx.settings, client_id, upload_id, ctx.engine)
        after = applies_at(ctx.settings, client_id, ctx.engine)
    if entity not in ENTITIES or kind not in KINDS:
        # the first change list that has something in it, in the tabs' order
        tabs = [(e, k) for e in ENTITIES for k in KINDS]
        entity, kind = next(
            ((e, k) for e, k in tabs if shown.total(e, k)),  # type: ignore[arg-type]
            ("personas", "updated"),
        )
    total = shown.total(entity, kind)  # type: ignore[arg-type]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = shown.page(entity, kind, page)  # type: ignore[arg-type]
    return ctx.render(
        "preview.html",
        preview=shown,
        entity=entity,
        kind=kind,
        page=page,
        pages=pages,
        rows=rows,
        base=base,
        entities=ENTITIES,
        kinds=KINDS,
        applies_at=after,
    )


@router.post("/uploads/{upload_id}/confirm")
def confirm(ctx: ClientCtx, upload_id: int, form: Form) -> Response:
    from service.uploads import confirm_upload

    with ctx.scope():
        confirmed = confirm_upload(
            ctx.settings, ctx.client_id, upload_id, by=ctx.email, engine=ctx.engine
        )
    if not confirmed.waiting_off_peak:  # else applied once the off-peak window opens
        ctx.request.app.state.worker.submit(ctx.client_id, upload_id)
    return ctx.redirect(f"/uploads/{upload_id}/status")


@router.get("/uploads/{upload_id}/status")
def status(ctx: ClientCtx, upload_id: int) -> Response:
    return render_status(ctx, ctx.client_id, upload_id)


def render_status(ctx: Ctx, client_id: str, upload_id: int) -> Response:
    from service.overview import load_view
    from service.uploads import follow_upload

    with ctx.scope():
        upload = follow_upload(ctx.settings, client_id, upload_id, ctx.engine)
        load = (
            load_view(ctx.settings, client_id, upload.load_id, ctx.engine)
            if upload.load_id is not None
            else None
        )
    return ctx.render("status.html", upload=upload, load=load)


@router.get("/history")
def history(ctx: ClientCtx) -> Response:
    from service.overview import client_home
    from service.uploads import recent_uploads

    with ctx.scope():
        summary = client_home(ctx.settings, ctx.client_id, ctx.engine)
        uploads = recent_uploads(ctx.settings, ctx.client_id, ctx.engine, limit=100)
    reports = {
        u.load_id: u.id for u in uploads if u.load_id is not None and (u.errors or u.warnings)
    }
    return ctx.render("history.html", loads=summary.loads, reports=reports, uploads=uploads)


@router.get("/loads/{load_id}/file")
def load_file(ctx: ClientCtx, load_id: int) -> Response:
    return archived_download(ctx, ctx.client_id, load_id)


def archived_download(ctx: Ctx, client_id: str, load_id: int) -> Response:
    from service.overview import load_archive_files

    with ctx.scope():
        files = load_archive_files(ctx.settings, client_id, load_id, ctx.engine)
    if len(files) == 1:
        return _download(files[0], f"carga-{load_id}{files[0].suffix}")
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            bundle.write(path, arcname=path.name)
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="carga-{load_id}.zip"'},
    )


@router.get("/incidents")
def incidents(ctx: ClientCtx) -> Response:
    from service.overview import client_incidents

    with ctx.scope():
        rows = client_incidents(ctx.settings, ctx.client_id, ctx.engine)
    return ctx.render("incidents.html", incidents=rows, staff_view=False)


@router.get("/incidents/{incident_id}")
def incident(ctx: ClientCtx, incident_id: str) -> Response:
    from service.incidents import show_incident

    with ctx.scope():
        detail = show_incident(ctx.settings, incident_id[:40], ctx.engine, client_id=ctx.client_id)
    return ctx.render("incident.html", incident=detail, staff_view=False)


@router.post("/incidents/{incident_id}/approve")
def approve(ctx: ClientCtx, incident_id: str, form: Form) -> Response:
    from service.overview import approve_incident

    with ctx.scope():
        approve_incident(
            ctx.settings, ctx.client_id, incident_id[:40], by=ctx.email, engine=ctx.engine
        )
    return ctx.redirect(f"/incidents/{incident_id[:40]}")


def _download(path: Path, name: str) -> Response:
    """A file as an attachment under a name we make (never a client-supplied one)."""
    return FileResponse(
        path,
        filename=name,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if path.suffix == ".xlsx"
        else "application/octet-stream",
        headers={"cache-control": "no-store"},
    )
