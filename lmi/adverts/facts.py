"""Turn the aggregates into canonical ``facts`` rows, with the dataset and measure records."""
from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa

from lmi import markers
from lmi.adverts import schema as S
from lmi.adverts.aggregate import Aggregates
from lmi.periods import month as month_period
from lmi.schema import FACT_COLUMNS, DatasetInfo, MeasureInfo

DATASET_ID = "advert_feed"
TOPIC = "Vacancies and job adverts"
SOC_LEVELS = (("soc2020_major", 1), ("soc2020_submajor", 2), ("soc2020_minor", 3), ("soc2020_unit", 4))
# breakdowns per count measure: new adverts at every SOC level, the active stock down to sub-major group
LEVELS_BY_MEASURE = {"feed_new_adverts": SOC_LEVELS, "feed_active_adverts": SOC_LEVELS[:2]}
UNKNOWN = "unknown"
UNKNOWN_LABEL = "Not coded (title below the SOC confidence threshold)"
MIN_SALARY_N = 5   # medians of fewer adverts with a salary are flagged unreliable


def dataset_info(latest_period: str | None, files: list[str]) -> DatasetInfo:
    return DatasetInfo(
        id=DATASET_ID, title="Job advert feed (advert-level, ingested)", publisher="Ingested advert feed (see source_file)",
        source_url="", licence="As licensed by the feed supplier", attribution="Job advert data: feed supplier",
        regularity="irregular", release_date=None, topic=TOPIC, spatial_levels="LAD (from advert location); rolled up to LEP, LSIP, CA, region, England",
        source_file="; ".join(files)[:500],
        description=("Individual job adverts placed in LADs by coordinates (point in polygon, BUC boundaries, "
                     "1.5 km coastal tolerance) or by place name, de-duplicated (same advert id within a source; "
                     "same employer and title in the same LAD within 30 days) and coded to SOC 2020 from the title "
                     "where no code is supplied. See docs/adverts.md."),
        caveats=("Counts depend on the feed's coverage. Adverts that cannot be placed are reported, not counted. "
                 "Occupation coding from titles is automatic: 'unknown' holds adverts left uncoded. Salaries are "
                 f"annualised at {S.HOURS_PER_WEEK} hours and {S.DAYS_PER_WEEK} days a week, {S.WEEKS_PER_YEAR} weeks a year."),
        latest_period=latest_period,
    )


def measure_infos() -> list[MeasureInfo]:
    return [
        MeasureInfo("feed_new_adverts", "New job adverts (advert feed)", DATASET_ID, "adverts", TOPIC, "sum",
                    description="De-duplicated adverts first posted in the month."),
        MeasureInfo("feed_active_adverts", "Active job adverts on the month's last day (advert feed)", DATASET_ID,
                    "adverts", TOPIC, "sum",
                    description=f"De-duplicated adverts open on the last day of the month (posted on or before it, "
                                f"closing on or after it; adverts without a closing date count as open {S.DEFAULT_OPEN_DAYS} days)."),
        MeasureInfo("feed_median_salary", "Median advertised annual salary (advert feed)", DATASET_ID, "£ per year",
                    TOPIC, "none",
                    description="Median of the annualised advertised salary (midpoint of min and max) of the month's new "
                                "adverts; computed from the adverts at every area level, never from LAD medians."),
    ]


def _labels(soc: pd.DataFrame) -> dict[str, str]:
    return dict(zip(soc["code"].astype(str), soc["title"].astype(str)))


_FACTS_SQL = """
WITH base AS (
  SELECT 'feed_new_adverts' AS measure, lad_code, month, soc_unit, n FROM new_base
  UNION ALL SELECT 'feed_active_adverts', lad_code, month, soc_unit, n FROM active_base),
counted AS (
  SELECT measure, lad_code, month, 'total' AS breakdown_type, 'total' AS breakdown_code, sum(n) AS value
  FROM base GROUP BY ALL
  UNION ALL
  SELECT b.measure, b.lad_code, b.month, l.breakdown_type,
         COALESCE(left(b.soc_unit, l.width), '{unknown}') AS breakdown_code, sum(b.n)
  FROM base b JOIN levels l ON l.measure = b.measure GROUP BY ALL),
filled AS (   -- total and major group: every LAD x month, zero where no adverts
  SELECT g.measure, g.lad_code, g.month, g.breakdown_type, g.breakdown_code, COALESCE(c.value, 0) AS value
  FROM (SELECT measure, lad_code, month, breakdown_type, breakdown_code
        FROM (SELECT DISTINCT measure FROM levels) ms, lads, months, zero_codes) g
  LEFT JOIN counted c USING (measure, lad_code, month, breakdown_type, breakdown_code)
  UNION ALL
  SELECT * FROM counted WHERE breakdown_type NOT IN ('total', 'soc2020_major')),
mem AS (SELECT area_level, area_code, lad_code FROM membership WHERE area_level IN ({levels})),
size AS (SELECT area_level, area_code, count(*) AS n_members FROM mem GROUP BY ALL),
rolled AS (
  SELECT f.measure, m.area_level, m.area_code, f.month, f.breakdown_type, f.breakdown_code,
         sum(f.value) AS value, any_value(s.n_members) AS n_contributing
  FROM filled f JOIN mem m ON m.lad_code = f.lad_code
       JOIN size s ON s.area_level = m.area_level AND s.area_code = m.area_code
  WHERE f.breakdown_type NOT IN ({lead_types})
  GROUP BY f.measure, m.area_level, m.area_code, f.month, f.breakdown_type, f.breakdown_code),
rows AS (
  SELECT measure, 'lad' AS area_level, lad_code AS area_code, month, breakdown_type, breakdown_code, value,
         'adverts' AS unit, '{ok}' AS status, CAST(NULL AS VARCHAR) AS status_reason, 'published' AS derivation,
         CAST(NULL AS DOUBLE) AS denominator, CAST(NULL AS INTEGER) AS n_contributing, CAST(NULL AS INTEGER) AS n_missing
  FROM filled
  UNION ALL
  SELECT measure, area_level, area_code, month, breakdown_type, breakdown_code, value, 'adverts', '{ok}', NULL,
         'summed', NULL, n_contributing, 0 FROM rolled
  UNION ALL
  SELECT 'feed_median_salary', area_level, area_code, month, breakdown_type, breakdown_code, median,
         '£ per year', CASE WHEN n < {min_n} THEN '{unreliable}' ELSE '{ok}' END,
         CASE WHEN n < {min_n} THEN 'median of ' || n || ' adverts with a salary (fewer than {min_n})' END,
         'published', n, NULL, NULL
  FROM salary)
SELECT '{dataset}' AS dataset, r.measure, r.area_code, r.area_level, mo.period, mo.period_start, mo.period_end,
       r.breakdown_type, r.breakdown_code, COALESCE(lb.label, r.breakdown_code) AS breakdown_label,
       CAST(r.value AS DOUBLE) AS value, r.unit, r.status, r.status_reason,
       CAST(NULL AS DOUBLE) AS ci_lower, CAST(NULL AS DOUBLE) AS ci_upper,
       CAST(NULL AS DOUBLE) AS numerator, CAST(r.denominator AS DOUBLE) AS denominator, r.derivation,
       CAST(r.n_contributing AS INTEGER) AS n_contributing, CAST(r.n_missing AS INTEGER) AS n_missing
FROM rows r JOIN months mo ON mo.month = r.month LEFT JOIN labels lb ON lb.code = r.breakdown_code
"""

ROLLUP_LEVELS = ("lep", "lsip", "ca", "region", "england")


def build_facts(agg: Aggregates, soc: pd.DataFrame, lads: list[str], membership: pd.DataFrame,
                use_pipeline_rollup: bool = True) -> pa.Table:
    """LAD rows (total and major group zero-filled), counts summed to LEP/LSIP/CA/region/England, and
    medians at every level, as an Arrow table with the columns of ``facts`` (built in DuckDB).

    Rollups: the zero-filled rows (total, SOC major group) go through the project's
    ``lmi.pipeline.rollup.rollup`` when it is available. The sparse SOC breakdowns (sub-major, minor,
    unit: a LAD row exists only where the count is above zero) are summed here in SQL, because a LAD
    without a row had no such adverts, so the sum is complete (status 'ok', derivation 'summed',
    n_contributing = member LADs, n_missing 0), where the generic rollup would call it 'partial'.
    The tests check that both give identical rows on the zero-filled breakdowns.
    """
    if agg.first_month is None:
        return pa.table({c: pa.array([], type=pa.string()) for c in FACT_COLUMNS})
    months = pd.date_range(agg.first_month, agg.last_month, freq="MS")
    info = [month_period(m.year, m.month) for m in months]
    months_df = pd.DataFrame({"month": [m.date() for m in months], "period": [i[0] for i in info],
                              "period_start": [i[1] for i in info], "period_end": [i[2] for i in info]})
    labels = _labels(soc)
    labels_df = pd.DataFrame({"code": list(labels) + ["total", UNKNOWN],
                              "label": list(labels.values()) + ["Total", UNKNOWN_LABEL]})
    levels_df = pd.DataFrame([(m, bt, w) for m, lv in LEVELS_BY_MEASURE.items() for bt, w in lv],
                             columns=["measure", "breakdown_type", "width"])
    majors = sorted(c for c in labels if len(c) == 1) + [UNKNOWN]
    zero_df = pd.DataFrame([("total", "total")] + [("soc2020_major", c) for c in majors],
                           columns=["breakdown_type", "breakdown_code"])
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        for name, df in (("new_base", agg.new), ("active_base", agg.active), ("salary", agg.salary),
                         ("months", months_df), ("labels", labels_df), ("levels", levels_df),
                         ("zero_codes", zero_df), ("lads", pd.DataFrame({"lad_code": lads})),
                         ("membership", membership)):
            con.register(name, df)
        lead = _pipeline_rollup() if use_pipeline_rollup else None
        lead_types = "'total', 'soc2020_major'" if lead is not None else "''"
        sql = _FACTS_SQL.format(unknown=UNKNOWN, levels=", ".join(f"'{lv}'" for lv in ROLLUP_LEVELS),
                                ok=markers.OK, unreliable=markers.UNRELIABLE, min_n=MIN_SALARY_N, dataset=DATASET_ID,
                                lead_types=lead_types)
        table = con.sql(sql).to_arrow_table()
        if lead is None:
            return table
        con.register("t", table)
        lad = con.execute("SELECT * FROM t WHERE area_level = 'lad' AND measure <> 'feed_median_salary' "
                          "AND breakdown_type IN ('total', 'soc2020_major')").df()
        rolled = rollup_with_lead(lad, membership)
        rolled = rolled[rolled["area_level"].isin(ROLLUP_LEVELS)]
        extra = _to_schema(rolled.reset_index(drop=True), table.schema)
        return pa.concat_tables([table, extra])
    finally:
        con.close()


def _to_schema(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame`` as an Arrow table with exactly ``schema`` (column order and types), converting in Arrow
    rather than through SQL text."""
    arrays = []
    for field in schema:
        col = frame[field.name] if field.name in frame.columns else pd.Series([None] * len(frame))
        if pa.types.is_integer(field.type):
            col = pd.to_numeric(col, errors="coerce").astype("Int64")
        arrays.append(pa.array(col, from_pandas=True).cast(field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _pipeline_rollup():
    try:
        from lmi.pipeline.rollup import rollup
    except ImportError:
        return None
    return rollup


def rollup_with_lead(lad_facts: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame:
    """The project's generic ``lmi.pipeline.rollup.rollup`` on canonical LAD rows (for cross-checks)."""
    from lmi.pipeline.rollup import rollup

    measures = pd.DataFrame([m.as_row() for m in measure_infos()])
    return rollup(facts=lad_facts, measures=measures, membership=membership)


