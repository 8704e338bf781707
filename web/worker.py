"""The web app's own background worker: applies confirmed uploads one after another.

Without a Prefect API a confirm is applied here, in a thread of the app (SPEC §8); with
``PREFECT_API_URL`` set it triggers the ``monthly-load`` deployment instead, so ops see the run
in the Prefect UI (a CSV pair, which the flow's one-file parameter cannot take, stays here).
Uploads still queued when the app stopped are taken up again when it starts.

A client with ``apply_off_peak`` whose admin confirms in the high-concurrency hours gets its
upload queued for the next off-peak window (22:00 Chile time). The ``scheduled-validation``
job applies those once the window is open (``service.schedules.apply_inbox_queue``); without a
Prefect API this worker also looks for them every ``ORGLOAD_WEB_OFF_PEAK_POLL_SECONDS``.
Both claim an upload before its load, so it is applied once whoever comes first.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from orgload.db import tenant
from orgload.settings import Settings
from web.settings import WebSettings

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, settings: Settings, web: WebSettings, engine: Engine) -> None:
        self.settings, self.web, self.engine = settings, web, engine
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self._pending: set[int] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        from service.uploads import queued_uploads

        self._pool = ThreadPoolExecutor(max_workers=self.web.workers, thread_name_prefix="orgload")
        self._stopping.clear()
        for client_id, upload_id in queued_uploads(self.settings, self.engine):
            self.submit(client_id, upload_id)
        if not self.web.prefect_api_url:  # with Prefect, the scheduled job applies them
            self._poller = threading.Thread(target=self._poll, name="orgload-off-peak", daemon=True)
            self._poller.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
            self._poller = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None

    def _poll(self) -> None:
        """Apply the uploads waiting for the off-peak window once it is open."""
        from service.uploads import queued_uploads

        while not self._stopping.wait(self.web.off_peak_poll_seconds):
            try:
                waiting = queued_uploads(self.settings, self.engine, waiting_only=True)
            except Exception:
                log.exception("could not look for uploads waiting for the off-peak window")
                continue
            for client_id, upload_id in waiting:
                with self._lock:
                    if upload_id in self._pending:
                        continue
                self.submit(client_id, upload_id)

    def submit(self, client_id: str, upload_id: int) -> Future[None] | None:
        if self.web.prefect_api_url:
            from service.uploads import trigger_deployment

            with tenant(client_id):
                if trigger_deployment(
                    self.settings,
                    client_id,
                    upload_id,
                    self.web.deployment,
                    self.engine,
                    api_url=self.web.prefect_api_url,
                ):
                    return None
        with self._lock:
            self._pending.add(upload_id)
        if self._pool is None:  # not started (a test without the lifespan): apply now
            self._apply(client_id, upload_id)
            return None
        return self._pool.submit(self._apply, client_id, upload_id)

    def _apply(self, client_id: str, upload_id: int) -> None:
        from service.uploads import apply_upload

        try:
            with tenant(client_id):
                apply_upload(self.settings, client_id, upload_id, self.engine)
        except Exception:
            log.exception("applying upload %s of %s failed", upload_id, client_id)
        finally:
            with self._lock:
                self._pending.discard(upload_id)
