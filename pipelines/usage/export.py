"""Give the jobs table or a metric back as CSV or Parquet."""

from __future__ import annotations

import os

import pandas as pd

from pipelines.usage.usage_store import UsageStore

FORMATS = ("csv", "parquet")


def _check_out(out: str) -> None:
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise OSError(f"cannot write {out}: folder {parent} does not exist or is not writable")


def _iso(col: pd.Series) -> pd.Series:
    s = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return s.where(col.notna(), "")


def export_jobs(store: UsageStore, out: str, fmt: str, t0_ns: int | None = None,
                t1_ns: int | None = None) -> int:
    """Write the jobs table (jobs active in [t0, t1) when given); returns the rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} for jobs; choose csv or parquet")
    _check_out(out)
    df = store.jobs(t0_ns=t0_ns, t1_ns=t1_ns)
    times = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c].dtype)]
    if fmt == "parquet":
        for c in times:
            df[c] = df[c].dt.tz_localize("UTC")
        df.to_parquet(out, index=False)
    else:
        for c in times:
            df[c] = _iso(df[c])
        df.to_csv(out, index=False)
    return len(df)


def export_metric(store: UsageStore, name: str, out: str, fmt: str, t0_ns: int | None = None,
                  t1_ns: int | None = None) -> int:
    """Write one metric wide: `time_utc`, then one column per series; returns the rows written.

    A series without a sample at a timestamp has an empty cell (CSV) or null (Parquet).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} for a metric; choose csv or parquet")
    metric = store.metric(name)
    _check_out(out)
    df = metric.to_frame(t0_ns, t1_ns)
    if df.empty:
        raise ValueError(f"metric {name} has no samples in the requested time range")
    if fmt == "parquet":
        df.index = df.index.tz_localize("UTC")
        df.reset_index().to_parquet(out, index=False)
    else:
        df.index = df.index.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        df.to_csv(out, index=True, float_format="%.17g")
    return len(df)
