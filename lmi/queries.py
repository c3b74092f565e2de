"""Typed read API over the built database. Every user value is a bound parameter; measure ids,
levels and breakdowns are checked against allow-lists first, and unknown values raise QueryError.
"""
from __future__ import annotations

import functools
import inspect
from datetime import date
from typing import Iterable

import pandas as pd

from lmi.db import Database
from lmi.errors import QueryError
from lmi.schema import EXPORT_COLUMNS, LEVEL_LABELS, LEVELS

TOTAL = ("total", "total")
REGULARITY_DAYS = {"monthly": 62, "quarterly": 150, "annual": 550, "biennial": 1000, "decennial": 4000}


MAX_TEXT = 200       # longest code, label or id any caller legitimately passes
MAX_ITEMS = 500      # most area codes in one request


def _check_arg(name: str, kind: str, value: object) -> object:
    """Validate one argument against its annotation; raise QueryError on a wrong type or size."""
    optional = kind.endswith("| None")
    if value is None and optional:
        return value
    base = kind.replace("| None", "").strip()
    if base == "str":
        if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
            raise QueryError(f"{name} must be text of at most {MAX_TEXT} characters")
    elif base in ("Iterable[str]", "list[str]"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, pd.Index, pd.Series)):
            raise QueryError(f"{name} must be a list of codes")
        items = list(value)
        if len(items) > MAX_ITEMS or not all(isinstance(v, str) and len(v) <= MAX_TEXT for v in items):
            raise QueryError(f"{name} must be at most {MAX_ITEMS} codes of text")
        return items
    elif base == "tuple[str, str]":
        if not (isinstance(value, (tuple, list)) and len(value) == 2
                and all(isinstance(v, str) and len(v) <= MAX_TEXT for v in value)):
            raise QueryError(f"{name} must be a (type, code) pair of text")
        return tuple(value)
    elif base == "date":
        if not isinstance(value, date):
            raise QueryError(f"{name} must be a date")
    elif base == "bool":
        if not isinstance(value, bool):
            raise QueryError(f"{name} must be true or false")
    return value


def _validated(func):
    """Check every argument of a public read function against its type annotation (bad types and
    oversized values raise QueryError before any SQL runs)."""
    sig = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        for name, value in list(bound.arguments.items()):
            if name == "db":
                continue
            kind = sig.parameters[name].annotation
            if isinstance(kind, str):
                bound.arguments[name] = _check_arg(name, kind, value)
        return func(*bound.args, **bound.kwargs)

    return wrapper


# --- allow-lists --------------------------------------------------------------------------------
@_validated
def measures(db: Database, include_hidden: bool = False) -> pd.DataFrame:
    """The measure catalogue (id, label, dataset, unit, topic, aggregation, decimals, description...)."""
    df = db.query("SELECT * FROM measures ORDER BY topic, label")
    return df if include_hidden else df[~df["hidden"].astype(bool)].reset_index(drop=True)


@_validated
def measure(db: Database, measure_id: str) -> dict:
    """One measure's catalogue row; QueryError when the id is not in the catalogue."""
    df = db.query("SELECT * FROM measures WHERE id = ?", [str(measure_id)])
    if df.empty:
        raise QueryError(f"unknown measure {measure_id!r}")
    return df.iloc[0].to_dict()


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise QueryError(f"unknown area level {level!r}; expected one of {', '.join(LEVELS)}")
    return level


@_validated
def areas(db: Database, level: str | None = None) -> pd.DataFrame:
    """Areas (code, name, level), optionally of one level, sorted by name."""
    if level is None:
        return db.query("SELECT area_code, area_name, area_level FROM geo_areas WHERE area_level <> 'county' "
                        "ORDER BY area_level, area_name")
    return db.query("SELECT area_code, area_name, area_level FROM geo_areas WHERE area_level = ? ORDER BY area_name",
                    [check_level(level)])


@_validated
def resolve_area(db: Database, code: str) -> dict | None:
    """The area for a code (2025 recodes such as Barnsley E08000038 resolve to the spine's 2023 code)."""
    code = str(code).strip().upper()
    df = db.query("""SELECT a.area_code, a.area_name, a.area_level FROM geo_areas a
                     WHERE a.area_code = coalesce((SELECT code FROM geo_code_alias WHERE alias_code = ?), ?)
                       AND a.area_level <> 'county'""", [code, code])
    return None if df.empty else df.iloc[0].to_dict()


@_validated
def parents(db: Database, area_code: str) -> pd.DataFrame:
    """Areas that contain every LAD of ``area_code`` (its region, LEP(s), LSIP, CA, England), excluding itself."""
    return db.query("""
        WITH mine AS (SELECT lad_code FROM geo_membership WHERE area_code = ?),
             n AS (SELECT count(*) AS k FROM mine)
        SELECT a.area_code, a.area_name, a.area_level FROM geo_membership m
        JOIN mine USING (lad_code) JOIN geo_areas a ON a.area_code = m.area_code AND a.area_level = m.area_level
        WHERE m.area_code <> ? AND m.area_level NOT IN ('lad', 'county')
        GROUP BY a.area_code, a.area_name, a.area_level HAVING count(*) = (SELECT k FROM n)
        ORDER BY CASE a.area_level WHEN 'ca' THEN 1 WHEN 'lep' THEN 2 WHEN 'lsip' THEN 3 WHEN 'region' THEN 4 ELSE 5 END""",
                    [area_code, area_code])


@_validated
def members(db: Database, area_code: str) -> list[str]:
    """Current LAD codes that make up an area."""
    df = db.query("SELECT DISTINCT lad_code FROM geo_membership WHERE area_code = ? AND area_level <> 'county' "
                  "ORDER BY lad_code", [area_code])
    return df["lad_code"].tolist()


@_validated
def default_comparators(db: Database, area_code: str) -> list[str]:
    """England and the area's region (for a region: England only; for England: none)."""
    par = parents(db, area_code)
    out = par[par["area_level"] == "region"]["area_code"].tolist()[:1]
    if area_code != "E92000001":
        out.append("E92000001")
    return out


# --- measure metadata ------------------------------------------------------------------------
@_validated
def measure_levels(db: Database, measure_id: str) -> list[str]:
    measure(db, measure_id)
    df = db.query("SELECT DISTINCT area_level FROM facts WHERE measure = ? AND value IS NOT NULL", [measure_id])
    return [lv for lv in LEVELS + ("county",) if lv in set(df["area_level"])]


@_validated
def periods(db: Database, measure_id: str) -> pd.DataFrame:
    """Periods of a measure, oldest first (label, start, end)."""
    measure(db, measure_id)
    return db.query("""SELECT period, min(period_start) AS period_start, max(period_end) AS period_end FROM facts
                       WHERE measure = ? GROUP BY period ORDER BY period_start, period""", [measure_id])


@_validated
def latest_period(db: Database, measure_id: str, level: str | None = None) -> str | None:
    measure(db, measure_id)
    return db.scalar("""SELECT period FROM facts WHERE measure = ? AND value IS NOT NULL
                        AND (? IS NULL OR area_level = ?) ORDER BY period_end DESC, period DESC LIMIT 1""",
                     [measure_id, level, level])


@_validated
def breakdowns(db: Database, measure_id: str) -> pd.DataFrame:
    """Breakdowns of a measure (type, code, label); ('total','total') first when present."""
    measure(db, measure_id)
    return db.query("""SELECT breakdown_type, breakdown_code, any_value(breakdown_label) AS breakdown_label FROM facts
                       WHERE measure = ? GROUP BY breakdown_type, breakdown_code
                       ORDER BY CASE WHEN breakdown_type = 'total' THEN 0 ELSE 1 END, breakdown_type, breakdown_code""",
                    [measure_id])


def _breakdown(db: Database, measure_id: str, breakdown: tuple[str, str] | None) -> tuple[str, str]:
    if breakdown is None:
        b = breakdowns(db, measure_id)
        if b.empty:
            return TOTAL
        first = b.iloc[0]
        return str(first["breakdown_type"]), str(first["breakdown_code"])
    return str(breakdown[0]), str(breakdown[1])


# --- values ------------------------------------------------------------------------------------
VALUE_SQL = """
SELECT f.area_code, a.area_name, f.area_level, f.measure, f.period, f.period_start, f.period_end,
       f.breakdown_type, f.breakdown_code, f.breakdown_label, f.value, f.unit, f.status, f.status_reason,
       f.ci_lower, f.ci_upper, f.derivation, f.n_contributing, f.n_missing, f.dataset
FROM facts f JOIN geo_areas a ON a.area_code = f.area_code AND a.area_level = f.area_level
"""


@_validated
def values(db: Database, measure_id: str, period: str | None, area_codes: Iterable[str],
           breakdown: tuple[str, str] | None = None) -> pd.DataFrame:
    """One row per requested area that has the measure at ``period`` (latest when None)."""
    measure(db, measure_id)
    codes = [str(c) for c in area_codes]
    if not codes:
        return db.query(VALUE_SQL + " WHERE false")
    bt, bc = _breakdown(db, measure_id, breakdown)
    if period is None:
        period = latest_period(db, measure_id)
    return db.query(VALUE_SQL + """ WHERE f.measure = ? AND f.period = ? AND f.breakdown_type = ?
                    AND f.breakdown_code = ? AND list_contains(?, f.area_code)
                    ORDER BY array_position(?, f.area_code)""",
                    [measure_id, period, bt, bc, codes, codes])


@_validated
def level_values(db: Database, measure_id: str, period: str, level: str,
                 breakdown: tuple[str, str] | None = None) -> pd.DataFrame:
    """Every area of ``level`` for the measure and period (rows without a value included, with status)."""
    measure(db, measure_id)
    bt, bc = _breakdown(db, measure_id, breakdown)
    return db.query(VALUE_SQL + """ WHERE f.measure = ? AND f.period = ? AND f.area_level = ?
                    AND f.breakdown_type = ? AND f.breakdown_code = ? ORDER BY a.area_name""",
                    [measure_id, period, check_level(level), bt, bc])


@_validated
def time_series(db: Database, measure_id: str, area_codes: Iterable[str],
                breakdown: tuple[str, str] | None = None) -> pd.DataFrame:
    """All periods for the given areas, oldest first."""
    measure(db, measure_id)
    codes = [str(c) for c in area_codes]
    bt, bc = _breakdown(db, measure_id, breakdown)
    return db.query(VALUE_SQL + """ WHERE f.measure = ? AND f.breakdown_type = ? AND f.breakdown_code = ?
                    AND list_contains(?, f.area_code) ORDER BY array_position(?, f.area_code), f.period_start""",
                    [measure_id, bt, bc, codes, codes])


@_validated
def breakdown_values(db: Database, measure_id: str, period: str, area_code: str, breakdown_type: str) -> pd.DataFrame:
    """All codes of one breakdown type for an area and period (e.g. adverts by SOC sub-major group)."""
    measure(db, measure_id)
    return db.query(VALUE_SQL + """ WHERE f.measure = ? AND f.period = ? AND f.area_code = ?
                    AND f.breakdown_type = ? ORDER BY f.breakdown_code""",
                    [measure_id, period, area_code, str(breakdown_type)])


@_validated
def headline(db: Database, measure_id: str, area_code: str, comparator: str | None = None) -> dict | None:
    """Latest value for an area with the previous period's value and a comparator's value for the same period."""
    measure(db, measure_id)
    ts = time_series(db, measure_id, [area_code], TOTAL)
    ts = ts.dropna(subset=["value"])
    if ts.empty:
        return None
    last = ts.iloc[-1].to_dict()
    prev = ts.iloc[-2].to_dict() if len(ts) > 1 else None
    comp = None
    if comparator:
        c = values(db, measure_id, last["period"], [comparator], TOTAL)
        comp = c.iloc[0].to_dict() if len(c) else None
    return {"latest": last, "previous": prev, "comparator": comp}


# --- geography for maps ----------------------------------------------------------------------
@_validated
def lad_boundaries(db: Database) -> pd.DataFrame:
    return db.query("SELECT lad_code, lad_name, map_geojson, centroid_lon, centroid_lat, hex_col, hex_row "
                    "FROM lad_boundaries ORDER BY lad_code")


@_validated
def area_boundaries(db: Database, level: str) -> pd.DataFrame:
    return db.query("SELECT area_code, area_name, map_geojson, min_lon, min_lat, max_lon, max_lat "
                    "FROM area_boundaries WHERE area_level = ? ORDER BY area_code", [check_level(level)])


@_validated
def area_bbox(db: Database, area_code: str) -> tuple[float, float, float, float] | None:
    """(min_lon, min_lat, max_lon, max_lat) of an area's member LADs' centroids' outlines."""
    df = db.query("""SELECT min_lon, min_lat, max_lon, max_lat FROM area_boundaries WHERE area_code = ?""", [area_code])
    if len(df):
        return tuple(float(x) for x in df.iloc[0])
    return None


# --- catalogue -------------------------------------------------------------------------------
@_validated
def catalogue(db: Database, today: date | None = None) -> pd.DataFrame:
    """Dataset catalogue with a staleness flag: latest data older than its regularity implies."""
    df = db.query("SELECT d.*, (SELECT max(period_end) FROM facts f WHERE f.dataset = d.id) AS latest_end "
                  "FROM datasets d ORDER BY topic, title")
    today = today or date.today()
    ends = pd.to_datetime(df["latest_end"])
    allowed = df["regularity"].map(REGULARITY_DAYS)
    age = (pd.Timestamp(today) - ends).dt.days
    df["days_since_latest"] = age
    df["stale"] = allowed.notna() & age.notna() & (age > allowed * 1.5)
    return df


@_validated
def measure_summary(db: Database) -> pd.DataFrame:
    """Measure ids with dataset, unit, the levels and the periods available (for `lmi measures`)."""
    return db.query("""
        SELECT m.id AS measure, m.dataset, m.unit,
               string_agg(DISTINCT f.area_level, ',' ORDER BY f.area_level) AS levels,
               count(DISTINCT f.period) AS n_periods, min(f.period_start) AS first_start,
               (SELECT period FROM facts g WHERE g.measure = m.id ORDER BY period_end DESC LIMIT 1) AS latest_period
        FROM measures m LEFT JOIN facts f ON f.measure = m.id
        GROUP BY m.id, m.dataset, m.unit ORDER BY m.dataset, m.id""")


# --- export ----------------------------------------------------------------------------------
EXPORT_SQL = """
SELECT f.area_code, a.area_name, f.area_level, f.measure, m.label AS measure_label, f.period,
       f.period_start, f.period_end,
       CASE WHEN f.breakdown_type = 'total' THEN 'Total'
            ELSE f.breakdown_type || ': ' || f.breakdown_code || coalesce(' ' || f.breakdown_label, '') END AS breakdown,
       f.value, f.unit, f.status || coalesce(' (' || f.status_reason || ')', '') AS status, f.ci_lower, f.ci_upper,
       f.dataset, d.source_url, d.release_date, d.licence
FROM facts f
JOIN geo_areas a ON a.area_code = f.area_code AND a.area_level = f.area_level
JOIN measures m ON m.id = f.measure
JOIN datasets d ON d.id = f.dataset
WHERE (? IS NULL OR list_contains(?, f.measure))
  AND (? IS NULL OR f.area_level = ?)
  AND (? IS NULL OR list_contains(?, f.area_code))
  AND (? IS NULL OR f.period = ?)
  AND (? IS NULL OR (f.breakdown_type = ? AND f.breakdown_code = ?))
ORDER BY f.measure, f.area_level, a.area_name, f.area_code, f.breakdown_type, f.breakdown_code, f.period_start
"""


@_validated
def export_rows(db: Database, measures: list[str] | None = None, level: str | None = None,
                areas: list[str] | None = None, period: str | None = None,
                breakdown: tuple[str, str] | None = None) -> pd.DataFrame:
    """Rows in the export layout (schema.EXPORT_COLUMNS); None means no filter on that field."""
    if measures:
        for m in measures:
            measure(db, m)
    if level is not None:
        check_level(level)
    codes = None
    if areas:
        codes = []
        for a in areas:
            r = resolve_area(db, a)
            if r is None:
                raise QueryError(f"unknown area code {a!r}")
            codes.append(r["area_code"])
    bt, bc = breakdown if breakdown else (None, None)
    df = db.query(EXPORT_SQL, [measures, measures, level, level, codes, codes, period, period, bt, bt, bc])
    for c in ("period_start", "period_end"):
        df[c] = pd.to_datetime(df[c]).dt.strftime("%Y-%m-%d")
    return df[list(EXPORT_COLUMNS)]


def level_label(level: str) -> str:
    return LEVEL_LABELS[check_level(level)]


@_validated
def default_period(db: Database, measure_id: str, level: str | None = None) -> str | None:
    """The latest period with good coverage: at least 90% of the best-covered period's areas at ``level``
    (so a partial latest release, e.g. mid-2024 county/unitary only, does not blank most of a map)."""
    measure(db, measure_id)
    df = db.query("""SELECT period, max(period_end) AS period_end, count(value) AS n FROM facts
                     WHERE measure = ? AND (? IS NULL OR area_level = ?) AND breakdown_type = 'total'
                     GROUP BY period ORDER BY period_end""", [measure_id, level, level])
    if df.empty:
        df = db.query("""SELECT period, max(period_end) AS period_end, count(value) AS n FROM facts
                         WHERE measure = ? AND (? IS NULL OR area_level = ?) GROUP BY period ORDER BY period_end""",
                      [measure_id, level, level])
    if df.empty:
        return None
    good = df[df["n"] >= 0.9 * df["n"].max()]
    return str(good.iloc[-1]["period"])


@_validated
def breakdown_sum_series(db: Database, measure_id: str, area_codes: Iterable[str], breakdown_type: str) -> pd.DataFrame:
    """Per area and period, the sum over all codes of one breakdown type (for measures published without
    an all-categories total, e.g. job adverts by SOC major group), in the time_series layout.

    ``n_contributing``/``n_missing`` count the codes with and without a value; a sum with missing codes
    has status 'partial' (it understates the total). Only for 'sum' measures (counts)."""
    info = measure(db, measure_id)
    if info["aggregation"] != "sum":
        raise QueryError(f"measure {measure_id!r} is not a count: its breakdowns cannot be summed")
    codes = [str(c) for c in area_codes]
    return db.query("""
        SELECT f.area_code, any_value(a.area_name) AS area_name, f.area_level, f.measure, f.period,
               min(f.period_start) AS period_start, max(f.period_end) AS period_end,
               'total' AS breakdown_type, 'sum' AS breakdown_code,
               'Sum of ' || ? || ' groups' AS breakdown_label,
               CASE WHEN count(f.value) = 0 THEN NULL ELSE sum(f.value) END AS value, any_value(f.unit) AS unit,
               CASE WHEN count(f.value) = 0 THEN 'missing' WHEN count(f.value) < count(*) THEN 'partial'
                    ELSE 'ok' END AS status,
               CASE WHEN count(f.value) < count(*) THEN (count(*) - count(f.value)) || ' of ' || count(*) ||
                    ' groups have no value (suppressed or missing)' END AS status_reason,
               NULL::DOUBLE AS ci_lower, NULL::DOUBLE AS ci_upper, 'summed' AS derivation,
               count(f.value) AS n_contributing, count(*) - count(f.value) AS n_missing,
               any_value(f.dataset) AS dataset
        FROM facts f JOIN geo_areas a ON a.area_code = f.area_code AND a.area_level = f.area_level
        WHERE f.measure = ? AND f.breakdown_type = ? AND list_contains(?, f.area_code)
        GROUP BY f.area_code, f.area_level, f.measure, f.period
        ORDER BY array_position(?, f.area_code), min(f.period_start)""",
                    [str(breakdown_type), measure_id, str(breakdown_type), codes, codes])


@_validated
def all_periods(db: Database) -> pd.DataFrame:
    """Periods of every measure in one query (measure, period, start, end), each measure oldest first
    (the same order as :func:`periods`)."""
    return db.query("""SELECT measure, period, min(period_start) AS period_start, max(period_end) AS period_end
                       FROM facts GROUP BY measure, period ORDER BY measure, min(period_start), period""")


@_validated
def all_breakdowns(db: Database) -> pd.DataFrame:
    """Breakdowns of every measure in one query, in the order of :func:`breakdowns` within each measure."""
    return db.query("""SELECT measure, breakdown_type, breakdown_code, any_value(breakdown_label) AS breakdown_label
                       FROM facts GROUP BY measure, breakdown_type, breakdown_code
                       ORDER BY measure, CASE WHEN breakdown_type = 'total' THEN 0 ELSE 1 END, breakdown_type,
                                breakdown_code""")
