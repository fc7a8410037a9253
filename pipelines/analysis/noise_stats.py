"""Probability density of stored PSDs, restacked by time of day, weekday and month, as ObsPy's
`PPSD.calculate_histogram`, `get_mode` and `get_percentile` compute them.

The PSD rows (time x period, dB) come from the store's PSD product; each row's start time is
the time its selections test (ObsPy: "time restrictions only check the starttime of the
individual psd pieces"). The dB values are put in ObsPy's 1 dB bins once (`bin_index`), so a
restack is a mask and one `bincount` over the rows kept: O(rows x periods), no Python loop.
Values outside the bins go to the first or last bin, as ObsPy does; NaN (a period the PSD has
no value for) is counted nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DB_BINS = (-200.0, -50.0, 1.0)  # PPSD's default `db_bins`
NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR


def db_edges(db_bins: tuple[float, float, float] = DB_BINS) -> np.ndarray:
    """The dB bin edges (as PPSD builds them from `db_bins` = (low, high, step))."""
    n = int((db_bins[1] - db_bins[0]) / db_bins[2])
    return np.linspace(db_bins[0], db_bins[1], n + 1, endpoint=True)


@dataclass(frozen=True)
class TimeDetails:
    """Per PSD row: hours after midnight (UTC), ISO weekday (Monday 1), month, year."""

    hour: np.ndarray
    weekday: np.ndarray
    month: np.ndarray
    year: np.ndarray


def time_details(times_ns: np.ndarray) -> TimeDetails:
    """The calendar fields ObsPy's selections test, computed for all rows at once."""
    t = np.asarray(times_ns, dtype=np.int64)
    days = np.floor_divide(t, NS_PER_DAY)
    # float32, as PPSD keeps `time_of_day`: its comparisons with the selection's hours agree
    hour = ((t - days * NS_PER_DAY) / NS_PER_HOUR).astype(np.float32)
    weekday = ((days + 3) % 7 + 1).astype(np.int8)  # 1970-01-01 was a Thursday (ISO 4)
    months = t.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    return TimeDetails(hour, weekday, (months % 12 + 1).astype(np.int8),
                       (months // 12 + 1970).astype(np.int16))


def select(times_ns: np.ndarray, t0_ns: int | None = None, t1_ns: int | None = None,
           hours: tuple[float, float] | None = None, weekdays: Sequence[int] | None = None,
           months: Sequence[int] | None = None, years: Sequence[int] | None = None,
           details: TimeDetails | None = None) -> np.ndarray:
    """The rows a stack uses, as `PPSD._stack_selection` chooses them.

    Parameters
    ----------
    times_ns : numpy.ndarray
        int64 start of each PSD (ns since 1970, UTC).
    t0_ns, t1_ns : int or None
        PPSD's `starttime` / `endtime`: both inclusive.
    hours : (float, float) or None
        Hours after midnight, both inclusive (PPSD's `time_of_weekday` ranges).
    weekdays : sequence of int or None
        ISO weekdays (Monday 1 ... Sunday 7) combined with `hours` as PPSD's
        `time_of_weekday=[(d, h0, h1) for d in weekdays]`; None: any day (PPSD's -1).
    months, years : sequence of int or None
        PPSD's `month` and `year`.
    details : TimeDetails or None
        `time_details(times_ns)` when already computed.

    Returns
    -------
    numpy.ndarray
        bool per row.
    """
    t = np.asarray(times_ns, dtype=np.int64)
    keep = np.ones(len(t), dtype=bool)
    if t0_ns is not None:
        keep &= t >= t0_ns
    if t1_ns is not None:
        keep &= t <= t1_ns
    if hours is None and weekdays is None and months is None and years is None:
        return keep
    d = details if details is not None else time_details(t)
    if hours is not None or weekdays is not None:
        h0, h1 = hours if hours is not None else (0.0, 24.0)
        in_hours = (d.hour >= h0) & (d.hour <= h1)
        if weekdays is not None:
            in_hours &= np.isin(d.weekday, np.asarray(list(weekdays), dtype=np.int8))
        keep &= in_hours
    if months is not None:
        keep &= np.isin(d.month, np.asarray(list(months), dtype=np.int8))
    if years is not None:
        keep &= np.isin(d.year, np.asarray(list(years), dtype=np.int16))
    return keep


def bin_index(db: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's dB bin (int16, rows x periods): PPSD's `searchsorted(side="left") - 1`
    clipped into the bins; -1 where the value is NaN."""
    db = np.asarray(db)
    idx = np.searchsorted(edges, db.astype(np.float64).ravel(), side="left") - 1
    idx = np.clip(idx, 0, len(edges) - 2).astype(np.int16).reshape(db.shape)
    idx[~np.isfinite(db)] = -1
    return idx


CENTI_FILL = -32768  # the PSD product's int16 fill


def centi_db_lut(edges: np.ndarray) -> np.ndarray:
    """`bin_index` of every stored int16 centi-dB value (index: value + 32768), so stored rows
    are binned by one gather, with the same bins as their float values would get."""
    values = np.arange(-32768, 32768, dtype=np.int64)
    lut = bin_index((values / 100.0).astype(np.float32), edges)
    lut[0] = -1  # the fill: no value
    return lut


def bin_index_centi(raw: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """`bin_index` of stored int16 centi-dB rows through `centi_db_lut` (fill: -1)."""
    return lut[raw.astype(np.int32) + 32768]


def histogram(index: np.ndarray, keep: np.ndarray | None, n_bins: int) -> np.ndarray:
    """Counts per (period, dB bin) of the kept rows: PPSD's `current_histogram`.

    Parameters
    ----------
    index : numpy.ndarray
        `bin_index` of the rows (rows x periods).
    keep : numpy.ndarray or None
        bool per row (`select`); None: every row.
    n_bins : int
        Number of dB bins.

    Returns
    -------
    numpy.ndarray
        uint64, periods x dB bins.
    """
    rows = index if keep is None else index[keep]
    n_per = index.shape[1]
    flat = rows.astype(np.int64) + np.arange(n_per, dtype=np.int64) * n_bins
    flat = flat[rows >= 0]
    counts = np.bincount(flat, minlength=n_per * n_bins)
    return counts.reshape(n_per, n_bins).astype(np.uint64)


def flat_cells(index: np.ndarray, n_bins: int) -> np.ndarray:
    """Each value's (period, dB bin) cell as one number (`period * n_bins + bin`; the cell past
    the last for no value): computed once, a restack is then one `bincount` of the rows kept."""
    n_per = index.shape[1]
    cells = index.astype(np.int32) + np.arange(n_per, dtype=np.int32) * np.int32(n_bins)
    cells[index < 0] = n_per * n_bins
    return cells


def histogram_of_cells(cells: np.ndarray, keep: np.ndarray | None, n_periods: int,
                       n_bins: int) -> np.ndarray:
    """`histogram` from `flat_cells` (the same counts)."""
    rows = cells if keep is None else cells[keep]
    counts = np.bincount(rows.ravel(), minlength=n_periods * n_bins + 1)
    return counts[:n_periods * n_bins].reshape(n_periods, n_bins).astype(np.uint64)


def cumulative(hist: np.ndarray) -> np.ndarray:
    """Per period, the fraction of values at or below each bin (PPSD's
    `current_histogram_cumulative`; a period with no value stays 0)."""
    cum = hist.cumsum(axis=1)
    norm = cum[:, -1].copy().astype(np.float64)
    norm[norm == 0] = 1
    return (cum.T / norm).T


def mode(hist: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per period, the centre of the most populated bin (PPSD's `get_mode`); NaN where a
    period holds no value (PPSD gives the first bin there)."""
    centers = (edges[:-1] + edges[1:]) / 2.0
    out = centers[hist.argmax(axis=1)].astype(np.float64)
    out[hist.sum(axis=1) == 0] = np.nan
    return out


def percentile(hist: np.ndarray, edges: np.ndarray, q: float,
               cum: np.ndarray | None = None) -> np.ndarray:
    """Per period, the bin edge where the cumulative fraction reaches `q` percent (PPSD's
    `get_percentile`); NaN where a period holds no value."""
    cum = cumulative(hist) if cum is None else cum
    q = q / 100.0
    # `searchsorted` per (non-decreasing) column, for all columns at once
    idx = (cum <= q).sum(axis=1) if q == 0 else (cum < q).sum(axis=1)
    out = edges[np.minimum(idx, len(edges) - 1)].astype(np.float64)
    out[hist.sum(axis=1) == 0] = np.nan
    return out


def density_percent(hist: np.ndarray) -> np.ndarray:
    """Each period's counts as a percentage of its values (what PPSD's plot shades); float32,
    NaN where a period holds no value."""
    total = hist.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = hist * (100.0 / total)
    return out.astype(np.float32)


__all__ = ["CENTI_FILL", "DB_BINS", "TimeDetails", "bin_index", "bin_index_centi",
           "centi_db_lut", "cumulative", "db_edges", "density_percent", "flat_cells",
           "histogram", "histogram_of_cells", "mode", "percentile", "select", "time_details"]
