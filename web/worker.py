"""The web app's own background worker: applies confirmed uploads one after another.

Without a Prefect API a confirm is applied here, in a thread of the app (SPEC §8); with
``PREFECT_API_URL`` set it triggers the ``monthly-load`` deployment instead, so ops see the run
in the Prefect UI (a CSV pair, which the flow's one-file parameter cannot take, stays here).
Uploads still queued when the app stopped are taken up again when it starts.
"""

from __future__ import annotations

import logging
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

    def start(self) -> None:
        from service.uploads import queued_uploads

        self._pool = ThreadPoolExecutor(max_workers=self.web.workers, thread_name_prefix="orgload")
        for client_id, upload_id in queued_uploads(self.settings, self.engine):
            self.submit(client_id, upload_id)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None

    def submit(self, client_id: str, upload_id: int) -> Future[None] | None:
        if self.web.prefect_api_url:
            from service.uploads import trigger_deployment

            with tenant(client_id):
                if trigger_deployment(
                    self.settings, client_id, upload_id, self.web.deployment, self.engine
                ):
                    return None
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
