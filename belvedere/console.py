"""The consoles of the `belvedere` commands: output, errors and their exit, progress bars."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TimeRemainingColumn,
)

# Wide enough for a stream table when the output is a file or a pipe (rich assumes 80).
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def fail(message: str, code: int, *, soft_wrap: bool = True, escape: bool = False) -> NoReturn:
    """Print `error: MESSAGE` on stderr and exit with status `code` (escape: show [..] as is)."""
    text = escape_markup(message) if escape else message
    err.print(f"[red]error:[/red] {text}", highlight=False, soft_wrap=soft_wrap)
    raise typer.Exit(code)


def progress_bar(unit: str = "bytes") -> Progress:
    """A progress bar on stderr counting bytes (`unit` "bytes") or items."""
    counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    return Progress("[progress.description]{task.description}", BarColumn(), counter,
                    TimeRemainingColumn(), console=err, transient=False)


def settings_or_exit(ctx: typer.Context, command: str, config_file: Path | None):
    """The merged configuration for this command, or a clear message and exit status 2."""
    from belvedere.config import ConfigError, from_cli

    try:
        return from_cli(ctx, command, config_file)
    except ConfigError as exc:
        fail(str(exc), 2, escape=True)
