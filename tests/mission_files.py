"""Small mission files in each layout, written with h5py, astropy.io.fits and pandas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LINKS = ("12", "13", "21", "23", "31", "32")


def write_lisa(path: Path, n: int = 4000, dt: float = 0.25, t0: float = 100.0,
               quantities=("isi_carrier_fluctuations", "tmi_carrier_fluctuations"),
               links=LINKS, seed: int = 0, nan_span: tuple[int, int] | None = None,
               version: str = "2.1") -> dict[str, np.ndarray]:
    """A LISA instrument simulation file (format 2.x); returns stream name -> samples."""
    import h5py

    rng = np.random.default_rng(seed)
    truth = {}
    with h5py.File(path, "w") as f:
        meta = {"version": version, "dt": dt, "fs": 1 / dt, "size": n, "t0": t0,
                "duration": n * dt}
        f.attrs["metadata_json"] = json.dumps(meta)
        f.attrs["version"] = version
        for q in quantities:
            g = f.create_group(q)
            for link in links:
                x = rng.standard_normal(n) * 1e-12 + rng.standard_normal() * 1e-9
                if nan_span:
                    x[nan_span[0]:nan_span[1]] = np.nan
                g.create_dataset(link, data=x, dtype="f8")
                truth[f"LISA.{q}.{link}"] = x
    return truth


def write_ldc(path: Path, n: int = 3000, dt: float = 5.0, t0: float = 0.0,
              compound: bool = True, gap: tuple[int, int] | None = (1000, 1200),
              seed: int = 1) -> dict[str, np.ndarray]:
    """An LDC file with obs/tdi (compound t, X, Y, Z or an (N, 4) array); NaN gaps."""
    import h5py

    rng = np.random.default_rng(seed)
    t = t0 + np.arange(n) * dt
    cols = {c: rng.standard_normal(n) * 1e-20 for c in "XYZ"}
    if gap:
        for c in "XYZ":
            cols[c][gap[0]:gap[1]] = np.nan
    with h5py.File(path, "w") as f:
        g = f.create_group("obs")
        if compound:
            arr = np.zeros(n, dtype=[("t", "f8"), ("X", "f8"), ("Y", "f8"), ("Z", "f8")])
            arr["t"] = t
            for c in "XYZ":
                arr[c] = cols[c]
        else:
            arr = np.column_stack([t, cols["X"], cols["Y"], cols["Z"]])
        ds = g.create_dataset("tdi", data=arr)
        ds.attrs["dt"] = dt
        ds.attrs["t0"] = t0
        ds.attrs["units"] = "strain"
    return {f"LDC.{c}": v for c, v in cols.items()}


def write_ogip(path: Path, n: int = 500, timedel: float = 2.0, mjdrefi: int = 51910,
               mjdreff: float = 7.428703703703703e-4, tstart: float = 7.0e8,
               timesys: str = "TT", bands: int = 2, gtis=((0, 200), (260, 500)),
               split_ref: bool = True, timeunit: str = "s", timezero: float = 0.0,
               telescop: str = "INTEGRAL", instrume: str = "JEM-X") -> dict:
    """An OGIP light curve (RATE, ERROR, FRACEXP, vector RATE per band) with a GTI table.

    `gtis` are [a, b) row ranges; returns the columns and times written.
    """
    from astropy.io import fits

    rng = np.random.default_rng(2)
    per = 1.0 if timeunit == "s" else 1 / 86400
    time = tstart + np.arange(n) * timedel
    rate = (rng.poisson(50, n) / timedel).astype(np.float32)
    err = np.sqrt(rate / timedel).astype(np.float32)
    frac = np.ones(n, dtype=np.float32)
    rb = (rng.poisson(20, (n, bands)) / timedel).astype(np.float32)
    cols = [fits.Column("TIME", "D", unit=timeunit, array=time * per),
            fits.Column("RATE", "E", unit="count/s", array=rate),
            fits.Column("ERROR", "E", unit="count/s", array=err),
            fits.Column("FRACEXP", "E", array=frac),
            fits.Column("RATE_BANDS", f"{bands}E", unit="count/s", array=rb)]
    lc = fits.BinTableHDU.from_columns(cols, name="RATE")
    h = lc.header
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "LIGHTCURVE"
    h["TELESCOP"] = telescop
    h["INSTRUME"] = instrume
    h["TIMESYS"] = timesys
    h["TIMEUNIT"] = timeunit
    h["TIMEZERO"] = timezero
    h["TIMEDEL"] = timedel * per
    h["TIMEREF"] = "LOCAL"
    if split_ref:
        h["MJDREFI"] = mjdrefi
        h["MJDREFF"] = mjdreff
    else:
        h["MJDREF"] = mjdrefi + mjdreff
    for j in range(bands):
        h[f"E_MIN{j + 1}"] = 3.0 + 10 * j
        h[f"E_MAX{j + 1}"] = 13.0 + 10 * j
    gstart = np.array([time[a] for a, _ in gtis]) * per
    gstop = np.array([time[b - 1] + timedel for _, b in gtis]) * per
    gti = fits.BinTableHDU.from_columns([fits.Column("START", "D", array=gstart),
                                         fits.Column("STOP", "D", array=gstop)], name="GTI")
    for k in ("TIMESYS", "TIMEUNIT", "MJDREFI", "MJDREFF", "MJDREF"):
        if k in h:
            gti.header[k] = h[k]
    fits.HDUList([fits.PrimaryHDU(), lc, gti]).writeto(path, overwrite=True)
    return {"time": time, "rate": rate, "error": err, "frac": frac, "bands": rb,
            "gtis": gtis, "mjdref": (mjdrefi, mjdreff), "timesys": timesys,
            "timezero": timezero}


def write_table(path: Path, n: int = 1000, irregular: bool = False, start: str =
                "2024-03-05T00:00:00", step_s: float = 1.0, seed: int = 3):
    """A housekeeping table (CSV or Parquet by suffix); returns the DataFrame written."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    t0 = np.datetime64(start, "ns")
    if irregular:
        offs = np.cumsum(rng.uniform(0.2, 3.0, n) * 1e9).astype(np.int64)
    else:
        offs = (np.arange(n) * step_s * 1e9).astype(np.int64)
    times = t0 + offs.astype("timedelta64[ns]")
    df = pd.DataFrame({
        "time": pd.to_datetime(times).tz_localize("UTC"),
        "temp_obc": rng.normal(20, 0.5, n),
        "bus_voltage": rng.normal(28, 0.1, n),
        "mode": rng.integers(0, 4, n),
        "note": ["ok"] * n,
    })
    if str(path).endswith(".parquet"):
        df.to_parquet(path)
    else:
        out = df.copy()
        out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.to_csv(path, index=False, float_format="%.17g")
    return df
