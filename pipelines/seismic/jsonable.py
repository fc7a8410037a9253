"""ObsPy's values (UTCDateTime, float subclasses with units, nested containers) as plain JSON
values for store attributes."""

from __future__ import annotations

from typing import Any


def jsonable(obj: Any) -> Any:
    """`obj` with dicts and sequences walked, numbers as floats and anything else as text."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)
