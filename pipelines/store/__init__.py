"""The store: the one place that knows how streams sit in Zarr (DESIGN.md, "Store layout").

Pipelines write through `Store`/`StreamWriter` (regular streams) and `create_irregular`/
`open_writer` (explicit timestamps); the dashboard reads through `Store`, `Stream` and
`IrregularStream`. Rooms: `layout` (versions, chunking, codecs, array templates), `regular`
and `irregular` (the two kinds of stream), `pyramid` (the min/max kernels), `segments`,
`backend` (local folder or fsspec URL), `_zarrio` (the fast writer; zarr's internals).

>>> from pipelines.store import open_store
>>> store = open_store("demo.zarr")                       # doctest: +SKIP
>>> window = store["BV.ALPS.00.HHZ"].read_window(t0, t1)  # doctest: +SKIP
"""

from pipelines.store._zarrio import (
    chunk_reader,
    fs_call,
    read_region,
    write_region,
    write_regions,
)
from pipelines.store.backend import swap_group
from pipelines.store.base import StreamBase
from pipelines.store.consolidated import consolidate, is_consolidated
from pipelines.store.datatree import open_datatree
from pipelines.store.errors import StoreError, StoreVersionError, UnknownStreamError
from pipelines.store.irregular import (
    IrregularOutcome,
    IrregularStream,
    IrregularWindow,
    IrregularWriter,
    create_irregular,
    is_irregular,
    open_stream,
    open_writer,
)
from pipelines.store.layout import (
    CATALOG_GROUP,
    DEFAULT_SNAP_TOLERANCE,
    GAP_CLUSTER,
    LAYOUT_VERSION,
    PYRAMID_FACTOR,
    TOP_LEVEL_MAX,
    aligned_origin,
    check_layout_version,
    fill_value_for,
)
from pipelines.store.regular import Stream, StreamWriter, Window
from pipelines.store.segments import merge_segments, runs_of
from pipelines.store.store import Store, describe, dumps, open_store

__all__ = [
    "CATALOG_GROUP",
    "DEFAULT_SNAP_TOLERANCE",
    "GAP_CLUSTER",
    "LAYOUT_VERSION",
    "PYRAMID_FACTOR",
    "TOP_LEVEL_MAX",
    "IrregularOutcome",
    "IrregularStream",
    "IrregularWindow",
    "IrregularWriter",
    "Store",
    "StoreError",
    "StoreVersionError",
    "Stream",
    "StreamBase",
    "StreamWriter",
    "UnknownStreamError",
    "Window",
    "aligned_origin",
    "check_layout_version",
    "chunk_reader",
    "consolidate",
    "create_irregular",
    "describe",
    "dumps",
    "fill_value_for",
    "fs_call",
    "is_consolidated",
    "is_irregular",
    "merge_segments",
    "open_datatree",
    "open_store",
    "open_stream",
    "open_writer",
    "read_region",
    "runs_of",
    "swap_group",
    "write_region",
    "write_regions",
]

# Derived arrays of the analysis engine and the kept StationXML documents (products.py).
from pipelines.store.products import (  # noqa: E402
    PSD_ROWS_PER_DAY,
    PSD_STEP_NS,
    PsdProduct,
    TableProduct,
    detection_counts,
    detections,
    open_product,
    open_psd,
    open_series,
    open_table,
    put_station_xml,
    require_psd,
    require_table,
    series_writer,
    station_xml,
    station_xml_documents,
)

__all__ += [
    "PSD_ROWS_PER_DAY",
    "PSD_STEP_NS",
    "PsdProduct",
    "TableProduct",
    "detection_counts",
    "detections",
    "open_product",
    "open_psd",
    "open_series",
    "open_table",
    "put_station_xml",
    "require_psd",
    "require_table",
    "series_writer",
    "station_xml",
    "station_xml_documents",
]

# Filtered pyramids (filtered.py): a stream's min/max pyramid in standard filter bands.
from pipelines.store.filtered import (  # noqa: E402
    FilteredPyramid,
    filtered_bands,
    open_filtered,
    require_filtered,
)

__all__ += ["FilteredPyramid", "filtered_bands", "open_filtered", "require_filtered"]
