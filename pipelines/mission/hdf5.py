"""LISA HDF5 files: instrument simulations (format 2.x) and LISA Data Challenge TDI.

Instrument simulations, as `lisainstrument` 2.x writes them (`Instrument.export_hdf5`): one
1-D float64 dataset per measurement and link, `/<quantity>/<link>` (links 12 13 21 23 31 32;
per-spacecraft quantities `/<quantity>/<1|2|3>`), the intermediate quantities under
`/debug/<quantity>/<link>`, no time array; `t0`, `dt` (or `fs`) and `size` in the root attribute
`metadata_json` (older files: root attributes), the layout's version in root attribute
`version_format`. Every 1-D numeric dataset of `size` samples, at any depth, is on the
measurement grid and becomes a stream named by its path: `LISA.<quantity>.<link>`,
`LISA.debug.<quantity>.<link>`. Datasets that are not on that grid (`/moc_time_correlations/<sc>`
holds one value per telemetry sample, two per spacecraft in a short run) are auxiliary: kept,
values included, in the attribute `auxiliary` of each stream of the file and named in the
report; never a reason to refuse the file.

LDC files: `obs/tdi` (or `tdi`), a compound dataset with fields `t, X, Y, Z` (shape (N,) or
(N, 1), as the LDC's own `ldc.common.series.TDI.save` writes it) or an (N, 4) array in that
column order, attributes `dt`, `t0`, `units`; NaN is a gap. Streams
`LDC.X`, `LDC.Y`, `LDC.Z`.

Simulation seconds go on the UTC axis as `--sim-epoch` + t (see `series.SIM_EPOCH`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from pipelines.ingest.append import Piece
from pipelines.ingest.report import one_line
from pipelines.mission.options import MissionOptions
from pipelines.mission.series import (
    MISSION_CHUNK,
    FileSeries,
    LayoutError,
    Series,
    clean_name,
    epoch_ns,
    grid_pieces,
    series_from_times,
)
from pipelines.timebase import NS

NAME = "LISA/LDC HDF5"
MAGIC = b"\x89HDF\r\n\x1a\n"

LINKS = ("12", "13", "21", "23", "31", "32")
SPACECRAFT = ("1", "2", "3")
LDC_PATHS = ("obs/tdi", "tdi", "obs/TDI")
# The instrument-file layout this reader knows: lisainstrument's `version_format` 2.x (the
# checked-in real file of tests/data/mission says which; a newer major gets a warning line).
KNOWN_FORMAT_MAJOR = 2
AUX_MAX_VALUES = 65536  # an auxiliary dataset larger than this is named, not copied


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def lisa_metadata(f) -> dict[str, Any] | None:
    """The simulation metadata of an instrument file (None when it has none)."""
    attrs = {k: _attr(v) for k, v in f.attrs.items()}
    if "metadata_json" in attrs:
        try:
            meta = json.loads(attrs["metadata_json"])
        except (TypeError, ValueError) as exc:
            raise LayoutError(f"broken header: metadata_json is not JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise LayoutError("broken header: metadata_json is not a JSON object")
        return meta
    if ("dt" in attrs or "fs" in attrs) and "size" in attrs:
        return attrs
    return None


def _link_datasets(f) -> list[tuple[str, str]]:
    import h5py

    out = []
    for q in sorted(f.keys()):
        grp = f[q]
        if not isinstance(grp, h5py.Group):
            continue
        for k in sorted(grp.keys()):
            if k in LINKS + SPACECRAFT and isinstance(grp[k], h5py.Dataset):
                out.append((q, k))
    return out


def datasets(f) -> list[str]:
    """Paths (no leading /) of every dataset of an open h5py file, sorted."""
    import h5py

    out: list[str] = []
    f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(out)


def stream_name(dpath: str) -> str:
    """The stream of an instrument dataset: `LISA.` and its path with `/` as `.`."""
    return "LISA." + ".".join(clean_name(p) for p in dpath.split("/"))


def format_version(f, meta: dict[str, Any]) -> str:
    """The layout version of an instrument file (`version_format`, else `version`; "" if none)."""
    for v in (_attr(f.attrs.get("version_format", "")), meta.get("version_format"),
              meta.get("version"), _attr(f.attrs.get("version", ""))):
        if v:
            return str(v)
    return ""


def format_major(version: str) -> int | None:
    """The major number of a version string ("2.3.0" -> 2), None when it has none."""
    head = version.strip().lstrip("vV").split(".")[0]
    return int(head) if head.isdigit() else None


def can_open(path: str, head: bytes) -> bool:
    """True for an HDF5 file (its signature); `read` tells LISA from LDC, or refuses.

    Parameters
    ----------
    path
        The file (unused: the head is enough).
    head
        Its first bytes.

    Returns
    -------
    bool
    """
    return head.startswith(MAGIC)


@contextlib.contextmanager
def read(path: str, options: MissionOptions) -> Iterator[FileSeries]:
    """The series of a LISA instrument simulation or an LDC TDI file (layout "lisa", "ldc").

    Parameters
    ----------
    path
        An HDF5 file.
    options
        `sim_epoch`: the UTC time of simulation second 0.

    Returns
    -------
    context manager of FileSeries
        The file stays open while the series (read lazily) are read. LayoutError when the
        file is broken or in neither layout.
    """
    import h5py

    epoch = epoch_ns(options.sim_epoch)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise LayoutError(f"broken HDF5 file: {one_line(exc)}") from None
    with f:
        try:
            kind = detect(f)
        except OSError as exc:
            raise LayoutError(f"broken HDF5 file: {one_line(exc)}") from None
        if kind is None:
            raise LayoutError("HDF5 file in none of the known layouts (LISA instrument: "
                              "/<quantity>/<link> with metadata_json; LDC: obs/tdi)")
        if kind == "lisa":
            series, warnings = read_lisa(f, path, epoch)
            yield FileSeries(kind, series, warnings)
        else:
            yield FileSeries(kind, read_ldc(f, path, epoch))


def detect(f) -> str | None:
    """"lisa", "ldc" or None for an open h5py file."""
    for p in LDC_PATHS:
        if p in f:
            return "ldc"
    if "metadata_json" in f.attrs or _link_datasets(f):
        return "lisa"
    return None


def read_lisa(f, path: str, sim_epoch_ns: int) -> tuple[list[Series], list[str]]:
    """Series of an instrument simulation file (read lazily, MISSION_CHUNK at a time) and the
    report's warning lines (auxiliary datasets, an unknown layout version)."""
    meta = lisa_metadata(f)
    if meta is None:
        raise LayoutError("broken header: LISA instrument file without metadata_json "
                          "(t0, dt or fs, size)")
    try:
        if meta.get("dt") is not None:
            dt = float(meta["dt"])
        else:
            dt = 1.0 / float(meta["fs"])
        t0 = float(meta.get("t0", 0.0))
        size = int(meta["size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LayoutError(f"broken header: metadata_json lacks a usable t0/dt/fs/size ({exc})"
                          ) from None
    if not (dt > 0 and np.isfinite(dt) and np.isfinite(t0)) or size < 0:
        raise LayoutError(f"broken header: dt={dt}, t0={t0}, size={size}")
    rate = 1.0 / dt
    start_ns = sim_epoch_ns + int(round(t0 * NS))
    version = format_version(f, meta)
    warnings = []
    major = format_major(version)
    if major is not None and major != KNOWN_FORMAT_MAJOR:
        warnings.append(f"LISA instrument layout version_format={version}, this reader knows "
                        f"{KNOWN_FORMAT_MAJOR}.x: read as {KNOWN_FORMAT_MAJOR}.x (every 1-D "
                        f"series of size={size} a stream); check the streams")
    on_grid, aux = [], {}
    for dpath in datasets(f):
        ds = f[dpath]
        if ds.ndim == 1 and ds.dtype.kind in "fiu" and ds.shape[0] == size:
            on_grid.append(dpath)
        else:
            aux["/" + dpath] = auxiliary(ds, meta)
    if not on_grid:
        raise LayoutError(f"LISA instrument file holds no 1-D series of size={size} samples "
                          f"(metadata_json); datasets: {', '.join(aux) or 'none'}")
    if aux:
        warnings.append(auxiliary_line(aux, size))
    out = []
    for dpath in on_grid:
        ds = f[dpath]
        parts = dpath.split("/")
        attrs = {"mission": "LISA", "source_format": f"LISA instrument HDF5 {version}".strip(),
                 "dataset": "/" + dpath, "quantity": "/".join(parts[:-1]) or parts[-1],
                 "link": parts[-1] if len(parts) > 1 else "",
                 "units": str(_attr(ds.attrs.get("units", ""))),
                 "time_system": "TCB (simulation seconds)", "t0_s": t0, "dt_s": dt,
                 "sim_epoch_utc": _iso(sim_epoch_ns),
                 "time_mapping": "UTC = sim_epoch_utc + t (s), no leap seconds",
                 **({"simulation_seed": meta["seed"]} if "seed" in meta else {}),
                 **({"auxiliary": aux} if aux else {})}
        out.append(Series(stream_name(dpath), attrs, size, rate,
                          _chunked(f, dpath, size, start_ns, rate, path)))
    return out, warnings


def _json_values(values: np.ndarray) -> list:
    # JSON has no NaN/Infinity: those go as the strings zarr v3 uses for such fill values
    out = []
    for v in values.tolist():
        if isinstance(v, float) and not np.isfinite(v):
            v = "NaN" if np.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
        out.append(v)
    return out


def auxiliary(ds, meta: dict[str, Any]) -> dict[str, Any]:
    """What is kept of a dataset that is not on the measurement grid (values when small)."""
    info: dict[str, Any] = {"shape": list(ds.shape), "dtype": str(ds.dtype),
                            "attrs": {k: _attr(v) for k, v in ds.attrs.items()}}
    tsize = meta.get("telemetry_size")
    if ds.ndim == 1 and tsize is not None and ds.shape[0] == int(tsize):
        info["grid"] = {"name": "telemetry", "t0_s": meta.get("telemetry_t0"),
                        "dt_s": meta.get("telemetry_dt")}
    if ds.dtype.kind in "fiub" and ds.size <= AUX_MAX_VALUES:
        info["values"] = _json_values(np.asarray(ds[()]).ravel())
    elif ds.dtype.kind in "SUO" and ds.size <= AUX_MAX_VALUES:
        info["values"] = [_attr(v) for v in np.asarray(ds[()]).ravel().tolist()]
    else:
        info["values"] = None  # too large (or not numbers) for an attribute: named only
    return info


def auxiliary_line(aux: dict[str, dict[str, Any]], size: int) -> str:
    """The report line naming a file's auxiliary datasets."""
    kept = [p for p, a in aux.items() if a["values"] is not None]
    named = [p for p, a in aux.items() if a["values"] is None]

    def desc(p: str) -> str:
        a = aux[p]
        grid = f", {a['grid']['name']} grid" if "grid" in a else ""
        return f"{p} ({'x'.join(map(str, a['shape'])) or 'scalar'} {a['dtype']}{grid})"

    line = f"not on the measurement grid (size={size}), so not streams: "
    if kept:
        line += (f"kept with their values in the attribute 'auxiliary' of each stream of the "
                 f"file: {', '.join(desc(p) for p in kept)}")
    if named:
        line += ("; " if kept else "") + ("too large to copy into an attribute, named there "
                                          f"without values: {', '.join(desc(p) for p in named)}")
    return line


def _chunked(f, dpath: str, size: int, start_ns: int, rate: float, source: str
             ) -> Any:
    def gen() -> Iterator[Piece]:
        ds = f[dpath]
        for c0 in range(0, size, MISSION_CHUNK):
            vals = ds[c0:min(c0 + MISSION_CHUNK, size)]
            yield from grid_pieces(vals, start_ns, rate, source, c0)

    return gen


def _iso(ns: int) -> str:
    from pipelines.timebase import utc_iso

    return utc_iso(ns)


def read_ldc(f, path: str, sim_epoch_ns: int) -> list[Series]:
    """Series X, Y, Z of an LDC TDI dataset."""
    ds = next(f[p] for p in LDC_PATHS if p in f)
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise LayoutError(f"{ds.name} is a group, not a TDI dataset")
    attrs = {k: _attr(v) for k, v in {**dict(f.attrs), **dict(ds.parent.attrs),
                                      **dict(ds.attrs)}.items()}
    data = ds[()]
    if data.dtype.names and data.ndim == 2 and data.shape[1] == 1:
        data = data[:, 0]  # the LDC package's save_array stores 1-D records as (N, 1)
    if data.dtype.names:
        names = {n.lower(): n for n in data.dtype.names}
        missing = [c for c in ("t", "x", "y", "z") if c not in names]
        if missing:
            raise LayoutError(f"broken header: {ds.name} has fields {list(data.dtype.names)}; "
                              "expected t, X, Y, Z")
        t = np.asarray(data[names["t"]], dtype=np.float64)
        cols = {c: np.asarray(data[names[c.lower()]]) for c in ("X", "Y", "Z")}
    else:
        arr = np.asarray(data)
        if arr.ndim == 2 and arr.shape[1] == 1 and arr.dtype.names is None:
            arr = arr[:, 0]
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise LayoutError(f"broken header: {ds.name} has shape {arr.shape}; expected a "
                              "compound (t, X, Y, Z) or an (N, 4) array")
        t = arr[:, 0].astype(np.float64)
        cols = {c: arr[:, i + 1] for i, c in enumerate(("X", "Y", "Z"))}
    if not len(t):
        raise LayoutError(f"{ds.name} is empty")
    if not np.isfinite(t).all():
        raise LayoutError(f"broken header: {ds.name} has non-finite times")
    dt = attrs.get("dt")
    try:
        dt = float(dt) if dt is not None else None
    except (TypeError, ValueError):
        raise LayoutError(f"broken header: dt={dt!r} is not a number") from None
    units = attrs.get("units", "")
    out = []
    # times relative to the first, in integer ns, then placed on the epoch
    t_ns = sim_epoch_ns + np.round(t * NS).astype(np.int64)
    for c, vals in cols.items():
        meta = {"mission": "LDC", "source_format": "LDC HDF5", "tdi": c,
                "units": str(units) if not isinstance(units, dict) else str(units.get(c, "")),
                "time_system": "TCB (simulation seconds)", "t0_s": float(t[0]),
                "dt_s": dt if dt is not None else float(np.median(np.diff(t))) if len(t) > 1
                else None, "sim_epoch_utc": _iso(sim_epoch_ns),
                "time_mapping": "UTC = sim_epoch_utc + t (s), no leap seconds"}
        out.append(series_from_times(f"LDC.{c}", t_ns, np.asarray(vals), meta, path,
                                     dt * NS if dt else None))
    return out

