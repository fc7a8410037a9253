"""The usage store (layout version 1): jobs and ingest runs as tables, metrics as time series.

One Zarr v3 group of its own, apart from the seismic store:

    STORE/                  attrs belvedere = {layout_version, kind: "usage", created_by, ...}
      jobs/                 a table keyed by (cluster, job_id): one 1-D array per column
      runs/                 a table of ingest runs (the project's own costs), keyed by run_id
      metrics/NAME/         one group per query name (`--query NAME=PROMQL`)
        time                int64 ns since 1970, sorted and unique (explicit timestamps)
        values              float64 (series, time); NaN where a series has no sample
        attrs               series (name + labels per row), query, infrastructure, source

A table's arrays may be longer than its `rows` attribute; rows past it are not committed yet.
`rows` is written last, so an interrupted append leaves the table as it was before. String
columns that views group by (cluster, user, account, ...) are stored as int32 codes with their
`categories` in the array's attributes, so a view reads them as a pandas Categorical cheaply.
Times are int64 ns with NaT (int64 min) for missing, read back as datetime64[ns].

Re-ingesting is idempotent: a job already stored with the same values is not written again; a
job seen again with new values (pending, then running, then ended) is updated in place, unless
the stored record is further along (an ended job is not replaced by an older pending record).
Metrics: where an incoming sample lands on a stored timestamp the incoming value wins (the
store mirrors Prometheus' latest answer); identical values cause no write.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines import __version__
from pipelines.store import StoreError, check_layout_version, swap_group
from pipelines.store.backend import Array, Group, du, open_group, open_zarr_store
from pipelines.store.layout import (
    COLUMN_DTYPES,
    NAT,
    USAGE_KIND,
    USAGE_LAYOUT_VERSION,
    column_array,
    metric_array,
)
from pipelines.timebase import utc_iso
from pipelines.usage import metric_pyramid

# Column kinds (layout.COLUMN_DTYPES): cat (int32 codes + categories), str (UTF-8), time
# (int64 ns, NaT missing), int (int64, -1 missing unless stated), float (float64, NaN missing).
JOB_COLUMNS: dict[str, str] = {
    "cluster": "cat", "job_id": "str", "job_id_raw": "int", "array_job_id": "int",
    "array_task_id": "int", "infrastructure": "cat", "partition": "cat", "qos": "cat",
    "account": "cat", "group": "cat", "user": "cat", "job_name": "str", "state": "cat",
    "exit_code": "cat", "submit": "time", "eligible": "time", "start": "time", "end": "time",
    "elapsed_s": "float", "timelimit_s": "float", "nnodes": "int", "ncpus": "int",
    "req_cpus": "int", "ngpus": "int", "req_mem_bytes": "int", "max_rss_bytes": "int",
    "total_cpu_s": "float", "node_list": "str", "source": "cat", "ingested": "time",
}
JOB_KEY = ("cluster", "job_id")
RUN_COLUMNS: dict[str, str] = {
    "run_id": "str", "kind": "cat", "infrastructure": "cat", "host": "cat", "started": "time",
    "seconds": "float", "cpu_seconds": "float", "peak_rss_bytes": "int",
    "samples_written": "int", "bytes_written": "int", "inputs": "str", "status": "cat",
    "detail": "str",
}
RUN_KEY = ("run_id",)
# Columns that say nothing about the job itself: a re-ingest differing only there is no change.
_BOOKKEEPING = {"source", "ingested", "infrastructure"}


def _key_hash(parts: Sequence[str]) -> int:
    h = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little", signed=True)


def _open_zarr_store(url: str, read_only: bool):
    path = url.removeprefix("file://")
    return open_zarr_store(url, read_only, what="usage store",
                           hint=f"; create one with `belvedere ingest usage --store {path} ...`")


def is_usage_store(url: str) -> bool:
    """True when `url` holds a usage store (so `belvedere export` knows which kind it has)."""
    try:
        root = open_group(_open_zarr_store(url, True), read_only=True)
    except Exception:
        return False
    return dict(root.attrs).get("belvedere", {}).get("kind") == USAGE_KIND


@dataclass
class UpsertResult:
    """What a table write did: rows added, rows updated, rows already stored as given."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # incoming rows older than the stored record (the stored one was kept)


class Table:
    """A table in a Zarr group: one array per column, committed by its `rows` attribute."""

    def __init__(self, group: Group, columns: dict[str, str], key: Sequence[str]):
        self.group = group
        self.columns = columns
        self.key = tuple(key)

    @property
    def rows(self) -> int:
        """Committed rows."""
        return int(self.group.attrs.get("rows", 0))

    @classmethod
    def create(cls, parent: Group, name: str, columns: dict[str, str],
               key: Sequence[str]) -> Table:
        """Create an empty table (or open it when it exists)."""
        if name in parent:
            return cls(parent[name], columns, key)
        g = parent.create_group(name)
        for col, kind in columns.items():
            _create_column(g, col, kind)
        g.attrs.update({"kind": "table", "rows": 0, "key": list(key),
                        "columns": dict(columns)})
        return cls(g, columns, key)

    # -- reading --------------------------------------------------------------------------
    def read(self, columns: Sequence[str] | None = None,
             rows: np.ndarray | slice | None = None) -> pd.DataFrame:
        """The table (or some columns / rows of it) as a DataFrame with decoded columns."""
        n = self.rows
        cols = list(columns) if columns else list(self.columns)
        sel = slice(0, n) if rows is None else rows
        out = {}
        for c in cols:
            if c not in self.columns:
                raise KeyError(f"no column {c!r}; columns are {', '.join(self.columns)}")
            arr = self.group[c]
            if n == 0:
                raw = np.zeros(0, dtype=_dtype(self.columns[c]))
            elif isinstance(sel, slice):
                raw = arr[sel]
            else:
                raw = arr.oindex[np.asarray(sel, dtype=np.int64)] if len(sel) else \
                    np.zeros(0, dtype=_dtype(self.columns[c]))
            out[c] = _decode(self.columns[c], raw, arr)
        return pd.DataFrame(out)

    def key_hashes(self) -> np.ndarray:
        """The int64 key hash of every committed row."""
        return self.group["_key"][: self.rows] if self.rows else np.zeros(0, np.int64)

    # -- writing --------------------------------------------------------------------------
    def upsert(self, df: pd.DataFrame, replace: np.ndarray | None = None,
               compare: Sequence[str] | None = None) -> UpsertResult:
        """Add rows whose key is new; update stored rows whose values differ.

        `replace(stored, incoming) -> bool array` decides, for rows that differ, whether the
        incoming row replaces the stored one (default: always). `compare` lists the columns
        whose difference counts as a change (default: all).
        """
        res = UpsertResult()
        if df.empty:
            return res
        df = df.reset_index(drop=True)
        keys = np.array([_key_hash([str(v) for v in t]) for t in
                         df[list(self.key)].itertuples(index=False, name=None)], dtype=np.int64)
        # Last occurrence wins within one input.
        _, last = np.unique(keys[::-1], return_index=True)
        keep = np.sort(len(keys) - 1 - last)
        df, keys = df.iloc[keep].reset_index(drop=True), keys[keep]
        stored_keys = self.key_hashes()
        pos = pd.Index(stored_keys).get_indexer(keys) if len(stored_keys) else \
            np.full(len(keys), -1)
        old = pos >= 0
        if old.any():
            idx = pos[old]
            stored = self.read(rows=idx)
            incoming = _normalize(df[old].reset_index(drop=True), self.columns)
            cmp_cols = list(compare) if compare else list(self.columns)
            differs = ~_rows_equal(stored[cmp_cols], incoming[cmp_cols])
            take = differs.copy()
            if replace is not None and differs.any():
                take &= replace(stored, incoming)
            res.unchanged = int((~differs).sum())
            res.kept = int((differs & ~take).sum())
            res.updated = int(take.sum())
            if take.any():
                self._write_rows(idx[take], incoming[take].reset_index(drop=True))
        new = df[~old].reset_index(drop=True)
        if len(new):
            n = self.rows
            self._write_rows(np.arange(n, n + len(new)), new, keys[~old])
            self.group.attrs["rows"] = n + len(new)  # the commit
            res.added = len(new)
        return res

    def _write_rows(self, idx: np.ndarray, df: pd.DataFrame,
                    keys: np.ndarray | None = None) -> None:
        end = int(idx.max()) + 1
        contiguous = len(idx) == end - int(idx[0]) and bool(np.all(np.diff(idx) == 1))
        for c, kind in {**self.columns, "_key": "key"}.items():
            if c == "_key" and keys is None:
                continue
            arr = self.group[c]
            if arr.shape[0] < end:
                arr.resize((max(end, arr.shape[0] * 2 if arr.shape[0] else end),))
            values = keys if c == "_key" else _encode(kind, df[c], arr)
            if contiguous:
                arr[int(idx[0]):end] = values
            else:
                arr.oindex[idx] = values


def _dtype(kind: str):
    return COLUMN_DTYPES[kind]


def _create_column(g: Group, name: str, kind: str) -> None:
    arr = g.create_array(name, shape=(0,), **column_array(kind))
    arr.attrs["kind"] = kind
    if kind == "cat":
        arr.attrs["categories"] = []
    if name == JOB_KEY[-1] or name == RUN_KEY[0]:
        if "_key" not in g:
            _create_column(g, "_key", "key")


def _encode(kind: str, values: pd.Series, arr: Array) -> np.ndarray:
    if kind == "cat":
        cats = list(arr.attrs.get("categories", []))
        lookup = {c: i for i, c in enumerate(cats)}
        text = values.fillna("").astype(str)
        fresh = [v for v in pd.unique(text) if v not in lookup]
        if fresh:
            cats += fresh
            lookup.update({c: i for i, c in enumerate(cats)})
            arr.attrs["categories"] = cats  # before the codes that use them
        return text.map(lookup).to_numpy(dtype=np.int32)
    if kind == "str":
        return values.fillna("").astype(str).to_numpy(dtype=object)
    if kind == "time":
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            return values.to_numpy(dtype="datetime64[ns]").view(np.int64)
        return values.astype("Int64").fillna(NAT).to_numpy(dtype=np.int64)
    if kind == "float":
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return values.fillna(-1).to_numpy(dtype=np.int64)


def _decode(kind: str, raw: np.ndarray, arr: Array):
    if kind == "cat":
        cats = list(arr.attrs.get("categories", []))
        return pd.Categorical.from_codes(np.asarray(raw, dtype=np.int32),
                                         categories=pd.Index(cats, dtype=object)
                                         if cats else pd.Index([], dtype=object))
    if kind == "str":
        return np.asarray(raw, dtype=object)
    if kind == "time":
        return np.asarray(raw, dtype=np.int64).view("datetime64[ns]")
    return raw


def _normalize(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Incoming values in the form `Table.read` gives them back (for comparisons)."""
    out = {}
    for c in df.columns:
        kind = columns.get(c)
        if kind == "time":
            out[c] = _encode("time", df[c], None).view("datetime64[ns]")
        elif kind in ("cat", "str"):
            out[c] = df[c].fillna("").astype(str).to_numpy(dtype=object)
        elif kind == "int":
            out[c] = df[c].fillna(-1).to_numpy(dtype=np.int64)
        elif kind == "float":
            out[c] = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[c] = df[c].to_numpy()
    return pd.DataFrame(out)


def _rows_equal(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    eq = np.ones(len(a), dtype=bool)
    for c in a.columns:
        x, y = a[c], b[c]
        if isinstance(x.dtype, pd.CategoricalDtype) or isinstance(y.dtype, pd.CategoricalDtype):
            x, y = x.astype(object).fillna(""), y.astype(object).fillna("")
        xv, yv = x.to_numpy(), y.to_numpy()
        same = xv == yv
        if xv.dtype.kind in "fM" or yv.dtype.kind in "fM":
            same |= pd.isna(x).to_numpy() & pd.isna(y).to_numpy()
        eq &= np.asarray(same, dtype=bool)
    return eq


def _progress(df: pd.DataFrame) -> np.ndarray:
    """How far along a job record is: 2 ended, 1 started, 0 neither."""
    ended = df["end"].notna().to_numpy()
    started = df["start"].notna().to_numpy()
    return np.where(ended, 2, np.where(started, 1, 0))


def _job_replaces(stored: pd.DataFrame, incoming: pd.DataFrame) -> np.ndarray:
    return _progress(incoming) >= _progress(stored)


class UsageStore:
    """A usage store: `jobs` and `runs` tables and `metrics/NAME` time series."""

    def __init__(self, url: str, mode: str = "r"):
        self.url = str(url)
        self.mode = mode
        self.zarr_store = _open_zarr_store(self.url, mode == "r")
        try:
            self.root = open_group(self.zarr_store, read_only=mode == "r")
        except FileNotFoundError as exc:
            raise StoreError(f"no usage store at {self.url}; create one with "
                             f"`belvedere ingest usage --store {self.url} ...`") from exc
        except Exception as exc:
            raise StoreError(f"{self.url} is not a readable usage store: {exc}") from exc
        meta = dict(self.root.attrs).get("belvedere")
        if meta is None:
            if mode == "r":
                raise StoreError(f"{self.url} is a Zarr group but not a Belvedere usage store")
            if list(self.root.keys()):
                raise StoreError(f"{self.url} already holds a Zarr group that is not a usage "
                                 "store; choose another --store")
            meta = {"layout_version": USAGE_LAYOUT_VERSION, "kind": USAGE_KIND,
                    "created_by": f"belvedere {__version__}",
                    "created_at": utc_iso(time.time_ns())}
            self.root.attrs["belvedere"] = meta
        check_layout_version(meta, f"usage store {self.url}")
        if meta.get("kind") != USAGE_KIND:
            raise StoreError(f"{self.url} is a Belvedere {meta.get('kind', 'data')} store, not a "
                             "usage store; give usage its own --store")
        self.meta = meta
        if mode != "r":
            Table.create(self.root, "jobs", JOB_COLUMNS, JOB_KEY)
            Table.create(self.root, "runs", RUN_COLUMNS, RUN_KEY)
            self.root.require_group("metrics")

    # -- tables ---------------------------------------------------------------------------
    def _table(self, name: str, columns: dict[str, str], key: Sequence[str]) -> Table | None:
        if name not in self.root:
            return None
        return Table(self.root[name], columns, key)

    def jobs(self, columns: Sequence[str] | None = None, t0_ns: int | None = None,
             t1_ns: int | None = None) -> pd.DataFrame:
        """The jobs table; with t0/t1, only jobs whose [submit, end or now) overlaps them."""
        t = self._table("jobs", JOB_COLUMNS, JOB_KEY)
        if t is None:
            return _empty_frame(JOB_COLUMNS, columns)
        if t0_ns is None and t1_ns is None:
            return t.read(columns)
        span = t.read(["submit", "start", "end"])
        first = span["submit"].fillna(span["start"]).to_numpy().view(np.int64)
        last = span["end"].to_numpy().view(np.int64)
        last = np.where(last == NAT, np.iinfo(np.int64).max, last)
        m = np.ones(len(span), dtype=bool)
        if t1_ns is not None:
            m &= (first < t1_ns) | (first == NAT)
        if t0_ns is not None:
            m &= last >= t0_ns
        return t.read(columns, rows=np.flatnonzero(m)).reset_index(drop=True)

    def runs(self) -> pd.DataFrame:
        """The ingest runs recorded in this store (what preparing the data cost)."""
        t = self._table("runs", RUN_COLUMNS, RUN_KEY)
        return _empty_frame(RUN_COLUMNS, None) if t is None else t.read()

    def n_jobs(self) -> int:
        """Committed job rows."""
        t = self._table("jobs", JOB_COLUMNS, JOB_KEY)
        return 0 if t is None else t.rows

    def write_jobs(self, jobs: pd.DataFrame) -> UpsertResult:
        """Upsert jobs (columns of JOB_COLUMNS) keyed by (cluster, job_id)."""
        self._writable()
        t = Table.create(self.root, "jobs", JOB_COLUMNS, JOB_KEY)
        jobs = _complete(jobs, JOB_COLUMNS)
        compare = [c for c in JOB_COLUMNS if c not in _BOOKKEEPING]
        return t.upsert(jobs, replace=_job_replaces, compare=compare)

    def add_run(self, run: dict[str, Any]) -> None:
        """Record one ingest run (RUN_COLUMNS)."""
        self._writable()
        t = Table.create(self.root, "runs", RUN_COLUMNS, RUN_KEY)
        t.upsert(_complete(pd.DataFrame([run]), RUN_COLUMNS))

    # -- metrics --------------------------------------------------------------------------
    def metrics(self) -> list[str]:
        """Names of the metric series groups (query names), sorted."""
        if "metrics" not in self.root:
            return []
        return sorted(k for k in self.root["metrics"].group_keys() if not k.endswith(".tmp"))

    def metric(self, name: str) -> Metric:
        """One metric (all its series) by query name."""
        if name not in self.metrics():
            raise StoreError(f"no metric {name!r} in usage store {self.url}; it holds "
                             f"{', '.join(self.metrics()) or 'no metrics'} and the 'jobs' table")
        return Metric(self.root["metrics"][name])

    def write_metric(self, name: str, times_ns: np.ndarray, series: list[dict[str, Any]],
                     values: np.ndarray, attrs: dict[str, Any] | None = None) -> int:
        """Merge series (each `{"name", "labels"}`) × times values into metric `name`.

        Returns the number of samples written (new or changed); 0 when all were stored.
        """
        self._writable()
        validate_name(name)
        times_ns = np.asarray(times_ns, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64).reshape(len(series), len(times_ns))
        order = np.argsort(times_ns, kind="stable")
        times_ns, values = times_ns[order], values[:, order]
        mg = self.root["metrics"]
        if name not in mg:
            g = mg.create_group(name)
            _metric_arrays(g, len(series), len(times_ns))
            g.attrs.update({"series": [], "times": 0, **(attrs or {})})
        g = mg[name]
        m = Metric(g)
        names = [s["name"] for s in m.series]
        new_series = [s for s in series if s["name"] not in names]
        all_series = m.series + new_series
        rows = np.array([[s["name"] for s in all_series].index(s["name"]) for s in series],
                        dtype=np.int64)
        stored_t = m.times()
        fresh = ~np.isin(times_ns, stored_t)
        if len(stored_t) == 0 or not fresh.any() or times_ns[fresh][0] > stored_t[-1]:
            # New times only after the stored ones (the usual overlapping re-query): in place.
            return self._merge_in_place(g, m, all_series, rows, times_ns, values, attrs)
        return self._merge_rewrite(name, m, all_series, rows, times_ns, values, attrs)

    def _merge_in_place(self, g, m: Metric, all_series, rows, times_ns, values, attrs) -> int:
        stored_t = m.times()
        nt_old = len(stored_t)
        fresh = ~np.isin(times_ns, stored_t)
        cols = np.where(fresh, nt_old + np.cumsum(fresh) - 1,
                        np.searchsorted(stored_t, times_ns))
        nt = nt_old + int(fresh.sum())
        ns = len(all_series)
        va, ta = g["values"], g["time"]
        if va.shape[0] < ns or va.shape[1] < nt:
            va.resize((max(va.shape[0], ns), max(va.shape[1], nt,
                                                 va.shape[1] * 2 if nt > va.shape[1] else 0)))
        if ta.shape[0] < nt:
            ta.resize((max(nt, ta.shape[0] * 2),))
        written = 0
        old_rows = rows < len(m.series)
        if nt_old and old_rows.any() and (~fresh).any():
            old_vals = va.oindex[rows[old_rows], cols[~fresh]]
            inc = values[old_rows][:, ~fresh]
            diff = ~((old_vals == inc) | (np.isnan(old_vals) & np.isnan(inc)))
            diff &= ~np.isnan(inc)  # an absent incoming sample never erases a stored one
            if diff.any():
                merged = np.where(diff, inc, old_vals)
                va.oindex[rows[old_rows], cols[~fresh]] = merged
                written += int(diff.sum())
        new_rows_mask = ~old_rows
        if new_rows_mask.any() and (~fresh).any():
            inc = values[new_rows_mask][:, ~fresh]
            va.oindex[rows[new_rows_mask], cols[~fresh]] = inc
            written += int((~np.isnan(inc)).sum())
        if fresh.any():
            c0 = nt_old
            block = np.full((ns, nt - nt_old), np.nan)
            block[rows] = values[:, fresh]
            va[:ns, c0:nt] = block
            ta[c0:nt] = times_ns[fresh]
            written += int((~np.isnan(values[:, fresh])).sum())
        if written:
            changed = [nt_old] if fresh.any() else []
            if (~fresh).any():
                changed.append(int(cols[~fresh].min()))
            metric_pyramid.update_pyramid(g, ns, nt, min(changed))
        if len(all_series) != len(m.series) or nt != nt_old or attrs:
            g.attrs.update({**(attrs or {}), "series": all_series, "times": nt})  # the commit
        return written

    def _merge_rewrite(self, name: str, m: Metric, all_series, rows, times_ns, values,
                       attrs) -> int:
        """Earlier or interleaved times: build the merged metric apart, then swap it in."""
        stored_t = m.times()
        old = m.values()
        union = np.union1d(stored_t, times_ns)
        merged = np.full((len(all_series), len(union)), np.nan)
        merged[: old.shape[0], np.searchsorted(union, stored_t)] = old
        cols = np.searchsorted(union, times_ns)
        before = merged[np.ix_(rows, cols)]
        inc_present = ~np.isnan(values)
        changed = inc_present & ~(before == values)
        block = np.where(inc_present, values, before)
        merged[np.ix_(rows, cols)] = block
        mg = self.root["metrics"]
        tmp = name + ".tmp"
        if tmp in mg:
            del mg[tmp]
        g = mg.create_group(tmp)
        _metric_arrays(g, len(all_series), len(union))
        g["values"][:, :] = merged
        g["time"][:] = union
        metric_pyramid.update_pyramid(g, len(all_series), len(union), 0)
        g.attrs.update({**dict(m.group.attrs), **(attrs or {}), "series": all_series,
                        "times": len(union), "pyramid": dict(g.attrs["pyramid"])})
        swap_group(self.zarr_store, f"metrics/{tmp}", f"metrics/{name}")
        return int(changed.sum())

    # -- misc -----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: jobs by state and span, metrics with their spans, runs."""
        jobs = self.jobs(["state", "submit", "end"])
        span = pd.concat([jobs["submit"], jobs["end"]]).dropna()
        metrics = []
        for name in self.metrics():
            m = self.metric(name)
            t = m.times()
            metrics.append({"name": name, "series": len(m.series), "times": len(t),
                            "query": m.attrs.get("query", ""),
                            "first": utc_iso(t[0]) if len(t) else None,
                            "last": utc_iso(t[-1]) if len(t) else None})
        return {
            "store": self.url, "kind": USAGE_KIND,
            "layout_version": self.meta.get("layout_version"), "bytes": self.nbytes(),
            "jobs": {"rows": len(jobs),
                     "states": {str(k): int(v) for k, v in
                                jobs["state"].value_counts().items() if v},
                     "first": utc_iso(span.min().value) if len(span) else None,
                     "last": utc_iso(span.max().value) if len(span) else None},
            "metrics": metrics, "runs": len(self.runs()),
        }


    def _writable(self) -> None:
        if self.mode == "r":
            raise StoreError(f"usage store {self.url} is open read-only")

    def nbytes(self) -> int:
        """Bytes the whole store occupies."""
        return du(self.zarr_store)


def _metric_arrays(g: Group, n_series: int, n_times: int) -> None:
    g.create_array("values", shape=(max(n_series, 1), max(n_times, 1)),
                   **metric_array("values"))
    g.create_array("time", shape=(max(n_times, 1),), **metric_array("time"))


class Metric:
    """The series of one query name: a (series × time) grid with explicit timestamps."""

    def __init__(self, group: Group):
        self.group = group
        self.attrs = dict(group.attrs)
        self.series: list[dict[str, Any]] = list(self.attrs.get("series", []))
        self.n_times = int(self.attrs.get("times", 0))

    def times(self) -> np.ndarray:
        """Timestamps (int64 ns), sorted (read once per Metric object)."""
        if getattr(self, "_times", None) is None:
            self._times = (self.group["time"][: self.n_times] if self.n_times
                           else np.zeros(0, np.int64))
        return self._times

    def values(self, t0_ns: int | None = None, t1_ns: int | None = None,
               series: Sequence[int] | None = None) -> np.ndarray:
        """Values (series × time) in [t0, t1), only the time chunks that window needs."""
        i0, i1 = self.window(t0_ns, t1_ns)
        ns = len(self.series)
        if ns == 0 or i1 <= i0:
            return np.zeros((len(series) if series is not None else ns, 0))
        if series is None:
            return self.group["values"][:ns, i0:i1]
        return self.group["values"].oindex[np.asarray(series, dtype=np.int64), i0:i1]

    def window(self, t0_ns: int | None, t1_ns: int | None) -> tuple[int, int]:
        """Index range of the timestamps in [t0, t1)."""
        t = self.times()
        i0 = 0 if t0_ns is None else int(np.searchsorted(t, t0_ns, "left"))
        i1 = len(t) if t1_ns is None else int(np.searchsorted(t, t1_ns, "left"))
        return i0, i1

    def read_window(self, t0_ns: int | None, t1_ns: int | None, max_points: int = 1200,
                    series: Sequence[int] | None = None, at_least: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(times, mean, max, level) of [t0, t1) at screen resolution, from the pyramid: the
        coarsest level with >= max_points buckets (`at_least`), else the finest with <=."""
        i0, i1 = self.window(t0_ns, t1_ns)
        levels = int(dict(self.attrs.get("pyramid") or {}).get("levels", 0))
        k = metric_pyramid.choose_level(i1 - i0, max_points, levels, at_least)
        t, mean, mx = metric_pyramid.read_level(self.group, k, i0, i1, series,
                                                len(self.series))
        return t, mean, mx, k

    def to_frame(self, t0_ns: int | None = None, t1_ns: int | None = None) -> pd.DataFrame:
        """A wide DataFrame: a UTC DatetimeIndex and one column per series name."""
        i0, i1 = self.window(t0_ns, t1_ns)
        idx = pd.DatetimeIndex(self.times()[i0:i1].view("datetime64[ns]"), name="time_utc")
        vals = self.values(t0_ns, t1_ns)
        return pd.DataFrame(vals.T, index=idx, columns=[s["name"] for s in self.series])


def _empty_frame(columns: dict[str, str], wanted: Iterable[str] | None) -> pd.DataFrame:
    cols = list(wanted) if wanted else list(columns)
    return pd.DataFrame({c: pd.Series(dtype=_pd_dtype(columns[c])) for c in cols})


def _pd_dtype(kind: str):
    return {"cat": "category", "str": object, "time": "datetime64[ns]", "int": np.int64,
            "float": np.float64}[kind]


def _complete(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    df = df.copy()
    for c, kind in columns.items():
        if c not in df:
            df[c] = {"cat": "", "str": "", "time": NAT, "int": -1, "float": np.nan}[kind]
    return df[list(columns)]


def validate_name(name: str) -> str:
    """A metric name usable as a group name: letters, digits, `_`, `-`, `.` (not `jobs`)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", name) or name in {"jobs", "runs"} \
            or name.endswith((".tmp", ".old")):
        raise ValueError(f"invalid metric name {name!r}: use letters, digits, _, - and . "
                         "(not 'jobs' or 'runs')")
    return name


def open_usage_store(url: str, mode: str = "r") -> UsageStore:
    """Open a usage store (`mode="a"` creates it when missing)."""
    return UsageStore(url, mode=mode)
