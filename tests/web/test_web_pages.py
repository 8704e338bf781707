"""What the pages do beyond security: a confirmed load is applied by the app's worker and its
result e-mailed; staff authorize a refused load with a reason; Data Docs reach staff only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.web.helpers import ADMIN_A, STAFF, Site, csrf_of, sign_in, upload, wait_done


def test_a_confirmed_upload_is_applied_by_the_worker_and_its_result_mailed(
    site: Site, samples: Path, smtp_server: tuple[Any, int]
) -> None:
    sink, _port = smtp_server
    settings = site.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": _port, "smtp_timeout": 5}
    )
    with Site(settings, site.engine).client() as client:
        csrf = sign_in(client, ADMIN_A)
        made = upload(client, csrf, samples / "organizacion_2026-11.xlsx")
        location = made.headers["location"]
        assert client.post(f"{location}/confirm", data={"csrf": csrf}).status_code == 200
        page = wait_done(client, f"{location}/status")
        assert "Aplicada" in page
        again = client.post(f"{location}/confirm", data={"csrf": csrf})
        assert again.status_code == 409  # confirmed once only
    deadline = time.monotonic() + 10
    while not sink.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m["To"] for m in sink.messages] == [ADMIN_A]
    assert "applied" in sink.messages[0]["Subject"]


def test_staff_override_the_quota_with_a_reason_recorded(site: Site, samples: Path) -> None:
    from service.loads import client_history

    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        for sample in ("organizacion_2026-11.xlsx", "organizacion_2026-12.xlsx"):
            made = upload(client, csrf, samples / sample)
            client.post(f"{made.headers['location']}/confirm", data={"csrf": csrf})
            wait_done(client, f"{made.headers['location']}/status")
    refused = client_history(site.settings, "acme").entries[0]
    assert refused.status == "quota_exhausted"
    with site.client() as client:
        sign_in(client, STAFF)
        page = client.get(f"/staff/clients/acme/loads/{refused.load_id}")
        assert "override_quota" in page.text
        csrf = csrf_of(page.text)
        url = f"/staff/clients/acme/loads/{refused.load_id}/authorize"
        without = client.post(url, data={"csrf": csrf, "what": "override_quota", "reason": " "})
        assert without.status_code == 400  # a reason is required
        done = client.post(
            url, data={"csrf": csrf, "what": "override_quota", "reason": "corrección de datos"}
        )
        assert done.status_code == 200
        assert "Aplicada" in wait_done(client, str(done.url))
    latest = client_history(site.settings, "acme").entries[0]
    assert latest.status == "applied"
    assert latest.reason == f"corrección de datos — {STAFF}"


def test_data_docs_are_served_to_staff_only_and_never_outside_their_folder(site: Site) -> None:
    docs = site.settings.home / "outbox" / "_data_docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<h1>Data Docs</h1>", "utf-8")
    with site.client() as client:
        sign_in(client, STAFF)
        assert "Data Docs" in client.get("/staff/data-docs/index.html").text
        assert client.get("/staff/data-docs/..%2F..%2Forgload.db").status_code == 404
        assert client.get("/staff/data-docs/../../orgload.db").status_code == 404
    with site.client() as client:
        sign_in(client, ADMIN_A)
        assert client.get("/staff/data-docs/index.html").status_code == 404


def test_the_preview_opens_on_the_first_change_list_with_changes(site: Site, samples: Path) -> None:
    import re

    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        location = upload(client, csrf, samples / "organizacion_2026-11.xlsx").headers["location"]
        page = client.get(f"{location}/preview").text  # a first load: everything is new
        current = re.search(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', page)
        assert current is not None
        assert current.group(1).startswith("Unidades: Nuevas (")
        assert "Unidades — Nuevas" in page
        assert '<table class="changes">' in page
        assert "La carga se aplica apenas confirmes." in page  # acme: no off-peak setting
        empty = client.get(f"{location}/preview?entity=personas&kind=updated").text
        assert "Esta carga no tiene cambios de este tipo (Personas: Modificadas)." in empty
        assert "<p>—</p>" not in empty
        client.get("/lang/en")
        empty = client.get(f"{location}/preview?entity=unidades&kind=deactivated").text
        assert "This load has no changes of this kind (Units: Deactivated)." in empty
