"""Drawing never writes outside its canvas, whatever the values' magnitude and spread."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datashader as ds
import numpy as np
import pandas as pd

from dashboard import raster
from pipelines.store import Window

REPO = Path(__file__).resolve().parent.parent

# A band a few ulps high around a large offset, as a LISA frequency-offset series gives.
_FEW_ULPS = textwrap.dedent("""
    import numpy as np
    from dashboard import raster
    from pipelines.store import Window
    rng = np.random.default_rng(0)
    n, base = 1200, 8199999.999999997
    lo = base + rng.integers(-2, 2, n) * np.spacing(base)
    hi = lo + np.spacing(base) * rng.integers(0, 3, n)
    center = float(np.median((lo + hi) / 2))
    scale = float(np.max(np.maximum(hi - center, center - lo)))
    for level, h in ((1, 8), (1, 53), (1, 110), (0, 8), (0, 53)):
        w = Window("x", level, 0, 10.0, lo, hi if level else lo)
        for draw in (raster.band_mask, raster.datashader_band_mask):
            m = draw(w, 0, 10 * n, 1200, h, center, scale)
            assert m.shape == (h, 1200) and m.any(), (draw.__name__, level, h)
    print("drawn")
""")


def test_a_band_a_few_ulps_high_is_drawn_inside_the_canvas():
    # Numba's bounds checks turn an out-of-canvas write (heap corruption, a server abort) into
    # an IndexError; they must be on before the kernels compile, hence a fresh process.
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", _FEW_ULPS], capture_output=True, text=True,
                       env=env, timeout=300, cwd=REPO)
    assert r.returncode == 0 and "drawn" in r.stdout, r.stderr[-2000:]


def _absolute_mask(window: Window, t1_ns: int, width: int, height: int, center: float,
                   reach: float) -> np.ndarray:
    """The zigzag drawn in the values' own coordinates (how ordinary bands were drawn)."""
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=(0.0, float(t1_ns)),
                       y_range=(center - reach, center + reach))
    lo = np.clip(window.lo, center - 2 * reach, center + 2 * reach)
    hi = np.clip(window.hi, center - 2 * reach, center + 2 * reach)
    zig = pd.DataFrame({"x": np.repeat(window.times_ns.astype(np.float64), 2),
                        "y": np.column_stack([lo, hi]).ravel()})
    return np.flipud(canvas.line(zig, "x", "y", agg=ds.any()).values.astype(bool))


def test_the_reference_kernel_draws_ordinary_bands_as_in_their_own_coordinates():
    # The Datashader reference (which the numpy kernel is compared with) draws in band units.
    rng = np.random.default_rng(4)
    counts = np.cumsum(rng.integers(-40, 41, 4000)).astype(np.float64)
    lo, hi = counts[::2].copy(), counts[1::2].copy()
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    lo[300:340] = hi[300:340] = np.nan  # a gap stays a gap
    w = Window("x", 1, 0, 10.0, lo, hi)
    width, height, t1 = 1000, 100, 10 * len(lo)
    center = float(np.nanmedian((lo + hi) / 2))
    scale = float(np.nanmax(np.maximum(hi - center, center - lo)))
    reach = scale * (height / 2.0) / (height / 2.0 - raster.MARGIN_PX)
    ours = raster.datashader_band_mask(w, 0, t1, width, height, center, scale)
    theirs = _absolute_mask(w, t1, width, height, center, reach)
    differ = np.count_nonzero(ours != theirs)
    assert differ <= 0.005 * theirs.sum(), differ  # float rounding at pixel edges only
    assert not ours[:, 160:168].any()  # the gap's columns are empty
