"""The web app's security at the HTTP level, on SQLite and PostgreSQL: CSRF on every form,
no session fixation, cookie flags, slow-down and lockout, sign-out, and a client admin of one
client never reaching another's uploads, loads, incidents or downloads."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.helpers import ADMIN_A, ADMIN_B, PASSWORD, STAFF, Site, csrf_of, sign_in, upload


def _session_cookie(answer: Any, name: str = "orgload_session") -> str | None:
    for header in answer.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


# --- CSRF ---------------------------------------------------------------------------------


def test_sign_in_without_the_forms_token_is_refused(site: Site) -> None:
    with site.client() as client:
        client.get("/login")
        answer = client.post("/login", data={"email": ADMIN_A, "password": PASSWORD})
        assert answer.status_code == 403
        assert client.get("/home", follow_redirects=False).status_code == 303  # not signed in


def test_every_signed_in_form_refuses_a_missing_or_wrong_token(site: Site, samples: Path) -> None:
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        made = upload(client, csrf, samples / "organizacion_2026-11.xlsx")
        location = made.headers["location"]
        for token in (None, "wrong", csrf[:-1]):
            data = {} if token is None else {"csrf": token}
            assert client.post(f"{location}/confirm", data=data).status_code == 403
            assert client.post("/logout", data=data).status_code == 403
            refused = client.post(
                "/upload",
                data=data,
                files=[("files", ("x.xlsx", (samples / "organizacion_2026-11.xlsx").read_bytes()))],
            )
            assert refused.status_code == 403
        # nothing happened: the upload still waits for its confirmation, the session lives on
        page = client.get(f"{location}/preview")
        assert page.status_code == 200
        assert f'action="{location}/confirm"' in page.text
        assert client.get("/home").status_code == 200


def test_a_cross_origin_post_is_refused_even_with_the_token(site: Site, samples: Path) -> None:
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        made = upload(client, csrf, samples / "organizacion_2026-11.xlsx")
        answer = client.post(
            f"{made.headers['location']}/confirm",
            data={"csrf": csrf},
            headers={"origin": "https://evil.example"},
        )
        assert answer.status_code == 403


def test_the_upload_token_must_come_before_the_file(site: Site, samples: Path) -> None:
    """The streaming receiver writes no file byte before it has seen a valid token."""
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        boundary = "b0undary"
        data = (samples / "organizacion_2026-11.xlsx").read_bytes()
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.xlsx"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + data
        body += (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}'
            f"\r\n--{boundary}--\r\n"
        ).encode()
        answer = client.post(
            "/upload",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert answer.status_code == 403
        assert not list((site.settings.home / "archive").glob("*/*"))


def test_sign_in_never_redirects_off_the_site(site: Site) -> None:
    with site.client() as client:
        page = client.get("/login?next=//evil.example/x")
        assert "evil.example" not in page.text
        answer = client.post(
            "/login",
            data={
                "email": ADMIN_A,
                "password": PASSWORD,
                "csrf": csrf_of(page.text),
                "next": "//evil.example/x",
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/home"
        switched = client.get("/lang/en?next=https://evil.example/", follow_redirects=False)
        assert switched.headers["location"] == "/"


# --- sessions -------------------------------------------------------------------------------


def test_a_session_id_planted_before_sign_in_is_never_used(site: Site) -> None:
    with site.client() as client:
        client.cookies.set(
            "orgload_session", "planted-by-an-attacker-0123456789", domain="testserver.local"
        )
        sign_in(client, ADMIN_A)
        issued = client.cookies.get("orgload_session")
        assert issued
        assert issued != "planted-by-an-attacker-0123456789"
    with site.client() as attacker:
        attacker.cookies.set(
            "orgload_session", "planted-by-an-attacker-0123456789", domain="testserver.local"
        )
        assert attacker.get("/home", follow_redirects=False).status_code == 303


def test_signing_in_again_rotates_the_session_and_ends_the_old_one(site: Site) -> None:
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        first = client.cookies.get("orgload_session")
        answer = client.post(
            "/login",
            data={"email": ADMIN_A, "password": PASSWORD, "csrf": csrf},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        second = client.cookies.get("orgload_session")
        assert second
        assert first
        assert second != first
        assert client.get("/home").status_code == 200
    with site.client() as old:
        old.cookies.set("orgload_session", first, domain="testserver.local")
        assert old.get("/home", follow_redirects=False).status_code == 303  # ended server-side


def test_sign_out_ends_the_session_on_the_server(site: Site) -> None:
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        token = client.cookies.get("orgload_session")
        assert (
            client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        )
    with site.client() as replay:
        replay.cookies.set("orgload_session", token, domain="testserver.local")
        assert replay.get("/home", follow_redirects=False).status_code == 303


def test_cookies_are_secure_httponly_and_samesite(site: Site) -> None:
    with site.client(secure=True) as client:
        page = client.get("/login")
        pre = _session_cookie(page, "__Host-orgload_pre")
        assert pre is not None
        assert re.search(r"(?i); secure", pre)
        assert re.search(r"(?i); httponly", pre)
        assert re.search(r"(?i)samesite=strict", pre)
        assert "Path=/" in pre
        answer = client.post(
            "/login",
            data={"email": ADMIN_A, "password": PASSWORD, "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        cookie = _session_cookie(answer, "__Host-orgload_session")
        assert cookie is not None
        assert re.search(r"(?i); secure", cookie)
        assert re.search(r"(?i); httponly", cookie)
        assert re.search(r"(?i)samesite=lax", cookie)
        assert "Path=/" in cookie
        assert "domain=" not in cookie.lower()  # __Host-: this host only
        assert client.get("/home").status_code == 200


def test_pages_forbid_framing_and_caching(site: Site) -> None:
    with site.client() as client:
        sign_in(client, ADMIN_A)
        page = client.get("/home")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"


# --- slow-down and lockout ------------------------------------------------------------------


def test_repeated_failures_slow_down_even_the_right_password(site: Site) -> None:
    # a first wait of 30 s: the right password must come "too soon" however slow the machine
    with site.client(sign_in_slow_seconds=30) as client:
        csrf = csrf_of(client.get("/login").text)
        for _ in range(3):
            wrong = client.post(
                "/login", data={"email": ADMIN_A, "password": "not it at all", "csrf": csrf}
            )
            assert wrong.status_code == 401
            assert "Correo o contraseña incorrectos" in wrong.text
        refused = client.post("/login", data={"email": ADMIN_A, "password": PASSWORD, "csrf": csrf})
        assert refused.status_code == 429
        assert "Demasiados intentos" in refused.text
        assert client.get("/home", follow_redirects=False).status_code == 303


def test_the_slow_down_starts_at_the_configured_wait_and_doubles(site: Site) -> None:
    from service.users import DEFAULT_POLICY, authenticate

    policy = replace(DEFAULT_POLICY, slow_seconds=5)
    at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def attempt(password: str, after: float = 0) -> Any:  # ``after`` seconds past ``at``, now
        moment = at + timedelta(seconds=after)
        engine, settings = site.engine, site.settings
        return authenticate(settings, ADMIN_A, password, engine, policy=policy, now=moment)

    for _ in range(3):
        assert attempt("wrong").status == "bad_credentials"
    early = attempt(PASSWORD, after=4)
    assert early.status == "slow_down"
    assert early.retry_at == at + timedelta(seconds=5)
    at += timedelta(seconds=6)
    assert attempt("wrong").status == "bad_credentials"
    doubled = attempt(PASSWORD, after=9)
    assert doubled.status == "slow_down"
    assert doubled.retry_at == at + timedelta(seconds=10)
    assert attempt(PASSWORD, after=11).status == "ok"


def test_an_unknown_address_answers_as_a_wrong_password(site: Site) -> None:
    with site.client() as client:
        csrf = csrf_of(client.get("/login").text)
        answer = client.post(
            "/login", data={"email": "nobody@acme.cl", "password": PASSWORD, "csrf": csrf}
        )
        assert answer.status_code == 401
        assert "Correo o contraseña incorrectos" in answer.text


def test_five_failures_lock_the_account_until_the_lock_runs_out(site: Site) -> None:
    from service.users import authenticate

    start = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    at = start
    answers = []
    for _ in range(5):
        answers.append(authenticate(site.settings, ADMIN_A, "wrong password", site.engine, now=at))
        at += timedelta(seconds=10)  # past each slow-down wait
    assert [a.status for a in answers] == ["bad_credentials"] * 4 + ["locked"]
    locked = authenticate(site.settings, ADMIN_A, PASSWORD, site.engine, now=at)
    assert locked.status == "locked"
    assert locked.retry_at == start + timedelta(seconds=40, minutes=15)
    later = authenticate(
        site.settings, ADMIN_A, PASSWORD, site.engine, now=at + timedelta(minutes=16)
    )
    assert later.ok


# --- set-password link ---------------------------------------------------------------------


def test_the_set_password_link_works_once(site: Site) -> None:
    from service.users import add_user

    added = add_user(site.settings, "nuevo@acme.cl", client_id="acme")
    with site.client() as client:
        page = client.get(f"/password/{added.token}")
        assert page.status_code == 200
        data = {"password": "a long enough phrase", "password_again": "a long enough phrase"}
        done = client.post(f"/password/{added.token}", data={**data, "csrf": csrf_of(page.text)})
        assert done.status_code == 200
        assert client.get(f"/password/{added.token}").status_code == 404
        sign_in(client, "nuevo@acme.cl", "a long enough phrase")


def test_a_short_password_is_refused(site: Site) -> None:
    from service.users import add_user

    added = add_user(site.settings, "corto@acme.cl", client_id="acme")
    with site.client() as client:
        page = client.get(f"/password/{added.token}")
        data = {"password": "short", "password_again": "short", "csrf": csrf_of(page.text)}
        assert client.post(f"/password/{added.token}", data=data).status_code == 400
        assert client.get(f"/password/{added.token}").status_code == 200  # still unspent


# --- tenant isolation -----------------------------------------------------------------------


@pytest.fixture
def acme_records(site: Site, samples: Path, tmp_path: Path) -> dict[str, Any]:
    """As admin of acme: an invalid upload (report), an applied load, a rejected one with its
    incident. Returns their ids."""
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        invalid = upload(client, csrf, samples / "organizacion_invalida.xlsx")
        applied = upload(client, csrf, samples / "organizacion_2026-11.xlsx")
        client.post(f"{applied.headers['location']}/confirm", data={"csrf": csrf})
    from service.incidents import list_incidents
    from service.loads import client_history

    history = client_history(site.settings, "acme")
    # the invalid file run as a load: rejected, with a level-1 incident for acme
    from service.loads import LoadRequest, run_load

    rejected = run_load(
        site.settings,
        LoadRequest(client_id="acme", paths=[samples / "organizacion_invalida.xlsx"]),
    )
    incidents = list_incidents(site.settings, client_id="acme")
    return {
        "invalid": invalid.headers["location"],
        "applied": applied.headers["location"],
        "load": history.entries[0].load_id,
        "rejected_load": rejected.load_id,
        "incident": incidents[0].to_dict()["id"],
    }


def test_a_client_admin_never_reaches_another_clients_records(
    site: Site, acme_records: dict[str, Any]
) -> None:
    r = acme_records
    with site.client() as client:
        csrf = sign_in(client, ADMIN_B)
        for url in (
            r["invalid"],
            f"{r['invalid']}/report.xlsx",
            f"{r['applied']}",
            f"{r['applied']}/preview",
            f"{r['applied']}/status",
            f"/loads/{r['load']}/file",
            f"/loads/{r['rejected_load']}/file",
            f"/incidents/{r['incident']}",
            "/staff",
            "/staff/incidents",
            f"/staff/clients/acme/loads/{r['load']}",
        ):
            answer = client.get(url, follow_redirects=False)
            assert answer.status_code == 404, url
            assert "Acme" not in answer.text
        for url in (f"{r['invalid']}/confirm", f"/incidents/{r['incident']}/approve"):
            assert client.post(url, data={"csrf": csrf}).status_code == 404, url
        # beta's own pages show none of acme's records
        for url in ("/home", "/history", "/incidents"):
            page = client.get(url)
            assert page.status_code == 200
            assert r["incident"] not in page.text
            assert "organizacion_2026-11.xlsx" not in page.text
    with site.client() as owner:  # and acme still sees its own
        sign_in(owner, ADMIN_A)
        assert owner.get(f"/incidents/{r['incident']}").status_code == 200
        assert owner.get(f"/loads/{r['load']}/file").status_code == 200
        assert owner.get(f"{r['invalid']}/report.xlsx").status_code == 200


def test_staff_pages_need_a_staff_user_and_see_every_client(
    site: Site, acme_records: dict[str, Any]
) -> None:
    with site.client() as client:
        sign_in(client, STAFF)
        clients = client.get("/staff")
        assert "acme" in clients.text
        assert "beta" in clients.text
        detail = client.get(f"/staff/incidents/{acme_records['incident']}")
        assert detail.status_code == 200
        assert client.get("/home", follow_redirects=False).headers["location"] == "/staff"
