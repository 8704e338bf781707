"""Screenshots of every page of the web app, both roles, into docs/web/ (Playwright + chromium).

    .venv/bin/python -m tests.web.screenshots [OUT_DIR]

Seeds a throwaway SQLite database (clients acme and beta, their admins, a staff user, loads
and incidents), serves the app on a free loopback port and walks the pages as each user.
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.web.helpers import ADMIN_A, ADMIN_B, PASSWORD, STAFF, Site, serve

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data"
NIGHT_ADMIN = "admin@noche.cl"  # a client that applies off-peak
PEAK = datetime.fromisoformat("2026-12-02T10:00:00-03:00")  # a confirm in the busy hours


def seed(home: Path) -> Site:
    from orgload.db import make_engine
    from orgload.settings import Settings
    from service.clients import register_client
    from service.database import upgrade_database
    from service.loads import LoadRequest, run_load
    from service.users import add_user, set_password

    settings = Settings(home=home, database_url=f"sqlite:///{home / 'orgload.db'}")
    upgrade_database(settings)
    register_client(settings, "acme", "Acme SpA", admin_email=ADMIN_A)
    register_client(settings, "beta", "Beta Ltda", admin_email=ADMIN_B)
    register_client(settings, "noche", "Noche SpA", admin_email=NIGHT_ADMIN, apply_off_peak=True)
    users = ((ADMIN_A, "acme"), (ADMIN_B, "beta"), (NIGHT_ADMIN, "noche"), (STAFF, None))
    for email, client_id in users:
        added = add_user(settings, email, client_id=client_id, staff_user=client_id is None)
        set_password(settings, added.token, PASSWORD)
    earlier = settings.model_copy(update={"now": datetime.now(UTC) - timedelta(days=35)})
    run_load(earlier, LoadRequest("beta", [SAMPLES / "organizacion_2026-11.xlsx"]))
    run_load(settings, LoadRequest("acme", [SAMPLES / "organizacion_invalida.xlsx"]))
    return Site(settings, make_engine(settings, owner=True))


def blank_cargo(target: Path) -> Path:
    import openpyxl

    workbook = openpyxl.load_workbook(SAMPLES / "organizacion_2026-11.xlsx")
    sheet = workbook["Personas"]
    column = [c.value for c in sheet[1]].index("Cargo") + 1
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row=row, column=column).value = None
    workbook.save(target)
    return target


def main(out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        site = seed(Path(scratch) / "home")
        with serve(site) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            expect.set_options(timeout=60_000)

            def page_for(email: str | None, base_url: str = server.url) -> Any:
                context = browser.new_context(
                    base_url=base_url, viewport={"width": 1280, "height": 800}
                )
                page = context.new_page()
                if email:
                    page.goto("/login")
                    page.get_by_label("Correo electrónico").fill(email)
                    page.get_by_label("Contraseña").fill(PASSWORD)
                    page.get_by_role("button", name="Iniciar sesión").click()
                    page.wait_for_load_state()
                return page

            def shot(page: Any, name: str) -> None:
                page.wait_for_load_state()
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                print(out / f"{name}.png")

            def upload(page: Any, path: Path) -> None:
                page.goto("/upload")
                page.get_by_label("Archivo(s)").set_input_files(str(path))
                page.get_by_role("button", name="Validar archivo").click()
                page.wait_for_url(re.compile(r"/uploads/\d+$"))

            anon = page_for(None)
            anon.goto("/login")
            shot(anon, "login")
            anon.get_by_label("Correo electrónico").fill(ADMIN_A)
            anon.get_by_label("Contraseña").fill("wrong password")
            anon.get_by_role("button", name="Iniciar sesión").click()
            shot(anon, "login-error")
            from service.users import add_user

            link = add_user(site.settings, "nuevo@acme.cl", client_id="acme")
            anon.goto(f"/password/{link.token}")
            shot(anon, "set-password")

            admin = page_for(ADMIN_A)
            shot(admin, "client-home")
            admin.goto("/template")
            shot(admin, "client-template")
            admin.goto("/upload")
            shot(admin, "client-upload")
            upload(admin, SAMPLES / "organizacion_invalida.xlsx")
            shot(admin, "client-result-errors")
            upload(admin, SAMPLES / "organizacion_2026-11.xlsx")
            shot(admin, "client-result-valid")
            admin.get_by_role("link", name="Ver qué cambiará").click()
            shot(admin, "client-preview")
            admin.get_by_role("button", name="Confirmar y aplicar").click()
            expect(admin.locator("#load-state")).to_contain_text("Aplicada")
            shot(admin, "client-status-applied")
            upload(admin, SAMPLES / "organizacion_2026-12.xlsx")
            admin.get_by_role("link", name="Ver qué cambiará").click()
            admin.get_by_role("link", name=re.compile("Personas: Modificadas")).click()
            shot(admin, "client-preview-quota-used")
            admin.get_by_role("button", name="Enviar de todos modos").click()
            expect(admin.locator("#load-state")).to_contain_text("cuota")
            shot(admin, "client-status-quota")
            admin.goto("/history")
            shot(admin, "client-history")
            admin.goto("/incidents")
            shot(admin, "client-incidents")
            admin.locator("table").get_by_role("link").first.click()
            shot(admin, "client-incident")
            admin.goto("/lang/en?next=/home")
            shot(admin, "client-home-en")
            admin.goto("/loads/1/file")
            shot(admin, "client-not-found")

            beta = page_for(ADMIN_B)
            upload(beta, blank_cargo(Path(scratch) / "sin_cargo.xlsx"))
            beta.get_by_role("link", name="Ver qué cambiará").click()
            shot(beta, "client-preview-mass-change")
            beta.get_by_role("button", name="Enviar de todos modos").click()
            expect(beta.locator("#load-state")).to_contain_text("Rechazada")

            staff = page_for(STAFF)
            shot(staff, "staff-clients")
            staff.goto("/staff/clients/beta")
            shot(staff, "staff-client")
            staff.locator("table").first.get_by_role("link").first.click()
            shot(staff, "staff-load-mass-change")
            staff.get_by_label("Motivo").fill("Reestructuración confirmada por el cliente")
            staff.get_by_role("button", name="Autorizar el cambio masivo").click()
            expect(staff.locator("#load-state")).to_contain_text("Aplicada")
            shot(staff, "staff-authorized-status")
            staff.goto("/staff/clients/acme")
            staff.locator("table").first.get_by_role("link").first.click()
            shot(staff, "staff-load-quota")
            staff.goto("/staff/incidents")
            shot(staff, "staff-incidents")
            staff.goto("/staff/incidents?client=beta")
            staff.locator("table").get_by_role("link").first.click()
            staff.get_by_label("Nuevo estado").select_option("in_review")
            staff.get_by_role("button", name="Cambiar estado").click()
            staff.get_by_label("Nuevo estado").select_option("resolved")
            staff.get_by_label("Tipo de corrección").select_option("data")
            staff.get_by_label("Comentario").fill("Autorizado por soporte")
            staff.get_by_role("button", name="Cambiar estado").click()
            shot(staff, "staff-incident")
            incident = staff.url.replace(server.url + "/staff", "")
            staff.get_by_label("Nuevo estado").select_option("in_review")  # not the next one
            staff.get_by_role("button", name="Cambiar estado").click()
            shot(staff, "staff-refused")
            beta.goto(incident)
            shot(beta, "client-incident-approve")

            # a client that applies off-peak, confirming at 10:00 Chile time
            at_peak = Site(site.settings.model_copy(update={"now": PEAK}), site.engine)
            with serve(at_peak) as peak_server:
                night = page_for(NIGHT_ADMIN, peak_server.url)
                upload(night, SAMPLES / "organizacion_2026-11.xlsx")
                night.get_by_role("link", name="Ver qué cambiará").click()
                night.locator("#applies-when").scroll_into_view_if_needed()
                shot(night, "client-preview-off-peak")
                night.get_by_role("button", name="Confirmar y dejar en cola").click()
                expect(night.locator("#load-state")).to_contain_text("22:00")
                shot(night, "client-status-queued")
                night.goto("/home")
                shot(night, "client-home-queued")
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "web")
