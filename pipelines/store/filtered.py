"""Filtered pyramids: the min/max pyramid of a stream's samples filtered in a band, kept
beside the raw one so that a filtered view of any span costs what an unfiltered one does.

Layout (products version 1, `filter` product; see `layout.FILTERED_LAYOUT`):
`_products/<STREAM>/filter/` is a product group (its `computed` attribute records each UTC day
done, as every product's) holding one group per band, `_products/<STREAM>/filter/<BAND>/`
(`BAND` as `pipelines.analysis.filtered.Band.name`: `hp1`, `bp0.5-2`, `lp0.1`), with
`pyramid/<k>/min` and `pyramid/<k>/max` for k = 1, 2, ...: float32, NaN where a bucket holds
no filtered value. Bucket i of level k covers raw samples [i * F**k, (i + 1) * F**k) of the
raw stream's grid (F = `PYRAMID_FACTOR`, the raw stream's `start_ns` and rate), exactly as the
raw pyramid's buckets: a view picks the same level for both. There is no level 0: filtered
samples are computed on the fly where a view shows samples (a few thousand of them).

A band group's attributes: `belvedere` (`kind: filtered-pyramid`, `filtered_version`), `band`
(name, kind, corners, order, zero phase, how it was designed and applied), `source_stream`,
`source` (the raw stream's `sampling_rate`, `start_ns`, `dtype`, `units` and provenance
count when the band was made), `pyramid` (`factor`, `levels`). A raw stream moved back by
`rebase` gets a new `start_ns`; a band made on another grid is then rebuilt whole.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.store import _zarrio, pyramid
from pipelines.store.errors import StoreError
from pipelines.store.layout import (
    FILTERED_KIND,
    FILTERED_VERSION,
    PYRAMID_FACTOR,
    PYRAMID_SHARD,
    TOP_LEVEL_MAX,
    stream_array,
)
from pipelines.store.products import product_path
from pipelines.store.regular import Window

if TYPE_CHECKING:
    from pipelines.store.regular import Stream
    from pipelines.store.store import Store

PRODUCT = "filter"
DTYPE = np.dtype("float32")


def band_path(stream: str, band: str) -> str:
    """The group of a stream's filtered pyramid in a band (`_products/<STREAM>/filter/<BAND>`)."""
    return f"{product_path(stream, PRODUCT)}/{band}"


def _grid_of(raw: Stream) -> dict[str, Any]:
    return {"sampling_rate": float(raw.sampling_rate), "start_ns": int(raw.start_ns)}


class FilteredPyramid:
    """A stream's filtered pyramid in one band, for reading (and writing with `write_level1`
    and `update_levels` when its store is writable)."""

    def __init__(self, raw: Stream, band: str, group: Any):
        self.raw, self.band, self.group = raw, band, group
        self.attrs: dict[str, Any] = dict(group.attrs)
        version = int(dict(self.attrs.get("belvedere") or {}).get("filtered_version", 0))
        if version > FILTERED_VERSION:
            raise StoreError(f"filtered pyramid {band_path(raw.name, band)} was written with "
                             f"version {version}, newer than {FILTERED_VERSION}; upgrade "
                             "belvedere to read it")
        pyr = self.attrs.get("pyramid", {})
        self.factor = int(pyr.get("factor", PYRAMID_FACTOR))
        self.levels = int(pyr.get("levels", 0))
        self._arrays: dict[str, Any] = {}

    @property
    def matches_grid(self) -> bool:
        """True when the band was made on the raw stream's present grid (else it is stale)."""
        src = self.attrs.get("source", {})
        return (float(src.get("sampling_rate", -1)) == float(self.raw.sampling_rate)
                and int(src.get("start_ns", -1)) == int(self.raw.start_ns))

    def _array(self, path: str):
        arr = self._arrays.get(path)
        if arr is None:
            arr = self._arrays[path] = self.group[path]
        return arr

    # -- reading --------------------------------------------------------------------------
    def read_level(self, level: int, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Min and max (float64, NaN where empty) of buckets [a, b) of stored level `level`
        (1..levels), cut at what the level holds."""
        if not 1 <= level <= self.levels:
            raise StoreError(f"level {level} of {band_path(self.raw.name, self.band)}: stored "
                             f"levels are 1..{self.levels}")
        amin, amax = self._array(f"pyramid/{level}/min"), self._array(f"pyramid/{level}/max")
        end = -(-self.raw.data_end() // self.factor**level)
        e = min(b, int(amin.shape[0]), end)
        a = max(a, 0)
        if e <= a:
            return np.zeros(0), np.zeros(0)
        return (np.asarray(amin[a:e], dtype=np.float64),
                np.asarray(amax[a:e], dtype=np.float64))

    def read_window(self, t0_ns: int, t1_ns: int, level: int) -> Window:
        """Level `level` (>= 1) over [t0, t1), as `Stream.read_window` reads the raw pyramid:
        levels beyond the stored ones are computed from the coarsest stored one.

        Parameters
        ----------
        t0_ns, t1_ns : int
            The window in int64 ns since 1970 (UTC).
        level : int
            The level the raw stream's `choose_level` gives for the view (at least 1).

        Returns
        -------
        Window
            Buckets of the filtered signal's min (`lo`) and max (`hi`), NaN where none.
        """
        raw, f = self.raw, self.factor
        level = max(int(level), 1)
        bucket = f**level
        step = raw.period_ns * bucket
        i0 = math.floor(raw.index_of(t0_ns) / bucket)
        i1 = math.ceil(raw.index_of(t1_ns) / bucket)
        a, b = max(i0, 0), min(i1, -(-raw.data_end() // bucket))
        t0 = int(raw.time_of(a * bucket)) if b > a else raw.start_ns
        if b <= a or self.levels < 1:
            empty = np.zeros(0)
            return Window(raw.name, level, t0, step, empty, empty)
        stored = min(level, self.levels)
        r = f ** (level - stored)
        lo, hi = self.read_level(stored, a * r, b * r)
        if r > 1 and len(lo):
            lo, hi = pyramid.coarsen(lo, r, np.fmin), pyramid.coarsen(hi, r, np.fmax)
        return Window(raw.name, level, t0, step, lo, hi)

    # -- writing --------------------------------------------------------------------------
    def _levels_for(self, n: int) -> int:
        levels = 1
        while math.ceil(n / self.factor**levels) > TOP_LEVEL_MAX:
            levels += 1
        return levels

    def _level_arrays(self, k: int, size: int):
        try:
            amin, amax = self._array(f"pyramid/{k}/min"), self._array(f"pyramid/{k}/max")
        except KeyError:
            grp = self.group.require_group(f"pyramid/{k}")
            shape = (-(-max(size, 1) // PYRAMID_SHARD) * PYRAMID_SHARD,)
            amin, amax = (grp.create_array(key, shape=shape, **stream_array("pyramid", DTYPE))
                          for key in ("min", "max"))
            self._arrays[f"pyramid/{k}/min"], self._arrays[f"pyramid/{k}/max"] = amin, amax
        if amin.shape[0] < size:
            new = -(-size // PYRAMID_SHARD) * PYRAMID_SHARD
            _zarrio.grow_arrays([(amin, new), (amax, new)])
        return amin, amax

    def write_level1(self, b0: int, mn: np.ndarray, mx: np.ndarray) -> None:
        """Write level-1 buckets from `b0` (float32, NaN where empty), then every coarser
        level over the buckets they fall in (from the finer level as stored: a neighbouring
        day written later completes the buckets it shares). A level new to this pyramid is
        built whole from the finer one (which then holds at most ~F * TOP_LEVEL_MAX buckets)."""
        f = self.factor
        n = max(self.raw.data_end(), (b0 + len(mn)) * f)
        levels, before = self._levels_for(n), self.levels
        lo, hi = b0, b0 + len(mn)
        if b0 < 0:
            mn, mx, lo = mn[-b0:], mx[-b0:], 0
        amin, amax = self._level_arrays(1, math.ceil(n / f))
        _zarrio.write_regions([(amin, lo, mn.astype(DTYPE)), (amax, lo, mx.astype(DTYPE))])
        for k in range(2, levels + 1):
            if k > before and before >= 1:  # a new level over every day written before
                lo, hi = 0, math.ceil(n / f ** (k - 1))
            c0, c1 = lo // f, -(-hi // f)
            fmin, fmax = self._array(f"pyramid/{k - 1}/min"), self._array(f"pyramid/{k - 1}/max")
            e = min(c1 * f, int(fmin.shape[0]))
            pmin = np.full((c1 - c0) * f, np.nan, dtype=DTYPE)
            pmax = pmin.copy()
            pmin[:e - c0 * f] = fmin[c0 * f:e]
            pmax[:e - c0 * f] = fmax[c0 * f:e]
            nmin = np.fmin.reduce(pmin.reshape(-1, f), axis=1)
            nmax = np.fmax.reduce(pmax.reshape(-1, f), axis=1)
            kmin, kmax = self._level_arrays(k, math.ceil(n / f**k))
            _zarrio.write_regions([(kmin, c0, nmin), (kmax, c0, nmax)])
            lo, hi = c0, c1
        if levels > self.levels:
            self.levels = levels
            attrs = dict(self.group.attrs)
            attrs["pyramid"] = {"factor": f, "levels": levels}
            _zarrio.put_group_attrs(self.group, attrs)
            self.attrs = attrs


def open_filtered(store: Store, raw: Stream, band: str) -> FilteredPyramid | None:
    """A stream's filtered pyramid in `band` for reading, or None when it has none (or one
    made on a grid the stream no longer has).

    Parameters
    ----------
    store : Store
        The store holding the stream.
    raw : Stream
        The raw stream (its grid places the buckets).
    band : str
        The band's name (`bp0.5-2`).
    """
    try:
        grp = store.root[band_path(raw.name, band)]
    except KeyError:
        return None
    fp = FilteredPyramid(raw, band, grp)
    return fp if fp.matches_grid and fp.levels >= 1 else None


def filtered_bands(store: Store, stream: str) -> list[str]:
    """Names of the bands a stream has a filtered pyramid of (sorted)."""
    try:
        grp = store.root[product_path(stream, PRODUCT)]
    except KeyError:
        return []
    return sorted(k for k in grp.group_keys())


def require_filtered(store: Store, raw: Stream, band: str, band_attrs: dict[str, Any]
                     ) -> FilteredPyramid:
    """Open or create a stream's filtered pyramid in a band (writing); one made on another
    grid or with another filter is replaced (its days are then recomputed by the caller)."""
    from pipelines import __version__

    path = band_path(raw.name, band)
    try:
        grp = store.root[path]
    except KeyError:
        grp = None
    if grp is not None:
        fp = FilteredPyramid(raw, band, grp)
        if fp.matches_grid and fp.attrs.get("band") == band_attrs:
            return fp
        del store.root[path]
    store.writable()
    grp = store.root.require_group(path)
    attrs = {"belvedere": {"kind": FILTERED_KIND, "filtered_version": FILTERED_VERSION,
                           "written_by": f"belvedere {__version__}"},
             "band": band_attrs, "source_stream": raw.name,
             "source": {**_grid_of(raw), "dtype": str(raw.dtype),
                        "units": raw.attrs.get("units", "counts"),
                        "provenance_records": len(raw.attrs.get("provenance", []))},
             "pyramid": {"factor": int(raw.factor), "levels": 0}}
    _zarrio.put_group_attrs(grp, attrs)
    return FilteredPyramid(raw, band, grp)


__all__ = ["PRODUCT", "FilteredPyramid", "band_path", "filtered_bands", "open_filtered",
           "require_filtered"]
