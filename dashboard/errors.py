"""Errors the pages show as a message to the visitor rather than log as a fault."""

from __future__ import annotations


class NotServedError(ValueError):
    """What a URL asks for is not served here (to this user): the visitor's to fix, so the
    page says it and the log gets one line, no traceback."""
