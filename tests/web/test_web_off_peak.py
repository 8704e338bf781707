"""Off-peak queueing per client (SPEC §8 "confirm → applied now or queued for the off-peak
window, per client setting"; §7: 22:00–05:59 Chile time). A client registered with
``apply_off_peak`` whose admin confirms in the high-concurrency hours gets the upload queued
until 22:00, said on the preview before the click and on the status page; the scheduled job
(``scheduled-validation`` → ``apply_inbox_queue``) or, without Prefect, the app's own worker
applies it once the window is open. During the window a confirm applies at once.

``ORGLOAD_NOW`` (``Settings.now``) places each step at a peak or off-peak instant; December is
Chile's summer time (UTC-3)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.web.helpers import PASSWORD, Site, sign_in, upload, wait_done

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orgload.settings import Settings

NIGHT_ADMIN = "admin@noche.cl"
PEAK = datetime.fromisoformat("2026-12-02T10:00:00-03:00")
STILL_PEAK = datetime.fromisoformat("2026-12-02T21:59:00-03:00")
NIGHT = datetime.fromisoformat("2026-12-02T22:30:00-03:00")
EARLY = datetime.fromisoformat("2026-12-03T04:00:00-03:00")


@pytest.fixture
def night(site: Site) -> Site:
    """A client ``noche`` that applies off-peak, with its admin (password set)."""
    from service.clients import register_client
    from service.users import add_user, set_password

    register_client(site.settings, "noche", "Noche SpA", apply_off_peak=True)
    added = add_user(site.settings, NIGHT_ADMIN, client_id="noche")
    set_password(site.settings, added.token, PASSWORD)
    return site


def at(site: Site, instant: datetime) -> Site:
    return Site(site.settings.model_copy(update={"now": instant}), site.engine)


def _confirm_in_peak_hours(night: Site, samples: Path, *, pages: bool = True) -> tuple[int, str]:
    """Upload, preview and confirm at 10:00; returns the upload id and the preview's text.
    ``pages``: check that the status and home pages say when it applies (not while a worker
    that may take it at once is running)."""
    with at(night, PEAK).client() as client:
        csrf = sign_in(client, NIGHT_ADMIN)
        location = upload(client, csrf, samples / "organizacion_2026-11.xlsx").headers["location"]
        preview = client.get(f"{location}/preview").text
        status = client.post(f"{location}/confirm", data={"csrf": csrf}, follow_redirects=True)
        assert status.status_code == 200
        if pages:
            assert "se aplica desde las 22:00 (hora de Chile) del 2026-12-02" in status.text
            assert 'http-equiv="refresh" content="60"' in status.text
            home = client.get("/home").text  # the home page says so too
            assert "se aplica desde las 22:00 (hora de Chile) del 2026-12-02" in home
    return int(location.rsplit("/", 1)[-1]), preview


def test_a_confirm_in_peak_hours_is_queued_until_22_and_the_scheduled_job_applies_it(
    night: Site, samples: Path
) -> None:
    from service.schedules import apply_inbox_queue
    from service.uploads import get_upload

    upload_id, preview = _confirm_in_peak_hours(night, samples)
    # said before the click, and the button says so too
    assert "queda en cola y se aplica desde las 22:00 (hora de Chile) del 2026-12-02" in preview
    assert "Confirmar y dejar en cola" in preview
    queued = get_upload(night.settings, "noche", upload_id)
    assert queued.status == "queued"
    assert queued.apply_after == datetime.fromisoformat("2026-12-02T22:00:00-03:00")

    # the scheduled job's tick at 21:59 leaves it; the 22:30 one applies it
    assert apply_inbox_queue(at(night, STILL_PEAK).settings) == []
    assert get_upload(night.settings, "noche", upload_id).status == "queued"
    rows = apply_inbox_queue(at(night, NIGHT).settings, flow_run_id="run-of-the-schedule")
    assert [(r["source"], r["id"], r["status"], r["load_status"]) for r in rows] == [
        ("web", upload_id, "applied", "applied")
    ]
    assert apply_inbox_queue(at(night, EARLY).settings) == []  # applied once

    done = get_upload(night.settings, "noche", upload_id)
    assert (done.status, done.load_status) == ("done", "applied")
    with at(night, NIGHT).client() as client:
        sign_in(client, NIGHT_ADMIN)
        page = client.get(f"/uploads/{upload_id}/status").text
        assert "Aplicada" in page
        assert "http-equiv" not in page
    from service.loads import client_history

    assert client_history(night.settings, "noche").entries[0].period == "2026-12"


def test_in_the_window_a_confirm_applies_at_once_the_apps_worker_polls_and_ops_may_force(
    night: Site, samples: Path
) -> None:
    from service.schedules import apply_inbox_queue
    from service.uploads import get_upload
    from tests.web.helpers import starlette_client_class
    from web.app import create_app
    from web.settings import WebSettings

    # at 22:30 a confirm applies at once, said so before the click
    app = create_app(
        at(night, NIGHT).settings, WebSettings(secure_cookies=False, off_peak_poll_seconds=0.2)
    )
    with starlette_client_class()(app) as client:
        csrf = sign_in(client, NIGHT_ADMIN)
        client.cookies.set("orgload_lang", "en")
        location = upload(client, csrf, samples / "organizacion_2026-11.xlsx").headers["location"]
        preview = client.get(f"{location}/preview").text
        assert "The load is applied as soon as you confirm." in preview
        assert "Confirm and apply" in preview
        client.post(f"{location}/confirm", data={"csrf": csrf})
        assert "Applied" in wait_done(client, f"{location}/status")
        assert (
            get_upload(night.settings, "noche", int(location.rsplit("/", 1)[-1])).apply_after
            is None
        )

        # without a Prefect API, the app's own worker takes an upload that waited for 22:00
        waiting, _ = _confirm_in_peak_hours(night, samples, pages=False)  # the same file
        deadline = time.monotonic() + 60
        while get_upload(night.settings, "noche", waiting).status != "done":
            assert time.monotonic() < deadline, "the worker never took the waiting upload"
            time.sleep(0.2)
    assert get_upload(night.settings, "noche", waiting).load_status == "already_applied"

    # ops may apply a waiting upload at once, in the busy hours too ("apply now")
    forced, _ = _confirm_in_peak_hours(night, samples)
    assert apply_inbox_queue(at(night, PEAK).settings) == []
    rows = apply_inbox_queue(at(night, PEAK).settings, force=True)
    assert [(r["id"], r["load_status"]) for r in rows] == [(forced, "already_applied")]


def test_a_worker_that_dies_applying_a_waiting_upload_is_told_by_its_claim_not_its_confirm(
    settings: Settings, engine: Engine, samples: Path
) -> None:
    """An upload confirmed at 10:00 and taken at 22:30 is not "crashed" at 22:31 because its
    confirm is 12 hours old: the stale limit counts from when a worker took it."""
    from datetime import timedelta

    from sqlalchemy import update

    from orgload.db import web_uploads
    from service.clients import register_client
    from service.uploads import confirm_upload, follow_upload, receive_upload

    register_client(settings, "noche", "Noche SpA", apply_off_peak=True)
    peak = settings.model_copy(update={"now": PEAK})
    made = receive_upload(peak, "noche", [samples / "organizacion_2026-11.xlsx"], by="a@noche.cl")
    assert confirm_upload(peak, "noche", made.id, by="a@noche.cl").waiting_off_peak
    with engine.begin() as conn:  # what a worker's claim writes, right before its process dies
        conn.execute(
            update(web_uploads)
            .where(web_uploads.c.id == made.id)
            .values(status="applying", claimed_at=NIGHT)
        )
    soon = settings.model_copy(update={"now": NIGHT + timedelta(minutes=1)})
    assert follow_upload(soon, "noche", made.id).status == "applying"
    later = NIGHT + timedelta(minutes=settings.attempt_stale_minutes + 1)
    gone = follow_upload(settings.model_copy(update={"now": later}), "noche", made.id)
    assert (gone.status, gone.load_status) == ("done", "crashed")
