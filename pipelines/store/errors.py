"""The store's errors: each message says what to do."""

from __future__ import annotations


class StoreError(Exception):
    """A store cannot be opened or used as asked; the message says what to do."""


class StoreVersionError(StoreError):
    """The store was written by a newer layout version than this program understands."""


class UnknownStreamError(StoreError, KeyError):
    """A stream name that the store does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])
