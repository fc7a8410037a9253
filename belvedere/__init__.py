"""Belvedere's command line; the work lives in `pipelines` and `dashboard`."""

from pipelines import __version__

__all__ = ["__version__"]
