"""Read an advert feed (CSV or Parquet) with DuckDB into typed, validated Arrow batches.

One SQL statement per file renames the feed's columns onto the canonical schema (mapping file),
types them, computes the de-duplication keys and the annual salary, and flags the first bad value
of each row; Python only raises :class:`SourceError` for the first flagged row of a batch. DuckDB
streams the file (``fetch_record_batch``), keeping rows in file order, so row numbers are exact:
for CSV the row is the line number (header = row 1, no embedded line breaks), for Parquet the
1-based record number.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmi.adverts import schema as S
from lmi.errors import SourceError

BATCH_ROWS = 1_000_000


@dataclass
class Feed:
    path: Path
    shown: str                 # path as shown in messages
    kind: str                  # 'csv' | 'parquet'
    mapping: S.Mapping
    feed_columns: dict[str, str]   # canonical -> feed column actually used
    types: dict[str, str]          # feed column -> DuckDB type

    @property
    def row_offset(self) -> int:
        """Row number of the first data row: CSV line 2 (after the header), else record 1."""
        return 2 if self.kind == "csv" else 1


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def feed_kind(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "csv"


FEED_VIEW = "feed_raw"


def _scan(feed_path: Path, kind: str, mapping: S.Mapping) -> str:
    """The relation the feed SQL reads: the view ``open_feed`` registered (no file path in SQL text)."""
    return "part" if kind == "relation" else FEED_VIEW  # 'part': a registered Dask partition


def _register(con: duckdb.DuckDBPyConnection, path: Path, kind: str, mapping: S.Mapping) -> None:
    """Register the feed file as the view FEED_VIEW through the relation API (path and options passed
    as values, never formatted into SQL)."""
    if kind == "parquet":
        rel = con.read_parquet(str(path))
    else:
        rel = con.read_csv(str(path), header=True, all_varchar=True, sep=mapping.delimiter, quotechar='"',
                           escapechar='"', encoding=mapping.encoding)
    rel.create_view(FEED_VIEW, replace=True)


def open_feed(con: duckdb.DuckDBPyConnection, path: str | Path, mapping: S.Mapping, shown: str | None = None) -> Feed:
    """Check the file's header against the mapping; SourceError naming the missing column."""
    path = Path(path)
    shown = shown or str(path)
    if not path.is_file():
        raise SourceError(shown, "file not found", expected="an advert feed in CSV or Parquet")
    kind = feed_kind(path)
    try:
        _register(con, path, kind, mapping)
        desc = con.execute("DESCRIBE SELECT * FROM " + FEED_VIEW).fetchall()
    except duckdb.Error as exc:
        raise SourceError(shown, f"cannot read as {kind.upper()}: {str(exc).splitlines()[0]}",
                          expected="a CSV file with a header row, or a Parquet file") from exc
    types = {r[0]: r[1] for r in desc}
    lower = {c.lower().strip(): c for c in types}
    used: dict[str, str] = {}
    for canon in S.CANONICAL:
        if canon in mapping.constants:
            continue
        if canon in mapping.columns:
            col = mapping.columns[canon]
            if col not in types:
                raise SourceError(shown, f"column named in the mapping file for {canon!r} is missing", row=1,
                                  column=col, expected=f"a header with columns {', '.join(types)[:200]} to include {col!r}")
            used[canon] = col
        elif canon in types:
            used[canon] = canon
        elif canon in lower:
            used[canon] = lower[canon]
        elif canon in S.REQUIRED:
            raise SourceError(shown, f"required column {canon!r} is missing", row=1, column=canon,
                              expected="the canonical columns " + ", ".join(S.REQUIRED)
                              + " (or a --mapping file naming the feed's own columns)")
    return Feed(path, shown, kind, mapping, used, types)


def _period_case(expr: str) -> str:
    groups: dict[str, list[str]] = {}
    for alias, canon in S.PERIOD_ALIASES.items():
        groups.setdefault(canon, []).append(alias)
    whens = " ".join(f"WHEN {expr} IN ({', '.join(_lit(a) for a in al)}) THEN {_lit(c)}" for c, al in groups.items())
    return f"(CASE {whens} END)"


def _is_numeric(t: str) -> bool:
    return any(k in t for k in ("INT", "DECIMAL", "DOUBLE", "FLOAT", "REAL", "NUMERIC"))


def build_sql(feed: Feed, soc_units: list[str]) -> str:
    """The per-file SELECT (see module docstring).

    Columns already typed in the file (Parquet DOUBLE, DATE, ...) are used as they are; text columns
    are trimmed and parsed, and only they can fail the 'form' checks.
    """
    m = feed.mapping
    raw: dict[str, str] = {}        # text as found (NULL literal when the column is typed or absent)
    typed: dict[str, str] = {}      # typed value
    for canon in S.CANONICAL:
        col = feed.feed_columns.get(canon)
        t = feed.types[col].upper() if col else ""
        if canon in m.constants:
            raw[canon] = _lit(m.constants[canon])
        elif col is None:
            raw[canon] = "CAST(NULL AS VARCHAR)"
        elif canon in S.NUMERIC and _is_numeric(t):
            raw[canon] = "CAST(NULL AS VARCHAR)"
            typed[canon] = f"CAST({_q(col)} AS DOUBLE)"
        elif canon in S.DATES and ("DATE" in t or "TIMESTAMP" in t):
            raw[canon] = "CAST(NULL AS VARCHAR)"
            typed[canon] = f"CAST({_q(col)} AS DATE)"
        elif canon == "soc2020" and _is_numeric(t):
            raw[canon] = f"CAST(TRY_CAST({_q(col)} AS BIGINT) AS VARCHAR)"
        elif t == "VARCHAR" and canon in ("advert_id", "title", "employer", "location", "postcode"):
            # trimming these (mostly distinct) strings costs more than the rest of the query: blank
            # and whitespace-only values are caught in read_batches, keys are normalised in clean
            raw[canon] = f"NULLIF({_q(col)}, '')"
        elif t == "VARCHAR":
            raw[canon] = f"NULLIF(TRIM({_q(col)}), '')"
        else:
            raw[canon] = f"NULLIF(TRIM(CAST({_q(col)} AS VARCHAR)), '')"
    for c in S.DATES:
        if c in typed:
            continue
        if m.date_format:
            typed[c] = f"CAST(TRY_STRPTIME(r_{c}, {_lit(m.date_format)}) AS DATE)"
        else:
            typed[c] = f"COALESCE(TRY_CAST(r_{c} AS DATE), CAST(TRY_CAST(r_{c} AS TIMESTAMP) AS DATE))"
    for c in ("latitude", "longitude"):
        typed.setdefault(c, f"TRY_CAST(r_{c} AS DOUBLE)")
    for c in ("salary_min", "salary_max"):
        typed.setdefault(c, f"COALESCE(TRY_CAST(r_{c} AS DOUBLE), TRY_CAST(regexp_replace(r_{c}, '[£,\\s]', '', 'g') AS DOUBLE))")
    inner = ",\n  ".join(f"{raw[c]} AS r_{c}" for c in S.CANONICAL)
    for c in S.DATES + S.NUMERIC:
        if not typed[c].startswith(("TRY", "COALESCE")):
            # typed in the file: reference the source column through the inner select
            inner += f",\n  {typed[c]} AS t_{c}"
            typed[c] = f"t_{c}"
    typed_sql = ",\n  ".join(f"{typed[c]} AS {c}" for c in S.DATES + S.NUMERIC)
    period = f"{_period_case('lower(r_salary_period)')} AS period_norm"
    units = ", ".join(_lit(u) for u in soc_units)

    def has_raw(c: str) -> bool:
        return not raw[c].startswith("CAST(NULL")

    checks = [
        ("advert_id", "blank", "r_advert_id IS NULL"),
        ("posted_date", "blank", "r_posted_date IS NULL" if has_raw("posted_date") else "posted_date IS NULL"),
        ("posted_date", "form", "posted_date IS NULL"),
        ("title", "blank", "r_title IS NULL"),
        ("closing_date", "form", "r_closing_date IS NOT NULL AND closing_date IS NULL", has_raw("closing_date")),
        ("closing_date", "before", "closing_date < posted_date"),
        ("latitude", "form", "r_latitude IS NOT NULL AND latitude IS NULL", has_raw("latitude")),
        ("longitude", "form", "r_longitude IS NOT NULL AND longitude IS NULL", has_raw("longitude")),
        ("latitude", "pair", "(latitude IS NULL) <> (longitude IS NULL)"),
        ("latitude", "range", "NOT (latitude BETWEEN -90 AND 90)"),
        ("longitude", "range", "NOT (longitude BETWEEN -180 AND 180)"),
        ("soc2020", "form", f"r_soc2020 IS NOT NULL AND r_soc2020 NOT IN ({units})", has_raw("soc2020")),
        ("salary_min", "form", "r_salary_min IS NOT NULL AND salary_min IS NULL", has_raw("salary_min")),
        ("salary_max", "form", "r_salary_max IS NOT NULL AND salary_max IS NULL", has_raw("salary_max")),
        ("salary_min", "range", "salary_min < 0"),
        ("salary_max", "range", "salary_max < 0"),
        ("salary_max", "below", "salary_max < salary_min"),
        ("salary_period", "form", "r_salary_period IS NOT NULL AND period_norm IS NULL", has_raw("salary_period")),
    ]
    checks = [c[:3] for c in checks if len(c) == 3 or c[3]]
    bad_col = " ".join(f"WHEN {cond} THEN '{col}:{kind}'" for col, kind, cond in checks)

    def shown(col: str) -> str:
        if has_raw(col):
            return f"CAST(r_{col} AS VARCHAR)"
        return f"CAST({col} AS VARCHAR)" if col in S.DATES + S.NUMERIC else "NULL"

    bad_val = " ".join(f"WHEN '{col}:{kind}' THEN {shown(col)}" for col, kind, cond in checks)
    factor = " ".join(f"WHEN '{k}' THEN {v}" for k, v in S.SALARY_FACTORS.items())
    lo, hi = S.PLAUSIBLE_ANNUAL
    return f"""
WITH r AS (SELECT
  {inner}
FROM {_scan(feed.path, feed.kind, m)}),
t AS (SELECT *,
  {typed_sql},
  {period}
FROM r),
s AS (SELECT *,
  CASE WHEN salary_min IS NOT NULL AND salary_max IS NOT NULL THEN (salary_min + salary_max) / 2
       ELSE COALESCE(salary_min, salary_max) END AS amount,
  CASE period_norm {factor} END AS factor
FROM t),
v AS (SELECT *, CASE {bad_col} END AS _bad FROM s)
SELECT
  r_advert_id AS advert_id, r_source AS source, posted_date, closing_date, r_title AS title,
  r_employer AS employer, latitude, longitude, r_postcode AS postcode, r_location AS location,
  r_soc2020 AS soc2020,
  CASE WHEN amount IS NULL THEN NULL
       WHEN factor IS NULL AND amount < {S.ANNUAL_IF_NO_PERIOD_MIN} THEN NULL
       WHEN amount * COALESCE(factor, 1) NOT BETWEEN {lo} AND {hi} THEN NULL
       ELSE amount * COALESCE(factor, 1) END AS salary_annual,
  CASE WHEN amount IS NULL THEN NULL
       WHEN factor IS NULL AND amount < {S.ANNUAL_IF_NO_PERIOD_MIN} THEN 'no period'
       WHEN amount * COALESCE(factor, 1) NOT BETWEEN {lo} AND {hi} THEN 'implausible'
       WHEN factor IS NULL THEN 'assumed annual'
       ELSE NULL END AS salary_note,
  _bad,
  CASE WHEN _bad IS NOT NULL THEN (CASE _bad {bad_val} END) END AS _bad_value
FROM v
"""


_MESSAGES = {
    "blank": "required value is blank",
    "form": "value is not in the expected form",
    "before": "closing date is before the posted date",
    "pair": "latitude and longitude must be given together",
    "range": "value is out of range",
    "below": "salary_max is below salary_min",
}


def read_batches(con: duckdb.DuckDBPyConnection, feed: Feed, soc_units: list[str],
                 batch_rows: int = BATCH_ROWS, row_offset: int = 0) -> Iterator[pa.RecordBatch]:
    """Typed, validated batches with a ``_row`` column (row number as seen in the file; ``row_offset``
    rows precede this input, e.g. earlier partitions of the same file)."""
    sql = build_sql(feed, soc_units)
    try:
        reader = con.sql(sql).to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        raise SourceError(feed.shown, f"cannot read: {str(exc).splitlines()[0]}",
                          expected="a well-formed CSV (one value per header column) or Parquet file") from exc
    offset = row_offset
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (duckdb.Error, pa.ArrowInvalid) as exc:
            raise SourceError(feed.shown, f"cannot read: {str(exc).splitlines()[0]}",
                              expected="a well-formed CSV (one value per header column) or Parquet file") from exc
        n = batch.num_rows
        bad = batch.column("_bad")
        if bad.null_count < n:
            i = int(pc.index(pc.is_valid(bad), True).as_py())
            col, kind = bad[i].as_py().split(":")
            value = batch.column("_bad_value")[i].as_py()
            raise SourceError(feed.shown, _MESSAGES[kind], row=offset + i + feed.row_offset,
                              column=feed.feed_columns.get(col, col) if col not in feed.mapping.constants else col,
                              value=value, expected=S.EXPECTED[col])
        for col in ("advert_id", "title"):
            blank = pc.equal(pc.utf8_trim_whitespace(batch.column(col)), "")
            if pc.any(blank).as_py():
                i = int(pc.index(blank, True).as_py())
                raise SourceError(feed.shown, _MESSAGES["blank"], row=offset + i + feed.row_offset,
                                  column=feed.feed_columns.get(col, col), value=batch.column(col)[i].as_py(),
                                  expected=S.EXPECTED[col])
        rows = pa.array(np.arange(offset + feed.row_offset, offset + feed.row_offset + n, dtype=np.int64))
        keep = [c for c in batch.schema.names if not c.startswith("_bad")]
        yield pa.RecordBatch.from_arrays([batch.column(c) for c in keep] + [rows], names=keep + ["_row"])
        offset += n
