"""The files an ingest is given: paths, folders (SDS roots included) and globs, expanded."""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable

from pipelines.ingest.report import FileIssue

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def not_regular(path: str) -> str | None:
    """Why `path` is not a regular file that can be read to its end, or None when it is.

    `os.stat` never opens the file, so a named pipe (which would block a reader until
    something writes to it) or a device is refused before anything reads from it.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if os.path.islink(path):
            return "a broken symbolic link (its target does not exist)"
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
    return f"{kind}, not a regular file; only regular files are read"


def expand_inputs(paths: Iterable[str]) -> tuple[list[str], list[FileIssue]]:
    """Files named by paths, folders (SDS roots included, walked recursively) and globs.

    Parameters
    ----------
    paths
        Files, folders and glob patterns (`**` allowed), in the order given. Folders that
        a pattern matches are walked like folders given by name.

    Returns
    -------
    files, issues
        The absolute paths of the regular files found, each once, in order; one
        `FileIssue` per input that contributes nothing (a missing file, a pattern that
        matches no file, a folder with no file in it) and per named pipe, socket, device or
        broken link met (never opened, so never waited on).
    """
    files: list[str] = []
    issues: list[FileIssue] = []

    def walk(folder: str, explicit: bool) -> None:
        found, hidden = 0, 0
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for n in sorted(names):
                if n.startswith("."):
                    hidden += 1
                    continue
                found += _add(os.path.join(root, n))
        if not found and explicit:  # a pattern's empty folders are no news
            why = (f"holds only hidden files ({hidden}, names starting with '.'), which are "
                   "skipped" if hidden else "holds no files")
            issues.append(FileIssue(folder, f"folder {why}; nothing to ingest from it"))

    def _add(path: str) -> int:
        problem = not_regular(path)
        if problem is None:
            files.append(path)
            return 1
        issues.append(FileIssue(path, f"{problem}; skipped"))
        return 0

    for p in paths:
        # A path that exists is taken as it is, even when its name holds * ? or [.
        if any(c in p for c in "*?[") and not os.path.lexists(p):
            matched = sorted(glob.glob(p, recursive=True))
            if not matched:
                issues.append(FileIssue(p, "no file matches this pattern"))
            before = (len(files), len(issues))
            for m in matched:
                if os.path.isdir(m):
                    walk(m, explicit=False)
                else:
                    _add(m)
            if matched and (len(files), len(issues)) == before:
                issues.append(FileIssue(p, "the pattern matches only folders with no files"))
        elif os.path.isdir(p):
            walk(p, explicit=True)
        elif os.path.lexists(p):
            _add(p)
        else:
            issues.append(FileIssue(p, "no such file or folder"))
    seen: set[str] = set()
    unique = []
    for f in files:
        a = os.path.abspath(f)
        if a not in seen:
            seen.add(a)
            unique.append(a)
    return unique, issues
