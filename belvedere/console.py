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


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean(text: str) -> str:
    """Text with control and invisible format characters escaped (ESC shown as `\\x1b`,
    a right-to-left override as `\\u202e`): names, codes and messages from files can never
    move the cursor, recolour the terminal or hide what follows. Tabs and newlines stay."""
    if text.isprintable():
        return text
    return "".join(ch if ch in "\t\n" or ch.isprintable() or ch == " " else _escape_char(ch)
                   for ch in text)


def shown(text: object) -> str:
    """Text from a file or a user, ready to go inside a console line: control characters
    escaped (`clean`) and rich's markup brackets shown as they are."""
    return escape_markup(clean(str(text)))


class SafeConsole(Console):
    """A rich Console whose every string (printed text, table cells) goes through `clean`:
    the one place where the commands print, so nothing read from a file reaches the
    terminal as a control sequence."""

    def render_str(self, text: str, **kwargs):  # type: ignore[override]
        """`Console.render_str` of the cleaned text."""
        return super().render_str(clean(text), **kwargs)

    def print_json(self, *args, **kwargs) -> None:  # type: ignore[override]
        """`Console.print_json` with every non-ASCII character escaped (`\\u009b`), so
        that JSON output carries no raw control character either."""
        kwargs["ensure_ascii"] = True
        super().print_json(*args, **kwargs)


# Wide enough for a stream table when the output is a file or a pipe (rich assumes 80).
out = SafeConsole(width=None if sys.stdout.isatty() else 200)
err = SafeConsole(stderr=True, width=None if sys.stderr.isatty() else 200)


def fail(message: str, code: int, *, soft_wrap: bool = True, escape: bool = False) -> NoReturn:
    """Print `error: MESSAGE` on stderr and exit with status `code` (escape: show [..] as is)."""
    text = shown(message) if escape else message
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
