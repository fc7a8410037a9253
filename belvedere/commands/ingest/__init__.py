"""`belvedere ingest seismic | mission | usage | dataset`, and the report they print."""
