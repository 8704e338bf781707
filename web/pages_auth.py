"""Sign-in, sign-out, the one-time set-password link, and the language switch."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter
from fastapi.responses import Response

from orgload.errors import NotFoundError, UsageError
from web.app import Form, PageCtx
from web.context import LANG_COOKIE, pre_cookie, session_cookie, when

router = APIRouter()


def _local(path: str | None, default: str = "/") -> str:
    """A redirect target inside this site only (no ``//host``, no scheme)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path


@router.get("/")
def root(ctx: PageCtx) -> Response:
    if ctx.me is None:
        return ctx.redirect("/login")
    return ctx.redirect("/staff" if ctx.me.user.is_staff else "/home")


@router.get("/login")
def login_page(ctx: PageCtx, next: str | None = None) -> Response:
    if ctx.me is not None:
        return ctx.redirect("/")
    return ctx.render("login.html", next=_local(next, ""), error=None, email="")


@router.post("/login")
def login(ctx: PageCtx, form: Form) -> Response:
    from service.users import DEFAULT_POLICY, authenticate, open_session

    email = form.get("email", "")[:300]
    policy = replace(DEFAULT_POLICY, slow_seconds=ctx.web.sign_in_slow_seconds)
    result = authenticate(ctx.settings, email, form.get("password", ""), ctx.engine, policy=policy)
    if not result.ok or result.user is None:
        if result.status == "bad_credentials":
            message, status = ctx.t("bad_credentials"), 401
        else:
            message, status = ctx.t(result.status, at=when(result.retry_at)[11:]), 429
        return ctx.render(
            "login.html", status=status, next=form.get("next", ""), error=message, email=email
        )
    # A new session id at every sign-in: whatever session cookie the browser brought (one
    # planted by someone else included) is ended, never reused.
    token, _csrf = open_session(
        ctx.settings,
        result.user,
        ctx.engine,
        replaces=ctx.request.cookies.get(session_cookie(ctx.web)),
    )
    ctx.new_pre_token = None
    ctx.extra_cookies.append((session_cookie(ctx.web), token, {"samesite": "lax"}))
    ctx.extra_cookies.append((pre_cookie(ctx.web), "", {}))
    target = _local(form.get("next"), "/staff" if result.user.is_staff else "/home")
    return ctx.redirect(target)


@router.post("/logout")
def logout(ctx: PageCtx, form: Form) -> Response:
    from service.users import close_session

    close_session(ctx.settings, ctx.request.cookies.get(session_cookie(ctx.web)), ctx.engine)
    ctx.me = None
    ctx.extra_cookies.append((session_cookie(ctx.web), "", {}))
    return ctx.redirect("/login")


@router.get("/password/{token}")
def password_page(ctx: PageCtx, token: str) -> Response:
    from service.users import token_user

    user = token_user(ctx.settings, token[:200], ctx.engine)
    return ctx.render("password.html", token=token, email=user.email, error=None)


@router.post("/password/{token}")
def password_set(ctx: PageCtx, token: str, form: Form) -> Response:
    from service.users import set_password, token_user

    user = token_user(ctx.settings, token[:200], ctx.engine)
    password = form.get("password", "")
    error = None
    if password != form.get("password_again", ""):
        error = ctx.t("password_mismatch")
    else:
        try:
            set_password(ctx.settings, token[:200], password, ctx.engine)
        except UsageError:
            error = ctx.t("password_rule")
        except NotFoundError:
            raise
    if error:
        return ctx.render("password.html", status=400, token=token, email=user.email, error=error)
    return ctx.render(
        "login.html", next="", error=None, email=user.email, notice=ctx.t("password_set")
    )


@router.get("/lang/{code}")
def switch_language(ctx: PageCtx, code: str, next: str | None = None) -> Response:
    response = ctx.redirect(_local(next))
    if code in ("es", "en"):
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=365 * 86400,
            path="/",
            secure=ctx.web.secure_cookies,
            httponly=True,
            samesite="lax",
        )
    return response
