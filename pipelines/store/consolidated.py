"""Consolidated metadata: every node's zarr.json copied into the root's, for fast opening.

xarray (and zarr) read a store's whole hierarchy from that one document instead of one request
per node. The copy is kept fresh: the first write through a `Store` drops it
(`Store.changing`, called by the commits, sample writes and attribute updates of streams, the
catalogue's events and the kept StationXML), and the end of an ingest or analysis run writes
it again when it is absent (`consolidate`). A run interrupted in between leaves no copy
(readers then open node by node), never a stale one; a run that writes nothing rewrites
nothing. Belvedere's own readers never use it (`backend.open_group`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import zarr

from pipelines.store.errors import StoreError

if TYPE_CHECKING:
    from pipelines.store.store import Store

__all__ = ["consolidate", "drop", "is_consolidated", "open_consolidated"]


def consolidate(store: Store, rewrite: bool = False) -> bool:
    """Write the store's consolidated metadata unless a fresh copy is there (call when a run
    has committed everything); True when it was written.

    Parameters
    ----------
    store : Store
        Opened for writing.
    rewrite : bool
        Write it even when a copy is there (after writes that do not drop it, such as the
        analysis products').
    """
    if store.mode == "r":
        raise StoreError(f"store {store.url} is open read-only")
    if not rewrite and is_consolidated(store.zarr_store):
        return False  # nothing was written since it was (a write drops it first)
    with warnings.catch_warnings():
        # zarr says consolidated metadata is not in the v3 spec yet; xarray and zarr-python
        # both read it, which is what it is for here.
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not")
        zarr.consolidate_metadata(store.zarr_store)
    return True


def drop(store: Store) -> None:
    """Remove the consolidated copy from the root's zarr.json (before anything is written).

    The root was opened without it (`backend.open_group`), so writing its attributes back
    writes a zarr.json without the copy.
    """
    if is_consolidated(store.zarr_store):
        store.root.attrs.put(dict(store.root.attrs))


def is_consolidated(zarr_store) -> bool:
    """True when the root zarr.json holds consolidated metadata."""
    try:
        return open_consolidated(zarr_store).metadata.consolidated_metadata is not None
    except Exception:  # no root, or unreadable: then there is nothing consolidated either
        return False


def open_consolidated(zarr_store) -> zarr.Group:
    """The root group read from its consolidated metadata when there is one (else as stored)."""
    return zarr.open_group(zarr_store, mode="r", zarr_format=3, use_consolidated=None)
