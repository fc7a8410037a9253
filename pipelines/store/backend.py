"""Where a store's bytes live: a local folder or any fsspec URL, opened as a Zarr v3 group.

The other packages (the usage store, spectra) open, size and swap their groups through these
helpers, so that only the store package imports zarr.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from typing import Any

import zarr
from zarr import Array, Group

from pipelines.store._zarrio import fs_call
from pipelines.store.errors import StoreError

__all__ = ["Array", "Group", "du", "is_group", "is_local", "open_group", "open_zarr_store",
           "swap_group"]


def open_zarr_store(url: str, read_only: bool, what: str = "store", hint: str = "") -> Any:
    """The zarr store for `url` (a folder path, `file://...` or an fsspec URL such as s3://).

    Parameters
    ----------
    url : str
        Where the store is.
    read_only : bool
        Open without write access; a local folder must then exist.
    what, hint : str
        How the error for a missing folder names the store, and what it suggests.

    Returns
    -------
    zarr.storage.LocalStore or zarr.storage.FsspecStore
    """
    if "://" in url and not url.startswith("file://"):
        return zarr.storage.FsspecStore.from_url(url, read_only=read_only)
    path = url.removeprefix("file://")
    if read_only and not os.path.isdir(path):
        raise StoreError(f"no {what} at {path}: the folder does not exist{hint}")
    return zarr.storage.LocalStore(path, read_only=read_only)


def open_group(zstore: Any, read_only: bool) -> Group:
    """The root Zarr v3 group of a zarr store (created when missing unless `read_only`).

    Never from consolidated metadata: that copy is for xarray (`consolidated.py`) and lags
    behind every commit made since it was written."""
    return zarr.open_group(zstore, mode="r" if read_only else "a", zarr_format=3,
                           use_consolidated=False)


def is_local(zstore: Any) -> bool:
    """True when the zarr store is a folder on a local filesystem."""
    return isinstance(zstore, zarr.storage.LocalStore)


def is_group(node: Any) -> bool:
    """True when a node of a group is itself a group (not an array)."""
    return isinstance(node, Group)


def du(zstore: Any, prefix: str = "") -> int:
    """Bytes stored under `prefix` ("" for the whole store)."""
    if is_local(zstore):
        top = os.path.join(str(zstore.root), prefix)
        return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(top)
                   for f in fs)
    return int(fs_call(zstore, "du", posixpath.join(zstore.path, prefix)))


def swap_group(zstore: Any, tmp_name: str, name: str, old_suffix: str = ".old") -> None:
    """Replace group `name` by the completed group `tmp_name` (two renames on a local store)."""
    if is_local(zstore):
        root = str(zstore.root)
        old = os.path.join(root, name + old_suffix)
        os.rename(os.path.join(root, name), old)
        os.rename(os.path.join(root, tmp_name), os.path.join(root, name))
        shutil.rmtree(old)
    else:
        base = zstore.path
        fs_call(zstore, "rm", posixpath.join(base, name), recursive=True)
        fs_call(zstore, "copy", posixpath.join(base, tmp_name), posixpath.join(base, name),
                recursive=True)
        fs_call(zstore, "rm", posixpath.join(base, tmp_name), recursive=True)
