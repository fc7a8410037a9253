"""Inputs an ingest cannot use: each is refused with one line that says why, nothing hangs,
nothing overflows, and what is read from files reaches the terminal escaped."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from obspy import Stream, Trace, UTCDateTime

from pipelines.ingest.report import FileIssue, IngestReport
from pipelines.ingest.timing import timing_problem
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import open_store
from tests.conftest import run_cli

QUAKEML_NO_ORIGIN = """<?xml version="1.0" encoding="UTF-8"?>
<q:quakeml xmlns="http://quakeml.org/xmlns/bed/1.2" xmlns:q="http://quakeml.org/xmlns/quakeml/1.2">
  <eventParameters publicID="smi:local/catalogue">
    <event publicID="smi:local/event/no-origin"><type>earthquake</type></event>
  </eventParameters>
</q:quakeml>
"""


START = UTCDateTime(2024, 3, 4)


def write_mseed(path, rate=20.0, start=START, n=2000, station="GOOD", seed=0) -> np.ndarray:
    """A real Steim2 miniSEED file written by ObsPy; its samples."""
    data = np.cumsum(np.random.default_rng(seed).integers(-50, 51, n)).astype(np.int32)
    Stream([Trace(data, header={"network": "XX", "station": station, "location": "00",
                                "channel": "HHZ", "sampling_rate": rate,
                                "starttime": start})]).write(str(path), format="MSEED",
                                                             encoding="STEIM2")
    return data


def problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("problem:")]


def test_a_fifo_named_mseed_is_refused_with_one_line_and_never_opened(tmp_path):
    fifo = tmp_path / "live.mseed"
    os.mkfifo(fifo)
    good = tmp_path / "good.mseed"
    data = write_mseed(good)
    store = str(tmp_path / "s.zarr")
    # A reader that opened the FIFO would block forever: the timeout turns that into a failure.
    r = run_cli("ingest", "seismic", "--store", store, str(fifo), str(good), timeout=120)
    assert r.returncode == 1, r.stderr
    lines = problem_lines(r.stderr)
    assert len(lines) == 1 and str(fifo) in lines[0] and "named pipe" in lines[0], r.stderr
    assert "1 ingested" in r.stdout and "1 with problems" in r.stdout
    (seg,) = open_store(store)["XX.GOOD.00.HHZ"].read_segments()
    np.testing.assert_array_equal(seg[1], data)


def test_a_fifo_inside_a_folder_and_one_given_to_mission_ingest_are_skipped(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    os.mkfifo(folder / "pipe.mseed")
    write_mseed(folder / "day.mseed")
    r = run_cli("ingest", "seismic", "--store", str(tmp_path / "s.zarr"), str(folder),
                timeout=120)
    assert r.returncode == 1
    (line,) = problem_lines(r.stderr)
    assert "pipe.mseed" in line and "named pipe" in line
    assert "1 ingested" in r.stdout

    os.mkfifo(tmp_path / "lisa.h5")
    r = run_cli("ingest", "mission", "--store", str(tmp_path / "m.zarr"),
                str(tmp_path / "lisa.h5"), timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    (line,) = problem_lines(r.stderr)
    assert "lisa.h5" in line and "named pipe" in line


def test_a_trace_at_1e_7_hz_is_refused_naming_the_file_the_rate_and_the_limit(tmp_path):
    slow = tmp_path / "slow.mseed"
    write_mseed(slow, rate=1e-7, start=UTCDateTime(2020, 1, 1), n=1000)
    store = str(tmp_path / "s.zarr")
    r = run_cli("ingest", "seismic", "--store", store, str(slow), timeout=120)
    assert r.returncode == 1
    (line,) = problem_lines(r.stderr)
    assert str(slow) in line and "1e-07 Hz" in line and "1800-01-01 to 2200-01-01" in line
    assert "XX.GOOD.00.HHZ" in line and "its samples were not ingested" in line
    assert open_store(store).streams() == []


def test_rates_and_spans_beyond_int64_nanoseconds_are_named_with_their_limit():
    t = UTCDateTime(2024, 1, 1).ns
    assert timing_problem("XX.A..HHZ", t, 100.0, 8_640_000) is None
    assert timing_problem("XX.A..LHZ", t, 1e-5, 1000) is None  # a sample every ~28 h
    assert "above 1e+09 Hz" in timing_problem("XX.A..HHZ", t, 2e9, 10)
    assert "not a positive" in timing_problem("XX.A..HHZ", t, 0.0, 10)
    assert "not a positive" in timing_problem("XX.A..HHZ", t, float("nan"), 10)
    late = timing_problem("XX.A..HHZ", t, 1e-7, 1000)
    assert "1e-07 Hz" in late and "year 2341" in late
    early = timing_problem("XX.A..HHZ", UTCDateTime(1700, 1, 1).ns, 1.0, 10)
    assert "outside the supported times" in early


def test_an_empty_folder_and_an_event_without_origin_each_say_why(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / ".partial").write_bytes(b"x")
    events = tmp_path / "events.xml"
    events.write_text(QUAKEML_NO_ORIGIN)
    good = tmp_path / "good.mseed"
    write_mseed(good)
    r = run_cli("ingest", "seismic", "--store", str(tmp_path / "s.zarr"), str(empty),
                str(hidden), str(good), "--events", str(events), timeout=120)
    assert r.returncode == 1, r.stderr
    lines = problem_lines(r.stderr)
    assert any(str(empty) in x and "holds no files" in x for x in lines), r.stderr
    assert any(str(hidden) in x and "only hidden files" in x for x in lines), r.stderr
    notes = [x for x in r.stderr.splitlines() if x.startswith("note:")]
    assert any(str(events) in x and "without an origin" in x
               and "smi:local/event/no-origin" in x for x in notes), r.stderr


def test_the_report_counts_files_not_problem_lines(tmp_path):
    report = IngestReport(files_total=3, issues=[FileIssue("a.mseed", "first"),
                                                  FileIssue("a.mseed", "second"),
                                                  FileIssue("a.mseed", "third"),
                                                  FileIssue("b.mseed", "only")])
    assert report.files_with_problems == 2
    assert "2 with problems" in report.summary_lines()[0]
    assert report.as_dict()["files_with_problems"] == 2
    # A real run: a pipe, an empty folder and a trace too slow for the time base.
    os.mkfifo(tmp_path / "p.mseed")
    (tmp_path / "empty").mkdir()
    write_mseed(tmp_path / "slow.mseed", rate=1e-7, n=1000)
    write_mseed(tmp_path / "good.mseed")
    r = run_cli("ingest", "seismic", "--store", str(tmp_path / "s.zarr"),
                str(tmp_path / "p.mseed"), str(tmp_path / "empty"), str(tmp_path / "slow.mseed"),
                str(tmp_path / "good.mseed"), timeout=120)
    assert "files: 4 (1 ingested, 0 already in the store, 3 with problems)" in r.stdout


def test_control_characters_from_file_names_and_codes_are_printed_escaped(tmp_path):
    name = tmp_path / "evil\x1b[2J\x1b]0;title\x07.mseed"
    write_mseed(name, station="E\x1b[31")
    store = str(tmp_path / "s.zarr")
    bad = tmp_path / "bad\x1b[31m.mseed"
    bad.write_bytes(b"\x1b[2Jnot miniSEED at all" * 40)
    r = subprocess.run([sys.executable, "-m", "belvedere", "ingest", "seismic", "--store", store,
                        str(name), str(bad)], capture_output=True, timeout=120)
    out = r.stdout + r.stderr
    assert b"\x1b" not in out and b"\x07" not in out, out
    assert b"bad\\x1b[31m.mseed" in r.stderr  # the file is named, its escape shown as text
    assert "XX.E\x1b[31.00.HHZ" in open_store(store).streams()  # stored as it was read
    info = subprocess.run([sys.executable, "-m", "belvedere", "info", store], capture_output=True,
                          timeout=120)
    assert info.returncode == 0 and b"\x1b" not in info.stdout
    assert b"XX.E\\x1b[31.00.HHZ" in info.stdout
    js = subprocess.run([sys.executable, "-m", "belvedere", "info", store, "XX.*", "--json"],
                        capture_output=True, timeout=120)
    assert b"\x1b" not in js.stdout and b"\\u001b" in js.stdout


def test_a_station_code_with_glob_characters_is_ingested_not_dropped(tmp_path):
    data = write_mseed(tmp_path / "x.mseed", station="A[1]")
    store = str(tmp_path / "s.zarr")
    report = ingest_seismic(store, [str(tmp_path / "x.mseed")])
    assert not report.issues and report.samples_written == len(data)
    (seg,) = open_store(store)["XX.A[1].00.HHZ"].read_segments()
    np.testing.assert_array_equal(seg[1], data)
