"""Turn the aggregates into canonical ``facts`` rows, with the dataset and measure records."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from lmi import markers
from lmi.adverts import schema as S
from lmi.adverts.aggregate import Aggregates
from lmi.periods import month as month_period
from lmi.schema import FACT_COLUMNS, DatasetInfo, MeasureInfo

DATASET_ID = "advert_feed"
TOPIC = "Vacancies and job adverts"
SOC_LEVELS = (("soc2020_major", 1), ("soc2020_submajor", 2), ("soc2020_minor", 3), ("soc2020_unit", 4))
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


def _count_rows(base: pd.DataFrame, measure: str, lads: list[str], months: list[pd.Timestamp],
                labels: dict[str, str]) -> pd.DataFrame:
    """LAD rows for one count measure: total and the four SOC levels (zero-filled for total and major)."""
    frames = []
    unit = base["soc_unit"].astype(object).where(base["soc_unit"].notna(), None)
    full = pd.MultiIndex.from_product([lads, months], names=["lad_code", "month"])
    tot = base.groupby(["lad_code", "month"])["n"].sum().reindex(full, fill_value=0).reset_index()
    tot["breakdown_type"], tot["breakdown_code"] = "total", "total"
    frames.append(tot)
    for btype, width in SOC_LEVELS:
        code = pd.Series(unit, index=base.index).str[:width].fillna(UNKNOWN)
        g = base.assign(breakdown_code=code).groupby(["lad_code", "month", "breakdown_code"])["n"].sum()
        if btype == "soc2020_major":
            majors = sorted({c for c in labels if len(c) == 1}) + [UNKNOWN]
            g = g.reindex(pd.MultiIndex.from_product([lads, months, majors],
                                                     names=["lad_code", "month", "breakdown_code"]), fill_value=0)
        g = g.reset_index()
        g["breakdown_type"] = btype
        frames.append(g)
    out = pd.concat(frames, ignore_index=True)
    out["measure"] = measure
    out["value"] = out["n"].astype(float)
    return out.drop(columns=["n"]).rename(columns={"lad_code": "area_code"}).assign(area_level="lad")


def build_facts(agg: Aggregates, soc: pd.DataFrame, lads: list[str], membership: pd.DataFrame,
                measures: pd.DataFrame | None = None) -> pd.DataFrame:
    """LAD rows, rolled-up counts at LEP/LSIP/CA/region/England, and medians at every level."""
    labels = _labels(soc)
    cols = list(FACT_COLUMNS)
    if agg.first_month is None:
        return pd.DataFrame(columns=cols)
    months = list(pd.date_range(agg.first_month, agg.last_month, freq="MS"))
    parts = []
    for measure, base in (("feed_new_adverts", agg.new), ("feed_active_adverts", agg.active)):
        b = base.copy()
        b["month"] = pd.to_datetime(b["month"])
        parts.append(_count_rows(b, measure, lads, months, labels))
    counts = pd.concat(parts, ignore_index=True)
    counts["unit"] = "adverts"
    counts["status"] = markers.OK
    counts["status_reason"] = None
    counts["derivation"] = "published"
    rolled = rollup_counts(counts, membership)
    sal = agg.salary.copy()
    sal["month"] = pd.to_datetime(sal["month"])
    sal["measure"] = "feed_median_salary"
    sal["value"] = sal["median"].astype(float)
    sal["unit"] = "£ per year"
    few = sal["n"] < MIN_SALARY_N
    sal["status"] = np.where(few, markers.UNRELIABLE, markers.OK)
    sal["status_reason"] = np.where(few, "median of " + sal["n"].astype(str) + f" adverts with a salary (fewer than {MIN_SALARY_N})", None)
    sal["derivation"] = "published"
    sal["denominator"] = sal["n"].astype(float)
    facts = pd.concat([counts, rolled, sal.drop(columns=["median", "n"])], ignore_index=True)
    _period_columns(facts)
    facts["breakdown_label"] = _breakdown_labels(facts, labels)
    facts["dataset"] = DATASET_ID
    for c in cols:
        if c not in facts.columns:
            facts[c] = np.nan if c in ("ci_lower", "ci_upper", "numerator", "denominator") else None
    facts["n_contributing"] = facts["n_contributing"].astype("Int64")
    facts["n_missing"] = facts["n_missing"].astype("Int64")
    return facts[cols]


ROLLUP_LEVELS = ("lep", "lsip", "ca", "region", "england")

_ROLLUP_SQL = """
WITH mem AS (SELECT area_level, area_code, lad_code FROM membership WHERE area_level IN ({levels})),
size AS (SELECT area_level, area_code, count(*) AS n_members FROM mem GROUP BY ALL)
SELECT f.measure, m.area_level, m.area_code, f.month, f.breakdown_type, f.breakdown_code,
       sum(f.value) AS value, any_value(f.unit) AS unit, any_value(s.n_members) AS n_contributing
FROM counts f JOIN mem m ON m.lad_code = f.area_code
     JOIN size s ON s.area_level = m.area_level AND s.area_code = m.area_code
GROUP BY f.measure, m.area_level, m.area_code, f.month, f.breakdown_type, f.breakdown_code
"""


def rollup_counts(counts: pd.DataFrame, membership: pd.DataFrame, levels: tuple[str, ...] = ROLLUP_LEVELS) -> pd.DataFrame:
    """Counts summed to ``levels`` (DuckDB). Same result as ``lmi.pipeline.rollup.rollup`` for complete
    (zero-filled) rows: status 'ok', derivation 'summed', n_contributing = member LADs, n_missing 0.
    For the sparse SOC breakdowns (a LAD row exists only where the count is above zero) a LAD without a
    row had no such adverts, so the sum is complete too (the generic rollup would mark it 'partial')."""
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        con.register("counts", counts[["measure", "area_code", "month", "breakdown_type", "breakdown_code", "value", "unit"]])
        con.register("membership", membership)
        out = con.execute(_ROLLUP_SQL.format(levels=", ".join(f"'{lv}'" for lv in levels))).df()
    finally:
        con.close()
    out["status"] = markers.OK
    out["status_reason"] = None
    out["derivation"] = "summed"
    out["n_missing"] = 0
    return out


def rollup_with_lead(lad_facts: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame | None:
    """The lead's generic ``lmi.pipeline.rollup.rollup`` on canonical LAD rows (for cross-checks)."""
    try:
        from lmi.pipeline.rollup import rollup
    except ImportError:
        return None
    measures = pd.DataFrame([m.as_row() for m in measure_infos()])
    return rollup(facts=lad_facts, measures=measures, membership=membership)


def _period_columns(facts: pd.DataFrame) -> None:
    months = pd.to_datetime(pd.Series(facts["month"].unique()))
    info = {m: month_period(m.year, m.month) for m in months}
    month = pd.to_datetime(facts["month"])
    facts["period"] = month.map({m: v[0] for m, v in info.items()})
    facts["period_start"] = month.map({m: pd.Timestamp(v[1]) for m, v in info.items()})
    facts["period_end"] = month.map({m: pd.Timestamp(v[2]) for m, v in info.items()})
    facts.drop(columns=["month"], inplace=True)


def _breakdown_labels(facts: pd.DataFrame, labels: dict[str, str]) -> pd.Series:
    lab = dict(labels)
    lab["total"] = "Total"
    lab[UNKNOWN] = UNKNOWN_LABEL
    codes = pd.Series(facts["breakdown_code"].unique())
    mapping = {c: lab.get(c, c) for c in codes}
    return facts["breakdown_code"].map(mapping)
