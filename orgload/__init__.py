"""orgload core: what every layer shares (settings, clock, errors, columns, database tables)."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # ``__version__`` is looked up in the installed metadata only when asked for (``orgload
    # --version``): reading it costs ~40 ms that every other command, ``--help`` too, skips.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("orgload")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
