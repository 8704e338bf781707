"""What every page request carries: the signed-in user, the language, CSRF, cookies, scopes.

The session cookie holds a random token (the database keeps its SHA-256); it is HttpOnly,
SameSite=Lax and Secure (``__Host-`` prefixed) unless ``ORGLOAD_WEB_SECURE_COOKIES=false`` for
plain-HTTP development on 127.0.0.1. Forms shown before sign-in carry the token of a separate
pre-session cookie (double submit, SameSite=Strict); after sign-in every form carries the
session's own CSRF token, checked on every POST.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from orgload.clock import chile_iso
from orgload.db import staff, tenant
from orgload.settings import Lang, Settings
from web.i18n import word
from web.settings import WebSettings
from web.uploads import same_token

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates
    from sqlalchemy import Engine

    from service.users import SessionUser

LANG_COOKIE = "orgload_lang"


def session_cookie(web: WebSettings) -> str:
    return "__Host-orgload_session" if web.secure_cookies else "orgload_session"


def pre_cookie(web: WebSettings) -> str:
    return "__Host-orgload_pre" if web.secure_cookies else "orgload_pre"


class Redirect(Exception):  # noqa: N818 - control flow: answered as a 303
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class Forbidden(Exception):  # noqa: N818 - answered as a 403 page
    def __init__(self, key: str = "csrf") -> None:
        super().__init__(key)
        self.key = key


@dataclass(slots=True)
class Ctx:
    """One request as the pages see it."""

    request: Request
    settings: Settings
    web: WebSettings
    engine: Engine
    templates: Jinja2Templates
    lang: Lang
    me: SessionUser | None
    pre_token: str | None = None  # the pre-session CSRF token (signed out)
    new_pre_token: str | None = None  # set as a cookie with the response
    extra_cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def csrf(self) -> str:
        if self.me is not None:
            return self.me.csrf
        return self.pre_token or self.new_pre_token or ""

    @property
    def client_id(self) -> str:
        assert self.me is not None
        assert self.me.user.client_id is not None
        return self.me.user.client_id

    @property
    def email(self) -> str:
        assert self.me is not None
        return self.me.user.email

    def t(self, key: str, **values: Any) -> str:
        return word(self.lang, key, **values)

    def scope(self) -> AbstractContextManager[None]:
        """The database scope of this request: the client admin's tenant, or staff mode."""
        if self.me is not None and self.me.user.is_staff:
            return staff()
        if self.me is not None and self.me.user.client_id is not None:
            return tenant(self.me.user.client_id)
        return _no_scope()

    def check_csrf(self, given: str | None) -> None:
        if not same_token(self.csrf, given):
            raise Forbidden("csrf")

    def render(self, name: str, status: int = 200, **context: Any) -> Response:
        response = self.templates.TemplateResponse(
            self.request,
            name,
            {"ctx": self, "t": self.t, "when": when, "me": self.me, "lang": self.lang, **context},
            status_code=status,
        )
        return self.finish(response)

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: Response) -> Response:
        if self.new_pre_token:
            self.set_cookie(response, pre_cookie(self.web), self.new_pre_token, samesite="strict")
        for name, value, options in self.extra_cookies:
            if value:
                self.set_cookie(response, name, value, **options)
            else:
                response.delete_cookie(
                    name, path="/", secure=self.web.secure_cookies, httponly=True
                )
        return response

    def set_cookie(
        self,
        response: Response,
        name: str,
        value: str,
        *,
        samesite: str = "lax",
        max_age: int | None = None,
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.web.secure_cookies,
            httponly=True,
            samesite=samesite,  # type: ignore[arg-type]
        )


@contextmanager
def _no_scope() -> Iterator[None]:
    yield


def when(instant: datetime | str | None) -> str:
    """An instant in Chile time as pages show it: ``2026-12-09 14:00``."""
    if instant is None:
        return "—"
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    iso = chile_iso(instant) or ""
    return iso[:16].replace("T", " ")
