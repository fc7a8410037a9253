"""Consoles and the error exit shared by the `belvedere` command modules."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape as escape_markup

# Wide enough for a stream table when the output is a file or a pipe (rich assumes 80).
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def fail(message: str, code: int, *, soft_wrap: bool = True, escape: bool = False) -> NoReturn:
    """Print `error: MESSAGE` on stderr and exit with status `code` (escape: show [..] as is)."""
    text = escape_markup(message) if escape else message
    err.print(f"[red]error:[/red] {text}", highlight=False, soft_wrap=soft_wrap)
    raise typer.Exit(code)
