"""The mission formats, one module each with `can_open(path, head)` and `read(path, options)`.

`read` is a context manager giving a `series.FileSeries` (the file stays open while its
series are read); each module also says its `NAME`, as the messages show it. A file goes to
the first reader that can open it. A new format is one module and one entry in `READERS`.
"""

from __future__ import annotations

from types import ModuleType

from pipelines.mission import hdf5, ogip, table
from pipelines.mission.series import LayoutError

READERS: tuple[ModuleType, ...] = (hdf5, ogip, table)
HEAD_BYTES = 512  # what `can_open` is shown of a file


def reader_for(path: str) -> ModuleType:
    """The reader of a file.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    module
        The first of `READERS` that can open it; LayoutError when the file is empty or
        none can.
    """
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise LayoutError("empty file (0 bytes)")
    for reader in READERS:
        if reader.can_open(path, head):
            return reader
    raise LayoutError(f"in none of the mission layouts ({', '.join(r.NAME for r in READERS)})")
