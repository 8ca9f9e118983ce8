"""Errors a user can act on: each names the file (and line) at fault."""

from __future__ import annotations


class EdgemarkError(Exception):
    """An error the CLI prints as one clear message, without a traceback."""


class DataError(EdgemarkError):
    """Bad input data: a malformed list line, a missing or unreadable image."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.message = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
