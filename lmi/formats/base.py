"""The interface every publisher-format module implements, and what staging may use.

A format module (``lmi/formats/<publisher_format>.py``) defines:

- ``NAME: str`` — the format's id;
- ``detect(path: Path) -> bool`` — True when the file is in this format, judged from its content
  (header cells, sheet names), never from its file name alone, so a new file in a supported format
  dropped anywhere under the sources folder is picked up;
- ``read(path: Path) -> object`` — read the file as published: no renames, no type coercion beyond
  what the file format forces, no filtering (header offsets / blocks located by anchor cells are fine);
- ``stage(raw, path: Path, ctx: StageContext) -> list[StagedDataset]`` — type, rename and validate
  into the canonical STAGE_COLUMNS; raise :class:`lmi.errors.SourceError` naming file, row, column and
  the expected form on anything unexpected (missing column, text in numbers, unknown area, duplicate key).
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from lmi.errors import SourceError


class GeoResolver(Protocol):
    """Name and code look-ups that staging may use (implemented by lmi.geography.spine)."""

    def level_of(self, code: str) -> str | None:
        """The area level of a known code, current or retired ('lad', 'lep', ..., 'county'); None if unknown."""

    def code_for_name(self, name: str, level: str) -> str | None:
        """The code of an area named ``name`` at ``level`` (any LAD vintage for 'lad'); None if unknown."""

    def is_english_lad_code(self, code: str) -> bool:
        """True for E06/E07/E08/E09 codes of any vintage known to the lookups."""


@dataclass
class StageContext:
    sources_dir: Path
    geo: GeoResolver

    def rel(self, path: Path) -> str:
        """The path as shown in messages and the catalogue: relative to the sources folder."""
        for a, b in ((Path(path).absolute(), self.sources_dir.absolute()),
                     (Path(path).resolve(), self.sources_dir.resolve())):
            try:
                return str(a.relative_to(b))
            except ValueError:
                continue
        return str(path)


def normalise_name(name: str) -> str:
    """A join key for area names across publishers: case, accents, '&', punctuation, prefixes."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r",\s*(city|county) of\s*$", "", text.strip(), flags=re.I)  # 'Bristol, City of'
    text = text.lower().replace("&", " and ")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = re.sub(r"^the\b", " ", text.strip())
    text = re.sub(r"\b(lep|local enterprise partnership|lsip|mca|ladu)$", " ", text.strip())
    return " ".join(text.split())


def require_columns(df: pd.DataFrame, required: list[str] | tuple[str, ...], *, file: str, row: int = 1,
                    sheet: str | None = None) -> None:
    """Raise SourceError naming the first required column that is missing."""
    present = [str(c) for c in df.columns]
    for col in required:
        if col not in present:
            raise SourceError(file, "required column is missing", row=row, column=col,
                              expected=f"a header row with columns {', '.join(required)}", sheet=sheet)


def check_unique(df: pd.DataFrame, key: list[str], *, file: str, row_col: str = "source_row",
                 sheet: str | None = None) -> None:
    """Raise SourceError on the first duplicated key (naming the duplicate's row)."""
    dup = df.duplicated(key, keep="first")
    if dup.any():
        first = df[dup].iloc[0]
        raise SourceError(file, "duplicated key: this row repeats an earlier one", row=int(first[row_col]),
                          column=", ".join(key), value=tuple(first[k] for k in key),
                          expected="one row per " + " × ".join(key), sheet=sheet)


def csv_header(path: Path) -> list[str]:
    """The first row of a CSV (UTF-8, BOM tolerated), cells stripped; [] for an empty file."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [c.strip() for c in next(csv.reader(fh), [])]


def csv_has_columns(path: Path, columns: set[str] | frozenset[str]) -> bool:
    """For ``detect``: a .csv whose header holds all ``columns``; False (never raises) otherwise."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return False
    try:
        return set(columns) <= set(csv_header(path))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def read_text_csv(path: Path) -> pd.DataFrame:
    """A publisher CSV read as published: every cell as text, blanks kept as '' (markers are parsed in
    staging). Parser and encoding failures become a SourceError naming the file and, where the parser
    reports it, the line."""
    try:
        return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"file is not UTF-8 text (byte {exc.start})", expected="a UTF-8 CSV file") from None
    except pd.errors.EmptyDataError:
        raise SourceError(path, "file is empty", row=1, expected="a CSV header row and data rows") from None
    except pd.errors.ParserError as exc:
        hit = re.search(r"line (\d+)", str(exc))
        raise SourceError(path, f"row cannot be parsed: {str(exc).strip()}", row=int(hit[1]) if hit else None,
                          expected="the same number of fields on every row as in the header") from None
