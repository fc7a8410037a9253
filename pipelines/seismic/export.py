"""Give a stream's samples back as miniSEED, SAC, CSV or NumPy files, exactly as stored."""

from __future__ import annotations

import os

import numpy as np

from pipelines.store import Store

FORMATS = ("mseed", "sac", "csv", "npy")
_MSEED_ENCODING = {"int32": "STEIM2", "int16": "INT16", "float32": "FLOAT32",
                   "float64": "FLOAT64"}


def _numbered(out: str, i: int, n: int) -> str:
    if n == 1:
        return out
    base, ext = os.path.splitext(out)
    return f"{base}_{i:02d}{ext}"


def export_stream(store: Store, name: str, out: str, fmt: str, t0_ns: int | None = None,
                  t1_ns: int | None = None) -> list[str]:
    """Write the present samples of [t0, t1) to `out`; returns the files written.

    Formats holding one contiguous trace per file (SAC, NumPy) write one file per segment,
    numbered `OUT_00.ext`, `OUT_01.ext`, ... when the window has gaps.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    stream = store[name]
    if stream.kind == "irregular":  # explicit timestamps
        return _export_irregular(stream, out, fmt, t0_ns, t1_ns)
    runs = stream.read_segments(t0_ns, t1_ns)
    if not runs:
        raise ValueError(f"stream {name} has no samples in the requested time range")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise OSError(f"cannot write {out}: folder {parent} does not exist or is not writable")
    if fmt == "csv":
        _write_csv(stream, runs, out)
        return [out]
    if fmt == "npy":
        files = [_numbered(out, i, len(runs)) for i in range(len(runs))]
        for f, (_, values) in zip(files, runs, strict=True):
            np.save(f, values)
        return files
    st = _obspy_stream(stream, runs)
    if fmt == "mseed":
        enc = _MSEED_ENCODING.get(str(stream.dtype))
        st.write(out, format="MSEED", **({"encoding": enc} if enc else {}))
        return [out]
    files = [_numbered(out, i, len(st)) for i in range(len(st))]
    for f, tr in zip(files, st, strict=True):
        tr.write(f, format="SAC")
    return files


def _obspy_stream(stream, runs):
    from obspy import Stream as OStream
    from obspy import Trace, UTCDateTime

    a = stream.attrs
    traces = []
    for start_ns, values in runs:
        tr = Trace(np.ascontiguousarray(values), header={
            "network": a.get("network", ""), "station": a.get("station", ""),
            "location": a.get("location", ""), "channel": a.get("channel", ""),
            "sampling_rate": stream.sampling_rate, "starttime": UTCDateTime(ns=int(start_ns))})
        traces.append(tr)
    return OStream(traces)


def _write_csv(stream, runs, out: str) -> None:
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(f"time_utc,{stream.name}\n")
        for start_ns, values in runs:
            for c0 in range(0, len(values), 1_000_000):  # bounded memory for long exports
                part = values[c0:c0 + 1_000_000]
                idx = np.arange(c0, c0 + len(part))
                t = start_ns + np.round(idx * stream.period_ns).astype(np.int64)
                stamps = np.datetime_as_string(t.astype("datetime64[ns]"), unit="us")
                vals = part.astype(str) if part.dtype.kind in "iu" else np.char.mod("%.17g", part)
                fh.write("\n".join(np.char.add(np.char.add(stamps, "Z,"), vals)) + "\n")



def _export_irregular(stream, out: str, fmt: str, t0_ns: int | None, t1_ns: int | None
                      ) -> list[str]:
    """CSV (time_utc, value) or NumPy (a structured array of time_ns and value) of an
    irregular stream; miniSEED and SAC need a sampling rate, which it does not have."""
    if fmt not in ("csv", "npy"):
        raise ValueError(f"stream {stream.name} has irregular timestamps: export it as csv or "
                         "npy (miniSEED and SAC need a regular sampling rate)")
    times, values = stream.read_times(t0_ns, t1_ns)
    if not len(times):
        raise ValueError(f"stream {stream.name} has no samples in the requested time range")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise OSError(f"cannot write {out}: folder {parent} does not exist or is not writable")
    if fmt == "npy":
        arr = np.empty(len(times), dtype=[("time_ns", "<i8"), ("value", values.dtype)])
        arr["time_ns"], arr["value"] = times, values
        np.save(out, arr)
        return [out]
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(f"time_utc,{stream.name}\n")
        for c0 in range(0, len(times), 1_000_000):
            t, part = times[c0:c0 + 1_000_000], values[c0:c0 + 1_000_000]
            stamps = np.datetime_as_string(t.astype("datetime64[ns]"), unit="ns")
            vals = part.astype(str) if part.dtype.kind in "iu" else np.char.mod("%.17g", part)
            fh.write("\n".join(np.char.add(np.char.add(stamps, "Z,"), vals)) + "\n")
    return [out]
