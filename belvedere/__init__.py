"""Belvedere: command line and shared helpers; the work lives in `pipelines` and `dashboard`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("belvedere")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
