"""What every source's ingest shares: inputs, file digests, the append onto a grid, the report,
the task runner, Dask clusters and the allocator settings of an ingest process."""
