"""orgload core: what every layer shares (settings, clock, errors, columns, database tables)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("orgload")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
