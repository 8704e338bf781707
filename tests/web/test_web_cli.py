"""``orgload users add|list`` and ``orgload web``: the one-time link works, mistakes exit 2."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from cli.app import app
from tests.web.helpers import Site

runner = CliRunner()


def test_users_add_prints_a_one_time_link_that_opens_the_set_password_page(site: Site) -> None:
    from service.users import token_user

    result = runner.invoke(
        app, ["users", "add", "Nueva@Acme.cl", "--client", "acme", "--base-url", "https://x.cl/"]
    )
    assert result.exit_code == 0, result.output
    link = re.search(r"https://x\.cl/password/(\S+)", result.output)
    assert link is not None
    assert token_user(site.settings, link.group(1)).email == "nueva@acme.cl"
    staff = runner.invoke(app, ["users", "add", "ops@orgload.cl", "--staff", "--json"])
    assert staff.exit_code == 0, staff.output
    assert json.loads(staff.output)["role"] == "staff"


def test_users_add_refuses_mistakes_in_one_line(site: Site) -> None:
    cases = [
        (["users", "add", "a@acme.cl"], 2),  # neither --client nor --staff
        (["users", "add", "a@acme.cl", "--client", "acme", "--staff"], 2),
        (["users", "add", "a@acme.cl", "--client", "nadie"], 2),  # unknown client
        (["users", "add", "no-es-correo", "--client", "acme"], 2),
        (["users", "add", "admin@acme.cl", "--client", "acme"], 1),  # exists already
    ]
    for args, code in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == code, (args, result.output)
        assert "Traceback" not in result.output


def test_users_list_shows_every_user_and_whether_the_link_is_pending(site: Site) -> None:
    runner.invoke(app, ["users", "add", "pendiente@beta.cl", "--client", "beta"])
    result = runner.invoke(app, ["users", "list", "--json"])
    assert result.exit_code == 0, result.output
    users = {u["email"]: u for u in json.loads(result.output)}
    assert users["soporte@orgload.cl"]["role"] == "staff"
    assert users["admin@acme.cl"]["client_id"] == "acme"
    assert users["admin@acme.cl"]["has_password"] is True
    assert users["pendiente@beta.cl"]["has_password"] is False
    assert "password_hash" not in json.dumps(users)


def test_orgload_web_has_help() -> None:
    result = runner.invoke(app, ["web", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output


def test_clients_add_apply_off_peak_is_the_clients_setting(site: Site) -> None:
    added = runner.invoke(
        app, ["clients", "add", "noche", "--name", "Noche SpA", "--apply-off-peak", "--json"]
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["apply_off_peak"] is True
    listed = runner.invoke(app, ["clients", "list", "--json"])
    settings = {c["id"]: c["apply_off_peak"] for c in json.loads(listed.output)}
    assert settings == {"acme": False, "beta": False, "noche": True}
    assert "--apply-off-peak" in runner.invoke(app, ["clients", "add", "--help"]).output
