"""Errors that name the file, row, column and the expected form of bad input."""
from __future__ import annotations

from pathlib import Path


class LmiError(Exception):
    """Base class for every error lmi raises on purpose."""


class SourceError(LmiError):
    """A source file does not have the form its reader expects.

    ``row`` is the 1-based row as a person sees it in the file (spreadsheet row, or CSV
    line number including the header line); ``None`` when the problem is the whole file.
    """

    def __init__(
        self,
        file: str | Path,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        value: object = None,
        sheet: str | None = None,
    ) -> None:
        self.file = str(file)
        self.row = row
        self.column = column
        self.expected = expected
        self.value = value
        self.sheet = sheet
        self.detail = message
        super().__init__(self.render())

    def render(self) -> str:
        where = [f"file {self.file}"]
        if self.sheet is not None:
            where.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where) + f": {self.detail}"
        if self.value is not None:
            shown = repr(self.value)
            text += f" (found {shown[:80]}{'…' if len(shown) > 80 else ''})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text


class BuildCheckError(LmiError):
    """A check on the built database failed; the previous database is left untouched."""


class QueryError(LmiError):
    """A read request named something that is not in the allow-list (measure, level, area...)."""
