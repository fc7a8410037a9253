"""Housekeeping telemetry tables (CSV or Parquet): a time column and parameter columns.

The time column is the one named `time`, `time_utc`, `timestamp`, `utc`, `datetime`,
`date` or `epoch` (any case), else the first column. Text times are ISO-8601 (UTC when they
carry no zone); numbers are seconds since 1970-01-01 UTC. Every numeric (or boolean) column
becomes stream `<PREFIX>.<column>`; the prefix is `--prefix`, else the file name without
its extension and a trailing date or number (`hk_2024-03-05.csv` -> `hk`), so daily files
append to the same streams. Timestamps on a regular grid (gaps allowed) give regular
streams; others irregular ones. Empty cells are absent samples. Floats are parsed with
round-trip precision, so every value reads back equal.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import numpy as np

from pipelines.mission.options import MissionOptions
from pipelines.mission.series import (
    FileSeries,
    LayoutError,
    Series,
    clean_name,
    series_from_times,
)
from pipelines.timebase import NS

NAME = "CSV or Parquet telemetry"
PARQUET_MAGIC = b"PAR1"
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz")
TIME_NAMES = ("time", "time_utc", "timestamp", "utc", "datetime", "date", "epoch")


def can_open(path: str, head: bytes) -> bool:
    """True for a Parquet file (its signature) or a file named as CSV, TSV or text.

    Parameters
    ----------
    path
        The file (its name's suffix).
    head
        Its first bytes.

    Returns
    -------
    bool
    """
    return head.startswith(PARQUET_MAGIC) or path.lower().endswith(CSV_SUFFIXES)


@contextlib.contextmanager
def read(path: str, options: MissionOptions) -> Iterator[FileSeries]:
    """The series of a telemetry table (layout "parquet" or "csv").

    Parameters
    ----------
    path
        A Parquet or CSV/TSV file.
    options
        `prefix`: the stream prefix (None: from the file name, see `default_prefix`).

    Returns
    -------
    context manager of FileSeries
        The table is read whole. LayoutError when it cannot be read or has no time and
        parameter columns.
    """
    with open(path, "rb") as fh:
        kind = "parquet" if fh.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC else "csv"
    yield FileSeries(kind, read_table(path, kind, options.prefix))


def default_prefix(path: str) -> str:
    """The stream prefix of a table file: its name without extension and trailing date."""
    stem = os.path.basename(path)
    for ext in (".csv.gz", ".csv", ".tsv", ".txt", ".parquet", ".pq"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    stem = re.sub(r"[-_.]?\d[\d\-_T:]*$", "", stem) or stem
    return clean_name(stem)


def read_table(path: str, kind: str, prefix: str | None = None) -> list[Series]:
    """Series of a telemetry table (`kind` "csv" or "parquet")."""
    import pandas as pd

    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, float_precision="round_trip", sep=None, engine="python") \
                if path.lower().endswith((".tsv", ".txt")) else \
                pd.read_csv(path, float_precision="round_trip")
    except Exception as exc:
        raise LayoutError(f"not a readable {kind.upper()} table: "
                          f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    if df.shape[1] < 2 or not len(df):
        raise LayoutError(f"{kind.upper()} table needs a time column and at least one "
                          f"parameter column with rows (found {df.shape[1]} columns, "
                          f"{len(df)} rows)")
    lower = {str(c).strip().lower(): c for c in df.columns}
    tcol = next((lower[n] for n in TIME_NAMES if n in lower), df.columns[0])
    times = _times_ns(df[tcol], tcol)
    pre = clean_name(prefix) if prefix else default_prefix(path)
    base = {"mission": pre, "source_format": f"telemetry {kind}", "time_column": str(tcol),
            "time_system": "UTC"}
    out = []
    for c in df.columns:
        if c == tcol:
            continue
        col = df[c]
        if col.dtype.kind == "b":
            vals = col.to_numpy().astype(np.int8)
        elif col.dtype.kind in "iuf":
            vals = col.to_numpy()
        else:
            continue
        out.append(series_from_times(f"{pre}.{clean_name(c)}", times, vals,
                                     {**base, "units": "", "column": str(c)}, path))
    if not out:
        raise LayoutError(f"{kind.upper()} table has no numeric parameter columns besides "
                          f"its time column {tcol!r}")
    return out


def _times_ns(col, name) -> np.ndarray:
    import pandas as pd

    if col.isna().any():
        raise LayoutError(f"time column {name!r} has empty cells")
    if col.dtype.kind in "iuf":
        v = col.to_numpy()
        if col.dtype.kind == "f":
            whole = np.floor(v)
            return whole.astype(np.int64) * NS + np.round((v - whole) * NS).astype(np.int64)
        return v.astype(np.int64) * NS
    try:
        t = pd.to_datetime(col, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise LayoutError(f"time column {name!r} is not ISO-8601 times nor numbers: "
                          f"{' '.join(str(exc).split())[:160]}") from None
    return t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]"
                                                                          ).astype(np.int64)
