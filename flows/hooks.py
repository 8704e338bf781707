"""State hooks: a failed or crashed run opens its support incident (category ``crash``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flows.outcomes import INVALID_PARAMETERS
from orgload.settings import load_settings
from service.incidents import report_dead_run

log = logging.getLogger(__name__)


def open_run_incident(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` / ``on_crashed``: one incident per run, shared with the reconciler.

    A run refused for its parameters (``InvalidParameters``) did nothing and is an operator's
    mistake (SPEC §5): no incident. Never raises: a hook error must not hide the run's own
    state.
    """
    if getattr(state, "name", None) == INVALID_PARAMETERS:
        return
    try:
        params = dict(flow_run.parameters or {})
        files = params.get("files") or ([params["file"]] if params.get("file") else [])
        report_dead_run(
            load_settings(),
            flow_run_id=str(flow_run.id),
            client_id=str(params.get("client_id") or "unknown"),
            paths=[Path(f) for f in files],
            state_name=str(state.name),
            message=str(state.message or "")[:2000],
            extra={"flow_name": getattr(flow, "name", None), "hook": "state"},
        )
    except Exception:
        log.exception("could not open the incident of run %s", getattr(flow_run, "id", "?"))
