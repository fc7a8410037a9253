"""Space-mission data into the stores: LISA/LDC HDF5, OGIP FITS light curves, telemetry tables.

One module per format (`hdf5`, `ogip`, `table`), each with `can_open` and `read`, listed in
`readers.READERS`; `series` (what every reader gives), `options`, `spectra` (Welch ASD per
block at ingest), `ingest` (the run). Regular series go through `pipelines.ingest.append`,
irregular ones through `pipelines.store.irregular`.
"""
