"""FITS light curves in the OGIP conventions (OGIP/93-003): times to UTC with astropy.

The first binary table with a `TIME` column and a rate or counts column (`RATE`, `COUNTS`,
numbered `RATE1`, `RATE2`, ... as XRONOS writes them, or `HDUCLAS1` LIGHTCURVE) is the light
curve. Times are `MJDREF` (or `MJDREFI` + `MJDREFF`) + `TIMEZERO` (or `TIMEZERI` + `TIMEZERF`),
in `TIMEUNIT` (s or d), + `TIME` in the TIME column's own unit (`TUNITn`; OGIP's TIMEUNIT is the
unit of the header's time keywords), on the `TIMESYS` scale (TT when absent), converted to UTC
by astropy and stored as ns since 1970; the original keywords stay in the attributes.

Every numeric column becomes a stream, each row whose value is finite a sample:
`<TELESCOP>.<INSTRUME>.<COLUMN>` (`RATE`, `RATE1`, `ERROR1`, `FRACEXP`, ...), vector columns one
stream per band, `<COLUMN>_<band>` (bands numbered from 1, `E_MIN`/`E_MAX` in the attributes
when the file gives them). GTIs are metadata: kept (UTC ns, attribute `gti`) and used to mark
the rows outside them (`rows_outside_gti`, and `outside_gti`: [first, last] UTC ns of each run
of consecutive rows outside), never a reason to drop a row or a file.

A header that disagrees with itself (a TIMEUNIT that does not fit the TIME column, no MJDREF, a
TIMEZERO written as an absolute date by XRONOS) gives a warning line naming the keyword and the
assumption made, and the file is still ingested.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.ingest.report import one_line
from pipelines.mission.options import MissionOptions
from pipelines.mission.series import (
    FileSeries,
    LayoutError,
    Series,
    clean_name,
    series_from_times,
)
from pipelines.timebase import NS

NAME = "OGIP FITS light curve"
UNIX_JD = 2440587.5
TJD_MJDREF = 40000.0  # Truncated Julian Day 0 (JD 2440000.5): XRONOS's absolute times
LC_COLUMN = re.compile(r"^(RATE|COUNTS)\d*$")
SCALES = ("tt", "tai", "utc", "tdb", "tcb", "tcg", "ut1")


def can_open(path: str, head: bytes) -> bool:
    """True for a FITS file (its primary header's first card).

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
    return head.startswith(b"SIMPLE  =")


@contextlib.contextmanager
def read(path: str, options: MissionOptions) -> Iterator[FileSeries]:
    """The series of an OGIP light curve (layout "ogip"), times in UTC.

    Parameters
    ----------
    path
        A FITS file.
    options
        Unused (OGIP files carry their own time reference).

    Returns
    -------
    context manager of FileSeries
        With a warning line per header keyword that needed an assumption; LayoutError when
        the file or its header is broken, or holds no light curve.
    """
    from astropy.io import fits

    try:
        hdul = fits.open(path, memmap=False)
    except Exception as exc:
        raise LayoutError(f"broken FITS file: {one_line(exc)}") from None
    with hdul:
        try:
            hdul.verify("exception")
        except Exception as exc:
            raise LayoutError(f"broken FITS header: {one_line(exc)}") from None
        warnings: list[str] = []
        yield FileSeries("ogip", read_ogip(hdul, path, warnings), warnings)


def _kw(headers: list, key: str, default: Any = None) -> Any:
    for h in headers:
        if key in h:
            return h[key]
    return default


def _split_kw(headers: list, key: str) -> float | None:
    """A time keyword given whole (`MJDREF`) or split (`MJDREFI` + `MJDREFF`); None if absent."""
    short = key[:7] if len(key) == 8 else key
    for h in headers:  # the first header that has either form wins
        if f"{short}I" in h:
            return float(h[f"{short}I"]) + float(h.get(f"{short}F", 0.0) or 0.0)
        if key in h:
            return float(h[key])
    return None


def mjdref(headers: list) -> tuple[float, float] | None:
    """(integer part, fraction) of the reference MJD from MJDREFI+MJDREFF or MJDREF (None if
    neither is there)."""
    for h in headers:
        if "MJDREFI" in h:
            return float(h["MJDREFI"]), float(h.get("MJDREFF", 0.0) or 0.0)
        if "MJDREF" in h:
            ref = float(h["MJDREF"])
            return float(np.floor(ref)), ref - float(np.floor(ref))
    return None


@dataclass
class TimeFrame:
    """How a table's TIME values become UTC: reference MJD, offset, units and scale."""

    ref: tuple[float, float]  # MJD, integer part and fraction
    zero: float  # TIMEZERO, in `keyword_unit`
    keyword_unit: str  # "s" or "d": TIMEZERO, TIMEDEL, TSTART
    column_unit: str  # "s" or "d": the TIME (or START/STOP) values
    scale: str  # astropy's name of TIMESYS
    warnings: list[str] = field(default_factory=list)

    def utc_ns(self, values: np.ndarray) -> np.ndarray:
        """UTC ns since 1970 (POSIX: leap seconds not counted) of these times, by astropy."""
        from astropy.time import Time, TimeDelta
        from astropy.utils import iers

        col_days = 86400.0 if self.column_unit == "s" else 1.0
        zero_days = self.zero / (86400.0 if self.keyword_unit == "s" else 1.0)
        # Two-part days keep ns precision: the reference (exact), then whole days + fraction.
        off = np.asarray(values, dtype=np.float64) / col_days
        whole = np.floor(off)
        zwhole = np.floor(zero_days)
        with iers.conf.set_temp("auto_download", False), \
                iers.conf.set_temp("auto_max_age", None):
            # elapsed SI days from the reference (leap seconds counted when TIMESYS is UTC)
            ref = Time(self.ref[0] + zwhole, self.ref[1] + (zero_days - zwhole), format="mjd",
                       scale=self.scale)
            t = (ref + TimeDelta(whole, off - whole, format="jd")).utc
            jd1, jd2 = t.jd1, t.jd2
        day = np.round(jd1 - UNIX_JD).astype(np.int64)  # jd1 is a whole or half day
        frac = (jd1 - UNIX_JD) - day + jd2
        return day * (86400 * NS) + np.round(frac * 86400 * NS).astype(np.int64)


def _unit(text: Any) -> str | None:
    u = str(text or "").strip().lower()
    return {"s": "s", "sec": "s", "second": "s", "seconds": "s", "secs": "s", "d": "d",
            "day": "d", "days": "d"}.get(u)


def _is_xronos(headers: list) -> bool:
    return (str(_kw(headers, "CONTENT", "")).strip().upper() == "XRONOS OUTPUT"
            or "xronos" in str(_kw(headers, "CREATOR", "")).lower())


def _scale(headers: list, warnings: list[str]) -> str:
    sys_ = _kw(headers, "TIMESYS")
    if sys_ is None:
        return "tt"
    scale = str(sys_).strip().lower()
    scale = "tt" if scale == "tdt" else scale
    if scale not in SCALES:
        warnings.append(f"TIMESYS={str(sys_)!r} is not a time scale astropy knows: read as TT")
        return "tt"
    return scale


def time_frame(headers: list, time_col: Any, times: np.ndarray) -> TimeFrame:
    """The time frame of a light-curve table, with a warning per keyword that needed an
    assumption (a TIMEUNIT that does not fit the TIME column, no MJDREF, XRONOS's TIMEZERO)."""
    warnings: list[str] = []
    raw_unit = _kw(headers, "TIMEUNIT")
    kunit = _unit(raw_unit) if raw_unit is not None else "s"
    if kunit is None:
        warnings.append(f"TIMEUNIT={str(raw_unit)!r} is neither s nor d: read as s")
        kunit = "s"
    tunit_raw = getattr(time_col, "unit", None)
    cunit = _unit(tunit_raw) or kunit
    timedel = _kw(headers, "TIMEDEL")
    step = float(np.median(np.diff(times))) if len(times) > 1 else None
    if tunit_raw and _unit(tunit_raw) and cunit != kunit:
        fits = ""
        if timedel and step:
            per = 86400.0 if kunit == "d" and cunit == "s" else 1 / 86400.0
            ok = abs(float(timedel) * per - step) <= 1e-3 * step
            fits = (f"; TIMEDEL={float(timedel):.6g} {kunit} is {float(timedel) * per:.6g} "
                    f"{cunit}, {'the' if ok else 'not the'} step of TIME ({step:.6g} {cunit})")
        warnings.append(f"TIMEUNIT={str(raw_unit)!r} does not fit the TIME column (its unit "
                        f"is {str(tunit_raw)!r}{fits}): TIME read in {cunit}, TIMEZERO and "
                        f"TIMEDEL in {kunit}")
    elif not tunit_raw and timedel and step and cunit == kunit:
        td = float(timedel)
        for other, per in (("s", 86400.0), ("d", 1 / 86400.0)):
            if other != kunit and abs(td * per - step) <= 1e-3 * step \
                    and abs(td - step) > 1e-3 * step:
                warnings.append(f"TIMEUNIT={kunit!r} does not fit the TIME column: its step "
                                f"({step:.6g}) is TIMEDEL={td:.6g} {kunit} in {other}: TIME "
                                f"read in {other}")
                cunit = other
    zero = _split_kw(headers, "TIMEZERO")
    zero = float(zero) if zero is not None else 0.0
    ref = mjdref(headers)
    xronos_tjd = _is_xronos(headers) and kunit == "d" and zero != 0.0
    if xronos_tjd:
        if ref is not None:
            warnings.append(f"TIMEZERO={zero:.10g} d is a Truncated Julian Date (XRONOS output, "
                            "as its header says), not an offset from MJDREF="
                            f"{ref[0] + ref[1]:.10g}: bins at MJD {TJD_MJDREF:g} + TIMEZERO + "
                            "TIME; MJDREF kept for the GTIs")
        else:
            warnings.append(f"no MJDREF (nor MJDREFI/MJDREFF): TIMEZERO={zero:.10g} d read as "
                            f"a Truncated Julian Date (XRONOS output): bins at MJD "
                            f"{TJD_MJDREF:g} + TIMEZERO + TIME")
        ref = (TJD_MJDREF, 0.0)
    elif ref is None:
        warnings.append(f"no MJDREF (nor MJDREFI/MJDREFF): assumed MJDREF={TJD_MJDREF:g} "
                        "(times as Truncated Julian Days, JD - 2440000.5, XRONOS's convention)")
        ref = (TJD_MJDREF, 0.0)
    return TimeFrame(ref, zero, kunit, cunit, _scale(headers, warnings), warnings)


def _lightcurve_hdu(hdul):
    for hdu in hdul[1:]:
        cols = getattr(hdu, "columns", None)
        if cols is None:
            continue
        names = [c.upper() for c in cols.names]
        lc_class = str(hdu.header.get("HDUCLAS1", "")).replace(" ", "").upper() == "LIGHTCURVE"
        if "TIME" in names and (lc_class or any(LC_COLUMN.match(n) for n in names)):
            return hdu
    return None


def detect(hdul) -> bool:
    """True when a FITS file holds an OGIP light curve table."""
    return _lightcurve_hdu(hdul) is not None


def outside_runs(times_ns: np.ndarray, outside: np.ndarray) -> list[list[int]]:
    """[first, last] times of each run of consecutive rows outside the GTIs (rows in order)."""
    if not outside.any():
        return []
    d = np.diff(np.concatenate([[0], outside.view(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return [[int(times_ns[a]), int(times_ns[b])] for a, b in zip(starts, ends, strict=True)]


def read_ogip(hdul, path: str, warnings: list[str] | None = None) -> list[Series]:
    """Series of every numeric column of the light curve, every finite value, times in UTC;
    warning lines (header assumptions, GTIs that cover no bin) are added to `warnings`."""
    warnings = [] if warnings is None else warnings
    hdu = _lightcurve_hdu(hdul)
    if hdu is None:
        raise LayoutError("FITS file without a light-curve table (a TIME column and a RATE, "
                          "RATEn, COUNTS or COUNTSn column)")
    headers = [hdu.header, hdul[0].header]
    data = hdu.data
    if data is None or not len(data):
        raise LayoutError("light-curve table has no rows")
    names = {c.upper(): c for c in hdu.columns.names}
    time_col = hdu.columns[names["TIME"]]
    met_all = np.asarray(data[names["TIME"]], dtype=np.float64)
    if met_all.ndim != 1:
        raise LayoutError(f"broken table: TIME is a vector column ({time_col.format})")
    good_t = np.isfinite(met_all)
    if not good_t.any():
        raise LayoutError("broken table: no finite TIME value")
    if not good_t.all():
        warnings.append(f"{int((~good_t).sum())} rows have a non-finite TIME: their values "
                        "have no time and are not stored")
    frame = time_frame(headers, time_col, met_all[good_t])
    warnings += frame.warnings
    t_all = np.zeros(len(met_all), dtype=np.int64)
    t_all[good_t] = frame.utc_ns(met_all[good_t])
    order = np.flatnonzero(good_t)[np.argsort(t_all[good_t], kind="stable")]
    t_ns = t_all[order]
    timedel = _kw(headers, "TIMEDEL")
    step_ns = (float(timedel) * (NS if frame.keyword_unit == "s" else 86400 * NS)
               if timedel else None)
    gti_utc: list[list[int]] = []
    outside = np.zeros(len(order), dtype=bool)
    gti = _gti(hdul)
    if gti is not None:
        start, stop, gframe = gti[0], gti[1], _gti_frame(hdul, headers, frame)
        warnings += gframe.warnings
        if len(start):
            gs, ge = gframe.utc_ns(start), gframe.utc_ns(stop)
            gti_utc = [[int(a), int(b)] for a, b in zip(gs, ge, strict=True)]
            inside = np.zeros(len(order), dtype=bool)
            for a, b in gti_utc:
                inside |= (t_ns >= a) & (t_ns < b)
            outside = ~inside
            if not inside.any():
                warnings.append(f"no light-curve bin lies inside the {len(gti_utc)} GTIs: every "
                                "bin is kept, marked outside them")
    tel = clean_name(_kw(headers, "TELESCOP", "UNKNOWN"))
    ins = clean_name(_kw(headers, "INSTRUME", "UNKNOWN"))
    base = {
        "mission": str(_kw(headers, "TELESCOP", "")), "instrument": str(_kw(headers, "INSTRUME",
                                                                            "")),
        "source_format": "OGIP FITS light curve",
        "time_system": str(_kw(headers, "TIMESYS", "TT")),
        "time_reference": {"MJDREFI": frame.ref[0], "MJDREFF": frame.ref[1],
                           "TIMEZERO": frame.zero, "TIMEUNIT": frame.keyword_unit,
                           "TIME_unit": frame.column_unit,
                           "TIMEREF": str(_kw(headers, "TIMEREF", "")),
                           "TIMEPIXR": float(_kw(headers, "TIMEPIXR", 0.5) or 0.5),
                           "TIMEDEL": float(timedel) if timedel else None},
        "time_mapping": "UTC from MJDREF + TIMEZERO + TIME on TIMESYS, by astropy",
        "time_warnings": list(frame.warnings),
        "gti": gti_utc, "rows_outside_gti": int(outside.sum()),
        "outside_gti": outside_runs(t_ns, outside),
        "object": str(_kw(headers, "OBJECT", "")),
    }
    out = []
    for col in hdu.columns:
        cname = col.name.upper()
        if cname == "TIME":
            continue
        vals = np.asarray(data[col.name])
        if vals.dtype.kind not in "fiub":
            continue
        if vals.dtype.kind == "b":
            vals = vals.astype(np.int8)
        units = str(col.unit or "")
        if vals.ndim == 1:
            out.append(_column_series(f"{tel}.{ins}.{clean_name(cname)}", t_ns, vals[order],
                                      {**base, "units": units, "column": cname}, path, step_ns))
        elif vals.ndim == 2:
            emin, emax = _bands(headers, vals.shape[1])
            for j in range(vals.shape[1]):
                band = {"band": j + 1, **({"e_min": emin[j], "e_max": emax[j]} if emin else {})}
                out.append(_column_series(
                    f"{tel}.{ins}.{clean_name(cname)}_{j + 1}", t_ns, vals[order, j],
                    {**base, "units": units, "column": cname, **band}, path, step_ns))
    if not out:
        raise LayoutError("light-curve table has no numeric columns besides TIME")
    return out


def _column_series(name: str, t_ns: np.ndarray, vals: np.ndarray, attrs: dict[str, Any],
                   path: str, step_ns: float | None) -> Series:
    # +-inf are not values to store (the file's way of saying "none" too): only finite ones
    if vals.dtype.kind == "f" and np.isinf(vals).any():
        vals = np.where(np.isinf(vals), np.nan, vals).astype(vals.dtype)
    return series_from_times(name, t_ns, vals, attrs, path, step_ns)


def _gti_frame(hdul, headers: list, frame: TimeFrame) -> TimeFrame:
    """The time frame of the GTI table: its own keywords first, then the light curve's."""
    gh = _gti_headers(hdul)
    ghs = [*gh, *headers]
    warnings: list[str] = []
    raw = _kw(gh, "TIMEUNIT")
    kunit = (_unit(raw) if raw is not None else None) or frame.keyword_unit
    cols = {c.name.upper(): c for c in _gti_hdu(hdul).columns}
    cunit = _unit(getattr(cols.get("START"), "unit", None))
    # GTIs are in the TIME column's units unless they say otherwise
    cunit = cunit or (_unit(raw) if raw is not None else None) or frame.column_unit
    ref = mjdref(ghs)
    xronos = _is_xronos(headers) and frame.ref == (TJD_MJDREF, 0.0)
    if ref is None:
        ref = frame.ref
    zero = _split_kw(gh, "TIMEZERO")
    if zero is None:
        # XRONOS's TIMEZERO is the bins' absolute date, not an offset of the GTIs
        zero = 0.0 if xronos else frame.zero
    return TimeFrame(ref, float(zero), kunit, cunit, _scale(ghs, warnings), warnings)


def _gti_hdu(hdul):
    """The first GTI table (`GTI*`, `STDGTI*` with START and STOP columns), or None."""
    for hdu in hdul[1:]:
        if str(hdu.name).upper().startswith(("GTI", "STDGTI")) and getattr(hdu, "columns", None):
            names = {c.upper() for c in hdu.columns.names}
            if "START" in names and "STOP" in names:
                return hdu
    return None


def _gti(hdul) -> tuple[np.ndarray, np.ndarray] | None:
    hdu = _gti_hdu(hdul)
    if hdu is None:
        return None
    names = {c.upper(): c for c in hdu.columns.names}
    d = hdu.data
    if d is None:
        return np.zeros(0), np.zeros(0)
    start = np.asarray(d[names["START"]], dtype=np.float64).ravel()
    stop = np.asarray(d[names["STOP"]], dtype=np.float64).ravel()
    ok = np.isfinite(start) & np.isfinite(stop)
    return start[ok], stop[ok]


def _gti_headers(hdul) -> list:
    hdu = _gti_hdu(hdul)
    return [] if hdu is None else [hdu.header]


def _bands(headers: list, n: int) -> tuple[list[float], list[float]]:
    emin = [_kw(headers, f"E_MIN{j + 1}") for j in range(n)]
    emax = [_kw(headers, f"E_MAX{j + 1}") for j in range(n)]
    if all(e is not None for e in emin + emax):
        return [float(e) for e in emin], [float(e) for e in emax]
    return [], []
