"""Write the real LDC TDI file of this folder with the LDC's own package (run in its own venv).

    apt-get install -y libgsl-dev libfftw3-dev     # its C extensions need GSL and FFTW
    python3 -m venv /work/venvs/ldc
    /work/venvs/ldc/bin/pip install lisa-data-challenge==1.2.5
    /work/venvs/ldc/bin/python tests/data/mission/make_ldc.py

The series are seeded noise with a NaN span (a gap, as the LDC's gapped datasets mark them);
`ldc.common.series.TDI(...).save(path, name="obs/tdi")` writes them the way the LDC's own
datasets hold their TDI: one compound dataset of fields t, X, Y, Z.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

NAME = "ldc-1.2.5-tdi-n2000-seed2.h5"
N, DT, T0, SEED, GAP = 2000, 5.0, 100.0, 2, (700, 760)


def main(folder: Path) -> None:
    """Write NAME into `folder` with the installed lisa-data-challenge."""
    import numpy as np
    from ldc.common.series import TDI, TimeSeries

    if version("lisa-data-challenge") != "1.2.5":
        sys.exit(f"lisa-data-challenge {version('lisa-data-challenge')} is installed; the "
                 "README of this folder says this file comes from 1.2.5")
    rng = np.random.default_rng(SEED)
    xyz = {}
    for c in "XYZ":
        x = rng.standard_normal(N) * 1e-21
        x[GAP[0]:GAP[1]] = np.nan
        xyz[c] = TimeSeries(x, t0=T0, dt=DT, units="strain", name=c)
    path = folder / NAME
    path.unlink(missing_ok=True)
    TDI(xyz).save(str(path), mode="w", name="obs/tdi")
    print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
