"""How a run ends in Prefect: a state whose name says the outcome, and tags to filter by it.

- applied, dry run, no changes, already applied: Completed (name ``Completed``);
- a rejected file (validation errors, ``mass_change``): Completed named ``Rejected``;
- a quota refusal: Completed named ``QuotaExhausted``;
- a failed apply (rolled back, incident open): Failed;
- an operator mistake in the parameters: Failed named ``InvalidParameters``;
- ``validate-upload`` of a file with errors: Completed named ``Invalid``.

Each run is also tagged ``outcome:<status>`` (``outcome:quota-exhausted``,
``outcome:invalid-parameters``), plus ``override`` and ``dry-run`` when so.

A rejected file and a quota refusal are Completed: the run did its job (the file was judged,
the client's admin has the report, the support desk its level-1 incident where one is due), so
nothing of Prefect's failure handling — ``on_failure`` hooks, failure notifications, retries —
fires for a client's own data. Their names show in the state badge and the run list, and the
tags filter them (Runs page, filter by tag). Prefect names a state's event after the state
(``prefect.flow-run.Rejected``), which the zombie automation counts as a sign of the end
(``ops/stack.py``). ``InvalidParameters`` is Failed (nothing was done, ops must fix the
parameters) but opens no incident (``flows/hooks.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from orgload.status import LoadStatus

log = logging.getLogger(__name__)

REJECTED = "Rejected"
QUOTA_EXHAUSTED = "QuotaExhausted"
INVALID_PARAMETERS = "InvalidParameters"
INVALID = "Invalid"  # validate-upload: the file has errors
CUSTOM_STATE_NAMES = (REJECTED, QUOTA_EXHAUSTED, INVALID_PARAMETERS, INVALID)
TAG_PREFIX = "outcome:"
OVERRIDE_TAG = "override"
DRY_RUN_TAG = "dry-run"


def outcome_tag(status: str) -> str:
    """``outcome:quota-exhausted`` for ``quota_exhausted``: tags read better with dashes."""
    return TAG_PREFIX + status.replace("_", "-")


def load_state(status: str, message: str, data: Any = None) -> State:
    """The terminal state of a ``monthly-load`` run that ended in ``status``."""
    if status == LoadStatus.REJECTED:
        return Completed(name=REJECTED, message=message, data=data)
    if status == LoadStatus.QUOTA_EXHAUSTED:
        return Completed(name=QUOTA_EXHAUSTED, message=message, data=data)
    if status in (LoadStatus.FAILED, LoadStatus.CRASHED):
        return Failed(message=message, data=data)
    return Completed(message=message, data=data)


def invalid_parameters(message: str) -> State:
    """The state of a run refused for its parameters: Failed, one line, no incident."""
    return Failed(name=INVALID_PARAMETERS, message=message)


def tag_run(*tags: str) -> None:
    """Add ``tags`` to the current flow run (to filter runs by outcome). Never raises: a tag
    must not change how a run ends."""
    run_id = flow_run.id
    if not run_id:
        return
    try:
        with get_client(sync_client=True) as client:
            current = list(client.read_flow_run(run_id).tags or [])
            wanted = current + [t for t in tags if t not in current]
            if wanted != current:
                client.update_flow_run(run_id, tags=wanted)
    except Exception:  # noqa: BLE001 - the API hiccupped: the state still says it
        log.warning("could not tag run %s with %s", run_id, ", ".join(tags))
