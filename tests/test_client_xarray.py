"""A store from xarray: one DataTree node per stream, consolidated metadata written by each
ingest (so xarray opens the store in one read and without warnings) and never stale."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import T0, make_sds

from belvedere import Client, open_store
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import Store, is_consolidated, open_datatree

CHANNELS = ("XX.TST.00.HHZ", "XX.TST.00.HHN", "XX.TWO.00.BHZ")


class no_warnings(warnings.catch_warnings):
    """Every warning is an error, but for zarr's note on the numcodecs filters of the layout,
    which `pipelines.store.layout` silences for every user of the store as well."""

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr")
        return out


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    base = tmp_path_factory.mktemp("xr")
    root = base / "sds"
    truth = make_sds(root, channels=CHANNELS, rate=20.0, hours=3.0,
                     gaps=[("XX.TST.00.HHZ", 600, 300.0)])
    path = str(base / "store.zarr")
    ingest_seismic(path, [str(root)])
    return path, truth


def test_an_ingest_leaves_consolidated_metadata_that_the_store_itself_never_reads(store_path):
    path, _ = store_path
    st = Store(path)
    assert is_consolidated(st.zarr_store)
    assert st.root.metadata.consolidated_metadata is None  # the store reads what is there


def test_the_datatree_has_one_node_per_stream_and_opens_without_warnings(store_path):
    path, truth = store_path
    with no_warnings():
        tree = open_store(path).to_datatree()
        da = tree["XX.TST.00.HHZ"]["data"]
    assert sorted(tree.children) == sorted(CHANNELS)
    assert tree["XX.TST.00.HHZ"].attrs["sampling_rate"] == 20.0
    s = open_store(path)["XX.TST.00.HHZ"]
    i0 = int(round(s.index_of(int(T0.ns))))
    got = da.isel(time=slice(i0, i0 + 12000)).values
    np.testing.assert_array_equal(got[:12000], truth["XX.TST.00.HHZ"][:12000])
    t = da["time"].isel(time=slice(i0, i0 + 3)).values.astype("datetime64[ns]").astype(np.int64)
    assert list(t) == [int(T0.ns) + k * 50_000_000 for k in range(3)]
    np.testing.assert_array_equal(da.isel(time=slice(i0, i0 + 100)).values,
                                  s.to_xarray().isel(time=slice(i0, i0 + 100)).values)
    picked = open_datatree(Store(path), "XX.TST.*")
    assert sorted(picked.children) == ["XX.TST.00.HHN", "XX.TST.00.HHZ"]


def test_xarray_open_zarr_no_longer_warns_about_consolidated_metadata(store_path):
    path, truth = store_path
    with no_warnings():
        ds = xr.open_zarr(path, group="XX.TWO.00.BHZ", create_default_indexes=False)
    assert ds["data"].shape[0] >= len(truth["XX.TWO.00.BHZ"])


def test_a_store_without_consolidated_metadata_opens_as_a_datatree_without_warnings(
        store_path, tmp_path):
    import shutil

    path, _ = store_path
    copy = str(tmp_path / "old.zarr")
    shutil.copytree(path, copy)
    # A write drops the copy (stores from before had none).
    Store(copy, mode="a").writer("XX.TST.00.HHZ").update_attrs({"note": "old"})
    assert not is_consolidated(Store(copy).zarr_store)
    with no_warnings():
        tree = open_datatree(Store(copy))
    assert sorted(tree.children) == sorted(CHANNELS)


def test_the_copy_is_dropped_by_a_writer_and_rewritten_fresh_by_the_next_ingest(tmp_path):
    root = tmp_path / "sds"
    truth = make_sds(root, channels=("XX.TST.00.HHZ",), rate=20.0, hours=12.0)
    files = sorted(str(p) for p in root.rglob("XX.TST.00.HHZ.D.*"))
    assert len(files) == 2
    path = str(tmp_path / "s.zarr")
    ingest_seismic(path, files[:1])
    first = open_datatree(Store(path))["XX.TST.00.HHZ"]["data"].shape[0]
    again = Store(path, mode="a")
    again.writer("XX.TST.00.HHZ")  # opening a writer writes nothing: the copy stays
    assert is_consolidated(again.zarr_store)
    again.set_events([])  # the first write drops it: nothing stale while a run writes
    assert not is_consolidated(Store(path).zarr_store)
    ingest_seismic(path, files[1:])
    assert is_consolidated(Store(path).zarr_store)
    tree = open_datatree(Store(path))
    assert tree["XX.TST.00.HHZ"]["data"].shape[0] > first
    # Readers see the second file's samples: the store never trusts the consolidated copy.
    st = Client(path).get_waveforms("XX", "TST", "00", "HHZ", T0, T0 + 12 * 3600)
    assert len(st) == 1
    np.testing.assert_array_equal(st[0].data, truth["XX.TST.00.HHZ"])
