"""Belvedere: the command line, and from Python `Client` (ObsPy's archive-client methods over
a store or a server) and `open_store` (streams with `.view()` and `.to_xarray()`)."""

from pipelines import __version__

__all__ = ["Client", "__version__", "open_store", "open_usage"]


def __getattr__(name: str):
    # Imported on first use: the command line imports this package and should not pay for
    # ObsPy and HoloViews when it does not need them.
    if name in ("Client", "open_store", "open_usage"):
        from belvedere import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'belvedere' has no attribute {name!r}")
