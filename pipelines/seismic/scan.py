"""Which channels each seismic input holds, from record headers: inputs sorted into channels."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipelines.ingest.inputs import expand_inputs, not_regular
from pipelines.ingest.report import FileIssue, one_line
from pipelines.seismic import readers


@dataclass
class ScannedFile:
    """A waveform file, its reader and the channels it holds (from a header-only read)."""

    path: str
    size: int
    channels: dict[str, int]  # channel id -> first sample time (ns)
    reader: str = "mseed"  # the reader module's short name (`readers.by_name`)


@dataclass
class ScanResult:
    """All inputs sorted into channels, plus the inputs that could not be used."""

    files: list[ScannedFile] = field(default_factory=list)
    issues: list[FileIssue] = field(default_factory=list)

    def by_channel(self) -> dict[str, list[str]]:
        """Channel id -> its files in time order."""
        out: dict[str, list[tuple[int, str]]] = {}
        for f in self.files:
            for ch, t in f.channels.items():
                out.setdefault(ch, []).append((t, f.path))
        return {ch: [p for _, p in sorted(v)] for ch, v in sorted(out.items())}

    def readers(self) -> dict[str, str]:
        """File -> the name of its reader."""
        return {f.path: f.reader for f in self.files}


def scan_file(path: str) -> ScannedFile | FileIssue:
    """Read a file's record headers to learn its channels; a FileIssue if it is not usable."""
    try:
        size, head = _head(path)
    except NotRegular as exc:
        return FileIssue(path, f"{exc}; skipped")
    except OSError as exc:
        return FileIssue(path, f"cannot be read: {exc.strerror or exc}")
    if size == 0:
        return FileIssue(path, "empty file (0 bytes)")
    known = " or ".join(r.NAME for r in readers.of_kind("waveforms"))
    reader = None
    try:
        reader = readers.reader_for(path, head, "waveforms")
        if reader is None:
            return FileIssue(path, f"not a {known} file (no valid record header)")
        channels = reader.channels(path)
    except Exception as exc:  # ObsPy raises many types for broken records
        return FileIssue(path, f"corrupt {reader.NAME if reader else known}: {one_line(exc)}")
    if not channels:
        return FileIssue(path, f"{reader.NAME} file holds no data records")
    return ScannedFile(path, size, channels, reader.__name__.rsplit(".", 1)[-1])


class NotRegular(OSError):
    """The path is not a regular file (replaced by a pipe or device since it was listed)."""


def _head(path: str) -> tuple[int, bytes]:
    """Size and first bytes of a regular file. Opened without blocking and checked to be a
    regular file before any read, so a named pipe can never make the ingest wait."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(not_regular(path) or "not a regular file")
        return st.st_size, os.read(fd, readers.HEAD_BYTES)
    finally:
        os.close(fd)


def scan(paths: Iterable[str]) -> ScanResult:
    """Expand and scan all inputs."""
    files, issues = expand_inputs(paths)
    result = ScanResult(issues=issues)
    for f in files:
        r = scan_file(f)
        (result.issues if isinstance(r, FileIssue) else result.files).append(r)
    return result
