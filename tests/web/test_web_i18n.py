"""Every page in the chosen language, the service layer's refusals included: the service words
them once in English (the CLI's one line); pages show them in Spanish or English by the
error's code, or by the shape of the message for the support desk's and the pipeline's."""

from __future__ import annotations

from pathlib import Path

from tests.web.helpers import ADMIN_A, STAFF, Site, csrf_of, sign_in, upload

ENGLISH_SERVICE_WORDS = (
    "is not waiting",
    "nothing to approve",
    "cannot go from",
    "must not be empty",
    "cannot be reverted",
    "only level 1",
)


def _in(page: str, *texts: str) -> None:
    for text in texts:
        assert text in page, text


def _spanish_only(page: str) -> None:
    for words in ENGLISH_SERVICE_WORDS:
        assert words not in page, words


def test_refusals_are_shown_in_the_pages_language(site: Site, samples: Path) -> None:
    from service.incidents import list_incidents
    from service.loads import LoadRequest, run_load

    rejected = run_load(
        site.settings,
        LoadRequest(client_id="acme", paths=[samples / "organizacion_invalida.xlsx"]),
    )
    incident = list_incidents(site.settings, client_id="acme")[0].to_dict()["id"]

    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        location = upload(client, csrf, samples / "organizacion_2026-11.xlsx").headers["location"]
        client.post(f"{location}/confirm", data={"csrf": csrf})
        twice = client.post(f"{location}/confirm", data={"csrf": csrf})
        assert twice.status_code == 409
        _in(twice.text, "Esta carga ya fue confirmada")
        approve = client.post(f"/incidents/{incident}/approve", data={"csrf": csrf})
        assert approve.status_code == 409
        _in(approve.text, "Este incidente aún no está resuelto")
        _spanish_only(twice.text + approve.text)

        client.get("/lang/en")
        twice = client.post(f"{location}/confirm", data={"csrf": csrf})
        _in(twice.text, "This load was confirmed already")
        approve = client.post(f"/incidents/{incident}/approve", data={"csrf": csrf})
        _in(approve.text, "This incident is not resolved yet")

    with site.client() as client:
        sign_in(client, STAFF)
        page = client.get(f"/staff/incidents/{incident}").text
        csrf = csrf_of(page)
        url = f"/staff/incidents/{incident}"
        skip = client.post(f"{url}/transition", data={"csrf": csrf, "to": "closed"})
        assert skip.status_code == 409
        _in(skip.text, "no puede pasar de «reportado» a «cerrado»", "es «en revisión»")
        empty = client.post(f"{url}/escalate", data={"csrf": csrf, "reason": "  "})
        assert empty.status_code == 400
        _in(empty.text, "Indica un motivo.")
        load = f"/staff/clients/acme/loads/{rejected.load_id}"
        revert = client.post(f"{load}/revert", data={"csrf": csrf, "reason": "prueba"})
        assert revert.status_code == 409
        _in(revert.text, f"La carga {rejected.load_id} no se puede revertir", "«Rechazada»")
        wrong = client.post(
            f"{load}/authorize", data={"csrf": csrf, "what": "override_quota", "reason": "x"}
        )
        _in(wrong.text, "no fue rechazada por la cuota")
        assert client.post(f"{url}/escalate", data={"csrf": csrf, "reason": "r"}).is_success
        again = client.post(f"{url}/escalate", data={"csrf": csrf, "reason": "otra vez"})
        _in(again.text, "ya es de nivel 2: solo un incidente de nivel 1 se escala")
        assert client.post(f"{url}/transition", data={"csrf": csrf, "to": "in_review"}).is_success
        bare = client.post(f"{url}/transition", data={"csrf": csrf, "to": "resolved"})
        _in(bare.text, "Para resolver el incidente, elige el tipo de corrección.")
        _spanish_only(skip.text + empty.text + revert.text + wrong.text + again.text + bare.text)

        client.get("/lang/en")
        skip = client.post(f"{url}/transition", data={"csrf": csrf, "to": "closed"})
        _in(skip.text, "cannot go from “in review” to “closed”: the next status is “resolved”")
        revert = client.post(f"{load}/revert", data={"csrf": csrf, "reason": "test"})
        _in(revert.text, "its status is “Rejected”; only an applied load is reverted")


def test_an_unforeseen_refusal_is_named_by_its_kind_in_the_pages_language() -> None:
    from web.i18n import error_text

    assert error_text("es", "refused", "something new went wrong") == (
        "No se puede hacer en el estado actual.",
        False,
    )
    assert error_text("en", "unavailable", "connection refused")[0].startswith(
        "The database is not available"
    )
    assert error_text("es", "whatever", "x") == (
        "No se pudo hacer; avisa a soporte si se repite.",
        False,
    )
    assert error_text("en", "reason_required", "a reason is required") == ("Give a reason.", True)
