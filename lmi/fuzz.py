"""Mutation engine for ingest fuzzing, shared by tests/test_fuzz_ingest.py and benchmarks/fuzz_ingest.py.

A real source file is loaded once into a :class:`Doc` (CSV: one grid of strings; XLSX: every sheet's
cell values; plus companion files such as an ELS CSV's JSON metadata). Mutations edit a copy of the
Doc (drop/rename/reorder columns, text in numbers, blank and duplicate rows, unknown and retired area
codes, unexpected suppression markers, wrong sheet names, truncation, wrong encodings, huge values,
empty files, ...). :func:`run_case` writes the mutated copy into a scratch sources folder, detects its
format the way the build does, runs the format's ``read`` + ``stage`` with a real resolver, validates
the staged output the way the build does, and classifies the outcome:

- ``loaded``          staged and passed validation and the invariants below;
- ``rejected``        an :class:`~lmi.errors.SourceError` naming the file and the expected form;
- ``not_recognised``  no format detects the file any more (the build lists it as unrecognised);
- ``poor_message``    an LmiError that does not name the file or the expected form (a failure);
- ``invalid_load``    staged without error but the output breaks an invariant (a failure);
- ``changed_load``    a meaning-preserving mutation (blank rows, padded cells, an extra sheet, CRLF line
                      ends) loaded without error but gave different facts from the unmutated file (a failure);
- ``crashed``         any other exception, i.e. a traceback (a failure).

Random choices go through a *chooser* (``choice``, ``randint``, ``random``): ``random.Random`` in the
benchmark, :class:`DrawChooser` (Hypothesis ``data.draw``) in the test, so Hypothesis can shrink.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import LmiError, SourceError
from lmi.formats import format_modules
from lmi.pipeline.build import stage_all
from lmi.schema import STAGE_COLUMNS

warnings.filterwarnings("ignore", module="openpyxl")

OUTCOMES = ("loaded", "rejected", "not_recognised", "poor_message", "invalid_load", "changed_load", "crashed",
            "timeout")
FAILURES = ("poor_message", "invalid_load", "changed_load", "crashed", "timeout")
# Mutations that do not change what the file says: a load must give exactly the unmutated file's facts.
NEUTRAL_KINDS = ("blank_rows", "whitespace_pad", "extra_sheet", "line_endings")
DATA_SUFFIXES = (".csv", ".xlsx", ".json", ".geojson", ".topojson")
CODE_RE = re.compile(r"^[EWSNK]\d{8}$")
XLSX_CELL_MAX = 32767


class Chooser(Protocol):
    def choice(self, seq: Sequence[Any]) -> Any: ...
    def randint(self, a: int, b: int) -> int: ...
    def random(self) -> float: ...


class DrawChooser:
    """A chooser backed by Hypothesis ``st.data()`` so every random choice is drawn (and shrinkable)."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._data, self._st = data, st

    def choice(self, seq: Sequence[Any]) -> Any:
        seq = list(seq)
        return seq[self._data.draw(self._st.integers(0, len(seq) - 1))]

    def randint(self, a: int, b: int) -> int:
        return self._data.draw(self._st.integers(a, b))

    def random(self) -> float:
        return self._data.draw(self._st.floats(0, 1, exclude_max=True))


# --- documents --------------------------------------------------------------------------------

@dataclass
class Doc:
    """An in-memory, editable copy of one source file (and its companion files)."""

    name: str                                   # file name, e.g. 'ons_els_claimant-count.csv'
    kind: str                                   # 'csv' | 'xlsx' | 'bytes'
    sheets: list[list[Any]] = field(default_factory=list)   # [[title, rows]]; CSV: [[None, rows]]
    meta: dict[str, Any] = field(default_factory=dict)     # csv: bom, newline, delimiter, encoding; xlsx: created
    raw: bytes | None = None                    # set by byte-level mutations: written as is
    companions: dict[str, bytes] = field(default_factory=dict)  # sibling file name -> bytes

    def copy(self) -> "Doc":
        return Doc(self.name, self.kind, [[t, [list(r) for r in rows]] for t, rows in self.sheets],
                   dict(self.meta), self.raw, dict(self.companions))

    # serialisation
    def to_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.kind == "csv":
            return _csv_bytes(self.sheets[0][1], self.meta)
        if self.kind == "xlsx":
            return _xlsx_bytes(self.sheets, self.meta)
        return b""

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.name
        path.write_bytes(self.to_bytes())
        for name, data in self.companions.items():
            (folder / name).write_bytes(data)
        return path


def _csv_bytes(rows: list[list[Any]], meta: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=meta.get("delimiter", ","), lineterminator=meta.get("newline", "\n"))
    for r in rows:
        w.writerow(["" if c is None else c for c in r])
    text = buf.getvalue()
    enc = meta.get("encoding", "utf-8")
    data = text.encode(enc, errors="replace") if enc != "utf-8" else text.encode("utf-8", errors="surrogatepass")
    return (b"\xef\xbb\xbf" + data) if meta.get("bom") and enc == "utf-8" else data


_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_cell(v: Any) -> Any:
    if isinstance(v, str):
        v = _ILLEGAL_XLSX.sub("\ufffd", v)
        return v[:XLSX_CELL_MAX]
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # Excel has no inf/nan cells: they can only arrive as text
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2 ** 63:
        return float(v)
    return v


def _xlsx_bytes(sheets: list[list[Any]], meta: dict[str, Any]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    if meta.get("created") is not None:
        wb.properties.created = meta["created"]
    if not sheets:
        wb.create_sheet("Sheet1")
    used: set[str] = set()
    for title, rows in sheets:
        t = _sheet_title(title, used)
        ws = wb.create_sheet(t)
        for r in rows:
            ws.append([_xlsx_cell(c) for c in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_title(title: Any, used: set[str]) -> str:
    t = re.sub(r"[\[\]\*\?/\\:]", "_", str(title or "Sheet"))[:31] or "Sheet"
    base, n = t, 1
    while t.lower() in used:
        n += 1
        t = f"{base[:28]}_{n}"
    used.add(t.lower())
    return t


def load_doc(path: Path) -> Doc:
    """Load a CSV or XLSX source file (with same-stem companions) into a Doc; other files as bytes."""
    path = Path(path)
    companions = {p.name: p.read_bytes() for p in sorted(path.parent.iterdir())
                  if p.is_file() and p.stem == path.stem and p != path and p.suffix.lower() in DATA_SUFFIXES}
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix == ".csv":
        bom = data.startswith(b"\xef\xbb\xbf")
        text = data.decode("utf-8-sig")
        newline = "\r\n" if "\r\n" in text[:10000] else "\n"
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
        return Doc(path.name, "csv", [[None, rows]], {"bom": bom, "newline": newline, "delimiter": ","},
                   companions=companions)
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheets = []
            for ws in wb.worksheets:
                if hasattr(ws, "reset_dimensions"):
                    ws.reset_dimensions()
                rows = [list(r) for r in ws.iter_rows(values_only=True)]
                while rows and all(c is None for c in rows[-1]):
                    rows.pop()
                sheets.append([ws.title, rows])
            created = wb.properties.created
        finally:
            wb.close()
        return Doc(path.name, "xlsx", sheets, {"created": created}, companions=companions)
    return Doc(path.name, "bytes", raw=data, companions=companions)


# --- helpers over the grid ----------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    if isinstance(v, str):
        s = v.strip().replace(",", "")
        if not s:
            return False
        try:
            float(s)
            return True
        except ValueError:
            return False
    return False


def _nonempty(v: Any) -> bool:
    return v is not None and str(v).strip() != ""


def _header_index(rows: list[list[Any]]) -> int:
    """The header row: the first of the first 40 rows with the most non-empty text cells."""
    best, best_n = 0, -1
    for i, r in enumerate(rows[:40]):
        n = sum(1 for c in r if isinstance(c, str) and c.strip() and not _is_number(c))
        if n > best_n:
            best, best_n = i, n
    return best


def _sheet(doc: Doc, ch: Chooser) -> list[Any] | None:
    cands = [s for s in doc.sheets if s[1]]
    if not cands:
        return None
    big = [s for s in cands if len(s[1]) > 3]
    return ch.choice(big or cands)


def _find_cell(doc: Doc, ch: Chooser, pred: Callable[[Any], bool], tries: int = 60) -> tuple[list, int, int] | None:
    """A random cell satisfying ``pred``: (rows, row index, column index)."""
    for _ in range(tries):
        s = _sheet(doc, ch)
        if s is None:
            return None
        rows = s[1]
        i = ch.randint(0, len(rows) - 1)
        r = rows[i]
        hits = [j for j, c in enumerate(r) if pred(c)]
        if hits:
            return rows, i, ch.choice(hits)
    return None


def _set(rows: list, i: int, j: int, v: Any) -> None:
    r = rows[i]
    if j >= len(r):
        r.extend([None] * (j + 1 - len(r)))
    r[j] = v


def _width(rows: list[list[Any]]) -> int:
    return max((len(r) for r in rows), default=0)


def _loc(doc: Doc, rows: list, i: int, j: int) -> str:
    title = next((t for t, rs in doc.sheets if rs is rows), None)
    where = f"row {i + 1} col {j + 1}"
    return f"sheet {title!r} {where}" if title is not None else where


# --- mutations ---------------------------------------------------------------------------------
# Each takes (doc, chooser, ctx) and returns a description, or None when it does not apply.

TEXT_IN_NUMBER = ("abc", "12,3,4", "1 234", "12%", "£5", "1e", "NaN?", "null", "None", "TRUE", "1.2.3",
                  "five", "0x1F", "12-13", "n/a", "—", "1_000", "+-1", "[1]")
MARKERS_EXTRA = ("*", "!", "~", "x", "..", "-", "c", "u", "**", "[c]", "[x]", "[z]", "z", ":", "N/A", "n/a", "#",
                 "—", "–", "?", "<5", "low", "[low]", ".", " ", "", "[u]", "***", "x ", " *", "S", "DK", "#N/A",
                 "#DIV/0!", "#REF!", "NULL")
HUGE = ("1e308", "-1e308", "1e309", "-1e309", "9" * 40, "inf", "-inf", "nan", "Infinity", str(2 ** 63),
        "1e-320", "-0", "1e400", "123456789012345678901234567890.5", 1e308, -1e308, 2 ** 70, -(2 ** 70),
        float("inf"), float("nan"))
UNKNOWN_CODES = ("E06999999", "E07000000", "E09000999", "X99999999", "E0600000", "e06000001", " E06000001 ",
                 "E06000001x", "E92000002", "E12000010", "E47000099", "E37000999", "E69000099", "E10000099",
                 "W06000099", "K02000001", "E99999999", "", "E06000001\n", "E07 000 026")
UNKNOWN_NAMES = ("Atlantis", "Narnia District", "Unknown", "  ", "Loremshire", "Englandd", "City of Nowhere",
                 "<script>alert(1)</script>", "Robert'); DROP TABLE facts;--", "Ynys Môn", "Gwynedd",
                 "Glasgow City", "Belfast", "Not applicable", "Total", "ENGLAND TOTAL")
RENAMES: tuple[Callable[[str], str], ...] = (
    lambda s: s.upper(), lambda s: s.lower(), lambda s: f" {s} ", lambda s: s + "_x", lambda s: s[:-1],
    lambda s: "", lambda s: "Column1", lambda s: s.replace("_", " "), lambda s: s + " [note 1]",
    lambda s: "\ufeff" + s, lambda s: s.title(),
)


def m_drop_column(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None or _width(s[1]) < 2:
        return None
    j = ch.randint(0, _width(s[1]) - 1)
    for r in s[1]:
        if j < len(r):
            del r[j]
    return f"drop column {j + 1} of {s[0] or 'csv'}"


def m_rename_column(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None:
        return None
    rows = s[1]
    h = _header_index(rows)
    cols = [j for j, c in enumerate(rows[h]) if _nonempty(c)]
    if not cols:
        return None
    j = ch.choice(cols)
    old = str(rows[h][j])
    if ch.random() < 0.2 and len(cols) > 1:
        new = str(rows[h][ch.choice([c for c in cols if c != j])])   # duplicate header name
    else:
        new = ch.choice(RENAMES)(old)
    rows[h][j] = new
    return f"rename header {old!r} -> {new!r} ({_loc(doc, rows, h, j)})"


def m_reorder_columns(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None or _width(s[1]) < 2:
        return None
    w = _width(s[1])
    a = ch.randint(0, w - 1)
    b = ch.randint(0, w - 1)
    if a == b:
        b = (a + 1) % w
    for r in s[1]:
        r.extend([None] * (w - len(r))) if len(r) < w else None
        r[a], r[b] = r[b], r[a]
    return f"swap columns {a + 1} and {b + 1} of {s[0] or 'csv'}"


def m_text_in_number(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, _is_number)
    if hit is None:
        return None
    rows, i, j = hit
    v = ch.choice(TEXT_IN_NUMBER)
    _set(rows, i, j, v)
    return f"text {v!r} in number at {_loc(doc, rows, i, j)}"


def m_suppression_marker(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, _is_number)
    if hit is None:
        return None
    rows, i, j = hit
    v = ch.choice(MARKERS_EXTRA)
    _set(rows, i, j, v)
    return f"marker {v!r} at {_loc(doc, rows, i, j)}"


def m_huge_value(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, _is_number)
    if hit is None:
        return None
    rows, i, j = hit
    v = ch.choice(HUGE)
    if doc.kind == "csv":
        v = str(v)
    _set(rows, i, j, v)
    return f"huge/special value {v!r} at {_loc(doc, rows, i, j)}"


def m_negative_value(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, lambda c: _is_number(c) and not str(c).strip().startswith("-"))
    if hit is None:
        return None
    rows, i, j = hit
    v = rows[i][j]
    nv = -v if isinstance(v, (int, float)) else "-" + str(v).strip()
    _set(rows, i, j, nv)
    return f"negated value at {_loc(doc, rows, i, j)}"


def m_blank_rows(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None:
        return None
    rows = s[1]
    i = ch.randint(0, len(rows))
    n = ch.randint(1, 3)
    filler = ch.choice(("empty", "commas", "spaces"))
    w = _width(rows)
    for _ in range(n):
        if filler == "empty":
            rows.insert(i, [])
        elif filler == "commas":
            rows.insert(i, [""] * w if doc.kind == "csv" else [None] * w)
        else:
            rows.insert(i, [" "] * w)
    return f"{n} blank ({filler}) rows before row {i + 1} of {s[0] or 'csv'}"


def m_duplicate_rows(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None or len(s[1]) < 2:
        return None
    rows = s[1]
    h = _header_index(rows)
    lo = min(h + 1, len(rows) - 1)
    i = ch.randint(lo, len(rows) - 1)
    where = ch.choice(("adjacent", "end"))
    if where == "adjacent":
        rows.insert(i + 1, list(rows[i]))
    else:
        rows.append(list(rows[i]))
    return f"duplicate row {i + 1} ({where}) of {s[0] or 'csv'}"


def m_delete_rows(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None or len(s[1]) < 2:
        return None
    rows = s[1]
    i = ch.randint(0, len(rows) - 1)
    n = ch.randint(1, 5)
    del rows[i:i + n]
    return f"delete rows {i + 1}..{i + n} of {s[0] or 'csv'}"


def m_shuffle_rows(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None or len(s[1]) < 3:
        return None
    rows = s[1]
    a = ch.randint(1, len(rows) - 1)
    b = ch.randint(1, len(rows) - 1)
    rows[a], rows[b] = rows[b], rows[a]
    return f"swap rows {a + 1} and {b + 1} of {s[0] or 'csv'}"


def m_unknown_area_code(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, lambda c: isinstance(c, str) and bool(CODE_RE.match(c.strip())))
    if hit is None:
        return None
    rows, i, j = hit
    v = ch.choice(UNKNOWN_CODES)
    _set(rows, i, j, v)
    return f"unknown area code {v!r} at {_loc(doc, rows, i, j)}"


def m_retired_area_code(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, lambda c: isinstance(c, str) and bool(CODE_RE.match(c.strip())))
    if hit is None or not ctx.retired_codes:
        return None
    rows, i, j = hit
    v = ch.choice(ctx.retired_codes)
    _set(rows, i, j, v)
    return f"retired area code {v!r} at {_loc(doc, rows, i, j)}"


def m_area_name(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    """Replace a text cell that names a known area (or sits beside a code) by an unknown or retired name."""
    names = ctx.area_names

    def is_name(c: Any) -> bool:
        return isinstance(c, str) and c.strip().lower() in names

    hit = _find_cell(doc, ch, is_name, tries=40)
    if hit is None:
        return None
    rows, i, j = hit
    pool = UNKNOWN_NAMES + tuple(ctx.retired_names)
    v = ch.choice(pool)
    _set(rows, i, j, v)
    return f"area name {v!r} at {_loc(doc, rows, i, j)}"


def m_text_cell(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, lambda c: isinstance(c, str) and c.strip() != "" and not _is_number(c))
    if hit is None:
        return None
    rows, i, j = hit
    v = ch.choice(("", "???", "x" * ch.randint(1000, 40000), "=1+1", "@SUM(A1)", "a\x00b", "line\nbreak",
                   "\t", "日本語", "'; DROP TABLE facts; --", "../../etc/passwd", str(ch.randint(-5, 10 ** 6)),
                   rows[i][j].upper(), rows[i][j] + " "))
    _set(rows, i, j, v)
    return f"text cell -> {v[:30]!r} at {_loc(doc, rows, i, j)}"


def m_type_confusion(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if doc.kind != "xlsx":
        return m_text_in_number(doc, ch, ctx)
    hit = _find_cell(doc, ch, lambda c: c is not None)
    if hit is None:
        return None
    rows, i, j = hit
    v = ch.choice((datetime(2023, 4, 1), True, False, "123", " 45.6 ", 0, -1, 3.5, "2023", None))
    _set(rows, i, j, v)
    return f"cell type -> {v!r} at {_loc(doc, rows, i, j)}"


def m_whitespace_pad(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    hit = _find_cell(doc, ch, lambda c: isinstance(c, str) and c.strip() != "")
    if hit is None:
        return None
    rows, i, j = hit
    pad = ch.choice((" ", "\u00a0", "  ", "\t"))
    _set(rows, i, j, pad + rows[i][j] + pad)
    return f"padded {rows[i][j][:30]!r} at {_loc(doc, rows, i, j)}"


def m_truncate_rows(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None:
        return None
    rows = s[1]
    k = ch.randint(0, max(0, len(rows) - 1))
    del rows[k:]
    return f"truncate {s[0] or 'csv'} after row {k}"


def m_ragged_rows(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None or not s[1]:
        return None
    rows = s[1]
    i = ch.randint(0, len(rows) - 1)
    if ch.random() < 0.5 and rows[i]:
        rows[i] = rows[i][: ch.randint(0, max(0, len(rows[i]) - 1))]
        return f"short row {i + 1} of {s[0] or 'csv'}"
    rows[i] = list(rows[i]) + ["extra"] * ch.randint(1, 3)
    return f"long row {i + 1} of {s[0] or 'csv'}"


# sheet-level (xlsx only)
def m_rename_sheet(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if doc.kind != "xlsx" or not doc.sheets:
        return None
    s = ch.choice(doc.sheets)
    old = str(s[0])
    s[0] = ch.choice(("Sheet1", old.lower(), old + " ", old[:-1] or "X", "Data (2)", old.upper() + "_OLD", "Table 1"))
    return f"rename sheet {old!r} -> {s[0]!r}"


def m_drop_sheet(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if doc.kind != "xlsx" or len(doc.sheets) < 1:
        return None
    i = ch.randint(0, len(doc.sheets) - 1)
    title = doc.sheets[i][0]
    del doc.sheets[i]
    return f"drop sheet {title!r}"


def m_reorder_sheets(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if doc.kind != "xlsx" or len(doc.sheets) < 2:
        return None
    i = ch.randint(0, len(doc.sheets) - 1)
    s = doc.sheets.pop(i)
    k = ch.randint(0, len(doc.sheets))
    doc.sheets.insert(k, s)
    return f"move sheet {s[0]!r} to position {k + 1}"


def m_extra_sheet(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if doc.kind != "xlsx":
        return None
    k = ch.randint(0, len(doc.sheets))
    doc.sheets.insert(k, ["Notes (added)", [["added sheet"], ["x", 1, 2]]])
    return f"extra sheet at position {k + 1}"


def m_empty_sheet(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    s = _sheet(doc, ch)
    if s is None:
        return None
    s[1].clear()
    return f"empty sheet {s[0] or 'csv'}"


# companion (JSON metadata) mutations
def m_companion(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if not doc.companions:
        return None
    name = ch.choice(sorted(doc.companions))
    data = doc.companions[name]
    how = ch.choice(("delete", "empty", "truncate", "not_json", "list", "drop_key", "wrong_types", "latin1"))
    if how == "delete":
        del doc.companions[name]
    elif how == "empty":
        doc.companions[name] = b""
    elif how == "truncate":
        doc.companions[name] = data[: ch.randint(0, max(0, len(data) - 1))]
    elif how == "not_json":
        doc.companions[name] = b"<html>not json</html>"
    elif how == "list":
        doc.companions[name] = b"[1, 2, 3]"
    elif how == "latin1":
        doc.companions[name] = data.decode("utf-8", "replace").replace("e", "\u00e9").encode("latin-1", "replace")
    else:
        try:
            obj = json.loads(data.decode("utf-8-sig"))
        except ValueError:
            return None
        if not isinstance(obj, dict) or not obj:
            return None
        key = ch.choice(sorted(obj))
        if how == "drop_key":
            del obj[key]
        else:
            inner = obj[key]
            if isinstance(inner, dict) and inner:
                k2 = ch.choice(sorted(inner))
                inner[k2] = ch.choice((None, 42, "two", [], {"x": 1}, "99/99/9999"))
                if isinstance(inner.get(k2), dict) or k2 == "":
                    pass
                key = f"{key}.{k2}"
            else:
                obj[key] = ch.choice((None, 42, [], "text"))
        doc.companions[name] = json.dumps(obj).encode()
        how = f"{how} {key!r}"
    return f"companion {name}: {how}"


# byte-level (applied last: they replace the serialised bytes)
def b_truncate_bytes(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    data = doc.to_bytes()
    k = ch.randint(0, max(0, len(data) - 1))
    doc.raw = data[:k]
    return f"truncate file at byte {k} of {len(data)}"


def b_empty_file(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    how = ch.choice(("zero", "bom", "whitespace", "header_only", "newlines"))
    if how == "header_only" and doc.kind == "csv":
        doc.raw = _csv_bytes(doc.sheets[0][1][:1], doc.meta)
    elif how == "header_only":
        doc.raw = _xlsx_bytes([[t, rows[:1]] for t, rows in doc.sheets], doc.meta)
    else:
        doc.raw = {"zero": b"", "bom": b"\xef\xbb\xbf", "whitespace": b"   \n\t\n", "newlines": b"\n\n\n",
                   "header_only": b""}[how]
    return f"empty file ({how})"


def b_wrong_encoding(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if doc.kind == "csv":
        rows = doc.sheets[0][1]
        # make sure non-ASCII text is present so the encoding matters
        if len(rows) > 1 and rows[1]:
            rows[1][-1] = (rows[1][-1] or "") + " Ynys Môn £ – é"
        enc = ch.choice(("utf-16", "utf-16-le", "latin-1", "cp1252", "utf-32", "mac_roman", "utf-8-nobom",
                         "utf-8-doublebom"))
        text = doc.to_bytes().decode("utf-8-sig", errors="replace")
        if enc == "utf-8-nobom":
            doc.raw = text.encode("utf-8")
        elif enc == "utf-8-doublebom":
            doc.raw = b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode("utf-8")
        else:
            doc.raw = text.encode(enc, errors="replace")
        return f"re-encoded as {enc}"
    if doc.kind == "xlsx":
        how = ch.choice(("csv_in_xlsx", "zip_garbage", "xls_magic"))
        if how == "csv_in_xlsx":
            first = doc.sheets[0][1] if doc.sheets else []
            doc.raw = _csv_bytes(first[:50], {"newline": "\n"})
        elif how == "zip_garbage":
            data = bytearray(doc.to_bytes())
            for _ in range(ch.randint(1, 20)):
                if data:
                    data[ch.randint(0, len(data) - 1)] = ch.randint(0, 255)
            doc.raw = bytes(data)
        else:
            doc.raw = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
        return f"wrong container ({how})"
    return None


def b_line_endings(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    if doc.kind != "csv":
        return None
    how = ch.choice(("crlf", "cr", "semicolon", "tab"))
    if how in ("crlf", "cr"):
        doc.meta["newline"] = "\r\n" if how == "crlf" else "\r"
    else:
        doc.meta["delimiter"] = ";" if how == "semicolon" else "\t"
    return f"csv dialect: {how}"


def b_garbage_bytes(doc: Doc, ch: Chooser, ctx: "CaseContext") -> str | None:
    data = bytearray(doc.to_bytes())
    if not data:
        return None
    for _ in range(ch.randint(1, 8)):
        data[ch.randint(0, len(data) - 1)] = ch.choice((0, 0xFF, 0x80, 0x22, 0x2C, 0x0A, 0xC3))
    doc.raw = bytes(data)
    return "random bytes overwritten"


GRID_MUTATIONS: dict[str, Callable[..., str | None]] = {
    "drop_column": m_drop_column, "rename_column": m_rename_column, "reorder_columns": m_reorder_columns,
    "text_in_number": m_text_in_number, "suppression_marker": m_suppression_marker, "huge_value": m_huge_value,
    "negative_value": m_negative_value, "blank_rows": m_blank_rows, "duplicate_rows": m_duplicate_rows,
    "delete_rows": m_delete_rows, "shuffle_rows": m_shuffle_rows, "unknown_area_code": m_unknown_area_code,
    "retired_area_code": m_retired_area_code, "area_name": m_area_name, "text_cell": m_text_cell,
    "type_confusion": m_type_confusion, "whitespace_pad": m_whitespace_pad, "truncate_rows": m_truncate_rows,
    "ragged_rows": m_ragged_rows, "rename_sheet": m_rename_sheet, "drop_sheet": m_drop_sheet,
    "reorder_sheets": m_reorder_sheets, "extra_sheet": m_extra_sheet, "empty_sheet": m_empty_sheet,
    "companion": m_companion, "line_endings": b_line_endings,
}
BYTE_MUTATIONS: dict[str, Callable[..., str | None]] = {
    "truncate_bytes": b_truncate_bytes, "empty_file": b_empty_file, "wrong_encoding": b_wrong_encoding,
    "garbage_bytes": b_garbage_bytes,
}
MUTATIONS = {**GRID_MUTATIONS, **BYTE_MUTATIONS}
# mutations that should normally leave the file detectable *and* loadable (a clean copy as control)
NEUTRAL = "identity"


def mutate(base: Doc, ch: Chooser, ctx: "CaseContext", kind: str | None = None, stack: int | None = None) -> tuple[Doc, list[str]]:
    """Apply one named mutation (or 1-3 random ones: grid mutations first, at most one byte-level last)."""
    doc = base.copy()
    done: list[str] = []
    if kind == NEUTRAL:
        return doc, ["identity (unmutated copy)"]
    kinds = [kind] if kind else []
    if not kinds:
        n = stack or ch.choice((1, 1, 1, 2, 3))
        for _ in range(n):
            kinds.append(ch.choice(sorted(MUTATIONS)))
        grid = [k for k in kinds if k in GRID_MUTATIONS]
        byte = [k for k in kinds if k in BYTE_MUTATIONS][:1]
        kinds = grid + byte
    for k in kinds:
        desc = MUTATIONS[k](doc, ch, ctx)
        if desc is None:
            # not applicable to this file: fall back to a mutation that always applies
            desc = m_blank_rows(doc, ch, ctx) if doc.kind in ("csv", "xlsx") else b_truncate_bytes(doc, ch, ctx)
            desc = f"{k} n/a -> {desc}"
        done.append(f"{k}: {desc}")
    return doc, done


def is_neutral(mutations: list[str]) -> bool:
    """True when ``mutations`` (descriptions from :func:`mutate`) is one meaning-preserving mutation."""
    if len(mutations) != 1:
        return False
    kind, _, desc = mutations[0].partition(": ")
    if kind == "line_endings":
        return desc.endswith(("crlf", "cr"))
    if kind == "extra_sheet":
        return not desc.endswith("position 1")  # some formats read the first sheet by position
    return kind in NEUTRAL_KINDS and " n/a -> " not in desc


def fingerprint(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Key, value and status of staged rows, sorted: what a meaning-preserving mutation must not change."""
    cols = ["measure", "area_code", "period", "breakdown_type", "breakdown_code", "value", "status"]
    if not frames:
        return pd.DataFrame(columns=cols)
    f = pd.concat([x[cols] for x in frames if len(x)], ignore_index=True) if any(len(x) for x in frames) \
        else pd.DataFrame(columns=cols)
    return f.sort_values(cols[:5]).reset_index(drop=True)


def first_difference(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """None when the fingerprints match, else a description of the first difference."""
    key = ["measure", "area_code", "period", "breakdown_type", "breakdown_code"]
    m = a.merge(b, on=key, how="outer", suffixes=("_before", "_after"), indicator=True)
    gone, new = m[m["_merge"] == "left_only"], m[m["_merge"] == "right_only"]
    if len(gone):
        return f"{len(gone)} rows silently dropped, e.g. {tuple(gone.iloc[0][key])}"
    if len(new):
        return f"{len(new)} rows appeared, e.g. {tuple(new.iloc[0][key])}"
    both = m[m["_merge"] == "both"]
    va, vb = both["value_before"].astype(float), both["value_after"].astype(float)
    diff = ~((va == vb) | (va.isna() & vb.isna())) | (both["status_before"] != both["status_after"])
    if diff.any():
        r = both[diff].iloc[0]
        return (f"{int(diff.sum())} values changed, e.g. {tuple(r[key])}: {r['value_before']!r}/{r['status_before']} "
                f"-> {r['value_after']!r}/{r['status_after']}")
    return None


# --- running a case ----------------------------------------------------------------------------

@dataclass
class CaseContext:
    """What every case needs: the resolver, a scratch sources folder, values used by mutations."""

    geo: Any                       # lmi.geography.spine.Spine (GeoResolver)
    scratch: Path                  # scratch sources folder (holds symlinks to the lookups)
    retired_codes: list[str] = field(default_factory=list)
    retired_names: list[str] = field(default_factory=list)
    area_names: frozenset[str] = frozenset()
    n: int = 0

    @classmethod
    def create(cls, geo: Any, sources_dir: Path, scratch: Path) -> "CaseContext":
        """A scratch folder with symlinks to the real lookups (some formats read the ward lookup from there)."""
        scratch.mkdir(parents=True, exist_ok=True)
        lk = scratch / "lookups"
        if not lk.exists():
            lk.mkdir()
            for p in sorted((Path(sources_dir) / "lookups").glob("*")):
                if p.is_file():
                    (lk / p.name).symlink_to(p.resolve())
        lineage = getattr(geo, "lineage", None)
        retired_codes, retired_names = [], []
        if isinstance(lineage, pd.DataFrame) and len(lineage):
            retired_codes = sorted(set(lineage["old_code"].astype(str)))
            retired_names = sorted(set(lineage["old_name"].astype(str)))
        retired_codes += sorted(getattr(geo, "retired_areas", {}) or {})
        areas = getattr(geo, "areas", None)
        names: frozenset[str] = frozenset()
        if isinstance(areas, pd.DataFrame) and "area_name" in areas:
            names = frozenset(str(n).strip().lower() for n in areas["area_name"].dropna())
        return cls(geo=geo, scratch=scratch, retired_codes=retired_codes, retired_names=retired_names,
                   area_names=names)


@dataclass
class Outcome:
    status: str
    fmt: str | None
    file: str
    mutations: list[str]
    message: str = ""
    detail: str = ""            # traceback for crashes, failed invariant for invalid loads
    rows: int = 0
    seconds: float = 0.0
    has_row: bool = False
    has_column: bool = False
    escaped: str = ""           # '<format>: <exception type>' when the build's safety net converted it
    facts: pd.DataFrame | None = None   # fingerprint of the loaded rows (only when asked for)

    def summary(self) -> str:
        return f"[{self.status}] {self.file} ({self.fmt}) <- {'; '.join(self.mutations)}: {self.message[:300]}"


def detect(path: Path) -> tuple[Any, list[str]]:
    """The first format module that detects ``path`` (as the build does), and any detector exceptions."""
    raised = []
    for mod in format_modules():
        try:
            if mod.detect(path):
                return mod, raised
        except Exception as exc:  # the build treats a raising detector as 'not this format'
            raised.append(f"{mod.NAME}.detect raised {type(exc).__name__}: {exc}")
    return None, raised


def check_frame(f: pd.DataFrame) -> None:
    """Invariants every loaded file's validated rows must meet (beyond the build's own validation)."""
    if len(f) == 0:
        return
    problems = []
    v = pd.to_numeric(f["value"], errors="coerce")
    if np.isinf(v).any():
        problems.append(f"infinite value at source row {int(f.loc[np.isinf(v), 'source_row'].iloc[0])}")
    ok = f["status"].eq(markers.OK)
    if (ok & v.isna()).any():
        problems.append("status ok without a value")
    blank = f["status"].isin([markers.SUPPRESSED, markers.MISSING, markers.NOT_COMPARABLE])
    if (blank & v.notna()).any():
        r = f[blank & v.notna()].iloc[0]
        problems.append(f"value {r['value']!r} kept with status {r['status']!r} (row {r['source_row']})")
    if f["period_start"].isna().any() or f["period_end"].isna().any():
        problems.append("missing period start/end")
    elif (f["period_start"] > f["period_end"]).any():
        problems.append("period start after period end")
    codes = f["area_code"]
    if codes.isna().any() or (codes.astype(str).str.strip() != codes.astype(str)).any():
        problems.append("area code missing or padded")
    missing = [c for c in STAGE_COLUMNS if c not in f.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    if problems:
        raise _Invalid("; ".join(problems))


class _Invalid(Exception):
    pass


class CaseTimeout(BaseException):
    """Raised (by a SIGALRM handler in the benchmark) when one case runs too long; not an Exception,
    so a format's ``except Exception`` cannot swallow it."""


def _names_file(err: SourceError, path: Path) -> bool:
    """True when the error's file is the mutated file or one of its companions (by name)."""
    shown = str(err.file)
    stems = {path.name, path.stem}
    return any(s and s in shown for s in stems)


def classify_error(exc: BaseException, path: Path) -> tuple[str, str]:
    """('rejected' | 'poor_message' | 'crashed', message) for an exception raised by read/stage."""
    if isinstance(exc, SourceError):
        if _names_file(exc, path) and exc.expected:
            return "rejected", str(exc)
        why = "does not name the file" if not _names_file(exc, path) else "does not give the expected form"
        return "poor_message", f"SourceError {why}: {exc}"
    if isinstance(exc, LmiError):
        text = str(exc)
        if path.name in text or path.stem in text:
            return "poor_message", f"{type(exc).__name__} without file/row/column/expected fields: {text}"
        return "poor_message", f"{type(exc).__name__}: {text}"
    return "crashed", f"{type(exc).__name__}: {exc}"


def run_case(doc: Doc, mutations: list[str], cctx: CaseContext, rel_dir: str = "case",
             expect: pd.DataFrame | None = None, keep_facts: bool = False) -> Outcome:
    """Write ``doc`` into a fresh folder under the scratch sources, detect, read, stage, validate, classify.

    ``expect``: the unmutated file's :func:`fingerprint`; when given and the mutations are meaning-preserving
    (:func:`is_neutral`), a load must reproduce it exactly.
    """
    cctx.n += 1
    folder = cctx.scratch / f"{rel_dir}{cctx.n}"
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    path = doc.write(folder)
    out = Outcome(status="crashed", fmt=None, file=doc.name, mutations=mutations)
    try:
        mod, raised = detect(path)
        if raised:
            out.detail = "; ".join(raised)
        if mod is None:
            out.status = "not_recognised"
            return out
        out.fmt = mod.NAME
        try:
            # the build's own staging step for one file: read + stage + the build's validation
            _, frames = stage_all(cctx.scratch, cctx.geo, {path: mod})
            for f in frames:
                check_frame(f)
            out.status, out.rows = "loaded", int(sum(len(f) for f in frames))
            if keep_facts or (expect is not None and is_neutral(mutations)):
                out.facts = fingerprint(frames)
            if expect is not None and is_neutral(mutations):
                diff = first_difference(expect, out.facts)
                if diff:
                    out.status, out.message = "changed_load", diff
                out.facts = out.facts if keep_facts else None
        except _Invalid as exc:
            out.status, out.message = "invalid_load", str(exc)
        except Exception as exc:  # noqa: BLE001 - classifying everything is the point
            out.status, out.message = classify_error(exc, path)
            if isinstance(exc, SourceError):
                out.has_row, out.has_column = exc.row is not None, exc.column is not None
            cause = exc.__cause__
            if isinstance(exc, SourceError) and cause is not None and not isinstance(cause, LmiError):
                # rejected only by the build's safety net: the format module itself let this escape
                out.escaped = f"{mod.NAME}: {type(cause).__name__}"
                out.detail = "".join(traceback.format_exception(cause, limit=-4))
            if out.status == "crashed":
                out.detail = traceback.format_exc(limit=-6)
        return out
    finally:
        out.seconds = time.perf_counter() - t0
        shutil.rmtree(folder, ignore_errors=True)


# --- bases -------------------------------------------------------------------------------------

@dataclass
class Base:
    """A real source file ready for mutation (possibly shrunk so one case stages quickly)."""

    rel: str
    fmt: str
    doc: Doc
    shrink: str          # how it was shrunk ('none', 'rows 300+30', 'sheets 12', ...)
    seconds: float       # time to stage the unmutated base
    facts: pd.DataFrame | None = None   # fingerprint of the unmutated base's staged rows


def _shrunk(doc: Doc, head: int, tail: int) -> Doc:
    d = doc.copy()
    for s in d.sheets:
        rows = s[1]
        if len(rows) > head + tail + 20:
            s[1] = rows[:head] + rows[-tail:]
    return d


def prepare_base(path: Path, sources_dir: Path, cctx: CaseContext, prune_sheets: bool = True) -> Base | None:
    """Load ``path`` as a Doc and shrink it while its unmutated copy still stages cleanly (the control case).

    Rows: keep a few hundred per sheet (head and tail, so headers and footnotes survive). Sheets: drop
    chunks of sheets the format does not need (greedy, about six tries). Returns None when no format
    detects the file (reference files such as boundaries and lookups are not publisher formats).
    """
    mod, _ = detect(path)
    if mod is None:
        return None
    doc = load_doc(path)
    rel = str(Path(path).relative_to(sources_dir))
    if doc.kind == "bytes":
        return Base(rel, mod.NAME, doc, "none (bytes)", 0.0)

    def stages(d: Doc, keep: bool = False) -> Outcome:
        return run_case(d, ["identity"], cctx, rel_dir="base", keep_facts=keep)

    def clean(o: Outcome) -> bool:
        return o.status == "loaded" and o.fmt == mod.NAME

    labels: list[str] = []
    cur, best = doc, None
    for head, tail in ((300, 30), (1500, 30)):
        cand = _shrunk(doc, head, tail)
        if _same_shape(cand, doc):
            break
        o = stages(cand, keep=True)
        if clean(o):
            cur, best = cand, o
            labels.append(f"rows {head}+{tail}")
            break
    if best is None:
        best = stages(cur, keep=True)
        if not clean(best):
            raise RuntimeError(f"the unmutated copy of {rel} does not stage cleanly: {best.summary()}")
    if prune_sheets and cur.kind == "xlsx" and len(cur.sheets) > 8:
        n0 = len(cur.sheets)
        size = max(1, -(-n0 // 6))
        i = 0
        while i < len(cur.sheets) and len(cur.sheets) - size >= 8:
            cand = cur.copy()
            del cand.sheets[i:i + size]
            o = stages(cand, keep=True)
            if clean(o):
                cur, best = cand, o
                continue
            i += size
        if len(cur.sheets) < n0:
            labels.append(f"sheets {len(cur.sheets)}/{n0}")
    return Base(rel, mod.NAME, cur, ", ".join(labels) or "none", best.seconds, best.facts)


def _same_shape(a: Doc, b: Doc) -> bool:
    return len(a.sheets) == len(b.sheets) and all(len(x[1]) == len(y[1]) for x, y in zip(a.sheets, b.sheets))


def source_files(sources_dir: Path) -> list[Path]:
    """Every data file under the sources folder (the build's own file list)."""
    from lmi.pipeline.build import _sources_files

    return _sources_files(Path(sources_dir))


def tally(outcomes: list[Outcome]) -> dict[str, int]:
    t = {k: 0 for k in OUTCOMES}
    for o in outcomes:
        t[o.status] = t.get(o.status, 0) + 1
    return t
