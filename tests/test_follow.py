"""`belvedere ingest seismic --follow`: a background writer appends real (ObsPy-written)
Steim2 records to an SDS day file, some in two writes with a pause between, then starts the
next day's file, while the follower runs as a real subprocess and a served waveform page with
`refresh=2s` follows the data in Chromium. The follower is killed (SIGKILL) and restarted
(polling) half way, stopped with SIGINT, and run again over the complete archive.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from browser import JS_MODEL, REPO, SHOTS, browser_marks, frame_pixels, open_page, wait_until
from browser import served_dashboard as serve
from conftest import sds_path
from obspy import Stream as ObsStream
from obspy import Trace as ObsTrace
from obspy import UTCDateTime

from pipelines.store import open_store

pytestmark = browser_marks()

NAME = "XW.FOL.00.HHZ"
RATE = 20.0
START = UTCDateTime(2024, 5, 1, 23, 50)  # ten minutes before midnight: two day files
N1, N2 = int(600 * RATE), int(300 * RATE)
RECLEN = 512


def _records(data: np.ndarray, start: UTCDateTime) -> tuple[list[bytes], list[int]]:
    """Steim2 records of `data` (ObsPy) and the samples each holds."""
    net, sta, loc, cha = NAME.split(".")
    buf = io.BytesIO()
    ObsStream([ObsTrace(data, header={"network": net, "station": sta, "location": loc,
                                      "channel": cha, "sampling_rate": RATE,
                                      "starttime": start})]).write(
        buf, format="MSEED", encoding="STEIM2", reclen=RECLEN)
    raw = buf.getvalue()
    recs = [raw[i:i + RECLEN] for i in range(0, len(raw), RECLEN)]
    from obspy import read

    counts = [read(io.BytesIO(r))[0].stats.npts for r in recs]
    return recs, counts


class Follower:
    """`belvedere ingest seismic --follow ROOT --store STORE` in a subprocess."""

    def __init__(self, root: Path, store: str, log: Path, *extra: str):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "belvedere", "ingest", "seismic", "--follow", str(root),
             "--store", store, *extra], cwd=REPO, stdout=open(log, "w"),
            stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def output(self) -> str:
        return self.log.read_text()


def _samples(store: str) -> np.ndarray | None:
    """The stream's samples as the store holds them now (NaN where absent), or None."""
    try:
        st = open_store(store)
        if NAME not in st:
            return None
        s = st[NAME]
        span = s.span_ns
        if span is None:
            return None
        return s.read_window(span[0], span[1], level=0).lo
    except Exception:  # a store being created: not yet
        return None


def watching(pid: int) -> bool:
    """True once the process runs watchfiles' watcher (its Rust polling thread)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    names = []
    for t in tasks:
        try:
            names.append(Path(f"/proc/{pid}/task/{t}/comm").read_text())
        except OSError:
            continue
    return any(n.startswith("notify-rs") for n in names)


def test_follow_appends_whole_records_while_the_page_follows(tmp_path, browser):
    rng = np.random.default_rng(5)
    truth = np.cumsum(rng.integers(-60, 61, N1 + N2)).astype(np.int32)
    recs1, counts1 = _records(truth[:N1], START)
    recs2, counts2 = _records(truth[N1:], START + N1 / RATE)
    root = tmp_path / "sds"
    f1 = sds_path(root, *NAME.split("."), START)
    f2 = sds_path(root, *NAME.split("."), START + 86400)
    f1.parent.mkdir(parents=True)
    f1.write_bytes(b"".join(recs1[:8]))
    store = str(tmp_path / "live.zarr")
    boundaries = set(np.cumsum([0, *counts1, *counts2]).tolist())

    # The store exists (empty) for the server to start on while the follower starts.
    open_store(store, "a")
    follower = Follower(root, store, tmp_path / "follow1.log")

    seen: list[int] = []  # sample counts observed while the writer writes
    partial_seen = threading.Event()

    def write() -> None:
        with open(f1, "ab") as fh:
            for i, rec in enumerate(recs1[8:]):
                if i % 4 == 1:  # a record in two writes: the follower sees half of it
                    fh.write(rec[:200])
                    fh.flush()
                    partial_seen.set()
                    time.sleep(0.8)
                fh.write(rec if i % 4 != 1 else rec[200:])
                fh.flush()
                time.sleep(0.05)
        f2.parent.mkdir(parents=True, exist_ok=True)
        with open(f2, "ab") as fh:
            for rec in recs2:
                fh.write(rec)
                fh.flush()
                time.sleep(0.1)

    with serve([store]) as base:
        wait_until(lambda: (x := _samples(store)) is not None and len(x) == sum(counts1[:8]),
                   60, "the follower did not ingest the first records")
        page_ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        page = page_ctx.new_page()
        open_page(page, f"{base}/waveforms?streams={NAME}&refresh=2s", model="waveforms")
        x0, x1 = page.evaluate(f"() => {{ const m = ({JS_MODEL})('waveforms');"
                               " return [m.x_range.start, m.x_range.end]; }")
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        # Half way through the first file the follower is killed outright, then restarted
        # polling: the commits it made hold, and what it redoes changes nothing.
        wait_until(lambda: (x := _samples(store)) is not None and len(x) > N1 // 2, 60,
                   "the follower fell behind the writer")
        follower.stop(signal.SIGKILL)
        follower = Follower(root, store, tmp_path / "follow2.log", "--poll", "0.5")
        t_write_end = None
        while writer.is_alive() or t_write_end is None or time.monotonic() - t_write_end < 30:
            if not writer.is_alive() and t_write_end is None:
                t_write_end = time.monotonic()
            x = _samples(store)
            if x is not None:
                seen.append(len(x))
                if len(x) == N1 + N2:
                    break
            time.sleep(0.2)
        assert not writer.is_alive()
        lag = time.monotonic() - t_write_end
        x = _samples(store)
        assert x is not None and len(x) == N1 + N2, f"store holds {len(x)} samples"
        assert lag < 15, f"the last records took {lag:.1f} s to arrive"
        np.testing.assert_array_equal(x, truth.astype(np.float64))
        assert partial_seen.is_set() and set(seen) <= boundaries, "only whole records"
        # The page moved on with the data, keeping its length.
        end_ms = (START + (N1 + N2) / RATE).ns / 1e6
        page.wait_for_function(f"() => {{ const m = ({JS_MODEL})('waveforms');"
                               f" return m.x_range.end >= {end_ms} - 1000; }}", timeout=30000)
        y0, y1 = page.evaluate(f"() => {{ const m = ({JS_MODEL})('waveforms');"
                               " return [m.x_range.start, m.x_range.end]; }")
        assert y1 - y0 == pytest.approx(x1 - x0, abs=1.0)
        for _ in range(100):  # the frame of the moved range is painted after the range moved
            img = frame_pixels(page, path=f"{SHOTS}/bv_follow.png")
            ink = (255 - img.astype(np.int16)).max(axis=-1) > 60
            w = img.shape[1]
            if ink[:, int(0.9 * w):int(0.97 * w)].any(axis=0).mean() > 0.9:
                break
            page.wait_for_timeout(100)
        assert ink[:, int(0.9 * w):int(0.97 * w)].any(axis=0).mean() > 0.9, "new data drawn"
        page_ctx.close()
    assert follower.stop() == 0 and "stopped" in follower.output()
    st = open_store(store)
    s = st[NAME]
    assert [list(map(int, g)) for g in s.gaps()] == [] and not s.attrs.get("conflicts")
    provenance = s.attrs["provenance"]
    assert sorted(p["file"] for p in provenance) == sorted([str(f1), str(f2)])
    assert s.attrs["follow"] == {str(f1): f1.stat().st_size, str(f2): f2.stat().st_size}
    # Run again over the complete archive: nothing to do, nothing changes.
    before = (tmp_path / "live.zarr" / NAME / "zarr.json").read_bytes()
    again = Follower(root, store, tmp_path / "follow3.log", "--poll", "0.5")
    # The catch-up pass over both files comes before the watch, whose polling thread the
    # follower then starts: once it runs, the pass is done.
    wait_until(lambda: "following" in again.output() and watching(again.proc.pid), 60,
               "the follower did not start watching")
    assert again.stop() == 0
    assert "stopped: 0 samples" in again.output(), again.output()
    assert (tmp_path / "live.zarr" / NAME / "zarr.json").read_bytes() == before
    assert os.path.exists(tmp_path / "live.zarr" / "zarr.json")


def test_follow_refuses_what_it_cannot_watch_with_a_clear_message(tmp_path):
    from conftest import run_cli

    not_dir = tmp_path / "file.mseed"
    not_dir.write_bytes(b"x")
    res = run_cli("ingest", "seismic", "--follow", str(not_dir), "--store",
                  str(tmp_path / "s.zarr"))
    assert res.returncode == 2 and "not a folder" in res.stdout + res.stderr
    res = run_cli("ingest", "seismic", str(tmp_path), "--poll", "2", "--store",
                  str(tmp_path / "s.zarr"))
    assert res.returncode == 2 and "--poll applies to --follow only" in res.stdout + res.stderr


def test_follow_polls_when_file_events_are_not_available(tmp_path, monkeypatch):
    """Without inotify (its per-user instance or watch limit reached, or a file system that
    has none) watchfiles' Rust watcher raises OSError when it starts; the follower says so and
    polls. Those limits are per user for the whole machine and /proc/sys is read-only here, so
    reaching them for real would break every other process of the user: the Rust watcher is
    made to raise what it raises then, at that one boundary (`watchfiles.main.RustNotify`);
    watchfiles' own code, the follower and the store are the real ones."""
    import watchfiles.main

    from pipelines.ingest.follow import Follower as InProcess

    real = watchfiles.main.RustNotify
    asked: list[bool] = []

    def rust_notify(paths, debug, force_polling, *args, **kw):
        asked.append(force_polling)
        if not force_polling:
            raise OSError("OS file watch limit reached. about [...]")
        return real(paths, debug, force_polling, *args, **kw)

    monkeypatch.setattr(watchfiles.main, "RustNotify", rust_notify)
    truth = np.cumsum(np.random.default_rng(9).integers(-60, 61, 3000)).astype(np.int32)
    recs, counts = _records(truth, START)
    root = tmp_path / "sds"
    f1 = sds_path(root, *NAME.split("."), START)
    f1.parent.mkdir(parents=True)
    f1.write_bytes(b"".join(recs[:3]))
    store = str(tmp_path / "poll.zarr")
    follower = InProcess(store, [str(root)])
    stop, reports = threading.Event(), []
    thread = threading.Thread(target=follower.run, args=(stop, None, reports.append),
                              daemon=True)
    thread.start()
    try:
        wait_until(lambda: any(r.issues for r in reports), 30, "no word of the fallback")
        issue = next(i for r in reports for i in r.issues)
        assert "file events are not available" in issue and "polling" in issue
        assert "watch limit" in issue
        with open(f1, "ab") as fh:
            fh.write(b"".join(recs[3:]))
        wait_until(lambda: (x := _samples(store)) is not None and len(x) == len(truth), 30,
                   "polling did not pick up the new records")
        np.testing.assert_array_equal(_samples(store), truth.astype(np.float64))
        assert asked[:2] == [False, True], "file events first, then polling"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    follower.close()
