"""``make web-demo``: its setup step (``ops/web_demo.py``, which the Makefile runs as ``python -m
ops.web_demo``) prints the address and credentials that then sign in over HTTP, as each demo
user's role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.web.helpers import csrf_of, starlette_client_class


def test_the_web_demo_setup_prints_credentials_that_sign_in(
    orgload_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops import web_demo
    from orgload.settings import load_settings
    from web.app import create_app
    from web.settings import WebSettings

    monkeypatch.setenv("ORGLOAD_DATABASE_URL", f"sqlite:///{orgload_env}/orgload.db")
    monkeypatch.setenv("ORGLOAD_WEB_PORT", "8123")
    web_demo.main()
    printed = capsys.readouterr().out
    assert "http://127.0.0.1:8123/" in printed
    found = dict(re.findall(r"(\S+@demo\.cl)  password: (\S+)", printed))
    assert set(found) == {"admin@demo.cl", "soporte@demo.cl"}
    assert len(set(found.values())) == 2  # two passwords, made for this run

    app = create_app(load_settings(), WebSettings(secure_cookies=False))
    for email, landing, heading in (
        ("admin@demo.cl", "/home", "Demo SpA"),
        ("soporte@demo.cl", "/staff", "Clientes"),
    ):
        with starlette_client_class()(app) as client:
            csrf = csrf_of(client.get("/login").text)
            wrong = client.post(
                "/login", data={"email": email, "password": "not the password", "csrf": csrf}
            )
            assert wrong.status_code == 401
            signed = client.post(
                "/login",
                data={"email": email, "password": found[email], "csrf": csrf},
                follow_redirects=True,
            )
            assert signed.status_code == 200
            assert signed.url.path == landing
            assert heading in signed.text
