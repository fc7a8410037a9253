"""Slurm accounting (`sacct --parsable2`) to job records, the way Open XDMoD's shredder reads it.

- Job lines only: step lines (`123.batch`, `123.0`, `123.extern`, `123_4.batch`) are not jobs,
  but their MaxRSS (maximum) and TotalCPU (sum, when the job line has none) are folded into
  their job.
- Array jobs: `123_4` is task 4 of array 123; a pending range `123_[1-3,7%2]` becomes one
  pending record per task (`123_1`, `123_2`, `123_3`, `123_7`).
- Times are read in the zone sacct printed them in (its local time: `--timezone`) and kept as
  UTC nanoseconds; `Unknown`/`None`/empty times (a running job's end) are missing, not errors.
- `Elapsed`/`TotalCPU`/`Timelimit` as `[D-]HH:MM:SS[.ffffff]` or `MM:SS.fff`; `UNLIMITED` is
  missing. States such as `CANCELLED by 1234` keep their first word. GPUs come from `AllocTRES`
  (`gres/gpu=2`, or the sum of typed `gres/gpu:a100=2` entries).
- Every line that cannot be read is reported with its line number and the reason.

The header line names the columns (any `--format` order works). Input without a header
(`--noheader`) must use `SACCT_FIELDS` in that order. As a reader: `can_open` and `read` for
a saved output file (`parse_sacct` for lines from elsewhere, such as a sacct run).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.timebase import NS

# What `belvedere ingest usage --run-sacct` asks sacct for (also the no-header column order).
SACCT_FIELDS = (
    "JobID", "JobIDRaw", "Cluster", "Partition", "QOS", "Account", "Group", "User", "Submit",
    "Eligible", "Start", "End", "Elapsed", "ExitCode", "State", "NNodes", "NCPUS", "ReqCPUS",
    "ReqMem", "AllocTRES", "Timelimit", "MaxRSS", "TotalCPU", "NodeList", "JobName",
)
REQUIRED = ("JobID", "State")
# Columns whose text may itself hold `|`: extra fields on a line are joined back into the last
# column when it is one of these (as XDMoD does by splitting with a field limit).
_FREE_TEXT = {"JobName", "SubmitLine", "WorkDir", "Comment", "AdminComment", "SystemComment",
              "Constraints", "Reason"}
ENDED_STATES = frozenset({"BOOT_FAIL", "CANCELLED", "COMPLETED", "FAILED", "NODE_FAIL",
                          "PREEMPTED", "TIMEOUT", "OUT_OF_MEMORY", "DEADLINE", "REVOKED"})

_JOBID = re.compile(r"^(?P<job>\d+)(?:(?P<sep>[_+])(?P<rest>\d+|\[[^\]]*\]))?"
                    r"(?:\.(?P<step>[^.|]+))?$")
_DURATION = re.compile(r"^(?:(?:(?P<d>\d+)-)?(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)$")
_SIZE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<u>[KMGTP]?)(?P<per>[nc]?)$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_MISSING_TIME = {"", "unknown", "none", "n/a"}


NAME = "sacct --parsable2 output"


@dataclass(frozen=True)
class SacctOptions:
    """How to read a saved sacct output (the `options` of `read`)."""

    cluster: str = ""  # the cluster of lines without a Cluster column
    timezone: str | None = None  # the zone sacct printed its times in (None: this machine's)


class SacctError(ValueError):
    """A value in a sacct line that cannot be read; the message says which and why."""


@dataclass
class Job:
    """One job (or one array task) as the jobs table stores it."""

    cluster: str
    job_id: str  # "123", "123_4" (array task), "123+1" (heterogeneous component)
    job_id_raw: int
    array_job_id: int = -1
    array_task_id: int = -1
    partition: str = ""
    qos: str = ""
    account: str = ""
    group: str = ""
    user: str = ""
    job_name: str = ""
    state: str = ""
    exit_code: str = ""
    submit_ns: int | None = None
    eligible_ns: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    elapsed_s: float = math.nan
    timelimit_s: float = math.nan
    nnodes: int = 0
    ncpus: int = 0
    req_cpus: int = 0
    ngpus: int = 0
    req_mem_bytes: int = -1
    max_rss_bytes: int = -1
    total_cpu_s: float = math.nan
    node_list: str = ""
    line: int = 0  # where it came from in the input

    def key(self) -> tuple[str, str]:
        """The identity of a job in the store: (cluster, job id)."""
        return (self.cluster, self.job_id)


@dataclass
class LineIssue:
    """A line of sacct output that could not be used: its number, the reason, its text."""

    line: int
    reason: str
    text: str = ""

    def describe(self, source: str = "sacct") -> str:
        """The report line: `source:LINE: reason: text`."""
        text = self.text if len(self.text) <= 160 else self.text[:157] + "..."
        return f"{source}:{self.line}: {self.reason}" + (f": {text}" if text else "")


@dataclass
class SacctResult:
    """Jobs read from one sacct output, the lines that failed, and counts."""

    jobs: list[Job] = field(default_factory=list)
    issues: list[LineIssue] = field(default_factory=list)
    lines: int = 0  # non-empty lines, header included
    job_lines: int = 0
    step_lines: int = 0


def resolve_timezone(name: str | None) -> ZoneInfo | None:
    """The zone sacct printed its times in: a name such as `Europe/Paris`; None = this machine's.

    The machine's zone is applied with its own daylight-saving rules (as `TZ` or the system
    configure it), not as one fixed offset.
    """
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}; use an IANA name such as UTC or "
                             "Europe/Paris") from None
    return None


def parse_time(text: str, tz: Any) -> int | None:
    """UTC ns of a sacct time `2024-03-05T12:00:00` in zone `tz`; None for Unknown/None."""
    s = text.strip()
    if s.lower() in _MISSING_TIME:
        return None
    try:
        dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise SacctError(f"cannot read time {text!r} (expected YYYY-MM-DDTHH:MM:SS)") from None
    # A naive datetime's timestamp() reads it in the machine's local time, DST included.
    return int((dt if tz is None else dt.replace(tzinfo=tz)).timestamp()) * NS


def parse_duration(text: str) -> float:
    """Seconds of `[D-]HH:MM:SS[.ffffff]` or `MM:SS.fff`; NaN when empty or UNLIMITED."""
    s = text.strip()
    if s == "" or s.upper() in {"UNLIMITED", "PARTITION_LIMIT", "INVALID", "NONE"}:
        return math.nan
    m = _DURATION.match(s)
    if not m:
        raise SacctError(f"cannot read duration {text!r} (expected [D-]HH:MM:SS[.ffffff] or "
                         "MM:SS.fff)")
    d, h = int(m["d"] or 0), int(m["h"] or 0)
    return d * 86400 + h * 3600 + int(m["m"]) * 60 + float(m["s"])


def parse_size(text: str) -> int:
    """Bytes of a sacct size (`3208K`, `1.5G`, bare bytes with --noconvert); -1 when empty."""
    s = text.strip()
    if s == "":
        return -1
    m = _SIZE.match(s)
    if not m:
        raise SacctError(f"cannot read size {text!r} (expected a number with K, M, G or T)")
    return int(round(float(m["n"]) * _UNITS[m["u"].upper()]))


def parse_req_mem(text: str, ncpus: int, nnodes: int) -> int:
    """Bytes of ReqMem; older Slurm's per-CPU `4000Mc` and per-node `4000Mn` are multiplied."""
    s = text.strip()
    if s == "" or s == "0":
        return -1 if s == "" else 0
    m = _SIZE.match(s)
    if not m:
        raise SacctError(f"cannot read ReqMem {text!r}")
    # A bare ReqMem number is in megabytes (Slurm's unit for memory requests).
    n = float(m["n"]) * (_UNITS[m["u"].upper()] if m["u"] else 1024**2)
    per = m["per"].lower()
    if per == "c":
        n *= max(ncpus, 1)
    elif per == "n":
        n *= max(nnodes, 1)
    return int(round(n))


def parse_tres(text: str) -> dict[str, str]:
    """`billing=1,cpu=2,gres/gpu=2,mem=4G` as a dict (empty for an empty field)."""
    out = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise SacctError(f"cannot read TRES entry {item!r} (expected name=value)")
        out[name.strip()] = value.strip()
    return out


def gpus_from_tres(text: str) -> int:
    """GPU count of AllocTRES: `gres/gpu=N`, else the sum of typed `gres/gpu:TYPE=N`."""
    tres = parse_tres(text)
    try:
        if "gres/gpu" in tres:
            return int(tres["gres/gpu"])
        return sum(int(v) for k, v in tres.items() if k.startswith("gres/gpu:"))
    except ValueError:
        raise SacctError(f"cannot read a GPU count in AllocTRES {text!r}") from None


def expand_array_indexes(text: str) -> list[int]:
    """Task ids of `4`, `[1-3]`, `[1,4-9]`, `[1-100%5]` (the `%N` throttle is ignored)."""
    s = text.strip()
    if s.isdigit():
        return [int(s)]
    if not (s.startswith("[") and s.endswith("]")):
        raise SacctError(f"cannot read array indexes {text!r}")
    body = s[1:-1].split("%", 1)[0]
    out: list[int] = []
    for part in body.split(","):
        a, dash, b = part.partition("-")
        step = 1
        if ":" in b:
            b, _, st = b.partition(":")
            step = int(st) if st.isdigit() and int(st) > 0 else 0
        if not a.isdigit() or (dash and not b.isdigit()) or step == 0:
            raise SacctError(f"cannot read array indexes {text!r}")
        lo, hi = int(a), int(b) if dash else int(a)
        if hi < lo:
            raise SacctError(f"array range {part!r} runs backwards in {text!r}")
        if hi - lo > 10_000_000:
            raise SacctError(f"array range {part!r} is implausibly large")
        out.extend(range(lo, hi + 1, step))
    return out


def _int(text: str, what: str) -> int:
    s = text.strip()
    if s == "":
        return 0
    try:
        return int(s)
    except ValueError:
        raise SacctError(f"cannot read {what} {text!r} as an integer") from None


def _state(text: str) -> str:
    word = text.strip().split(" ", 1)[0].upper()
    if not re.fullmatch(r"[A-Z_]+", word):
        raise SacctError(f"cannot read state {text!r}")
    return word


class _Header:
    def __init__(self, names: list[str]):
        self.names = names
        self.index = {n.lower(): i for i, n in enumerate(names)}

    def missing(self) -> list[str]:
        return [n for n in REQUIRED if n.lower() not in self.index]


def _is_header(fields: list[str]) -> bool:
    return any(f.strip().lower() == "jobid" for f in fields)


def parse_sacct(lines: Iterable[str], cluster: str = "", timezone: str | None = None
                ) -> SacctResult:
    """Parse `sacct --parsable2` text into jobs (steps folded in) and per-line issues.

    `cluster` names the cluster when the output has no `Cluster` column (or it is empty).
    """
    tz = resolve_timezone(timezone)
    res = SacctResult()
    header: _Header | None = None
    jobs: dict[str, list[Job]] = {}  # JobID text of the job line -> its record(s)
    steps: dict[str, list[tuple[int, int, float]]] = {}  # parent -> (line, rss, cpu)
    for lineno, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        res.lines += 1
        fields = text.split("|")
        if header is None:
            if _is_header(fields):
                header = _Header([f.strip() for f in fields])
                missing = header.missing()
                if missing:
                    res.issues.append(LineIssue(lineno, "header lacks column(s) "
                                                f"{', '.join(missing)}; no line can be read",
                                                text))
                    return res
                continue
            header = _Header(list(SACCT_FIELDS))
        elif _is_header(fields) and [f.strip() for f in fields] == header.names:
            continue  # a repeated header (concatenated outputs)
        try:
            row = _row(header, fields)
            jid = row["jobid"].strip()
            m = _JOBID.match(jid)
            if not m:
                raise SacctError(f"cannot read JobID {jid!r}")
            if m["step"] is not None:
                res.step_lines += 1
                parent = jid.rsplit(".", 1)[0]
                rss = parse_size(row.get("maxrss", ""))
                cpu = parse_duration(row.get("totalcpu", ""))
                steps.setdefault(parent, []).append((lineno, rss, cpu))
                continue
            res.job_lines += 1
            recs = _job_records(row, m, cluster, tz, lineno)
        except SacctError as exc:
            res.issues.append(LineIssue(lineno, str(exc), text))
            continue
        jobs[jid] = recs  # sacct --duplicates lists a requeued job per run: the last is current
    for parent, items in steps.items():
        recs = jobs.get(parent)
        if recs is None:
            for lineno, _, _ in items:
                res.issues.append(LineIssue(lineno, f"step of job {parent}, whose job line is "
                                                    "not in the input; its usage was not counted"))
            continue
        rss = max(r for _, r, _ in items)
        cpu_sum = sum(c for _, _, c in items if not math.isnan(c))
        for job in recs:
            job.max_rss_bytes = max(job.max_rss_bytes, rss)
            if any(not math.isnan(c) for _, _, c in items):
                if math.isnan(job.total_cpu_s) or job.total_cpu_s == 0:
                    job.total_cpu_s = cpu_sum
    for recs in jobs.values():
        res.jobs.extend(recs)
    return res


def can_open(path: str, head: bytes) -> bool:
    """True when the first line is a `--parsable2` header (`|`-separated, with JobID), or a
    header-less line of as many `|`-separated fields as `SACCT_FIELDS`.

    Parameters
    ----------
    path
        The file (unused: the head is enough).
    head
        Its first bytes (the first line must be among them).

    Returns
    -------
    bool
    """
    first = head.decode("utf-8", "replace").splitlines()[0] if head.strip() else ""
    fields = first.split("|")
    return len(fields) > 1 and (_is_header(fields) or len(fields) == len(SACCT_FIELDS))


def read(path: str, options: SacctOptions | None = None) -> SacctResult:
    """The jobs of a saved `sacct --parsable2` output file.

    Parameters
    ----------
    path
        The file (read as UTF-8, undecodable bytes replaced).
    options
        The cluster name for lines without a Cluster column, and sacct's time zone.

    Returns
    -------
    SacctResult
        Jobs (steps folded in), the lines that could not be read, counts. OSError when the
        file cannot be read.
    """
    options = options or SacctOptions()
    text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    return parse_sacct(text, cluster=options.cluster, timezone=options.timezone)


def _row(header: _Header, fields: list[str]) -> dict[str, str]:
    n = len(header.names)
    if len(fields) > n and header.names[-1] in _FREE_TEXT:
        fields = fields[:n - 1] + ["|".join(fields[n - 1:])]
    if len(fields) != n:
        raise SacctError(f"{len(fields)} fields where the header has {n}")
    return {name.lower(): value for name, value in zip(header.names, fields, strict=True)}


def _job_records(row: dict[str, str], m: re.Match, cluster: str, tz: Any,
                 lineno: int) -> list[Job]:
    g = row.get
    ncpus = _int(g("ncpus", g("alloccpus", "")), "NCPUS")
    nnodes = _int(g("nnodes", g("allocnodes", "")), "NNodes")
    raw_text = g("jobidraw", "").strip()
    base = dict(
        cluster=(g("cluster", "") or "").strip() or cluster,
        job_id_raw=_int(raw_text, "JobIDRaw") if raw_text else int(m["job"]),
        partition=g("partition", "").strip(), qos=g("qos", "").strip(),
        account=g("account", "").strip(), group=g("group", "").strip(),
        user=g("user", "").strip(), job_name=g("jobname", ""),
        state=_state(g("state", "")), exit_code=g("exitcode", "").strip(),
        submit_ns=parse_time(g("submit", ""), tz), eligible_ns=parse_time(g("eligible", ""), tz),
        start_ns=parse_time(g("start", ""), tz), end_ns=parse_time(g("end", ""), tz),
        elapsed_s=parse_duration(g("elapsed", "")),
        timelimit_s=parse_duration(g("timelimit", "")),
        nnodes=nnodes, ncpus=ncpus, req_cpus=_int(g("reqcpus", ""), "ReqCPUS"),
        ngpus=gpus_from_tres(g("alloctres", "")),
        req_mem_bytes=parse_req_mem(g("reqmem", ""), ncpus, nnodes),
        max_rss_bytes=parse_size(g("maxrss", "")),
        total_cpu_s=parse_duration(g("totalcpu", "")),
        node_list=g("nodelist", "").strip(), line=lineno,
    )
    if not base["cluster"]:
        raise SacctError("no Cluster column and no cluster name given")
    if base["elapsed_s"] != base["elapsed_s"] and base["start_ns"] is not None \
            and base["end_ns"] is not None:
        base["elapsed_s"] = (base["end_ns"] - base["start_ns"]) / NS
    job = m["job"]
    if m["sep"] == "_":
        tasks = expand_array_indexes(m["rest"])
        return [Job(job_id=f"{job}_{t}", array_job_id=int(job), array_task_id=t, **base)
                for t in tasks]
    if m["sep"] == "+":
        if not m["rest"].isdigit():
            raise SacctError(f"cannot read heterogeneous job component in {m.group(0)!r}")
        return [Job(job_id=f"{job}+{m['rest']}", **base)]
    return [Job(job_id=job, **base)]
