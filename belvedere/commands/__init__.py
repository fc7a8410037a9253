"""The `belvedere` commands, one module per command (`ingest/` one per source kind);
`belvedere.cli` assembles them."""
