"""The web app in a real browser (Playwright driving Debian's chromium), on SQLite and
PostgreSQL: sign-in with a wrong password and the lockout; the invalid sample's errors and
annotated workbook; a valid file previewed, confirmed and applied; a second file the same
month refused by the quota; a client admin failing to open another client's pages; staff
authorizing a mass change and an incident worked to closed.

Never ``playwright install``: the browser is /usr/bin/chromium (``make browser`` installs it
with apt). Without it these tests skip on a laptop and fail in CI."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.databases import IN_CI
from tests.web.helpers import ADMIN_A, ADMIN_B, PASSWORD, STAFF, LiveServer, Site, serve

CHROMIUM = os.environ.get("ORGLOAD_TEST_CHROMIUM", "/usr/bin/chromium")
TIMEOUT = 60_000  # ms; two cores shared by several test runs


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        message = f"chromium not found at {CHROMIUM} (make browser installs it with apt)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def live(site: Site) -> Iterator[LiveServer]:
    with serve(site) as server:
        yield server


def _page(browser: Any, live: LiveServer) -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    context = browser.new_context(base_url=live.url, accept_downloads=True, locale="es-CL")
    context.set_default_timeout(TIMEOUT)
    return context.new_page()


def _sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()


def _upload(page: Any, *files: Path) -> None:
    page.goto("/upload")
    page.get_by_label("Archivo(s)").set_input_files([str(f) for f in files])
    page.get_by_role("button", name="Validar archivo").click()
    page.wait_for_url(re.compile(r"/uploads/\d+"))


def _blank_cargo(source: Path, target: Path) -> Path:
    """The sample with every person's Cargo blanked: a mass change (SPEC §3)."""
    import openpyxl

    workbook = openpyxl.load_workbook(source)
    sheet = workbook["Personas"]
    column = [c.value for c in sheet[1]].index("Cargo") + 1
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row=row, column=column).value = None
    workbook.save(target)
    return target


def test_sign_in_refuses_a_wrong_password_then_locks_the_account(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    from service.users import add_user, set_password

    added = add_user(site.settings, "bloqueo@acme.cl", client_id="acme")
    set_password(site.settings, added.token, PASSWORD)
    # a first wait of 4 s, not the default 1 s: a loaded machine takes over a second to bring
    # the login page back, and the right password then arrived after the wait was over
    slow = 4.0
    with serve(site, sign_in_slow_seconds=slow) as live:
        page = _page(browser, live)
        _sign_in(page, "bloqueo@acme.cl", "not the password")
        expect(page.get_by_role("alert")).to_contain_text("Correo o contraseña incorrectos")
        for _ in range(2):
            _sign_in(page, "bloqueo@acme.cl", "not the password")
        _sign_in(page, "bloqueo@acme.cl", PASSWORD)  # too soon after three failures
        expect(page.get_by_role("alert")).to_contain_text("Demasiados intentos")
        page.wait_for_timeout(slow * 1000 + 100)
        _sign_in(page, "bloqueo@acme.cl", "not the password")
        page.wait_for_timeout(2 * slow * 1000 + 100)
        _sign_in(page, "bloqueo@acme.cl", "not the password")  # the fifth failure
        expect(page.get_by_role("alert")).to_contain_text("bloqueada")
        _sign_in(page, "bloqueo@acme.cl", PASSWORD)
        expect(page.get_by_role("alert")).to_contain_text("bloqueada")
        assert "/login" in page.url


def test_a_client_admin_fixes_previews_confirms_and_meets_the_quota(
    browser: Any, live: LiveServer, site: Site, samples: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from service.incidents import list_incidents
    from service.loads import LoadRequest, run_load

    # beta has a load and an incident of its own, which acme must not open
    beta_load = run_load(
        site.settings,
        LoadRequest(client_id="beta", paths=[samples / "organizacion_invalida.xlsx"]),
    ).load_id
    beta_incident = list_incidents(site.settings, client_id="beta")[0].to_dict()["id"]

    page = _page(browser, live)
    _sign_in(page, ADMIN_A, "wrong password here")
    expect(page.get_by_role("alert")).to_contain_text("Correo o contraseña incorrectos")
    _sign_in(page, ADMIN_A)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme SpA")
    expect(page.locator("#quota-h + p")).to_contain_text("está disponible")

    page.goto("/template")
    with page.expect_download() as template:
        page.get_by_role("link", name="Plantilla en español (.xlsx)").click()
    assert template.value.suggested_filename == "plantilla_orgload.xlsx"
    assert Path(template.value.path()).read_bytes()[:2] == b"PK"

    # the invalid sample: every error, by sheet, with Excel rows; the annotated workbook
    _upload(page, samples / "organizacion_invalida.xlsx")
    expect(page.locator("#errors-summary")).to_contain_text("errores")
    expect(page.get_by_role("heading", name=re.compile("Hoja: Unidades"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Hoja: Personas"))).to_be_visible()
    expect(page.locator("table.errors").first).to_contain_text("unknown_reference")
    with page.expect_download() as report:
        page.locator("#report-link").click()
    saved = tmp_path / "errores.xlsx"
    report.value.save_as(saved)
    assert saved.read_bytes()[:2] == b"PK"

    # a fixed file: preview, the quota rule before the click, confirm, applied
    _upload(page, samples / "organizacion_2026-11.xlsx")
    expect(page.get_by_role("status")).to_contain_text("El archivo es válido")
    page.get_by_role("link", name="Ver qué cambiará").click()
    expect(page.locator("table.counts")).to_contain_text("250")
    expect(page.locator("#quota-note")).to_contain_text("se usa la cuota del mes")
    expect(page.locator(".confirm")).to_contain_text("una carga mensual por cliente")
    page.get_by_role("button", name="Confirmar y aplicar").click()
    expect(page.locator("#load-state")).to_contain_text("Aplicada")

    # a second file the same month: the preview warns, the load is refused by the quota
    _upload(page, samples / "organizacion_2026-12.xlsx")
    page.get_by_role("link", name="Ver qué cambiará").click()
    expect(page.locator("#quota-warning")).to_contain_text("ya se usó")
    page.get_by_role("link", name=re.compile(r"Personas: Modificadas")).click()
    expect(page.locator("table.changes")).to_contain_text("→")
    page.get_by_role("button", name="Enviar de todos modos").click()
    expect(page.locator("#load-state")).to_contain_text("Rechazada por la cuota")

    page.goto("/history")
    expect(page.locator("table")).to_contain_text("Aplicada")
    expect(page.locator("table")).to_contain_text("Rechazada por la cuota")
    page.goto("/home")
    expect(page.locator("#quota-h + p")).to_contain_text("ya fue aplicada")

    # another client's pages by URL: not found, nothing of theirs shown
    for url in (f"/loads/{beta_load}/file", f"/incidents/{beta_incident}", "/staff"):
        answer = page.goto(url)
        assert answer is not None
        assert answer.status == 404, url
        expect(page.get_by_role("heading", level=1)).to_contain_text("No encontrado")


def test_staff_authorize_a_mass_change_and_an_incident_is_worked_to_closed(
    browser: Any, live: LiveServer, site: Site, samples: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from service.loads import LoadRequest, run_load

    earlier = site.settings.model_copy(update={"now": datetime.now(UTC) - timedelta(days=35)})
    first = run_load(
        earlier, LoadRequest(client_id="beta", paths=[samples / "organizacion_2026-11.xlsx"])
    )
    assert first.status == "applied"

    admin = _page(browser, live)
    _sign_in(admin, ADMIN_B)
    _upload(admin, _blank_cargo(samples / "organizacion_2026-11.xlsx", tmp_path / "sin_cargo.xlsx"))
    admin.get_by_role("link", name="Ver qué cambiará").click()
    expect(admin.get_by_role("heading", name="Cambio masivo")).to_be_visible()
    expect(admin.locator("section.warn")).to_contain_text("soporte podrá autorizarlo")
    admin.get_by_role("button", name="Enviar de todos modos").click()
    expect(admin.locator("#load-state")).to_contain_text("Rechazada")

    staff = _page(browser, live)
    _sign_in(staff, STAFF)
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Clientes")
    staff.get_by_role("link", name="beta").first.click()
    staff.locator("table").first.get_by_role("link").first.click()  # the newest load
    expect(staff.locator("#load-status")).to_contain_text("mass_change")
    staff.get_by_label("Motivo").fill("Reestructuración confirmada por el cliente")
    staff.get_by_role("button", name="Autorizar el cambio masivo").click()
    expect(staff.locator("#load-state")).to_contain_text("Aplicada")
    expect(staff.locator("main")).to_contain_text(STAFF)  # the reason records who

    staff.goto("/staff/incidents?client=beta")
    staff.locator("table").get_by_role("link").first.click()
    expect(staff.locator("#incident-status")).to_have_attribute("data-status", "reported")
    expect(staff.get_by_label("Nuevo estado")).to_have_value("in_review")  # the next one
    staff.get_by_role("button", name="Cambiar estado").click()
    expect(staff.locator("#incident-status")).to_have_attribute("data-status", "in_review")
    staff.get_by_label("Nuevo estado").select_option("resolved")
    staff.get_by_label("Tipo de corrección").select_option("data")
    staff.get_by_label("Comentario").fill("Autorizado por soporte")
    staff.get_by_role("button", name="Cambiar estado").click()
    expect(staff.locator("#incident-status")).to_have_attribute("data-status", "resolved")
    incident_url = staff.url.replace("/staff", "")

    admin.goto(incident_url.replace(live.url, ""))
    admin.get_by_role("button", name="Aprobar la corrección y cerrar").click()
    expect(admin.locator("#incident-status")).to_have_attribute("data-status", "closed")
    staff.reload()
    expect(staff.locator("#incident-status")).to_have_attribute("data-status", "closed")
    expect(staff.locator("main")).to_contain_text(ADMIN_B)  # who approved, in the history
