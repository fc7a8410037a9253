"""A whole store as one `xarray.DataTree`: one node per stream, read from consolidated metadata."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from pipelines.store import consolidated
from pipelines.store.errors import UnknownStreamError
from pipelines.store.irregular import IrregularStream
from pipelines.store.layout import TMP_SUFFIX, stream_kind
from pipelines.store.regular import Stream

if TYPE_CHECKING:
    import xarray as xr

    from pipelines.store.store import Store

__all__ = ["open_datatree"]


def open_datatree(store: Store, streams: str | list[str] | None = None) -> xr.DataTree:
    """Every stream of a store (or those matching `streams`) as the nodes of one DataTree.

    Parameters
    ----------
    store : Store
        The store (`open_store(url)`).
    streams : str or list of str, optional
        Wildcards as `Store.select` takes them (`"BV.*.00.HH?"`); all streams when None.

    Returns
    -------
    xarray.DataTree
        One child per stream, named by the stream (`tree["BV.ALPA.00.HHZ"]`), holding the
        lazy `data` variable of `Stream.to_xarray` (a computed `time` coordinate, no index)
        and the stream's attributes. The hierarchy is read from the consolidated metadata
        the last ingest wrote (one read however many streams), or node by node for stores
        that have none; no warning either way.

    Raises
    ------
    UnknownStreamError
        When a pattern matches no stream.
    """
    import xarray as xr

    root = consolidated.open_consolidated(store.zarr_store)
    groups = {name: grp for name, grp in root.groups()
              if not name.startswith("_") and not name.endswith(TMP_SUFFIX)}
    names = sorted(groups)
    if streams is not None:
        patterns = streams.split(",") if isinstance(streams, str) else list(streams)
        chosen: list[str] = []
        for pat in (p.strip() for p in patterns if p.strip()):
            hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            if not hits:
                raise UnknownStreamError(f"no stream matches {pat!r} in store {store.url}")
            chosen += [h for h in hits if h not in chosen]
        names = chosen
    nodes = {}
    for name in names:
        grp = groups[name]
        kind = IrregularStream if stream_kind(grp.attrs) == IrregularStream.kind else Stream
        stream = kind(store, name, grp)
        nodes[name] = stream.to_xarray().to_dataset(name="data").assign_attrs(stream.attrs)
    tree = xr.DataTree.from_dict(nodes)
    tree.attrs.update({"belvedere": store.meta, "store": store.url})
    return tree
