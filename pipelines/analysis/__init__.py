"""The analysis engine and its analyses: hourly PSDs, RSAM and STA/LTA detections.

`engine.analyse` splits the work into (stream, UTC day) tasks, each reading its day plus the
padding its analysis needs, runs them where ingest runs its tasks (`pipelines.ingest.runner`:
serial, local threads, or a Dask scheduler: Slurm, Kubernetes) and writes the results beside
the stream through `pipelines.store` (products layout: `pipelines/store/products.py`). Each
analysis is one module (`psd`, `rsam`, `detect`) with the same small interface (`Analysis`
in `base`).
"""
