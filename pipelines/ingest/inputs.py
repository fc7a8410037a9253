"""The files an ingest is given: paths, folders (SDS roots included) and globs, expanded."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from pipelines.ingest.report import FileIssue


def expand_inputs(paths: Iterable[str]) -> tuple[list[str], list[FileIssue]]:
    """Files named by paths, folders (SDS roots included, walked recursively) and globs.

    Parameters
    ----------
    paths
        Files, folders and glob patterns (`**` allowed), in the order given.

    Returns
    -------
    files, issues
        The absolute paths of the files found, each once, in order; one `FileIssue` per
        path that names nothing (a missing file, a pattern that matches no file).
    """
    files: list[str] = []
    issues: list[FileIssue] = []
    for p in paths:
        if any(c in p for c in "*?["):
            matched = sorted(glob.glob(p, recursive=True))
            if not matched:
                issues.append(FileIssue(p, "no file matches this pattern"))
            files += [m for m in matched if os.path.isfile(m)]
        elif os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names) if not n.startswith(".")]
        elif os.path.exists(p):
            files.append(p)
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
