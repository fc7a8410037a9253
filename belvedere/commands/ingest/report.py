"""The end of an ingest command: its report printed (problems and conflicts on stderr)."""

from __future__ import annotations

import json

from belvedere.console import err, out


def print_ingest_report(report, as_json: bool) -> int:
    """Print an ingest report (problems and conflicts to stderr) and return the exit status."""
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        for issue in report.issues:
            err.print(f"[yellow]problem:[/yellow] {issue.line()}", highlight=False, soft_wrap=True)
        for w in report.warnings:
            err.print(f"[yellow]warning:[/yellow] {w.line()}", highlight=False, soft_wrap=True)
        for c in report.conflicts:
            err.print(f"[yellow]conflict:[/yellow] {c['file']}: {c['stream']} {c['start']} to "
                      f"{c['end']}: {c['samples']} samples {c['reason']}; kept the "
                      f"{c['kept']}", highlight=False, soft_wrap=True)
        for line in report.summary_lines():
            out.print(line, highlight=False)
    return 1 if report.failed else 0
