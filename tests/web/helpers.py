"""Helpers of the web app tests: the site (settings + engine), its HTTP clients, sign-in and
upload through the forms, and the app under a real uvicorn server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.testclient import TestClient
    from sqlalchemy import Engine

    from orgload.settings import Settings

PASSWORD = "correct horse battery staple"
ADMIN_A = "admin@acme.cl"
ADMIN_B = "admin@beta.cl"
STAFF = "soporte@orgload.cl"


@dataclass
class Site:
    settings: Settings
    engine: Engine

    def client(self, *, secure: bool = False, **web_options: Any) -> TestClient:
        TestClient = starlette_client_class()  # noqa: N806

        from web.app import create_app
        from web.settings import WebSettings

        app = create_app(self.settings, WebSettings(secure_cookies=secure, **web_options))
        return TestClient(app, base_url="https://testserver" if secure else "http://testserver")


def starlette_client_class() -> type[TestClient]:
    """Starlette's TestClient; it warns that it prefers ``httpx2`` over the ``httpx`` we have
    (uv.lock), which the warnings-as-errors setting would turn into a failure."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    return TestClient


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (from the next page)."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"email": email, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=True,
    )
    assert answer.status_code == 200, answer.text
    return csrf_of(answer.text)


def upload(client: TestClient, csrf: str, *files: Path) -> object:
    return client.post(
        "/upload",
        data={"csrf": csrf},
        files=[("files", (p.name, p.read_bytes())) for p in files],
        follow_redirects=False,
    )


@dataclass
class LiveServer:
    url: str
    port: int


@contextmanager
def serve(site: Site, **web_options: Any) -> Iterator[LiveServer]:
    """The app under a real uvicorn on a free loopback port, in a thread of the test."""
    import threading
    import time

    import uvicorn

    from web.app import create_app
    from web.settings import WebSettings

    port = free_port()
    app = create_app(site.settings, WebSettings(secure_cookies=False, **web_options))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_done(client: Any, url: str) -> str:
    """The page at ``url`` once it stops refreshing itself (a status page whose load ended)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = client.get(url)
        if 'http-equiv="refresh"' not in page.text:
            return str(page.text)
        time.sleep(0.3)
    raise AssertionError(f"{url} never finished")
