"""Belvedere from Python and Jupyter: the store and the ObsPy client, with `.view()`.

The data logic lives in `pipelines` (the store, `pipelines.seismic.client.Client`) and the
HoloViews views in `dashboard.notebook`; these subclasses only join the two, so every method
of `pipelines.store.Store`, `Stream` and `IrregularStream` is there unchanged and
`isinstance(x, pipelines.store.Stream)` still holds.
"""

from __future__ import annotations

from typing import Any

from pipelines.seismic.client import Client as _Client
from pipelines.store import IrregularStream, Store, Stream, open_datatree
from pipelines.timebase import parse_time
from pipelines.usage.usage_store import UsageStore

__all__ = ["Client", "NotebookStore", "NotebookUsageStore", "open_store", "open_usage"]


def _ns(t: Any) -> int | None:
    """int64 ns of an ISO text (or `now-6h`), an int of ns, or anything UTCDateTime takes."""
    if t is None or isinstance(t, int):
        return t
    if isinstance(t, str):
        return parse_time(t)
    from obspy import UTCDateTime

    return int(UTCDateTime(t).ns)


class _Viewable:
    def view(self, starttime: Any = None, endtime: Any = None, width: int = 900,
             height: int | None = None, **options: Any):
        """This stream as a HoloViews DynamicMap that reads at the plot's resolution
        (see `dashboard.notebook.view`; `options`: scale, units, filter of FrameOptions)."""
        return _view([self], starttime, endtime, width, height, options)

    def psd_view(self, starttime: Any = None, endtime: Any = None, width: int = 900,
                 height: int = 260, **kwargs: Any):
        """This stream's hourly PSDs (period x time) as a DynamicMap that reads the 30-minute
        rows or the daily level at the plot's resolution (see
        `dashboard.notebook_noise.psd_view`; kwargs: clim, cmap)."""
        from dashboard.notebook_noise import view_of

        return view_of(self.store, self.name, t0_ns=_ns(starttime), t1_ns=_ns(endtime),
                       width=width, height=height, **kwargs)


class NotebookStream(_Viewable, Stream):
    """A regular stream with `.view()`."""


class NotebookIrregularStream(_Viewable, IrregularStream):
    """An irregular stream with `.view()`."""


class NotebookStore(Store):
    """A store whose streams have `.view()`, with a store-level `view` and `to_datatree`."""

    def __getitem__(self, name: str) -> NotebookStream | NotebookIrregularStream:
        s = super().__getitem__(name)
        kind = NotebookIrregularStream if s.kind == IrregularStream.kind else NotebookStream
        return kind(self, s.name, s.group)

    def view(self, streams: str | list[str] = "*", starttime: Any = None, endtime: Any = None,
             width: int = 900, height: int | None = None, **options: Any):
        """Stacked bands of the streams matching `streams` (wildcards, commas) as one
        DynamicMap (see `dashboard.notebook.view`)."""
        return _view([self[n] for n in self.select(streams)], starttime, endtime, width,
                     height, options)

    def psd_view(self, stream: str, starttime: Any = None, endtime: Any = None,
                 **kwargs: Any):
        """The PSDs of `stream` as a DynamicMap (see `NotebookStream.psd_view`)."""
        return self[stream].psd_view(starttime, endtime, **kwargs)

    def to_datatree(self, streams: str | list[str] | None = None):
        """Every stream (or those matching `streams`) as one `xarray.DataTree`
        (`pipelines.store.open_datatree`)."""
        return open_datatree(self, streams)

    def events_overlay(self, starttime: Any = None, endtime: Any = None, bands: int = 1):
        """The catalogue's events as HoloViews vertical lines to lay over a view with `*`."""
        from dashboard.notebook import events_overlay

        t0, t1 = _ns(starttime), _ns(endtime)
        events = [e for e in self.events() if (t0 is None or e["time_ns"] >= t0)
                  and (t1 is None or e["time_ns"] < t1)]
        return events_overlay(events, bands)


def _view(streams: list[Any], starttime: Any, endtime: Any, width: int, height: int | None,
          options: dict[str, Any]):
    from dashboard import filters
    from dashboard.frames import FrameOptions
    from dashboard.notebook import view

    if isinstance(options.get("filter"), dict):
        options["filter"] = filters.FilterSpec(**options["filter"])
    return view(streams, _ns(starttime), _ns(endtime), width, height, FrameOptions(**options))


def open_store(url: str) -> NotebookStore:
    """Open a store for reading (a folder, `file://...` or an fsspec URL), with views.

    Parameters
    ----------
    url : str
        Where the store is.

    Returns
    -------
    NotebookStore
        `store["BV.ALPA.00.HHZ"].view()`, `.to_xarray()`, `store.view("BV.*.00.HHZ")`,
        `store.to_datatree()`, and everything `pipelines.store.Store` does.
    """
    return NotebookStore(url, mode="r")


class NotebookUsageStore(UsageStore):
    """A usage store (`pipelines.usage.usage_store.UsageStore`) with DynamicMap views of its
    metrics and jobs (see `dashboard.notebook_usage`)."""

    def view(self, metric: str | None = None, starttime: Any = None, endtime: Any = None,
             width: int = 900, height: int | None = None, **kwargs: Any):
        """A metric's series x time heatmap (the first metric by default), read from the
        metric pyramid at the plot's resolution."""
        from dashboard.notebook_usage import metric_view

        names = self.metrics()
        if not names:
            raise ValueError(f"usage store {self.url} holds no metrics; ingest some with "
                             "`belvedere ingest usage --prometheus URL`")
        if metric is None:
            metric = names[0]
        elif metric not in names:
            raise ValueError(f"no metric {metric!r} in {self.url}; it holds "
                             f"{', '.join(names)}")
        return metric_view(self.metric(metric), _ns(starttime), _ns(endtime), width, height,
                           **kwargs)

    def jobs_view(self, by: str = "infrastructure", what: str = "cpu", starttime: Any = None,
                  endtime: Any = None, **kwargs: Any):
        """CPU- or GPU-hours per bin stacked by `by`, re-binned on every zoom."""
        from dashboard.notebook_usage import jobs_view

        return jobs_view(self, by, what, _ns(starttime), _ns(endtime), **kwargs)

    def queue_view(self, starttime: Any = None, endtime: Any = None, **kwargs: Any):
        """Jobs running and pending over time, re-binned on every zoom."""
        from dashboard.notebook_usage import queue_view

        return queue_view(self, _ns(starttime), _ns(endtime), **kwargs)

    def runs_view(self, **kwargs: Any):
        """The project's own ingest runs: wall time per run, by kind."""
        from dashboard.notebook_usage import runs_view

        return runs_view(self, **kwargs)


def open_usage(url: str) -> NotebookUsageStore:
    """Open a usage store for reading, with views.

    Parameters
    ----------
    url : str
        Where the usage store is (a folder or an fsspec URL).

    Returns
    -------
    NotebookUsageStore
        `.jobs()`, `.metric(name)`, `.runs()` as `UsageStore`, plus `.view(metric)`,
        `.jobs_view(by)`, `.queue_view()`, `.runs_view()`.
    """
    return NotebookUsageStore(url, mode="r")


class Client(_Client):
    """`pipelines.seismic.client.Client` (ObsPy's archive-client methods) whose `store` is a
    `NotebookStore`, plus `view`.

    Examples
    --------
    >>> from belvedere import Client                                  # doctest: +SKIP
    >>> c = Client("campus.zarr")                                     # doctest: +SKIP
    >>> st = c.get_waveforms("BV", "ALPA", "00", "HH?", t, t + 600)   # doctest: +SKIP
    >>> c.view("BV.*.00.HHZ")                                         # doctest: +SKIP
    """

    def __init__(self, source: str | Store, timeout: float = 30.0):
        if isinstance(source, Store) and not isinstance(source, NotebookStore):
            source = source.url
        if isinstance(source, str):
            try:
                source = open_store(source)
            except Exception:  # not a store: perhaps a server (the parent class decides)
                pass
        super().__init__(source, timeout)

    def view(self, streams: str | list[str] = "*", starttime: Any = None, endtime: Any = None,
             **kwargs: Any):
        """Stacked bands of the streams matching `streams` (see `NotebookStore.view`)."""
        return self._store("a view").view(streams, starttime, endtime, **kwargs)
