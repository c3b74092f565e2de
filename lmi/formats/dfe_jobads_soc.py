"""DfE job-ads page: England online job adverts by SOC 2020 unit group, monthly.

Long CSV ``timePeriod (YYYY-MM-01), soc_4_digit_code, soc_4_digit_label, value, metric`` with four metrics
(``soc_3m_avg``, ``soc_growth``, ``soc_pop``, ``soc_job``). ``soc_4_digit_code`` is read as text: 4-digit
unit-group codes plus the literal ``Unknown``. England only (the sum of English regions).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import read_text_csv, csv_has_columns, StageContext, check_unique, require_columns
from lmi.periods import month
from lmi.schema import OGL, STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset

NAME = "dfe_jobads_soc"
COLUMNS = ["timePeriod", "soc_4_digit_code", "soc_4_digit_label", "value", "metric"]
DATASET_ID = "dfe_jobads_soc2020_unit_england"
ENGLAND = "E92000001"
SOURCE_URL = ("https://github.com/dfe-analytical-services/lsip_dashboard/blob/"
              "324a9151617214f972007a3d8a7449d8d31b47e1/job_ads_page/job_ads_page_occupations_output.rds")
VALUE_MARKERS = {"": markers.Marker(markers.MISSING, "blank in source (not available)")}
_DATE = re.compile(r"^(\d{4})-(\d{2})-01$")
_CODE = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class Metric:
    measure: str
    label: str
    unit: str
    aggregation: str
    decimals: int
    description: str


_SRC = ("England online job adverts by SOC 2020 unit group (ONS online job advert estimates, Textkernel; "
        "region x SOC 4-digit table summed over English regions by DfE). ")
METRICS = {
    "soc_3m_avg": Metric("jobads_soc_3m_avg", "Online job adverts by unit group (3-month rolling average)",
                         "adverts", "sum", 0,
                         _SRC + "The value for a month is the 3-month rolling average of monthly adverts ending in "
                                "that month."),
    "soc_growth": Metric("jobads_soc_growth", "Change in online job adverts since Jan 2021", "%", "none", 1,
                         _SRC + "Percentage change of the 3-month rolling average compared with January 2021 "
                                "(0 in Jan 2021)."),
    "soc_pop": Metric("jobads_soc_per_100k", "Online job adverts per 100,000 population", "rate per 100,000",
                      "none", 1,
                      _SRC + "12-month sum of adverts to the reference month per 100,000 of the APS population base "
                             "DfE takes from Nomis (NM_17_1); quarter-end months only. The population base is DfE's; "
                             "it is not in the file, so the rate cannot be recomputed or rolled up."),
    "soc_job": Metric("jobads_soc_per_employment", "Online job adverts as % of employment in the occupation", "%",
                      "none", 1,
                      _SRC + "12-month sum of adverts to the reference month divided by APS employment in that unit "
                             "group, x 100; quarter-end months from Dec 2021. Not available for every unit group."),
}




def detect(path: Path) -> bool:
    """A CSV whose header has ``soc_4_digit_code`` and ``timePeriod``."""
    return csv_has_columns(path, {"timePeriod", "soc_4_digit_code", "metric", "value"})


def read(path: Path) -> pd.DataFrame:
    return read_text_csv(path)


def stage(raw: pd.DataFrame, path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    require_columns(raw, COLUMNS, file=rel)
    df = raw[COLUMNS].copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    for col in ("timePeriod", "soc_4_digit_code", "metric"):
        df[col] = df[col].str.strip()
    check_unique(df, ["timePeriod", "soc_4_digit_code", "metric"], file=rel)

    for met, row in df.groupby("metric", sort=False)["source_row"].first().items():
        if met not in METRICS:
            raise SourceError(rel, "unknown metric", row=int(row), column="metric", value=met,
                              expected="one of " + ", ".join(METRICS))
    bad = ~(df["soc_4_digit_code"].str.match(_CODE) | df["soc_4_digit_code"].eq("Unknown"))
    if bad.any():
        r = df[bad].iloc[0]
        raise SourceError(rel, "not a SOC 2020 unit-group code", row=int(r["source_row"]), column="soc_4_digit_code",
                          value=r["soc_4_digit_code"], expected="4 digits (e.g. '1111', read as text) or 'Unknown'")
    periods = {}
    for tp, row in df.groupby("timePeriod", sort=False)["source_row"].first().items():
        m = _DATE.match(tp)
        if not m or not 1 <= int(m[2]) <= 12:
            raise SourceError(rel, "time period is not the first day of a month", row=int(row), column="timePeriod",
                              value=tp, expected="an ISO date YYYY-MM-01")
        periods[tp] = month(int(m[1]), int(m[2]))

    parsed = markers.parse_series(df["value"], file=rel, column="value", rows=df["source_row"], markers=VALUE_MARKERS)
    code = df["soc_4_digit_code"].where(df["soc_4_digit_code"] != "Unknown", "unknown")
    label = df["soc_4_digit_label"].str.strip()
    facts = pd.DataFrame({
        "measure": df["metric"].map({k: v.measure for k, v in METRICS.items()}),
        "area_code": ENGLAND, "area_level": "england",
        "period": df["timePeriod"].map({k: v[0] for k, v in periods.items()}),
        "period_start": pd.to_datetime(df["timePeriod"].map({k: pd.Timestamp(v[1]) for k, v in periods.items()})),
        "period_end": pd.to_datetime(df["timePeriod"].map({k: pd.Timestamp(v[2]) for k, v in periods.items()})),
        "breakdown_type": "soc2020_unit", "breakdown_code": code,
        "breakdown_label": label.where(label != "", code.str.capitalize()),
        "value": parsed["value"].values, "status": parsed["status"].values,
        "status_reason": parsed["status_reason"].values,
        "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan, "denominator": np.nan,
        "source_row": df["source_row"],
    })[list(STAGE_COLUMNS)]

    present = [k for k in METRICS if k in set(df["metric"])]
    info = DatasetInfo(
        id=DATASET_ID,
        title="Online job adverts in England by SOC 2020 unit group, monthly (DfE job-ads page)",
        publisher="Department for Education (Unit for Future Skills), from ONS online job advert estimates "
                  "(Textkernel) and ONS Annual Population Survey (Nomis)",
        source_url=SOURCE_URL, licence=OGL,
        attribution="Source: Department for Education, using Office for National Statistics online job advert "
                    "estimates (Textkernel) and Annual Population Survey data; licensed under the Open Government "
                    "Licence v3.0",
        regularity="monthly", release_date=None, topic="Vacancies and job adverts",
        spatial_levels="England", source_file=rel,
        description="England online job adverts by SOC 2020 unit group (412 + Unknown): 3-month rolling average and "
                    "growth since Jan 2021 (monthly, Jan 2021 onwards); adverts per 100,000 population and as % of "
                    "employment (quarter-end months). Prepared for DfE's job-ads page (Feb 2026).",
        caveats="Job adverts are not vacancies. Rates use DfE's APS denominators, which are not in the file. "
                "Unit-group employment for soc_job is missing for some unit groups.",
    )
    measures = [MeasureInfo(id=METRICS[k].measure, label=METRICS[k].label, dataset=DATASET_ID, unit=METRICS[k].unit,
                            topic="Vacancies and job adverts", aggregation=METRICS[k].aggregation,  # type: ignore[arg-type]
                            decimals=METRICS[k].decimals, description=METRICS[k].description) for k in present]
    notes = []
    for k in present:
        sub = df[df["metric"] == k]
        notes.append(f"{k}: {sub['timePeriod'].nunique()} months {min(sub['timePeriod'])} to {max(sub['timePeriod'])}, "
                     f"{sub['soc_4_digit_code'].nunique()} unit groups (incl. 'Unknown' where present)")
    return [StagedDataset(info=info, measures=measures, facts=facts.reset_index(drop=True), notes=notes)]
