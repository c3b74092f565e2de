"""Turn the aggregates into canonical ``facts`` rows, with the dataset and measure records."""
from __future__ import annotations

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
    base = base.assign(soc_unit=base["soc_unit"].astype(object).where(base["soc_unit"].notna(), None))
    full = pd.MultiIndex.from_product([lads, months], names=["lad_code", "month"])
    tot = base.groupby(["lad_code", "month"])["n"].sum().reindex(full, fill_value=0).reset_index()
    tot["breakdown_type"], tot["breakdown_code"] = "total", "total"
    frames.append(tot)
    for btype, width in SOC_LEVELS:
        code = base["soc_unit"].map(lambda u, w=width: u[:w] if isinstance(u, str) else UNKNOWN)
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
    return out.rename(columns={"lad_code": "area_code"}).assign(area_level="lad")


def build_facts(agg: Aggregates, soc: pd.DataFrame, lads: list[str], membership: pd.DataFrame,
                measures: pd.DataFrame | None = None) -> pd.DataFrame:
    """LAD rows + rollups (lmi.pipeline.rollup) for the counts, and medians at every level."""
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
    facts = pd.concat([counts, sal.drop(columns=["median"])], ignore_index=True)
    _period_columns(facts)
    facts["breakdown_label"] = _breakdown_labels(facts, labels)
    facts["dataset"] = DATASET_ID
    for c in cols:
        if c not in facts.columns:
            facts[c] = np.nan if c in ("ci_lower", "ci_upper", "numerator", "denominator") else None
    facts = facts[cols]
    facts["n_contributing"] = pd.array([None] * len(facts), dtype="Int64")
    facts["n_missing"] = pd.array([None] * len(facts), dtype="Int64")
    derived = rollup_counts(facts[facts["measure"] != "feed_median_salary"], membership, measures)
    if derived is not None and len(derived):
        facts = pd.concat([facts, derived[cols]], ignore_index=True)
    return facts


def rollup_counts(lad_facts: pd.DataFrame, membership: pd.DataFrame, measures: pd.DataFrame | None) -> pd.DataFrame | None:
    """Counts rolled up with the lead's ``lmi.pipeline.rollup.rollup`` (None if it is not available)."""
    try:
        from lmi.pipeline.rollup import rollup
    except ImportError:
        return None
    if measures is None:
        measures = pd.DataFrame([m.as_row() for m in measure_infos()])
    out = rollup(facts=lad_facts, measures=measures, membership=membership)
    out["dataset"] = DATASET_ID
    return out


def _period_columns(facts: pd.DataFrame) -> None:
    months = pd.Series(facts["month"].unique())
    info = {m: month_period(m.year, m.month) for m in months}
    facts["period"] = facts["month"].map(lambda m: info[m][0])
    facts["period_start"] = facts["month"].map(lambda m: pd.Timestamp(info[m][1]))
    facts["period_end"] = facts["month"].map(lambda m: pd.Timestamp(info[m][2]))
    facts.drop(columns=["month"], inplace=True)


def _breakdown_labels(facts: pd.DataFrame, labels: dict[str, str]) -> pd.Series:
    lab = dict(labels)
    lab["total"] = "Total"
    lab[UNKNOWN] = UNKNOWN_LABEL
    codes = pd.Series(facts["breakdown_code"].unique())
    mapping = {c: lab.get(c, c) for c in codes}
    return facts["breakdown_code"].map(mapping)
