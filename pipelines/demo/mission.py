"""Small, realistic mission files for the demo: one file in each layout `ingest mission` reads.

- a LISA instrument simulation (HDF5 2.x): `/<quantity>/<link>` float64 datasets for the six
  links, `metadata_json` with t0/dt/size; 4 Hz of coloured noise (white + red) with a slow
  tone per link, for two quantities;
- an LDC file: `obs/tdi`, compound (t, X, Y, Z), a chirping binary seen in X, Y, Z with
  different phases over noise, and a NaN gap (an antenna repointing);
- an OGIP FITS light curve: a GRB-like burst (fast rise, exponential decay) on a background,
  binned counts as RATE with its Poisson ERROR, FRACEXP, two energy bands, and GTIs that leave
  out two passages through the radiation belts;
- a housekeeping CSV: temperatures and a heater current every 7 to 13 s over days.

Everything is a pure function of `size` and `seed`, so re-running the demo writes the same
bytes and the ingest skips every file ("nothing changed").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.timebase import NS

LINKS = ("12", "13", "21", "23", "31", "32")
LISA_QUANTITIES = ("isi_carrier_fluctuations", "tmi_carrier_fluctuations")
MJDREF_INTEGRAL = 51544.0  # INTEGRAL's IJD 0 = 2000-01-01T00:00 TT (MJD 51544)


@dataclass(frozen=True)
class MissionSize:
    """How much of each kind a demo size writes."""

    lisa_hours: float  # 4 Hz, 6 links x 2 quantities
    ldc_days: float  # 0.2 Hz (dt = 5 s)
    lc_hours: float  # 1 s bins
    hk_days: float  # one row every 7-13 s


SIZES: dict[str, MissionSize] = {
    "small": MissionSize(lisa_hours=3, ldc_days=2, lc_hours=3, hk_days=3),
    "medium": MissionSize(lisa_hours=12, ldc_days=7, lc_hours=6, hk_days=10),
    "full": MissionSize(lisa_hours=48, ldc_days=30, lc_hours=24, hk_days=60),
}


@dataclass(frozen=True)
class MissionFiles:
    """The files written, the simulation epoch to ingest them with, and the burst time."""

    lisa: Path
    ldc: Path
    light_curve: Path
    housekeeping: Path
    sim_epoch: str  # UTC of simulation second 0 (for --sim-epoch)
    burst_utc_ns: int  # peak of the GRB-like burst, near enough (TT->UTC is ~69 s)
    ldc_gap: tuple[int, int]  # [a, b) rows of obs/tdi that are NaN

    @property
    def paths(self) -> list[str]:
        """All four files, in ingest order."""
        return [str(p) for p in (self.lisa, self.ldc, self.light_curve, self.housekeeping)]


def _coloured_noise(rng: np.random.Generator, n: int, white: float, red: float,
                    corner: float, fs: float) -> np.ndarray:
    """White noise plus red (1/f^2 above `corner` Hz) noise of `red` rms, n samples."""
    from scipy.signal import lfilter

    a = math.exp(-2 * math.pi * corner / fs)
    r = lfilter([1.0], [1.0, -a], rng.standard_normal(n))
    r *= red / max(float(np.std(r)), 1e-300)
    return white * rng.standard_normal(n) + r


def write_lisa_sim(path: Path, hours: float, seed: int = 0, t0: float = 0.0,
                   dt: float = 0.25) -> int:
    """A LISA instrument simulation file (format 2.x layout); returns samples per link."""
    import h5py

    rng = np.random.default_rng(seed)
    n = int(round(hours * 3600 / dt))
    fs = 1 / dt
    t = t0 + np.arange(n) * dt
    meta = {"version": "2.1.1", "git_url": "(synthetic, belvedere demo)", "dt": dt, "fs": fs,
            "size": n, "t0": t0, "duration": n * dt, "central_freq": 281600000000000.0,
            "laser_asds": 30.0, "clock_asds": 6.32e-14, "orbits": "static"}
    with h5py.File(path, "w") as f:
        f.attrs["metadata_json"] = json.dumps(meta)
        f.attrs["version"] = meta["version"]
        for qi, q in enumerate(LISA_QUANTITIES):
            g = f.create_group(q)
            for li, link in enumerate(LINKS):
                # Tones at ~1-2 mHz (a few cycles an hour), different per link.
                tone_f = 1.1e-3 * (1 + 0.15 * li) * (1 + 0.5 * qi)
                tone = 4.0 * math.sqrt(1 + li) * np.sin(2 * np.pi * tone_f * t + li)
                x = _coloured_noise(rng, n, white=0.6, red=2.5, corner=2e-3, fs=fs) + tone
                x += 1.0e6 * (1 + 0.1 * li) * (qi + 1)  # carrier offsets, Hz
                g.create_dataset(link, data=x.astype(np.float64), chunks=True)
    return n


def write_ldc_tdi(path: Path, days: float, seed: int = 1, t0: float = 0.0,
                  dt: float = 5.0) -> tuple[int, tuple[int, int]]:
    """An LDC TDI file (obs/tdi compound t, X, Y, Z; a NaN gap); returns (rows, gap rows)."""
    import h5py

    rng = np.random.default_rng(seed)
    n = int(round(days * 86400 / dt))
    fs = 1 / dt
    t = t0 + np.arange(n) * dt
    span = n * dt
    # A chirping binary: frequency from 2 to 9 mHz, amplitude growing towards the end.
    f0, f1 = 2e-3, 9e-3
    phase = 2 * np.pi * (f0 * (t - t0) + (f1 - f0) * (t - t0) ** 2 / (2 * span))
    amp = 2e-21 * (1 + 4 * ((t - t0) / span) ** 3)
    cols = {}
    for k, c in enumerate("XYZ"):
        noise = _coloured_noise(rng, n, white=4e-22, red=1.5e-21, corner=5e-4, fs=fs)
        cols[c] = amp * np.sin(phase + 2 * np.pi * k / 3) + noise
    gap = (int(n * 0.55), int(n * 0.55) + max(int(6 * 3600 / dt), 8))  # 6 h repointing
    arr = np.zeros(n, dtype=[("t", "f8"), ("X", "f8"), ("Y", "f8"), ("Z", "f8")])
    arr["t"] = t
    for c in "XYZ":
        arr[c] = cols[c]
        arr[c][gap[0]:gap[1]] = np.nan
    with h5py.File(path, "w") as f:
        ds = f.create_group("obs").create_dataset("tdi", data=arr, chunks=True)
        ds.attrs["dt"] = dt
        ds.attrs["t0"] = t0
        ds.attrs["units"] = "fractional frequency"
        f.attrs["name"] = "belvedere demo: a chirping binary in TDI 1.5"
    return n, gap


def _mjd_of_utc_ns(ns: int) -> float:
    """TT MJD of a UTC instant (astropy), for MJDREF/TIME keywords."""
    from astropy.time import Time
    from astropy.utils import iers

    with iers.conf.set_temp("auto_download", False):
        return float(Time(ns / 1e9, format="unix", scale="utc").tt.mjd)


def write_light_curve(path: Path, start_ns: int, hours: float, seed: int = 2,
                      timedel: float = 1.0) -> int:
    """An OGIP light curve with a GRB-like burst, ERROR, two bands and GTIs; returns the UTC
    ns of the burst peak."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    n = int(round(hours * 3600 / timedel))
    # IJD seconds (TT), to the millisecond: TT - UTC is 69.184 s, so bins start on UTC seconds.
    tstart = round((_mjd_of_utc_ns(start_ns) - MJDREF_INTEGRAL) * 86400.0, 3)
    time = tstart + np.arange(n) * timedel
    rel = np.arange(n) * timedel
    peak = 0.42 * n * timedel  # the burst peaks a bit before the middle
    # Background with a slow orbital modulation; burst with a fast rise, exponential decay.
    background = 60.0 * (1 + 0.15 * np.sin(2 * np.pi * rel / 5400.0))
    rise, decay = 6.0, 90.0
    dtp = rel - peak
    burst = np.where(dtp < 0, np.exp(-(dtp / rise) ** 2), np.exp(-dtp / decay)) * 900.0
    burst += 350.0 * np.exp(-((dtp - 140.0) / 25.0) ** 2)  # a second, softer pulse
    soft = 0.7 * burst + 0.6 * background
    hard = 0.3 * burst + 0.4 * background
    c_soft = rng.poisson(soft * timedel).astype(np.float32)
    c_hard = rng.poisson(hard * timedel).astype(np.float32)
    counts = c_soft + c_hard
    rate = counts / timedel
    error = np.sqrt(np.maximum(counts, 1.0)) / timedel
    frac = np.ones(n, dtype=np.float32)
    bands = np.column_stack([c_soft, c_hard]) / timedel
    cols = [fits.Column("TIME", "D", unit="s", array=time),
            fits.Column("RATE", "E", unit="count/s", array=rate.astype(np.float32)),
            fits.Column("ERROR", "E", unit="count/s", array=error.astype(np.float32)),
            fits.Column("FRACEXP", "E", array=frac),
            fits.Column("RATE_BANDS", "2E", unit="count/s", array=bands.astype(np.float32))]
    lc = fits.BinTableHDU.from_columns(cols, name="RATE")
    h = lc.header
    for k, v in (("HDUCLASS", "OGIP"), ("HDUCLAS1", "LIGHTCURVE"), ("HDUCLAS2", "TOTAL"),
                 ("HDUCLAS3", "RATE"), ("TELESCOP", "INTEGRAL"), ("INSTRUME", "JMX1"),
                 ("OBJECT", "GRB (belvedere demo)"), ("TIMESYS", "TT"), ("TIMEUNIT", "s"),
                 ("TIMEREF", "LOCAL"), ("TIMEZERO", 0.0), ("TIMEDEL", timedel),
                 ("MJDREF", MJDREF_INTEGRAL), ("TSTART", float(time[0])),
                 ("TSTOP", float(time[-1] + timedel)), ("E_MIN1", 3.0), ("E_MAX1", 10.0),
                 ("E_MIN2", 10.0), ("E_MAX2", 35.0), ("EUNIT", "keV")):
        h[k] = v
    # Good time intervals: everything but two passages through the radiation belts.
    cuts = [(0.15, 0.22), (0.75, 0.80)]
    edges = [0.0] + [c for ab in cuts for c in ab] + [1.0]
    gstart = np.array([tstart + edges[i] * n * timedel for i in range(0, len(edges), 2)])
    gstop = np.array([tstart + edges[i + 1] * n * timedel for i in range(0, len(edges), 2)])
    gti = fits.BinTableHDU.from_columns([fits.Column("START", "D", unit="s", array=gstart),
                                         fits.Column("STOP", "D", unit="s", array=gstop)],
                                        name="GTI")
    for k in ("TIMESYS", "TIMEUNIT", "MJDREF", "TIMEZERO"):
        gti.header[k] = h[k]
    fits.HDUList([fits.PrimaryHDU(), lc, gti]).writeto(path, overwrite=True)
    return start_ns + int(peak * NS)


def write_housekeeping(path: Path, end_ns: int, days: float, seed: int = 3) -> int:
    """A housekeeping CSV (ISO UTC times every 7-13 s, temperatures, heater current) ending at
    `end_ns`; returns the number of rows."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    span_s = days * 86400
    steps = rng.uniform(7.0, 13.0, int(span_s / 10 * 1.05) + 10)
    offs = np.cumsum(steps)
    offs = offs[offs < span_s]
    n = len(offs)
    t_ns = end_ns - int(span_s * NS) + np.round(offs * NS).astype(np.int64)
    hours = offs / 3600
    # A slow attitude cycle (6 h) turns the panel to and from the Sun; the electronics follow.
    orbit = np.sin(2 * np.pi * offs / 21600)
    panel = -15 + 22 * orbit + rng.normal(0, 0.3, n)
    obc = 21 + 1.5 * np.sin(2 * np.pi * offs / 21600 - 0.8) + 0.3 * hours / 24 \
        + rng.normal(0, 0.05, n)
    # The battery heater switches on below 5 degC and off above 8 degC (cycles of ~2 h).
    battery = np.empty(n)
    heater = np.empty(n)
    temp, on = 7.0, False
    for i in range(n):
        on = (temp < 5.0) or (on and temp < 8.0)
        temp += steps[i] * ((0.0012 if on else -0.0005) + 0.0001 * orbit[i])
        battery[i], heater[i] = temp, (0.85 if on else 0.0)
    battery += rng.normal(0, 0.02, n)
    heater += rng.normal(0, 0.005, n)
    times = pd.to_datetime(t_ns, unit="ns", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    df = pd.DataFrame({"time": times, "temp_panel_x": panel.round(3),
                       "temp_obc": obc.round(3), "temp_battery": battery.round(3),
                       "heater_current": heater.round(4)})
    df.to_csv(path, index=False)
    return n


def generate_mission_files(folder: Path, size: str = "small", start_utc: str =
                           "2024-03-04T18:00:00") -> MissionFiles:
    """Write the four demo files into `folder` (skipped when already there); `start_utc` is
    where the simulations and the light curve begin, the housekeeping ends a day after it."""
    from pipelines.timebase import parse_time

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    spec = SIZES[size]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    start_ns = parse_time(start_utc)
    files = MissionFiles(folder / "lisa-instrument.h5", folder / "ldc-tdi.h5",
                         folder / "jemx-grb.lc", folder / "hk-telemetry.csv",
                         sim_epoch=start_utc, burst_utc_ns=0, ldc_gap=(0, 0))
    done = folder / "mission-files.json"
    if done.exists() and all(Path(p).exists() for p in files.paths):
        info = json.loads(done.read_text())
        return MissionFiles(**{**files.__dict__, "burst_utc_ns": info["burst_utc_ns"],
                               "ldc_gap": tuple(info["ldc_gap"])})
    write_lisa_sim(files.lisa, spec.lisa_hours)
    _, gap = write_ldc_tdi(files.ldc, spec.ldc_days)
    burst = write_light_curve(files.light_curve, start_ns, spec.lc_hours)
    write_housekeeping(files.housekeeping, start_ns + 86400 * NS, spec.hk_days)
    done.write_text(json.dumps({"size": size, "burst_utc_ns": burst, "ldc_gap": list(gap)}))
    return MissionFiles(**{**files.__dict__, "burst_utc_ns": burst, "ldc_gap": gap})
