"""The usage file formats, one module each with `can_open(path, head)` and `read(path, options)`.

Prometheus is a query source (`prometheus.query_range`), not a file. A new file format is one
module and one entry in `READERS`.
"""

from __future__ import annotations

from types import ModuleType

from pipelines.usage import sacct

READERS: tuple[ModuleType, ...] = (sacct,)
