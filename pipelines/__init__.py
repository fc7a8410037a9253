"""Belvedere's data half: sources in, stores, analysis. Imported by `dashboard` and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("belvedere")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
