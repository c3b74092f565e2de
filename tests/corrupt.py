"""Helpers for corrupted-copy tests: write an edited copy of an official CSV, and assert the format
rejects it with a SourceError naming the file, row and column."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import pytest

from lmi.errors import SourceError

Edit = Callable[[list[list[str]]], list[list[str]]]


def corrupt_copy(source: Path, out: Path, edit: Edit, keep_rows: int) -> Path:
    """Write the first ``keep_rows`` rows of ``source``, passed through ``edit``, to ``out``."""
    with open(source, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[:keep_rows]
    with open(out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(edit(rows))
    return out


def assert_rejected(fmt, path: Path, ctx, row: int, column: str) -> SourceError:
    """Staging ``path`` with format module ``fmt`` raises a SourceError naming file, row and column."""
    with pytest.raises(SourceError) as err:
        fmt.stage(fmt.read(path), path, ctx)
    msg = str(err.value)
    assert path.name in msg and f"row {row}" in msg and f"column '{column}" in msg, msg
    return err.value


def set_cell(r: int, c: int, v: str) -> Edit:
    """An edit that puts ``v`` in row ``r`` (0-based, header = 0), column ``c``."""
    def edit(rows):
        rows[r][c] = v
        return rows
    return edit
