"""FITS light curves in the OGIP conventions (OGIP/93-003): times to UTC with astropy.

The first binary table with a `TIME` column and a `RATE` (or `COUNTS`) column is the light
curve. Times are `MJDREF` (or `MJDREFI` + `MJDREFF`) + (`TIME` + `TIMEZERO`) in `TIMEUNIT`
(s or d) on the `TIMESYS` scale (TT when absent), converted to UTC by astropy and stored as
ns since 1970; the original time system, reference and keywords stay in the attributes.
A `GTI` extension gives the good time intervals: only bins inside one are samples, so the
segments follow the GTIs (the GTIs themselves are kept, in UTC ns, in attribute `gti`).
Every other numeric column becomes a stream too: `<TELESCOP>.<INSTRUME>.RATE`, `.ERROR`,
`.FRACEXP`, and vector columns per energy band `.RATE_<band>` (bands numbered from 1, with
`E_MIN`/`E_MAX` in the attributes when the file gives them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
        LayoutError when the file or its header is broken, or holds no light curve.
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
        yield FileSeries("ogip", read_ogip(hdul, path))


def _kw(headers: list, key: str, default: Any = None) -> Any:
    for h in headers:
        if key in h:
            return h[key]
    return default


def mjdref(headers: list) -> tuple[float, float]:
    """(integer part, fraction) of the reference MJD from MJDREFI+MJDREFF or MJDREF."""
    i, f = _kw(headers, "MJDREFI"), _kw(headers, "MJDREFF")
    if i is not None:
        return float(i), float(f or 0.0)
    ref = _kw(headers, "MJDREF")
    if ref is None:
        raise LayoutError("broken header: no MJDREF (nor MJDREFI/MJDREFF) keyword")
    ref = float(ref)
    return float(np.floor(ref)), ref - float(np.floor(ref))


def to_utc_ns(values: np.ndarray, headers: list) -> np.ndarray:
    """UTC ns since 1970 (no leap seconds counted, as POSIX) of OGIP times via astropy."""
    from astropy.time import Time, TimeDelta
    from astropy.utils import iers

    unit = str(_kw(headers, "TIMEUNIT", "s")).strip().lower()
    if unit not in ("s", "d"):
        raise LayoutError(f"broken header: TIMEUNIT={unit!r}; expected s or d")
    zero = float(_kw(headers, "TIMEZERO", 0.0) or 0.0)
    scale = str(_kw(headers, "TIMESYS", "TT")).strip().lower()
    if scale == "tdt":
        scale = "tt"
    if scale not in ("tt", "tai", "utc", "tdb", "tcb", "tcg", "ut1"):
        raise LayoutError(f"broken header: TIMESYS={scale.upper()!r} is not a time scale "
                          "astropy knows")
    ri, rf = mjdref(headers)
    per_day = 86400.0 if unit == "s" else 1.0
    # Two-part days keep ns precision: ref (exact), then the offset split into whole days.
    off = (np.asarray(values, dtype=np.float64) + zero) / per_day
    whole = np.floor(off)
    with iers.conf.set_temp("auto_download", False), \
            iers.conf.set_temp("auto_max_age", None):
        # Elapsed SI seconds from the reference (leap seconds counted when TIMESYS is UTC),
        # as astropy's Time + TimeDelta; two-part days keep ns precision.
        ref = Time(ri, rf, format="mjd", scale=scale)
        t = (ref + TimeDelta(whole, off - whole, format="jd")).utc
        jd1, jd2 = t.jd1, t.jd2
    day = np.round(jd1 - UNIX_JD).astype(np.int64)  # jd1 is a whole or half day
    frac = (jd1 - UNIX_JD) - day + jd2
    return day * (86400 * NS) + np.round(frac * 86400 * NS).astype(np.int64)


def _lightcurve_hdu(hdul):
    for hdu in hdul[1:]:
        cols = getattr(hdu, "columns", None)
        if cols is None:
            continue
        names = [c.upper() for c in cols.names]
        if "TIME" in names and ("RATE" in names or "COUNTS" in names):
            return hdu
    return None


def detect(hdul) -> bool:
    """True when a FITS file holds an OGIP light curve table."""
    return _lightcurve_hdu(hdul) is not None


def read_ogip(hdul, path: str) -> list[Series]:
    """Series of every numeric column of the light curve, GTI-filtered, times in UTC."""
    hdu = _lightcurve_hdu(hdul)
    if hdu is None:
        raise LayoutError("FITS file without a light-curve table (TIME and RATE columns)")
    headers = [hdu.header, hdul[0].header]
    data = hdu.data
    if data is None or not len(data):
        raise LayoutError("light-curve table has no rows")
    names = {c.upper(): c for c in hdu.columns.names}
    met = np.asarray(data[names["TIME"]], dtype=np.float64)
    if not np.isfinite(met).all():
        raise LayoutError("broken table: non-finite TIME values")
    unit = str(_kw(headers, "TIMEUNIT", "s")).strip().lower()
    timedel = _kw(headers, "TIMEDEL")
    step_ns = float(timedel) * (NS if unit == "s" else 86400 * NS) if timedel else None
    keep = np.ones(len(met), dtype=bool)
    gti_utc: list[list[int]] = []
    gti = _gti(hdul)
    if gti is not None:
        start, stop = gti
        keep = np.zeros(len(met), dtype=bool)
        for a, b in zip(start, stop, strict=True):
            keep |= (met >= a) & (met < b)
        if len(start):
            gs = to_utc_ns(start, [*_gti_headers(hdul), *headers])
            ge = to_utc_ns(stop, [*_gti_headers(hdul), *headers])
            gti_utc = [[int(a), int(b)] for a, b in zip(gs, ge, strict=True)]
    t_ns = to_utc_ns(met, headers)
    order = np.argsort(t_ns, kind="stable")
    tel = clean_name(_kw(headers, "TELESCOP", "UNKNOWN"))
    ins = clean_name(_kw(headers, "INSTRUME", "UNKNOWN"))
    ri, rf = mjdref(headers)
    base = {
        "mission": str(_kw(headers, "TELESCOP", "")), "instrument": str(_kw(headers, "INSTRUME",
                                                                            "")),
        "source_format": "OGIP FITS light curve",
        "time_system": str(_kw(headers, "TIMESYS", "TT")),
        "time_reference": {"MJDREFI": ri, "MJDREFF": rf, "TIMEZERO":
                           float(_kw(headers, "TIMEZERO", 0.0) or 0.0),
                           "TIMEUNIT": unit, "TIMEREF": str(_kw(headers, "TIMEREF", "")),
                           "TIMEPIXR": float(_kw(headers, "TIMEPIXR", 0.5) or 0.5),
                           "TIMEDEL": float(timedel) if timedel else None},
        "time_mapping": "UTC from MJDREF + TIME + TIMEZERO on TIMESYS, by astropy",
        "gti": gti_utc, "rows_outside_gti": int((~keep).sum()),
        "object": str(_kw(headers, "OBJECT", "")),
    }
    sel = order[keep[order]]
    if not len(sel):
        raise LayoutError("no light-curve bin lies inside the GTIs")
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
            out.append(series_from_times(f"{tel}.{ins}.{clean_name(cname)}", t_ns[sel],
                                         vals[sel], {**base, "units": units, "column": cname},
                                         path, step_ns))
        elif vals.ndim == 2:
            emin, emax = _bands(headers, vals.shape[1])
            for j in range(vals.shape[1]):
                band = {"band": j + 1, **({"e_min": emin[j], "e_max": emax[j]} if emin else {})}
                out.append(series_from_times(
                    f"{tel}.{ins}.{clean_name(cname)}_{j + 1}", t_ns[sel], vals[sel, j],
                    {**base, "units": units, "column": cname, **band}, path, step_ns))
    if not out:
        raise LayoutError("light-curve table has no numeric columns besides TIME")
    return out


def _gti(hdul) -> tuple[np.ndarray, np.ndarray] | None:
    for hdu in hdul[1:]:
        if str(hdu.name).upper().startswith(("GTI", "STDGTI")) and getattr(hdu, "columns", None):
            names = {c.upper(): c for c in hdu.columns.names}
            if "START" in names and "STOP" in names:
                d = hdu.data
                if d is None:
                    return np.zeros(0), np.zeros(0)
                return (np.asarray(d[names["START"]], dtype=np.float64),
                        np.asarray(d[names["STOP"]], dtype=np.float64))
    return None


def _gti_headers(hdul) -> list:
    return [h.header for h in hdul[1:] if str(h.name).upper().startswith(("GTI", "STDGTI"))]


def _bands(headers: list, n: int) -> tuple[list[float], list[float]]:
    emin = [_kw(headers, f"E_MIN{j + 1}") for j in range(n)]
    emax = [_kw(headers, f"E_MAX{j + 1}") for j in range(n)]
    if all(e is not None for e in emin + emax):
        return [float(e) for e in emin], [float(e) for e in emax]
    return [], []
