"""The web app (SPEC §8): FastAPI serving server-rendered Jinja2 pages over the service layer.

``create_app`` opens the database (reachable, schema current), starts the background worker
that applies confirmed loads, and mounts the pages: sign-in (``pages_auth``), the client
admin's (``pages_client``) and staff's (``pages_staff``). Route code calls service functions
only; every request runs in the database scope of its user (``Ctx.scope``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orgload.errors import (
    DatabaseUnavailableError,
    NotFoundError,
    OrgloadError,
    UnknownClientError,
)
from orgload.settings import Lang, Settings, load_settings
from web.context import LANG_COOKIE, Ctx, Forbidden, Redirect, pre_cookie, session_cookie
from web.settings import WebSettings, load_web_settings
from web.worker import Worker

HERE = Path(__file__).resolve().parent
FORM_BODY_MAX = 64 * 1024  # every form but the upload is a few fields


def create_app(settings: Settings | None = None, web: WebSettings | None = None) -> FastAPI:
    from service.database import open_database

    settings = settings or load_settings()
    web = web or load_web_settings()
    database = open_database(settings)
    worker = Worker(settings, web, database.engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            worker.stop()
            database.close()

    app = FastAPI(
        title="orgload", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    app.state.web = web
    app.state.engine = database.engine
    app.state.worker = worker
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from web import pages_auth, pages_client, pages_staff

    app.include_router(pages_auth.router)
    app.include_router(pages_client.router)
    app.include_router(pages_staff.router)

    @app.exception_handler(Redirect)
    async def _redirect(_request: Request, exc: Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        ctx = context(request)
        return ctx.render("error.html", status=403, title=ctx.t("refused"), message=ctx.t(exc.key))

    @app.exception_handler(OrgloadError)
    async def _refused(request: Request, exc: OrgloadError) -> Response:
        ctx = context(request)
        if isinstance(exc, NotFoundError | UnknownClientError):
            help_key = "link_invalid" if exc.code == "link_invalid" else "not_found_help"
            return ctx.render(
                "error.html", status=404, title=ctx.t("not_found"), message=ctx.t(help_key)
            )
        from web.i18n import error_text

        status = 409 if exc.exit_code == 1 else 400
        if isinstance(exc, DatabaseUnavailableError):
            status = 503
        message, exact = error_text(ctx.lang, exc.code, exc.message)
        # staff may need the service's own words when only the kind of error could be named
        detail = exc.message if not exact and ctx.me is not None and ctx.me.user.is_staff else None
        return ctx.render(
            "error.html", status=status, title=ctx.t("refused"), message=message, detail=detail
        )

    @app.exception_handler(404)
    async def _missing(request: Request, _exc: Exception) -> Response:
        ctx = context(request)
        return ctx.render(
            "error.html", status=404, title=ctx.t("not_found"), message=ctx.t("not_found_help")
        )

    app.add_middleware(SecurityHeaders)
    app.add_middleware(FormLimit, upload_paths=("/upload",))
    return app


def context(request: Request) -> Ctx:
    """The request as pages see it: settings, the signed-in user (or None), language, CSRF."""
    from service.users import session_user

    state = request.app.state
    web: WebSettings = state.web
    me = session_user(state.settings, request.cookies.get(session_cookie(web)), state.engine)
    lang_cookie = request.cookies.get(LANG_COOKIE)
    lang: Lang = "en" if lang_cookie == "en" else "es"
    ctx = Ctx(request, state.settings, web, state.engine, state.templates, lang, me)
    if me is None:
        pre = request.cookies.get(pre_cookie(web))
        if pre and 20 <= len(pre) <= 100:
            ctx.pre_token = pre
        else:
            ctx.new_pre_token = secrets.token_urlsafe(32)
    return ctx


PageCtx = Annotated[Ctx, Depends(context)]


def client_admin(ctx: PageCtx) -> Ctx:
    if ctx.me is None:
        raise Redirect("/login")
    if ctx.me.user.is_staff:
        raise Redirect("/staff")
    return ctx


def staff_user(ctx: PageCtx) -> Ctx:
    if ctx.me is None:
        raise Redirect("/login")
    if not ctx.me.user.is_staff:
        raise NotFoundError("staff pages")  # a client admin is told nothing more
    return ctx


ClientCtx = Annotated[Ctx, Depends(client_admin)]
StaffCtx = Annotated[Ctx, Depends(staff_user)]


async def csrf_form(request: Request, ctx: PageCtx) -> dict[str, str]:
    """The fields of a POSTed form, after its CSRF token is checked (403 otherwise)."""
    form = await request.form(max_files=0, max_fields=20, max_part_size=16 * 1024)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise Forbidden("csrf")  # a cross-origin POST: refused whatever its token
    ctx.check_csrf(fields.get("csrf"))
    return fields


Form = Annotated[dict[str, str], Depends(csrf_form)]


PAGE_POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
DOCS_POLICY = (
    b"default-src 'self' 'unsafe-inline' data: https:; form-action 'none'; "
    b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class SecurityHeaders:
    """Headers on every answer: no framing, no sniffing, a strict content policy, no caching
    of pages that show personal data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        # Data Docs (Great Expectations' own HTML) need its inline styles and scripts
        docs = scope["path"].startswith("/staff/data-docs/")
        policy = DOCS_POLICY if docs else PAGE_POLICY

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


class FormLimit:
    """Any request body but an upload's is refused past ``FORM_BODY_MAX`` bytes, counted as it
    arrives (a chunked body has no length to check first). The upload route holds its own,
    larger limit while it streams (``web/uploads.py``)."""

    def __init__(self, app: ASGIApp, upload_paths: tuple[str, ...]) -> None:
        self.app = app
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.upload_paths:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > FORM_BODY_MAX:
            await _too_large(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > FORM_BODY_MAX:
                    raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLargeError:
            await _too_large(send)


class _BodyTooLargeError(Exception):
    pass


async def _too_large(send: Callable[[Message], Awaitable[None]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": b"413 request body too large\n"})
