"""Range queries against Prometheus' HTTP API (`/api/v1/query_range`), split under its limit.

Prometheus refuses a range query that would return more than 11,000 points per series. A long
range is therefore asked for in several requests of at most `MAX_POINTS` steps each, on one grid
aligned to a multiple of the step (so that re-ingesting an overlapping range lands on the same
timestamps). Each series is named `NAME{label="value",...}` from the query name and its labels
(sorted; `__name__` is dropped since the query name names the series).
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import numpy as np

from pipelines.timebase import NS

PROMETHEUS_POINT_LIMIT = 11_000
MAX_POINTS = 10_000  # per series per request, safely under the limit
_DUR = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DUR_NS = {"ms": 10**6, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS,
           "w": 7 * 86400 * NS, "y": 365 * 86400 * NS}


class PrometheusError(RuntimeError):
    """Prometheus could not be reached or refused a query; the message says which and why."""


@dataclass
class Query:
    """A named PromQL query (`--query NAME=PROMQL`)."""

    name: str
    promql: str


@dataclass
class QueryResult:
    """One query's answer over the whole range: timestamps, series names and labels, values."""

    query: Query
    times_ns: np.ndarray
    series: list[dict] = field(default_factory=list)  # {"name": ..., "labels": {...}}
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    requests: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Samples present (not NaN-for-absent) in the result."""
        return int((~np.isnan(self.values)).sum()) if self.values.size else 0


def parse_query(text: str) -> Query:
    """`NAME=PROMQL` as a Query (the name must be usable as a metric name in the store)."""
    from pipelines.usage.usage_store import validate_name

    name, sep, promql = text.partition("=")
    name, promql = name.strip(), promql.strip()
    if not sep or not name or not promql:
        raise ValueError(f"--query {text!r}: expected NAME=PROMQL, e.g. "
                         "node_cpu='sum by (instance) (rate(node_cpu_seconds_total[1m]))'")
    validate_name(name)
    return Query(name, promql)


def parse_step(text: str) -> int:
    """Step in ns from a Prometheus duration (`30s`, `1m30s`, `500ms`) or plain seconds."""
    s = text.strip()
    try:
        ns = int(round(float(s) * NS))
    except ValueError:
        parts = _DUR.findall(s)
        if not parts or "".join(n + u for n, u in parts) != s:
            raise ValueError(f"cannot read step {text!r}; use 30s, 1m, 1h or seconds") from None
        ns = int(sum(float(n) * _DUR_NS[u] for n, u in parts))
    if ns < 10**6 or ns % 10**6:
        raise ValueError(f"step {text!r}: use a whole number of milliseconds, at least 1ms")
    return ns


def plan_requests(t0_ns: int, t1_ns: int, step_ns: int, max_points: int = MAX_POINTS
                  ) -> list[tuple[int, int]]:
    """[(start, end)] request ranges (inclusive ends) covering the grid points in [t0, t1]."""
    if t1_ns < t0_ns:
        raise ValueError("the range ends before it starts")
    first = -(-t0_ns // step_ns) * step_ns  # the first multiple of the step at or after t0
    last = t1_ns // step_ns * step_ns
    out = []
    s = first
    while s <= last:
        e = min(s + (max_points - 1) * step_ns, last)
        out.append((s, e))
        s = e + step_ns
    return out


def series_name(query_name: str, labels: dict[str, str]) -> str:
    """`NAME{a="1",b="2"}` (labels sorted, `__name__` left out), or `NAME` without labels."""
    items = sorted((k, v) for k, v in labels.items() if k != "__name__")
    if not items:
        return query_name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return f"{query_name}{{{inner}}}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_ts(ns: int) -> str:
    sec, rem = divmod(int(ns), NS)
    return f"{sec}.{rem:09d}".rstrip("0").rstrip(".")


def query_range_raw(url: str, promql: str, start_ns: int, end_ns: int, step_ns: int,
                    timeout: float = 60.0) -> dict:
    """One `/api/v1/query_range` request; returns the `data` part of Prometheus' answer."""
    params = urllib.parse.urlencode({"query": promql, "start": _fmt_ts(start_ns),
                                     "end": _fmt_ts(end_ns), "step": _fmt_ts(step_ns)})
    endpoint = url.rstrip("/") + "/api/v1/query_range"
    req = urllib.request.Request(endpoint, data=params.encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
            detail = f"{body.get('errorType', '')}: {body.get('error', '')}"
        except Exception:
            detail = str(exc)
        raise PrometheusError(f"Prometheus at {url} refused the query {promql!r}: "
                              f"HTTP {exc.code} {detail}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PrometheusError(f"cannot reach Prometheus at {url}: {reason}") from None
    except json.JSONDecodeError:
        raise PrometheusError(f"{endpoint} did not answer with JSON; is it Prometheus?") from None
    if body.get("status") != "success":
        raise PrometheusError(f"Prometheus at {url} refused the query {promql!r}: "
                              f"{body.get('errorType', '')}: {body.get('error', '')}")
    data = body.get("data", {})
    if data.get("resultType") != "matrix":
        raise PrometheusError(f"query {promql!r} gave a {data.get('resultType')} result, "
                              "not a range vector (matrix)")
    data["warnings"] = body.get("warnings", [])
    return data


def query_range(url: str, query: Query, t0_ns: int, t1_ns: int, step_ns: int,
                max_points: int = MAX_POINTS) -> QueryResult:
    """All series of one query over [t0, t1] at `step`, asked for in as many requests as needed."""
    plan = plan_requests(t0_ns, t1_ns, step_ns, max_points)
    if not plan:
        return QueryResult(query, np.zeros(0, np.int64))
    grid0 = plan[0][0]
    n = (plan[-1][1] - grid0) // step_ns + 1
    times = grid0 + np.arange(n, dtype=np.int64) * step_ns
    by_name: dict[str, int] = {}
    series: list[dict] = []
    rows: list[np.ndarray] = []
    res = QueryResult(query, times)
    for start, end in plan:
        data = query_range_raw(url, query.promql, start, end, step_ns)
        res.requests += 1
        res.warnings += data.get("warnings", [])
        for item in data.get("result", []):
            labels = item.get("metric", {})
            name = series_name(query.name, labels)
            if name not in by_name:
                by_name[name] = len(series)
                series.append({"name": name, "labels": {k: v for k, v in labels.items()
                                                        if k != "__name__"}})
                rows.append(np.full(n, np.nan))
            row = rows[by_name[name]]
            pts = item.get("values", [])
            if not pts:
                continue
            ts = np.array([p[0] for p in pts], dtype=np.float64)
            vals = np.array([float(p[1]) for p in pts], dtype=np.float64)
            ns = np.round(ts * 1000).astype(np.int64) * 10**6  # Prometheus is ms-precise
            idx = (ns - grid0) // step_ns
            ok = (idx >= 0) & (idx < n) & ((ns - grid0) % step_ns == 0)
            row[idx[ok]] = vals[ok]
    res.series = series
    res.values = np.vstack(rows) if rows else np.zeros((0, n))
    return res


def points_per_series(t0_ns: int, t1_ns: int, step_ns: int) -> int:
    """Grid points of [t0, t1] at `step` (what one unsplit request would return per series)."""
    return max(0, math.floor(t1_ns / step_ns) - math.ceil(t0_ns / step_ns) + 1)
