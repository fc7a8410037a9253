"""The end of an ingest command: its report printed (problems and conflicts on stderr)."""

from __future__ import annotations

import json

from belvedere.console import err, out, shown


def print_ingest_report(report, as_json: bool) -> int:
    """Print an ingest report (problems, notes and conflicts to stderr) and return the exit
    status. Text from files (names, codes, messages) is shown escaped (`console.shown`)."""
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        for issue in report.issues:
            err.print(f"[yellow]problem:[/yellow] {shown(issue.line())}", highlight=False,
                      soft_wrap=True)
        for w in report.warnings:
            err.print(f"[yellow]warning:[/yellow] {shown(w.line())}", highlight=False,
                      soft_wrap=True)
        for note in report.notes:
            err.print(f"note: {shown(note.line())}", highlight=False, soft_wrap=True)
        for c in report.conflicts:
            err.print(f"[yellow]conflict:[/yellow] {shown(c['file'])}: {shown(c['stream'])} "
                      f"{c['start']} to {c['end']}: {c['samples']} samples "
                      f"{shown(c['reason'])}; kept the {c['kept']}", highlight=False,
                      soft_wrap=True)
        for line in report.summary_lines():
            out.print(shown(line), highlight=False)
    return 1 if report.failed else 0
