"""Derived arrays (products) of the analysis engine, and the ingested StationXML documents.

Layout (products version 1), beside the streams, in a top-level `_products` group (hidden from
stream listings like every `_` group; outside the stream's own group because `rebase` rewrites
that group whole and would drop them):

- `_products/<STREAM>/psd/`: hourly PSDs (McNamara & Buland, as ObsPy's PPSD computes them).
  `db` (row x period, int16 centi-dB, fill -32768): row r starts at `t0_ns + r * step_ns` with
  `t0_ns` = 1970-01-01 (so no row ever moves: chunks never written cost nothing) and `step_ns`
  30 min; column j is the period `2 ** ((k0 + j) / 8)` s, smoothed over one octave around it.
  `daily` (day x period, the mean dB of the day's rows) and `daily_count` are the coarse level a
  view reads for spans of months or years (one row per day: a decade is 3,650 rows).
- `_products/<STREAM>/rsam/<BAND>_<INTERVAL>_<METRIC>`: RSAM (mean absolute amplitude) or RMS of
  the band-passed stream per interval, each a regular stream (float32, NaN absent) with its own
  min/max pyramid and segments: any view reads it at O(pixels) like the data.
- `_products/<STREAM>/detect/`: STA/LTA triggers as a table (1-D columns `time_ns`, `end_ns`,
  `peak`, `day_ns`, sorted by time; `rows` attribute).
- `_products/_network/detect/`: network detections (coincidence of triggers over streams):
  `time_ns`, `end_ns`, `count`, `day_ns`, `streams` (comma-joined). `detections()` gives them
  in the form of the store's catalogue events (`id`, `time_ns`, `picks`), which the waveform
  view draws; `detection_counts()` bins them for level of detail.

Every product group's attributes hold `belvedere` (`kind: product`, `products_version`,
`analysis`, `algorithm`, `parameters`) and `computed`: per UTC day (`YYYY-MM-DD`) what it was
computed from (`from`: a digest of the analysis, its parameters, the stream's sampling rate,
dtype and the segments inside the day and its padding, plus the response's document digest
for PSDs) and `samples` read. Samples once present never change in a store (first ingested
wins), so a day whose digest is unchanged has unchanged inputs. Values are written first and
`computed` last (one atomic attribute write): an interrupted run leaves days that are either
recorded and complete, or unrecorded and recomputed by the next run.

StationXML: `_catalog/stationxml/<XXH3>` holds each ingested StationXML file whole (uint8 bytes,
responses included) with attributes `file`, `xxh3_128`, `bytes`, `ingested_at` and `channels`
(`id`, `start_ns`, `end_ns` per channel epoch), so a response can be taken from the document
itself, and the station web service can serve it.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.store import _zarrio
from pipelines.store.errors import StoreError
from pipelines.store.layout import CATALOG_GROUP
from pipelines.store.regular import Stream, StreamWriter, create_regular
from pipelines.timebase import DAY_NS, NS, day_start_ns, utc_iso

if TYPE_CHECKING:
    from pipelines.store.store import Store

PRODUCTS_GROUP = "_products"
PRODUCTS_VERSION = 1
NETWORK = "_network"
PSD_STEP_NS = 1800 * NS
PSD_ROWS_PER_DAY = DAY_NS // PSD_STEP_NS
PSD_FILL = np.int16(-32768)
PSD_CHUNK_DAYS = 16
TABLE_CHUNK = 65536
STATIONXML_GROUP = "stationxml"


def day_key(day_ns: int) -> str:
    """The `computed` key of a UTC day: `YYYY-MM-DD`."""
    return utc_iso(day_ns)[:10]


def product_path(stream: str, product: str) -> str:
    """The group path of a stream's product (`_products/<STREAM>/<PRODUCT>`)."""
    return f"{PRODUCTS_GROUP}/{stream}/{product}"


def _marker(analysis: str, algorithm: str, parameters: dict[str, Any]) -> dict[str, Any]:
    from pipelines import __version__

    return {"kind": "product", "products_version": PRODUCTS_VERSION, "analysis": analysis,
            "algorithm": algorithm, "parameters": parameters,
            "written_by": f"belvedere {__version__}"}


def _check(attrs: dict[str, Any], what: str) -> None:
    version = int(dict(attrs.get("belvedere") or {}).get("products_version", 0))
    if version > PRODUCTS_VERSION:
        raise StoreError(f"{what} was written with products version {version}, newer than "
                         f"{PRODUCTS_VERSION}; upgrade belvedere to read it")


class Product:
    """A product group: its attributes and the per-day record of what it was computed from."""

    def __init__(self, store: Store, path: str, group: Any):
        self.store, self.path, self.group = store, path, group
        self.attrs: dict[str, Any] = dict(group.attrs)
        _check(self.attrs, path)

    @property
    def computed(self) -> dict[str, dict[str, Any]]:
        """Per day key: {"from": digest, "samples": n} of the days whose values are stored."""
        return dict(self.attrs.get("computed", {}))

    def record_days(self, records: dict[str, dict[str, Any]], extra: dict | None = None) -> None:
        """Record days as computed (after their values were written): the commit point."""
        attrs = dict(self.group.attrs)
        attrs["computed"] = {**attrs.get("computed", {}), **records}
        attrs.update(extra or {})
        _zarrio.put_group_attrs(self.group, attrs)
        self.attrs = attrs


def _open_group(store: Store, path: str, create: bool, marker: dict[str, Any] | None):
    try:
        return store.root[path]
    except KeyError:
        if not create:
            return None
    store.writable()
    grp = store.root.require_group(path)
    if marker is not None:
        grp.attrs.update({"belvedere": marker, "computed": {}})
    return grp


def open_product(store: Store, stream: str, product: str) -> Product | None:
    """A stream's product group with its `computed` record, or None when there is none yet."""
    path = product_path(stream, product)
    grp = _open_group(store, path, False, None)
    return None if grp is None else Product(store, path, grp)


def require_product(store: Store, stream: str, product: str, analysis: str, algorithm: str,
                    parameters: dict[str, Any]) -> Product:
    """Open or create a stream's product group (writing), marked with what makes it."""
    path = product_path(stream, product)
    return Product(store, path, _open_group(store, path, True,
                                            _marker(analysis, algorithm, parameters)))


# -- PSDs ---------------------------------------------------------------------------------
class PsdProduct(Product):
    """Hourly PSDs of a stream: `db` (row x period) and the daily coarse level."""

    @property
    def k0(self) -> int:
        """Period exponent of column 0 (period = 2**((k0 + j) / 8) s)."""
        return int(self.attrs["period_k0"])

    @property
    def periods(self) -> np.ndarray:
        """The column periods in seconds."""
        return np.asarray(self.attrs["periods_s"], dtype=np.float64)

    def write_day(self, day_ns: int, db: np.ndarray) -> None:
        """Write a day's rows (PSD_ROWS_PER_DAY x periods, dB, NaN where no PSD) and its
        daily mean; recorded by `record_days`."""
        arr, daily, count = self.group["db"], self.group["daily"], self.group["daily_count"]
        day = day_ns // DAY_NS
        r0 = day * PSD_ROWS_PER_DAY
        need_rows = r0 + PSD_ROWS_PER_DAY
        if arr.shape[0] < need_rows:
            arr.resize((math.ceil(need_rows / arr.chunks[0]) * arr.chunks[0], arr.shape[1]))
        if daily.shape[0] < day + 1:
            n = math.ceil((day + 1) / daily.chunks[0]) * daily.chunks[0]
            daily.resize((n, daily.shape[1]))
            count.resize((n,))
        arr[r0:need_rows] = to_centi_db(db)
        have = np.isfinite(db).all(axis=1)
        mean = db[have].mean(axis=0) if have.any() else np.full(db.shape[1], np.nan)
        daily[day:day + 1] = to_centi_db(mean[None, :])
        count[day:day + 1] = np.array([have.sum()], dtype=np.uint8)

    def read(self, t0_ns: int, t1_ns: int, max_rows: int | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """PSDs in [t0, t1) at screen resolution.

        Parameters
        ----------
        t0_ns, t1_ns : int
            The window in int64 ns since 1970 (UTC).
        max_rows : int or None
            The rows the view has room for; the daily level is read when the hourly rows of
            the window exceed it.

        Returns
        -------
        times_ns : numpy.ndarray
            int64 start of each row (30 min steps, or days).
        periods : numpy.ndarray
            The columns' periods (s).
        db : numpy.ndarray
            float32 rows x periods, dB re 1 (m/s^2)^2/Hz, NaN where none.
        step_ns : int
            The rows' step.
        """
        hourly = max_rows is None or (t1_ns - t0_ns) / PSD_STEP_NS <= max_rows
        name, step = ("db", PSD_STEP_NS) if hourly else ("daily", DAY_NS)
        arr = self.group[name]
        a = max(int(t0_ns // step), 0)
        b = min(max(int(-(-t1_ns // step)), a), arr.shape[0])
        raw = arr[a:b] if b > a else np.zeros((0, arr.shape[1]), dtype=np.int16)
        times = (np.arange(a, a + len(raw), dtype=np.int64) * step)
        return times, self.periods, from_centi_db(raw), step


def to_centi_db(db: np.ndarray) -> np.ndarray:
    """dB values as int16 hundredths (the stored form), fill where NaN."""
    out = np.full(db.shape, PSD_FILL, dtype=np.int16)
    ok = np.isfinite(db)
    out[ok] = np.clip(np.round(db[ok] * 100.0), -32767, 32767).astype(np.int16)
    return out


def from_centi_db(raw: np.ndarray) -> np.ndarray:
    """Stored int16 hundredths of dB as float32 dB, NaN at the fill."""
    out = raw.astype(np.float32) / np.float32(100.0)
    out[raw == PSD_FILL] = np.nan
    return out


def require_psd(store: Store, stream: str, k0: int, periods: np.ndarray,
                parameters: dict[str, Any], algorithm: str) -> PsdProduct:
    """Open or create a stream's PSD product on the period grid starting at exponent `k0`;
    a product on another grid or with other parameters is replaced (its days recomputed)."""
    path = product_path(stream, "psd")
    grp = _open_group(store, path, False, None)
    if grp is not None:
        attrs = dict(grp.attrs)
        same = (attrs.get("period_k0") == k0 and len(attrs.get("periods_s", [])) == len(periods)
                and dict(attrs.get("belvedere", {})).get("parameters") == parameters)
        if same:
            return PsdProduct(store, path, grp)
        del store.root[path]
    grp = _open_group(store, path, True, _marker("psd", algorithm, parameters))
    nper = len(periods)
    rows = PSD_CHUNK_DAYS * PSD_ROWS_PER_DAY
    grp.create_array("db", shape=(0, nper), chunks=(rows, nper), dtype="int16",
                     fill_value=int(PSD_FILL), dimension_names=("time", "period"),
                     attributes={"units": "dB re 1 (m/s^2)^2/Hz", "scale_factor": 0.01,
                                 "_FillValue": int(PSD_FILL), "t0_ns": 0,
                                 "step_ns": int(PSD_STEP_NS)})
    grp.create_array("daily", shape=(0, nper), chunks=(366, nper), dtype="int16",
                     fill_value=int(PSD_FILL), dimension_names=("day", "period"),
                     attributes={"units": "dB re 1 (m/s^2)^2/Hz", "scale_factor": 0.01,
                                 "_FillValue": int(PSD_FILL), "t0_ns": 0,
                                 "step_ns": int(DAY_NS), "reduction": "mean of the day's rows"})
    grp.create_array("daily_count", shape=(0,), chunks=(366,), dtype="uint8", fill_value=0,
                     dimension_names=("day",))
    attrs = dict(grp.attrs)
    attrs.update({"period_k0": int(k0), "period_step_octaves": 0.125,
                  "periods_s": [float(p) for p in periods], "t0_ns": 0,
                  "step_ns": int(PSD_STEP_NS), "segment_s": 3600})
    _zarrio.put_group_attrs(grp, attrs)
    return PsdProduct(store, path, grp)


def product_streams(store: Store, product: str) -> list[str]:
    """The streams that have a product (e.g. "psd", "rsam"), sorted."""
    try:
        top = store.root[PRODUCTS_GROUP]
    except KeyError:
        return []
    return sorted(k for k in top.group_keys()
                  if k != NETWORK and product in top[k].group_keys())


def open_psd(store: Store, stream: str) -> PsdProduct | None:
    """A stream's PSD product for reading, or None."""
    grp = _open_group(store, product_path(stream, "psd"), False, None)
    return None if grp is None else PsdProduct(store, product_path(stream, "psd"), grp)


# -- series products (RSAM) as regular streams --------------------------------------------
def series_name(stream: str, product: str, series: str) -> str:
    """The store path of a product series (a regular stream), e.g. RSAM in one band."""
    return f"{product_path(stream, product)}/{series}"


def open_series(store: Store, stream: str, product: str, series: str) -> Stream | None:
    """A product series for reading (a regular `Stream`: `read_window` at O(pixels)), or None."""
    try:
        return store[series_name(stream, product, series)]  # type: ignore[return-value]
    except Exception:
        return None


def series_writer(store: Store, stream: str, product: str, series: str, rate: float,
                  first_ns: int, attrs: dict[str, Any]) -> StreamWriter:
    """A writer for a product series (float32 regular stream), created on the day of
    `first_ns` when missing; moved back (`rebase`) when `first_ns` lies before its start."""
    name = series_name(stream, product, series)
    try:
        store.root[name]
    except KeyError:
        store.root.require_group(product_path(stream, product))
        return create_regular(store, name, rate, day_start_ns(first_ns), np.dtype("float32"),
                              {"stream": name, **attrs})
    w = store.writer(name)
    if first_ns < w.start_ns:
        w = w.rebase(first_ns)
    return w


# -- tables (triggers, detections) --------------------------------------------------------
class TableProduct(Product):
    """A product table: 1-D columns sorted by `time_ns`, with a `day_ns` column; the `rows`
    attribute (written with `computed`) says how many rows are valid."""

    def read(self, t0_ns: int | None = None, t1_ns: int | None = None) -> dict[str, np.ndarray]:
        """The rows with t0 <= time_ns < t1, as column arrays."""
        n = int(self.attrs.get("rows", 0))
        cols = self.attrs["columns"]
        t = self.group["time_ns"][:n] if n else np.zeros(0, dtype=np.int64)
        a = 0 if t0_ns is None else int(np.searchsorted(t, t0_ns, "left"))
        b = n if t1_ns is None else int(np.searchsorted(t, t1_ns, "left"))
        if b <= a:
            return {c: np.zeros(0, dtype=_table_dtype(k)) for c, k in cols.items()}
        return {c: _decode(self.group[c][a:b], k) for c, k in cols.items()}

    def replace_days(self, days: list[int], rows: dict[str, np.ndarray],
                     records: dict[str, dict[str, Any]]) -> None:
        """Replace the rows of `days` (day_ns) by `rows` and record the days, in one commit."""
        cols = self.attrs["columns"]
        old = self.read()
        keep = ~np.isin(old["day_ns"], np.asarray(days, dtype=np.int64))
        merged = {c: np.concatenate([np.asarray(old[c])[keep],
                                     np.asarray(rows.get(c, []), dtype=old[c].dtype)])
                  for c in cols}
        order = np.lexsort((merged["end_ns"], merged["time_ns"]))
        n = len(order)
        for c, kind in cols.items():
            arr = self.group[c]
            if arr.shape[0] < n:
                arr.resize((math.ceil(n / TABLE_CHUNK) * TABLE_CHUNK,))
            if n:
                arr[:n] = _encode(merged[c][order], kind)
        self.record_days(records, {"rows": n})


def _table_dtype(kind: str):
    return {"time": np.int64, "int": np.int64, "float": np.float32, "str": object}[kind]


def _encode(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "str":
        return np.asarray([str(v) for v in values], dtype=object).astype(str)
    return np.asarray(values, dtype=_table_dtype(kind))


def _decode(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "str":
        return np.asarray(values, dtype=object)
    return np.asarray(values, dtype=_table_dtype(kind))


def require_table(store: Store, stream: str, product: str, columns: dict[str, str],
                  analysis: str, algorithm: str, parameters: dict[str, Any]) -> TableProduct:
    """Open or create a product table (`columns`: name -> time|int|float|str); a table made
    with other parameters is replaced."""
    path = product_path(stream, product)
    grp = _open_group(store, path, False, None)
    if grp is not None:
        if dict(grp.attrs.get("belvedere", {})).get("parameters") == parameters:
            return TableProduct(store, path, grp)
        del store.root[path]
    grp = _open_group(store, path, True, _marker(analysis, algorithm, parameters))
    for c, kind in columns.items():
        if kind == "str":
            grp.create_array(c, shape=(0,), chunks=(TABLE_CHUNK,), dtype=str)
        else:
            grp.create_array(c, shape=(0,), chunks=(TABLE_CHUNK,), dtype=_table_dtype(kind),
                             fill_value=0)
    attrs = dict(grp.attrs)
    attrs.update({"columns": columns, "rows": 0})
    _zarrio.put_group_attrs(grp, attrs)
    return TableProduct(store, path, grp)


def open_table(store: Store, stream: str, product: str) -> TableProduct | None:
    """A product table for reading, or None."""
    path = product_path(stream, product)
    grp = _open_group(store, path, False, None)
    return None if grp is None else TableProduct(store, path, grp)


def detections(store: Store, t0_ns: int | None = None, t1_ns: int | None = None
               ) -> list[dict[str, Any]]:
    """Network detections in [t0, t1) in the form of catalogue events (as `Store.events`).

    Returns
    -------
    list of dict
        `id`, `time_ns`, `end_ns`, `kind` ("detection"), `coincidence` (streams triggered),
        `picks` (stream, phase "trigger", time_ns, end_ns, peak) of the triggers in it.
    """
    net = open_table(store, NETWORK, "detect")
    if net is None:
        return []
    rows = net.read(t0_ns, t1_ns)
    out = []
    # A per-user view of the store lists only the streams its user may see: triggers on the
    # others are left out, so a detection never names a hidden stream (its count stays).
    visible = set(store.streams())
    trig_cache: dict[str, dict[str, np.ndarray]] = {}
    lo = None if t0_ns is None else t0_ns - DAY_NS
    for t, e, c, s in zip(rows["time_ns"], rows["end_ns"], rows["count"], rows["streams"],
                          strict=True):
        picks = []
        for name in str(s).split(","):
            if name not in visible:
                continue
            if name not in trig_cache:
                tab = open_table(store, name, "detect")
                trig_cache[name] = tab.read(lo, t1_ns) if tab else {"time_ns": np.zeros(0)}
            tr = trig_cache[name]
            hit = np.flatnonzero((tr["time_ns"] <= e) & (tr.get("end_ns", tr["time_ns"]) >= t))
            for i in hit[:1]:
                picks.append({"stream": name, "phase": "trigger", "time_ns": int(tr["time_ns"][i]),
                              "end_ns": int(tr["end_ns"][i]), "peak": float(tr["peak"][i])})
        out.append({"id": f"detection:{int(t)}", "time_ns": int(t), "end_ns": int(e),
                    "time": utc_iso(int(t)), "kind": "detection", "coincidence": int(c),
                    "magnitude": None, "picks": picks})
    return out


def detection_counts(store: Store, t0_ns: int, t1_ns: int, bins: int) -> np.ndarray:
    """Network detections per bin of [t0, t1) (`bins` equal bins): level of detail, O(bins)."""
    net = open_table(store, NETWORK, "detect")
    edges = np.linspace(t0_ns, t1_ns, bins + 1).astype(np.int64)
    if net is None or not int(net.attrs.get("rows", 0)):
        return np.zeros(bins, dtype=np.int64)
    t = net.group["time_ns"][:int(net.attrs["rows"])]
    return np.diff(np.searchsorted(t, edges, "left"))


# -- StationXML documents -----------------------------------------------------------------
def put_station_xml(store: Store, xml: bytes, digest: str, source: str,
                    channels: list[dict[str, Any]]) -> bool:
    """Keep a StationXML document whole in the store's catalogue; False when already there.

    Parameters
    ----------
    store : Store
        Opened for writing.
    xml : bytes
        The file's bytes, as read.
    digest : str
        Its xxh3-128 hex digest (the document's key).
    source : str
        Where it was read from.
    channels : list of dict
        The channel epochs it describes: `id` (NET.STA.LOC.CHA), `start_ns`, `end_ns` (None:
        open).
    """
    store.writable()
    grp = store.root.require_group(f"{CATALOG_GROUP}/{STATIONXML_GROUP}")
    if digest in grp.array_keys() and grp[digest].attrs.get("complete"):
        return False
    store.changing()
    # `complete` is written last: a document cut short by an interrupted ingest is not listed
    # and is written again by the next one.
    arr = grp.create_array(digest, shape=(len(xml),), chunks=(max(len(xml), 1),),
                           dtype="uint8", fill_value=0, overwrite=True)
    arr[:] = np.frombuffer(xml, dtype=np.uint8)
    arr.attrs.update({"file": source, "xxh3_128": digest, "bytes": len(xml),
                      "ingested_at": utc_iso(time.time_ns()), "channels": channels,
                      "format": "FDSN StationXML", "complete": True})
    return True


def station_xml_documents(store: Store) -> list[dict[str, Any]]:
    """The StationXML documents kept in the store: their attributes, oldest ingest first."""
    try:
        grp = store.root[f"{CATALOG_GROUP}/{STATIONXML_GROUP}"]
    except KeyError:
        return []
    docs = [dict(grp[k].attrs) for k in grp.array_keys() if grp[k].attrs.get("complete")]
    return sorted(docs, key=lambda d: (d.get("ingested_at", ""), d.get("xxh3_128", "")))


def station_xml(store: Store, digest: str) -> bytes:
    """The bytes of a kept StationXML document (by its digest)."""
    try:
        arr = store.root[f"{CATALOG_GROUP}/{STATIONXML_GROUP}/{digest}"]
    except KeyError:
        raise StoreError(f"no StationXML document {digest} in store {store.url}") from None
    return arr[:].tobytes()


__all__ = ["NETWORK", "PRODUCTS_GROUP", "PRODUCTS_VERSION", "PSD_ROWS_PER_DAY", "PSD_STEP_NS",
           "Product", "PsdProduct", "TableProduct", "day_key", "detection_counts",
           "detections", "from_centi_db", "open_product", "open_psd", "open_series",
           "open_table", "product_path", "product_streams",
           "put_station_xml", "require_product", "require_psd",
           "require_table", "series_name", "series_writer", "station_xml",
           "station_xml_documents", "to_centi_db"]
