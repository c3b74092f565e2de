"""De-duplication and aggregation of cleaned adverts, written once as SQL over a relation.

The same statements run on DuckDB over the whole sidecar (``run_local``) and, per hash partition,
on Dask workers (``lmi.adverts.distributed``), which is why each step only needs the rows that share
its partition key:

1. ``RULE1_DROP`` (key: source, advert_id): exact duplicate advert_id within a source -> keep the
   first (earliest posted, then file, then row);
2. ``RULE2_DROP`` (key: LAD): reposts and syndication -> adverts with the same employer and normalised
   title in the same LAD posted within ``window_days`` of the previous one count once (the first
   is kept; a chain of reposts each within the window counts once). Adverts without an employer
   or without a LAD are not matched by this rule;
3. ``NEW`` / ``ACTIVE`` (key: LAD): new adverts by posted month, and adverts open on each month's
   last day (posted on or before it, closing on or after it; no closing date -> open
   ``open_days`` days), by LAD x month x SOC unit group (active: sub-major group; NULL = uncoded);
4. ``SALARY`` (key: area): median annual salary of the month's new adverts, by area (LAD and every
   area in geo_membership) x month x (total, SOC major group).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import re

import duckdb
import pandas as pd

WINDOW_DAYS = 30

# Narrow copy of the cleaned adverts: the two de-duplication keys as 64-bit hashes, plus what the
# aggregates need. Hashes only select candidates; duplicates are always confirmed on the real keys.
NARROW = """
SELECT file_key, _row, hash(source, advert_id) AS h1,
       CASE WHEN lad_code IS NOT NULL AND employer_key IS NOT NULL THEN hash(employer_key, title_key, lad_code) END AS h2,
       lad_code, posted_date, closing_date, soc_unit, soc_method, salary_annual, reason, place_method
FROM {src}
"""

# Rule 1 (exact advert_id within a source): rows to drop, among rows whose h1 occurs more than once.
RULE1_DROP = """
SELECT file_key, _row FROM (
  SELECT file_key, _row, row_number() OVER (PARTITION BY source, advert_id ORDER BY posted_date, file_key, _row) AS _rn
  FROM {src}
  WHERE hash(source, advert_id) IN (SELECT h1 FROM {narrow} GROUP BY h1 HAVING count(*) > 1))
WHERE _rn > 1
"""

# Rule 2 (same employer + normalised title in the same LAD within the window): rows to drop, among
# rule-1 survivors whose h2 occurs more than once.
RULE2_DROP = """
WITH cand AS (SELECT h2 FROM {narrow} ANTI JOIN {drop1} USING (file_key, _row)
              WHERE h2 IS NOT NULL GROUP BY h2 HAVING count(*) > 1)
SELECT file_key, _row FROM (
  SELECT file_key, _row, posted_date,
         lag(posted_date) OVER (PARTITION BY employer_key, title_key, lad_code ORDER BY posted_date, source, advert_id) AS _prev
  FROM (SELECT * FROM {src} ANTI JOIN {drop1} USING (file_key, _row))
  WHERE lad_code IS NOT NULL AND employer_key IS NOT NULL
    AND hash(employer_key, title_key, lad_code) IN (SELECT h2 FROM cand))
WHERE _prev IS NOT NULL AND date_diff('day', _prev, posted_date) <= {window}
"""

SURVIVORS = "SELECT * FROM {src} ANTI JOIN {drop} USING (file_key, _row)"

KEPT = """
SELECT lad_code, posted_date, closing_date, soc_unit, soc_method, salary_annual
FROM (SELECT * FROM {src} ANTI JOIN {drop1} USING (file_key, _row)) ANTI JOIN {drop2} USING (file_key, _row)
WHERE lad_code IS NOT NULL
"""

NEW = """
SELECT lad_code, CAST(date_trunc('month', posted_date) AS DATE) AS month, soc_unit, count(*) AS n
FROM {src} GROUP BY ALL
"""

ACTIVE = """
SELECT lad_code, month, soc_unit, count(*) AS n FROM (
  SELECT lad_code, left(soc_unit, 2) AS soc_unit, posted_date,
         COALESCE(closing_date, CAST(posted_date + INTERVAL {open_days} DAY AS DATE)) AS close_eff,
         CAST(unnest(generate_series(date_trunc('month', posted_date),
                     date_trunc('month', COALESCE(closing_date, CAST(posted_date + INTERVAL {open_days} DAY AS DATE))),
                     INTERVAL 1 MONTH)) AS DATE) AS month
  FROM {src})
WHERE last_day(month) <= close_eff AND month BETWEEN DATE '{first}' AND DATE '{last}'
GROUP BY ALL
"""

SALARY_ROWS = """
SELECT lad_code, CAST(date_trunc('month', posted_date) AS DATE) AS month, left(soc_unit, 1) AS major, salary_annual
FROM {src} WHERE salary_annual IS NOT NULL
"""

# medians: total at every level but county; by SOC major group at LAD, region and England
SALARY = """
WITH j AS (SELECT m.area_level, m.area_code, s.month, s.major, s.salary_annual
           FROM {src} s JOIN {membership} m ON m.lad_code = s.lad_code
           WHERE m.area_level IN ('lad', 'lep', 'lsip', 'ca', 'region', 'england'))
SELECT area_level, area_code, month, 'total' AS breakdown_type, 'total' AS breakdown_code,
       median(salary_annual) AS median, count(*) AS n FROM j GROUP BY ALL
UNION ALL
SELECT area_level, area_code, month, 'soc2020_major', COALESCE(major, 'unknown'),
       median(salary_annual), count(*) FROM j WHERE area_level IN ('lad', 'region', 'england') GROUP BY ALL
"""

@dataclass
class Aggregates:
    """What both engines return: stats and the base tables the facts are built from."""

    stats: dict = field(default_factory=dict)
    unassigned: dict = field(default_factory=dict)     # reason -> adverts (after rule 1)
    soc: dict = field(default_factory=dict)            # supplied / exact / tfidf / uncoded over counted adverts
    placed: dict = field(default_factory=dict)         # place method -> adverts (after rule 1)
    new: pd.DataFrame | None = None                    # lad_code, month, soc_unit, n
    active: pd.DataFrame | None = None
    salary: pd.DataFrame | None = None                 # area_level, area_code, month, breakdown_type, breakdown_code, median, n
    first_month: str | None = None
    last_month: str | None = None

    def sorted_frames(self) -> dict[str, pd.DataFrame]:
        """Frames in a canonical order (for comparing engines)."""
        out = {}
        for name in ("new", "active", "salary"):
            df = getattr(self, name)
            keys = [c for c in df.columns if c not in ("n", "median")]
            out[name] = df.sort_values(keys, na_position="first").reset_index(drop=True)
        return out


def connect(memory_limit: str = "3GB", threads: int = 2, temp_dir: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the resource settings passed as configuration values
    (never formatted into SQL text): it streams and spills to ``temp_dir`` under ``memory_limit``."""
    config = {"memory_limit": str(memory_limit), "threads": int(threads), "preserve_insertion_order": False}
    if temp_dir:
        config["temp_directory"] = str(temp_dir)
    return duckdb.connect(config=config)


SPAN = "SELECT min(posted_date), max(posted_date) FROM {src}"
SOC_METHODS = "SELECT CASE WHEN soc_unit IS NULL THEN 'uncoded' ELSE soc_method END, count(*) FROM {src} GROUP BY 1"


def _relation_name(name: str) -> str:
    """The SQL templates take only the pipeline's own relation names (never user input)."""
    if not re.fullmatch(r"_?[a-z][a-z0-9_]{0,30}", name):
        raise ValueError(f"not an internal relation name: {name!r}")
    return name


def run_local(con: duckdb.DuckDBPyConnection, parts_glob: str, membership: pd.DataFrame,
              window_days: int = WINDOW_DAYS, open_days: int = 30) -> Aggregates:
    """All steps on DuckDB over the sidecar Parquet files (streamed; spills under memory_limit)."""
    con.read_parquet(parts_glob).create_view("_parts", replace=True)  # glob passed as a value, not SQL text
    src = "_parts"
    con.execute("CREATE OR REPLACE TEMP TABLE _p AS " + NARROW.format(src=src))
    con.execute("CREATE OR REPLACE TEMP TABLE _d1 AS " + RULE1_DROP.format(src=src, narrow="_p"))
    con.execute("CREATE OR REPLACE TEMP TABLE _d2 AS " + RULE2_DROP.format(src=src, narrow="_p", drop1="_d1",
                                                                           window=int(window_days)))
    con.execute("CREATE OR REPLACE TEMP TABLE _kept AS " + KEPT.format(src="_p", drop1="_d1", drop2="_d2"))
    agg = finish(con, "_kept", membership, open_days)
    n, d1, d2, kept = con.execute("SELECT (SELECT count(*) FROM _p), (SELECT count(*) FROM _d1), "
                                  "(SELECT count(*) FROM _d2), (SELECT count(*) FROM _kept)").fetchone()
    agg.stats = {"rows_total": n, "after_rule1": n - d1, "placed": kept + d2, "counted": kept}
    con.execute("CREATE OR REPLACE TEMP VIEW _k1 AS " + SURVIVORS.format(src="_p", drop="_d1"))
    agg.unassigned = dict(con.execute("SELECT reason, count(*) FROM _k1 WHERE lad_code IS NULL GROUP BY 1").fetchall())
    agg.placed = dict(con.execute("SELECT place_method, count(*) FROM _k1 WHERE lad_code IS NOT NULL GROUP BY 1").fetchall())
    con.execute("DROP VIEW IF EXISTS _k1; DROP TABLE IF EXISTS _p; DROP TABLE IF EXISTS _d1; "
                "DROP TABLE IF EXISTS _d2; DROP TABLE IF EXISTS _kept; DROP VIEW IF EXISTS _parts")
    return agg


def finish(con: duckdb.DuckDBPyConnection, kept: str, membership: pd.DataFrame, open_days: int,
           first_month: str | None = None, last_month: str | None = None) -> Aggregates:
    """NEW, ACTIVE and SALARY over the de-duplicated adverts in relation ``kept``."""
    _relation_name(kept)
    agg = Aggregates()
    agg.soc = soc_counts(con, kept)
    if first_month is None:
        span = con.execute(SPAN.format(src=kept)).fetchone()
        if span[0] is not None:
            first_month, last_month = span[0].replace(day=1).isoformat(), span[1].replace(day=1).isoformat()
    if first_month is None:
        agg.new = pd.DataFrame(columns=["lad_code", "month", "soc_unit", "n"])
        agg.active = agg.new.copy()
        agg.salary = pd.DataFrame(columns=["area_level", "area_code", "month", "breakdown_type", "breakdown_code", "median", "n"])
        return agg
    agg.first_month, agg.last_month = first_month, last_month
    agg.new = con.execute(NEW.format(src=kept)).df()
    agg.active = con.execute(ACTIVE.format(src=kept, open_days=int(open_days), first=first_month, last=last_month)).df()
    con.register("_membership", membership)
    con.execute("CREATE OR REPLACE TEMP TABLE _sal AS " + SALARY_ROWS.format(src=kept))
    agg.salary = con.execute(SALARY.format(src="_sal", membership="_membership")).df()
    con.execute("DROP TABLE IF EXISTS _sal")
    con.unregister("_membership")
    return agg


def soc_counts(con: duckdb.DuckDBPyConnection, kept: str) -> dict:
    """Counted adverts by how their SOC code was obtained: supplied / exact / tfidf / uncoded."""
    rows = con.execute(SOC_METHODS.format(src=_relation_name(kept))).fetchall()
    return {k: int(v) for k, v in rows}
