"""Monthly claimant count (Nomis NM_162_1) in Trafford Data Lab's tidy long CSV.

Columns ``area_code, area_name, period ('March 2023'), indicator, measure ('Count' | 'Percentage'), units,
value``: two rows per area and month. England and LADs are kept; ward rows (E05) are out of scope and skipped.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import read_text_csv, StageContext, check_unique, require_columns
from lmi.periods import MONTHS, month
from lmi.schema import OGL, STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset

NAME = "nomis_claimant_tidy"
COLUMNS = ["area_code", "area_name", "period", "indicator", "measure", "units", "value"]
DATASET_ID = "nomis_claimant_count_monthly"
SOURCE_URL = ("https://github.com/traffordDataLab/trafford_themes/blob/ae20a088ae35b93b57843c79ee56e0072915db9e/"
              "data/economy/claimant_count.csv")
MEASURES = {"count": "claimant_count_monthly", "percentage": "claimant_rate_monthly"}
# Nomis conventions, in case they appear in a refreshed extract.
VALUE_MARKERS = {
    "": markers.Marker(markers.MISSING, "blank in source"),
    "!": markers.Marker(markers.SUPPRESSED, "suppressed: estimate disclosive (Nomis '!')"),
    "*": markers.Marker(markers.SUPPRESSED, "suppressed: estimate unreliable (Nomis '*')"),
    "-": markers.Marker(markers.MISSING, "missing or not applicable (Nomis '-')"),
}
_PERIOD = re.compile(r"^([A-Za-z]+) (\d{4})$")


def _head(path: Path, n: int = 5) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        return [[c.strip() for c in row] for _, row in zip(range(n), reader)]


def detect(path: Path) -> bool:
    """A tidy ``area_code, area_name, period, indicator, measure, units`` CSV whose indicator is the claimant count."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return False
    try:
        rows = _head(path)
    except Exception:
        return False
    if not rows or not {"area_code", "area_name", "period", "indicator", "measure", "units"} <= set(rows[0]):
        return False
    i = rows[0].index("indicator")
    return any(len(r) > i and "claimant" in r[i].lower() for r in rows[1:])


def read(path: Path) -> pd.DataFrame:
    return read_text_csv(path)


def stage(raw: pd.DataFrame, path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    require_columns(raw, COLUMNS, file=rel)
    df = raw[COLUMNS].copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    for c in ("area_code", "period", "measure", "indicator"):
        df[c] = df[c].str.strip()
    check_unique(df, ["area_code", "period", "measure"], file=rel)

    # indicator/measure pairs
    kind = df["measure"].str.lower()
    bad = ~kind.isin(list(MEASURES))
    if bad.any():
        r = df[bad].iloc[0]
        raise SourceError(rel, "unknown measure", row=int(r["source_row"]), column="measure", value=r["measure"],
                          expected="'Count' or 'Percentage'")
    ind_ok = np.where(kind.eq("count"), df["indicator"].str.lower().str.contains("claimant count"),
                      df["indicator"].str.lower().str.contains("proportion of residents aged 16-64"))
    if not ind_ok.all():
        r = df[~ind_ok].iloc[0]
        raise SourceError(rel, "indicator does not match measure", row=int(r["source_row"]), column="indicator",
                          value=r["indicator"], expected="'Claimant count' with Count, 'Claimants as a proportion of "
                                                         "residents aged 16-64' with Percentage")

    # areas: England and English LADs; wards (E05) out of scope
    notes = []
    wards = df["area_code"].str.startswith("E05")
    if wards.any():
        notes.append(f"{int(wards.sum())} ward rows (E05, {df.loc[wards, 'area_code'].nunique()} wards) skipped: "
                     "wards are below the LAD spine")
    df = df[~wards].reset_index(drop=True)
    levels = {}
    for code, row in df.groupby("area_code", sort=False)["source_row"].first().items():
        level = ctx.geo.level_of(code)
        if level == "lad" and not ctx.geo.is_english_lad_code(code):
            level = None
        if level not in ("lad", "england", "region", "ca", "lsip", "lep"):
            raise SourceError(rel, "unknown area code", row=int(row), column="area_code", value=code,
                              expected="E92000001 or an English LAD / region / CA code known to the lookups "
                                       "(wards E05 are skipped)")
        levels[code] = level

    periods = {}
    for p, row in df.groupby("period", sort=False)["source_row"].first().items():
        m = _PERIOD.match(p)
        mo = MONTHS.get(m[1].lower()) if m else None
        if not mo:
            raise SourceError(rel, "period not recognised", row=int(row), column="period", value=p,
                              expected="a month name and year like 'March 2023'")
        periods[p] = month(int(m[2]), mo)

    parsed = markers.parse_series(df["value"], file=rel, column="value", rows=df["source_row"], markers=VALUE_MARKERS)
    df["v"], df["st"], df["why"] = parsed["value"].values, parsed["status"].values, parsed["status_reason"].values
    df["mid"] = df["measure"].str.lower().map(MEASURES)
    # numerator of each rate = the published count for the same area and month
    counts = df[df["mid"] == MEASURES["count"]].set_index(["area_code", "period"])["v"]
    num = pd.Series(list(zip(df["area_code"], df["period"]))).map(counts).values
    is_rate = (df["mid"] == MEASURES["percentage"]).values
    facts = pd.DataFrame({
        "measure": df["mid"], "area_code": df["area_code"], "area_level": df["area_code"].map(levels),
        "period": df["period"].map({k: v[0] for k, v in periods.items()}),
        "period_start": pd.to_datetime(df["period"].map({k: pd.Timestamp(v[1]) for k, v in periods.items()})),
        "period_end": pd.to_datetime(df["period"].map({k: pd.Timestamp(v[2]) for k, v in periods.items()})),
        "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
        "value": df["v"], "status": df["st"], "status_reason": df["why"],
        "ci_lower": np.nan, "ci_upper": np.nan,
        "numerator": np.where(is_rate, num, np.nan), "denominator": np.nan,
        "source_row": df["source_row"],
    })[list(STAGE_COLUMNS)]

    info = DatasetInfo(
        id=DATASET_ID,
        title="Claimant count by geography (Nomis NM_162_1): Trafford and its CIPFA nearest neighbours, monthly",
        publisher="Office for National Statistics / DWP (Claimant Count, Nomis NM_162_1), extracted by Trafford Data Lab",
        source_url=SOURCE_URL, licence=OGL,
        attribution="Source: Office for National Statistics / Department for Work and Pensions, Claimant Count (Nomis), "
                    "licensed under the Open Government Licence v.3.0; extract by Trafford Data Lab",
        regularity="monthly", release_date=None, topic="Labour market",
        spatial_levels="England and 16 LADs (Trafford and its CIPFA nearest neighbours); wards skipped",
        source_file=rel,
        description="Monthly claimant count (people claiming unemployment-related benefits: JSA and Universal Credit "
                    "searching for work) and claimants as a % of residents aged 16-64, March 2023 onwards.",
        caveats="A sample of 16 LADs only, not all of England. Rates are published to 1 decimal place.",
    )
    measures = [
        MeasureInfo(id=MEASURES["count"], label="Claimant count (monthly)", dataset=DATASET_ID, unit="persons",
                    topic="Labour market", aggregation="sum", higher_is_better=False,
                    description="Number of people claiming unemployment-related benefits in the month (Nomis NM_162_1)."),
        MeasureInfo(id=MEASURES["percentage"], label="Claimant rate (monthly, % of residents aged 16-64)",
                    dataset=DATASET_ID, unit="%", topic="Labour market", aggregation="weighted_mean",
                    weight_measure="pop_16_64", decimals=1, higher_is_better=False,
                    description="Claimants as a percentage of residents aged 16-64 (ONS mid-year estimates). Rolled up "
                                "as a mean weighted by population aged 16-64, which equals sum(count)/sum(population). "
                                "The numerator (the published count) is filled; the denominator is not published and "
                                "is not derived from the rate, which is rounded to 1 dp (up to ~2% error)."),
    ]
    return [StagedDataset(info=info, measures=measures, facts=facts, notes=notes)]
