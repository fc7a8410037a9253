"""Run the example notebooks in place with nbclient against the demo stores.

    belvedere demo --size small --dir belvedere-demo --no-serve
    BELVEDERE_DEMO_DIR=belvedere-demo python examples/execute.py [NOTEBOOK ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ("seismic.ipynb", "mission.ipynb", "usage.ipynb")


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Execute one notebook (cwd: the notebook's folder) and write it back with its outputs."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return nb


if __name__ == "__main__":
    for name in sys.argv[1:] or NOTEBOOKS:
        execute(HERE / name)
        print(f"executed {name}: {(HERE / name).stat().st_size / 1e3:.0f} kB")
