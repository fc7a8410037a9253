"""Consolidated metadata: every node's zarr.json copied into the root's, for fast opening.

xarray (and zarr) read a store's whole hierarchy from that one document instead of one request
per node. The copy is only ever fresh: opening a store for writing drops it (`drop`), and the
end of an ingest or analysis run writes it again (`consolidate`): a run interrupted in
between leaves no copy (readers then open node by node), never a stale one. Belvedere's own
readers never use it (`backend.open_group`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import zarr

if TYPE_CHECKING:
    from pipelines.store.store import Store

__all__ = ["consolidate", "drop", "is_consolidated", "open_consolidated"]


def consolidate(store: Store) -> None:
    """Write the store's consolidated metadata (call when a run has committed everything).

    Parameters
    ----------
    store : Store
        Opened for writing.
    """
    store.writable()
    with warnings.catch_warnings():
        # zarr says consolidated metadata is not in the v3 spec yet; xarray and zarr-python
        # both read it, which is what it is for here.
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not")
        zarr.consolidate_metadata(store.zarr_store)


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
