"""Seismic sources into the stores: miniSEED files, folders, globs and SDS archives, StationXML
and QuakeML.

One module per format (`mseed`, `stationxml`, `quakeml`), each with `can_open` and `read`,
listed in `readers.READERS`; `scan` (which channels each input holds), `channels` (one
channel's files onto its streams), `ingest` (the run: `ingest.ingest_seismic`), `export`.
"""
