"""Leftovers of interrupted writes under ``ORGLOAD_HOME`` (issue 16).

Every file orgload writes there is first written under a temporary name and renamed into
place: the archive's staging folders (``archive/.incoming.<pid>.<random>``), the spool's
``spool/incidents/.INC-….<pid>.tmp``, the stored files' ``.incoming.<name>.<pid>.<random>.tmp``
(outbox and web reports) and the temporary copies of stored files under ``tmp/copy.*``; in the
database store, objects still under their ``.incoming/`` key.
A failed write removes its own; a process killed mid-write cannot, so the next load (or inbox
scan) sweeps the ones older than ``STALE_AFTER`` — far longer than any write takes, so that a
write still under way in another process (another worker on a shared folder) is never touched.
Only those names are swept; symlinks are removed as links, never followed.
"""

from __future__ import annotations

import logging
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from orgload.settings import Settings
from orgload.storage import TMP_FOLDER, DatabaseStorage, open_storage

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=1)


def leftovers(settings: Settings) -> Iterator[Path]:
    """The temporary names of orgload's own writes that exist now, whatever their age."""
    yield from _matching(settings.home / "archive", lambda n: n.startswith(".incoming."))
    # temporary local copies of stored files (orgload.storage.local_copy, report downloads)
    yield from _matching(settings.home / TMP_FOLDER, lambda n: n.startswith("copy."))
    for area in ("reports",):  # reports/<client>/<id>/.incoming.….tmp
        for client in _matching(settings.home / area, lambda n: not n.startswith(".")):
            for folder in _matching(client, lambda n: not n.startswith(".")):
                if folder.is_dir() and not folder.is_symlink():
                    yield from _matching(folder, lambda n: n.startswith(".incoming."))
    yield from _matching(settings.spool_dir, lambda n: n.startswith(".INC-") and n.endswith(".tmp"))
    outbox = settings.home / "outbox"
    for folder in _matching(outbox, lambda n: not n.startswith(".")):
        if folder.is_dir() and not folder.is_symlink():
            yield from _matching(folder, lambda n: n.startswith(".") and ".tmp" in n)


def sweep_leftovers(settings: Settings, *, older_than: timedelta = STALE_AFTER) -> list[Path]:
    """Remove the leftovers last changed more than ``older_than`` ago; the paths removed.
    A leftover that cannot be removed stays (and is tried again next time)."""
    cutoff = time.time() - older_than.total_seconds()
    removed = []
    for path in leftovers(settings):
        try:
            info = path.lstat()
            if info.st_mtime > cutoff:
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            log.debug("leftover %s not removed: %s", path, exc)
            continue
        removed.append(path)
    if settings.storage == "database":  # objects of writes whose process died
        try:
            swept = open_storage(settings)
            if isinstance(swept, DatabaseStorage):
                swept.sweep(older_than)
        except OSError as exc:
            log.debug("stored leftovers not swept: %s", exc)
    if removed:
        log.info("removed %d leftover temporary file(s) of interrupted writes", len(removed))
    return removed


def _matching(folder: Path, wanted: Callable[[str], bool]) -> Iterator[Path]:
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:  # no such folder yet, or not readable: nothing to sweep there
        return
    for name in names:
        if wanted(name):
            yield folder / name
