"""Write the real LISA instrument simulation files of this folder (run in its own venv).

    python3 -m venv /work/venvs/lisa
    /work/venvs/lisa/bin/pip install lisainstrument==2.3.0
    /work/venvs/lisa/bin/python tests/data/mission/make_lisa.py

lisainstrument pins an old dask, so it is never a dependency of the project; the files it
writes are checked in instead (the tests read them with h5py and the project's reader).
"""

from __future__ import annotations

import sys
from pathlib import Path

# (file name, size in samples, seed): small, so a checked-in file stays under ~300 kB
FILES = (("lisainstrument-2.3.0-size200-seed1.h5", 200, 1),)


def main(folder: Path) -> None:
    """Write each file of FILES into `folder` with the installed lisainstrument."""
    import lisainstrument
    from lisainstrument import Instrument

    if lisainstrument.__version__ != "2.3.0":
        sys.exit(f"lisainstrument {lisainstrument.__version__} is installed; the README of "
                 "this folder says these files come from 2.3.0 (rename them if you change it)")
    for name, size, seed in FILES:
        path = folder / name
        path.unlink(missing_ok=True)
        Instrument(size=size, seed=seed).export_hdf5(path=str(path))
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
