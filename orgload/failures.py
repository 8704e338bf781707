"""What a failed load hands to the support desk: one plain record, the pipeline's only word to it.

The pipeline (``loaders/``) fills it in, the support desk (``support/report.py``) turns it into
an incident; neither imports the other, the service layer passes it along.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The failed step of a load names the incident category it opens (SPEC §5).
FAILED_STEP_CATEGORY = {
    "validate": "validation",
    "mass_change": "mass_change",
    "apply": "apply_error",
    "connect": "unavailable",
    "archive": "unavailable",  # the file store cannot take the upload
    "run": "crash",
}


@dataclass(slots=True)
class LoadFailure:
    """A load that did not succeed, with what an analyst needs to replicate it."""

    client_id: str
    period: str | None
    reported_at: datetime
    failed_step: str
    load_id: int | None = None
    flow_run_id: str | None = None
    file_name: str | None = None
    sha256: str | None = None
    archive_path: str | None = None
    exception: dict[str, Any] | None = None  # {"type", "message", "traceback"}
    validation: dict[str, Any] | None = None  # codes, first errors and warnings, totals
    admin_email: str | None = None  # level 1 goes to the client's admin
    attachment: str | None = None  # the error report sent with a level-1 e-mail
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return FAILED_STEP_CATEGORY.get(self.failed_step, "apply_error")
