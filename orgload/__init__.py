"""orgload core: what every pipeline stage shares (settings, clock, errors, database, CLI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("orgload")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
