"""What an ingest run tells its user: one line per bad input, conflicts, a closing summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def one_line(exc: BaseException) -> str:
    """An exception as one report line: its type and its message with whitespace collapsed."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class FileIssue:
    """One input that could not be used whole: which file, and what is wrong."""

    path: str
    problem: str

    def line(self) -> str:
        """The report line for this issue."""
        return f"{self.path}: {self.problem}"


@dataclass
class IngestReport:
    """Totals of one ingest run, printed at the end and returned to callers."""

    files_total: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    streams: list[str] = field(default_factory=list)
    samples_written: int = 0
    samples_read: int = 0
    gaps: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    input_bytes: int = 0
    seconds: float = 0.0
    issues: list[FileIssue] = field(default_factory=list)
    # Files ingested whole, with a note on an assumption made (not failures: exit status 0)
    warnings: list[FileIssue] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    events_added: int = 0
    # Inputs read whole that still left something out, and why (not problems: exit 0).
    notes: list[FileIssue] = field(default_factory=list)

    @property
    def files_with_problems(self) -> int:
        """How many inputs had problems (a file with several problems counts once)."""
        return len({i.path for i in self.issues})

    @property
    def failed(self) -> bool:
        """True when some input could not be used whole (exit status 1)."""
        return bool(self.issues)

    @property
    def unchanged(self) -> bool:
        """True when the run added nothing (a re-run of the same inputs)."""
        return self.samples_written == 0 and not self.conflicts and not self.events_added

    def summary_lines(self) -> list[str]:
        """The closing summary, one fact per line."""
        secs = max(self.seconds, 1e-9)
        written = self.bytes_after - self.bytes_before
        lines = [
            f"files: {self.files_total} ({self.files_ingested} ingested, "
            f"{self.files_unchanged} already in the store, {self.files_with_problems} with "
            "problems)",
            f"streams: {len(self.streams)}",
            f"samples: {self.samples_written:,} written of {self.samples_read:,} read",
            f"gaps: {self.gaps} in the streams touched",
            f"bytes written: {written / 1e6:,.1f} MB (store now {self.bytes_after / 1e6:,.1f} MB)",
            f"throughput: {self.samples_read / secs / 1e6:,.1f} Msamples/s, "
            f"{self.input_bytes / secs / 1e6:,.1f} MB/s of input in {self.seconds:,.1f} s",
        ]
        if self.conflicts:
            lines.append(f"conflicts: {len(self.conflicts)} overlapping spans differ from the "
                         "stored samples; the stored samples were kept")
        if self.warnings:
            lines.append(f"warnings: {len(self.warnings)} on files ingested whole (see above)")
        if self.events_added:
            lines.append(f"events: {self.events_added} added to the catalogue")
        if self.unchanged and not self.issues:
            lines.append("nothing changed: the store already held all of these inputs")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "files": self.files_total, "files_ingested": self.files_ingested,
            "files_unchanged": self.files_unchanged, "streams": self.streams,
            "samples_written": self.samples_written, "samples_read": self.samples_read,
            "gaps": self.gaps, "bytes_written": self.bytes_after - self.bytes_before,
            "seconds": self.seconds, "issues": [i.line() for i in self.issues],
            "warnings": [w.line() for w in self.warnings],
            "files_with_problems": self.files_with_problems,
            "notes": [i.line() for i in self.notes],
            "conflicts": self.conflicts, "events_added": self.events_added,
        }
