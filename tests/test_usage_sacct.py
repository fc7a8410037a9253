"""Parsing of `sacct --parsable2` output, on handwritten outputs covering every case."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest

from pipelines.usage.sacct import (
    SACCT_FIELDS,
    SacctError,
    expand_array_indexes,
    gpus_from_tres,
    parse_duration,
    parse_sacct,
    parse_size,
)

HEADER = ("JobID|JobIDRaw|Cluster|Partition|QOS|Account|User|Submit|Start|End|Elapsed|State|"
          "ExitCode|NNodes|NCPUS|AllocTRES|MaxRSS|TotalCPU|NodeList|JobName")


def ns(text: str) -> int:
    """UTC nanoseconds of an ISO time written in UTC."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


CANCELLED, NONE = "CANCELLED by 1234", "None assigned"  # (fields with spaces)
OUTPUT = f"""{HEADER}
100|100|hpc|cpu|normal|geo|alice|2024-03-05T10:00:00|2024-03-05T10:00:05|2024-03-05T11:00:05|01:00:00|COMPLETED|0:0|1|4|billing=4,cpu=4,mem=8G,node=1||00:10:00|n01|prep
100.batch|100.batch|hpc||||||2024-03-05T10:00:05|2024-03-05T11:00:05|01:00:00|COMPLETED|0:0|1|4|cpu=4,mem=8G,node=1|512000K|00:02:00|n01|batch
100.extern|100.extern|hpc||||||2024-03-05T10:00:05|2024-03-05T11:00:05|01:00:00|COMPLETED|0:0|1|4|cpu=4,mem=8G,node=1|1.5M|00:00:00|n01|extern
100.0|100.0|hpc||||||2024-03-05T10:00:06|2024-03-05T11:00:00|00:59:54|COMPLETED|0:0|1|4|cpu=4,mem=8G,node=1|1.25G|00:08:00|n01|python
101|101|hpc|gpu|normal|astro|bob|2024-03-05T09:00:00|2024-03-05T09:30:00|2024-03-06T11:33:04|1-02:03:04|{CANCELLED}|0:15|2|16|billing=16,cpu=16,gres/gpu=4,gres/gpu:a100=4,node=2||||g[01-02]|train
101.batch|101.batch|hpc||||||2024-03-05T09:30:00|2024-03-06T11:33:04|1-02:03:04|CANCELLED|0:15|1|8|cpu=8,gres/gpu:a100=2,node=1|2G|01:30.500|g01|batch
101.0|101.0|hpc||||||2024-03-05T09:30:01|2024-03-06T11:33:04|1-02:03:03|CANCELLED|0:15|2|16|cpu=16,gres/gpu:a100=4,node=2|3G|10:00:00|g[01-02]|train
200_[1-3%2]|200|hpc|cpu|low|geo|carol|2024-03-05T12:00:00|Unknown|Unknown|00:00:00|PENDING|0:0|1|1|||||{NONE}|sweep
200_4|204|hpc|cpu|low|geo|carol|2024-03-05T12:00:00|2024-03-05T12:01:00|2024-03-05T12:02:00|00:01:00|COMPLETED|0:0|1|1|billing=1,cpu=1,gres/gpu:v100=1,gres/gpu:t4=2,node=1||00:30.250|n02|sweep
200_4.batch|204.batch|hpc||||||2024-03-05T12:01:00|2024-03-05T12:02:00|00:01:00|COMPLETED|0:0|1|1|cpu=1,node=1|2048K|00:30.250|n02|batch
300|300|hpc|cpu|normal|geo|dave|2024-03-05T13:00:00|2024-03-05T13:00:02|Unknown|00:05:00.250000|RUNNING|0:0|1|2|billing=2,cpu=2,node=1|||n03|long|name|with|bars
"""


@pytest.fixture(scope="module")
def parsed():
    return parse_sacct(OUTPUT.splitlines(), timezone="UTC")


def by_id(result):
    return {j.job_id: j for j in result.jobs}


def test_job_lines_only_steps_folded_in(parsed):
    jobs = by_id(parsed)
    assert sorted(jobs) == ["100", "101", "200_1", "200_2", "200_3", "200_4", "300"]
    assert parsed.issues == []
    assert (parsed.lines, parsed.job_lines, parsed.step_lines) == (12, 5, 6)
    j = jobs["100"]
    # MaxRSS: the largest step's (1.25G), in bytes.
    assert j.max_rss_bytes == int(1.25 * 1024**3)
    # TotalCPU: the job line's own value when it has one.
    assert j.total_cpu_s == 600.0
    # TotalCPU missing on the job line: the steps' sum (01:30.500 + 10:00:00).
    assert jobs["101"].total_cpu_s == pytest.approx(90.5 + 36000)
    assert jobs["101"].max_rss_bytes == 3 * 1024**3
    assert jobs["200_4"].max_rss_bytes == 2048 * 1024
    assert (j.cluster, j.partition, j.qos, j.account, j.user, j.job_name, j.ncpus, j.nnodes) == \
        ("hpc", "cpu", "normal", "geo", "alice", "prep", 4, 1)


def test_array_jobs(parsed):
    jobs = by_id(parsed)
    for t in (1, 2, 3):
        j = jobs[f"200_{t}"]
        assert (j.array_job_id, j.array_task_id, j.job_id_raw, j.state) == (200, t, 200,
                                                                             "PENDING")
        assert j.start_ns is None and j.end_ns is None
    t4 = jobs["200_4"]
    assert (t4.array_job_id, t4.array_task_id, t4.job_id_raw, t4.state) == (200, 4, 204,
                                                                           "COMPLETED")
    assert jobs["100"].array_job_id == -1 and jobs["100"].array_task_id == -1


def test_times_elapsed_states_gpus(parsed):
    jobs = by_id(parsed)
    assert jobs["100"].submit_ns == ns("2024-03-05T10:00:00")
    assert jobs["100"].end_ns == ns("2024-03-05T11:00:05")
    assert jobs["100"].elapsed_s == 3600
    assert jobs["101"].elapsed_s == 86400 + 2 * 3600 + 3 * 60 + 4
    assert jobs["101"].state == "CANCELLED"
    assert jobs["101"].exit_code == "0:15"
    assert jobs["101"].ngpus == 4  # gres/gpu=4 (the typed entry is the same GPUs)
    assert jobs["200_4"].ngpus == 3  # typed only: v100=1 + t4=2
    assert jobs["100"].ngpus == 0
    running = jobs["300"]
    assert running.state == "RUNNING" and running.end_ns is None
    assert running.elapsed_s == pytest.approx(300.25)
    assert running.job_name == "long|name|with|bars"  # `|` inside the last column kept


def test_timezone_local_times_to_utc():
    text = (f"{HEADER}\n"
            "1|1|c|p|q|a|u|2024-01-15T12:00:00|2024-01-15T12:00:00|2024-01-15T13:00:00|01:00:00|"
            "COMPLETED|0:0|1|1|cpu=1|||n|j\n"
            "2|2|c|p|q|a|u|2024-07-15T12:00:00|2024-07-15T12:00:00|2024-07-15T13:00:00|01:00:00|"
            "COMPLETED|0:0|1|1|cpu=1|||n|j\n")
    jobs = by_id(parse_sacct(text.splitlines(), timezone="Europe/Paris"))
    assert jobs["1"].start_ns == ns("2024-01-15T11:00:00")  # CET = UTC+1
    assert jobs["2"].start_ns == ns("2024-07-15T10:00:00")  # CEST = UTC+2
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_sacct(text.splitlines(), timezone="Mars/Olympus")


def test_default_timezone_is_the_machines_with_its_dst(monkeypatch):
    text = (f"{HEADER}\n"
            "1|1|c|p|q|a|u|2024-01-15T12:00:00|2024-01-15T12:00:00|2024-01-15T13:00:00|01:00:00|"
            "COMPLETED|0:0|1|1|cpu=1|||n|j\n"
            "2|2|c|p|q|a|u|2024-07-15T12:00:00|2024-07-15T12:00:00|2024-07-15T13:00:00|01:00:00|"
            "COMPLETED|0:0|1|1|cpu=1|||n|j\n")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        jobs = by_id(parse_sacct(text.splitlines()))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert jobs["1"].start_ns == ns("2024-01-15T17:00:00")  # EST = UTC-5
    assert jobs["2"].start_ns == ns("2024-07-15T16:00:00")  # EDT = UTC-4


def test_every_bad_line_reported_with_its_number():
    good = ("5|5|c|p|q|a|u|2024-01-15T12:00:00|2024-01-15T12:00:00|2024-01-15T13:00:00|"
            "01:00:00|COMPLETED|0:0|1|1|cpu=1|||n|j")
    bad = [
        "6|6|c|p|q|a|u|2024-01-15T12:00:00|2024-01-15T12:00:00",  # too few fields
        good.replace("5|5|", "7|7|").replace("2024-01-15T13:00:00", "15/01/2024 13:00"),
        good.replace("5|5|", "8|8|").replace("01:00:00", "1h"),
        good.replace("5|5|", "x9|9|"),
        good.replace("5|5|", "10|10|").replace("cpu=1", "gres/gpu=two"),
        good.replace("5|5|", "11|11|").replace("COMPLETED", "done?"),
        "12_[3-1]|12|c|p|q|a|u|2024-01-15T12:00:00|Unknown|Unknown|00:00:00|PENDING|0:0|1|1"
        "||||None assigned|j",
        good.replace("5|5|", "13|13|").replace("|n|j", "|n|j").replace("cpu=1|||", "cpu=1|7Q||"),
        "99.batch|99.batch|c||||||2024-01-15T12:00:00|2024-01-15T13:00:00|01:00:00|COMPLETED|"
        "0:0|1|1|cpu=1|1K|00:01|n|batch",  # a step whose job is not in the input
    ]
    res = parse_sacct([HEADER, good, *bad], timezone="UTC")
    assert [j.job_id for j in res.jobs] == ["5"]
    lines = {i.line: i.reason for i in res.issues}
    assert sorted(lines) == list(range(3, 3 + len(bad)))
    assert "fields" in lines[3]
    assert "time" in lines[4]
    assert "duration" in lines[5]
    assert "JobID" in lines[6]
    assert "GPU" in lines[7]
    assert "state" in lines[8]
    assert "backwards" in lines[9]
    assert "size" in lines[10]
    assert "job line is not in the input" in lines[11]
    assert all(i.describe("f.txt").startswith(f"f.txt:{i.line}: ") for i in res.issues)


def test_no_header_uses_default_order_and_missing_columns_reported():
    values = {"JobID": "42", "JobIDRaw": "42", "Cluster": "c", "State": "FAILED",
              "Elapsed": "05:00", "NCPUS": "8", "End": "None", "Start": "None"}
    line = "|".join(values.get(f, "") for f in SACCT_FIELDS)
    res = parse_sacct([line], timezone="UTC")
    (job,) = res.jobs
    assert (job.job_id, job.state, job.elapsed_s, job.ncpus, job.end_ns) == ("42", "FAILED",
                                                                             300, 8, None)
    res = parse_sacct(["JobID|User", "1|x"], timezone="UTC")
    assert res.jobs == [] and res.issues[0].line == 1 and "State" in res.issues[0].reason


def test_cluster_name_from_option_when_no_column():
    res = parse_sacct(["JobID|State", "7|COMPLETED"], cluster="mycluster", timezone="UTC")
    assert res.jobs[0].key() == ("mycluster", "7")
    res = parse_sacct(["JobID|State", "7|COMPLETED"], timezone="UTC")
    assert res.jobs == [] and "cluster" in res.issues[0].reason


@pytest.mark.parametrize(("text", "seconds"), [
    ("00:00:02", 2), ("1-02:03:04", 93784), ("12:34:56.789000", 45296.789),
    ("01:02.345", 62.345), ("3-00:00:00", 259200), ("59:59", 3599),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_duration_unlimited_and_bad():
    assert math.isnan(parse_duration("UNLIMITED")) and math.isnan(parse_duration(""))
    with pytest.raises(SacctError):
        parse_duration("2 days")


@pytest.mark.parametrize(("text", "size"), [
    ("3208K", 3208 * 1024), ("1.5M", int(1.5 * 1024**2)), ("2G", 2 * 1024**3),
    ("67825664", 67825664), ("0", 0), ("", -1),
])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_array_indexes_and_gpus():
    assert expand_array_indexes("[1-3,7,10-12%2]") == [1, 2, 3, 7, 10, 11, 12]
    assert expand_array_indexes("5") == [5]
    assert expand_array_indexes("[0-8:4]") == [0, 4, 8]
    with pytest.raises(SacctError):
        expand_array_indexes("[a-b]")
    assert gpus_from_tres("cpu=2,gres/gpu=2") == 2
    assert gpus_from_tres("cpu=2,gres/gpu:a100=2") == 2
    assert gpus_from_tres("cpu=2,gres/gpu:a100=2,gres/gpu:h100=1") == 3
    assert gpus_from_tres("") == 0


def test_a_saved_output_is_read_as_its_lines_are_parsed(tmp_path):
    """The sacct reader: can_open knows a saved --parsable2 output, read gives what
    parse_sacct gives for its lines."""
    from pipelines.usage import readers, sacct

    saved = tmp_path / "sacct.txt"
    saved.write_text(OUTPUT, encoding="utf-8")
    assert readers.READERS == (sacct,)
    assert sacct.can_open(str(saved), saved.read_bytes()[:512])
    assert not sacct.can_open("notes.txt", b"just some text\n")
    got = sacct.read(str(saved), sacct.SacctOptions(timezone="UTC"))
    want = parse_sacct(OUTPUT.splitlines(), timezone="UTC")
    assert got.jobs == want.jobs and got.issues == want.issues and got.lines == want.lines
