"""Compute-resource usage into its stores: Slurm accounting (`sacct`, the one file reader in
`readers.READERS`), Prometheus range queries, the run's own cost; `aggregate` for views."""
