"""Suppression and status markers found in value cells, kept as data, never as zero.

Each publisher mixes markers into numeric columns. ``parse_cell`` turns one raw cell into
``(value, status, reason)``; ``parse_series`` does the same for a whole column and raises
:class:`~lmi.errors.SourceError` on anything that is neither a number nor a known marker.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmi.errors import SourceError

# status vocabulary used across the canonical table
OK = "ok"
SUPPRESSED = "suppressed"
UNRELIABLE = "unreliable"
MISSING = "missing"
NOT_COMPARABLE = "not_comparable"
DERIVED = "derived"
PARTIAL = "partial"      # a rollup that sums only some of its member LADs (n_missing > 0)
STATUSES = (OK, SUPPRESSED, UNRELIABLE, MISSING, NOT_COMPARABLE, DERIVED, PARTIAL)


@dataclass(frozen=True)
class Marker:
    status: str
    reason: str


# Generic meanings; a format may pass its own table (e.g. Nomis '*' is an estimate with a value).
MARKERS: dict[str, Marker] = {
    "*": Marker(UNRELIABLE, "estimate unreliable (sample too small)"),
    "**": Marker(SUPPRESSED, "suppressed: base too small to report"),
    "!": Marker(SUPPRESSED, "suppressed: estimate disclosive (0-2 respondents)"),
    "~": Marker(SUPPRESSED, "suppressed: estimate rounds to under 500"),
    "x": Marker(SUPPRESSED, "suppressed or not available (publisher code x)"),
    "c": Marker(SUPPRESSED, "confidential (publisher code c)"),
    "u": Marker(UNRELIABLE, "low reliability (publisher code u)"),
    "..": Marker(MISSING, "not available (publisher code ..)"),
    "-": Marker(MISSING, "missing or not applicable (publisher code -)"),
    "": Marker(MISSING, "blank in source"),
}

_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?%?$")


def parse_cell(raw: object, markers: dict[str, Marker] | None = None) -> tuple[float | None, str, str | None]:
    """Return ``(value, status, reason)`` for one cell; raise ``ValueError`` if unparseable."""
    table = MARKERS if markers is None else markers
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        m = table.get("", MARKERS[""])
        return None, m.status, m.reason
    if isinstance(raw, (int, float, np.integer, np.floating)) and not isinstance(raw, bool):
        v = float(raw)
        if not math.isfinite(v):
            raise ValueError("not a finite number")
        return v, OK, None
    text = str(raw).strip()
    if text in table:
        m = table[text]
        return None, m.status, m.reason
    if _NUMBER.match(text) and any(ch.isdigit() for ch in text):
        v = float(text.replace(",", "").rstrip("%"))
        if not math.isfinite(v):
            raise ValueError("not a finite number")
        return v, OK, None
    raise ValueError("not a number or a known marker")


def parse_series(
    values: pd.Series,
    *,
    file: str | Path,
    column: str,
    rows: pd.Series | np.ndarray | None = None,
    markers: dict[str, Marker] | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Parse a column of raw cells into ``value``, ``status``, ``status_reason``.

    ``rows`` gives the file row number of each cell for error messages (defaults to the index).
    """
    table = MARKERS if markers is None else markers
    out_v = np.full(len(values), np.nan)
    out_s = np.empty(len(values), dtype=object)
    out_r = np.empty(len(values), dtype=object)
    # fast path for already-numeric columns
    numeric = pd.to_numeric(values, errors="coerce")
    raw_list = values.tolist()
    num_list = numeric.tolist()
    row_list = list(rows) if rows is not None else list(values.index)
    allowed = ", ".join(repr(k) for k in table if k) or "none"
    for i, (raw, num) in enumerate(zip(raw_list, num_list)):
        if num is not None and not (isinstance(num, float) and math.isnan(num)) and not isinstance(raw, str):
            if not math.isfinite(num):
                raise SourceError(file, "value is not a finite number", row=int(row_list[i]), column=column,
                                  value=raw, expected="a finite number", sheet=sheet)
            out_v[i] = num
            out_s[i] = OK
            out_r[i] = None
            continue
        try:
            v, s, r = parse_cell(raw, table)
        except ValueError:
            raise SourceError(
                file, "cell is neither a number nor a known status marker", row=int(row_list[i]),
                column=column, value=raw, expected=f"a number or one of the markers {allowed}", sheet=sheet,
            ) from None
        out_v[i] = np.nan if v is None else v
        out_s[i] = s
        out_r[i] = r
    return pd.DataFrame({"value": out_v, "status": out_s, "status_reason": out_r}, index=values.index)
