"""ONS Explore Local Statistics 'raw' employment-rate file with APS numerators and denominators.

Published on LAD 2021/22 codes: because numerators and denominators are given, rates for merged
authorities (Cumberland, North Yorkshire, Somerset, ...) can be recomputed exactly by the pipeline.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import read_text_csv, csv_header, StageContext, check_unique, require_columns
from lmi.periods import iso_interval
from lmi.schema import OGL, DatasetInfo, MeasureInfo, StagedDataset

NAME = "ons_els_raw"
ID_COLS = ["areacd", "areanm", "geography", "period", "unit"]
INDICATORS = {"employment_rate": ("aps_employment_rate_raw", "Employment rate, aged 16-64 (APS, with numerator)"),
              "economically_inactive": ("aps_inactivity_rate_raw", "Economic inactivity rate, aged 16-64 (APS, with numerator)")}
LEVEL_BY_PREFIX = {"E06": "lad", "E07": "lad", "E08": "lad", "E09": "lad", "E12": "region", "E92": "england",
                   "E47": "ca"}
STATUS = {"x": (markers.SUPPRESSED, "not available or suppressed (ONS status x)"),
          "u": (markers.UNRELIABLE, "low reliability (ONS status u)")}




def detect(path: Path) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    h = csv_header(path)
    return h[:5] == ID_COLS and "employment_rate_numerator" in h


def read(path: Path) -> pd.DataFrame:
    return read_text_csv(path)


def stage(raw: pd.DataFrame, path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    df = raw.copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    df["areacd"] = df["areacd"].str.strip()
    df["area_level"] = df["areacd"].str[:3].map(LEVEL_BY_PREFIX)
    notes = [f"{int(df['area_level'].isna().sum())} rows outside the spine's levels skipped"]
    df = df[df["area_level"].notna()]
    lad = df[df["area_level"] == "lad"]
    bad = lad[~lad["areacd"].map(ctx.geo.is_english_lad_code)]
    if len(bad):
        r = bad.iloc[0]
        raise SourceError(rel, "unknown local authority code", row=int(r["source_row"]), column="areacd",
                          value=r["areacd"], expected="an English LAD code of a known vintage")
    check_unique(df, ["areacd", "period"], file=rel)
    per = {}
    for p, row in zip(df["period"], df["source_row"]):
        if p not in per:
            try:
                per[p] = iso_interval(p)
            except ValueError:
                raise SourceError(rel, "period is not an ISO-8601 start/duration", row=int(row), column="period",
                                  value=p, expected="e.g. 2004-01-01T00:00:00/P1Y") from None
    periods = df["period"].map(per)
    frames, measures = [], []
    for key, (mid, label) in INDICATORS.items():
        cols = [key, f"{key}_numerator", f"{key}_denominator", f"{key}_lower_confidence_interval_95",
                f"{key}_upper_confidence_interval_95", f"{key}_observation_status"]
        require_columns(df, cols, file=rel)
        parsed = {c: markers.parse_series(df[c], file=rel, column=c, rows=df["source_row"]) for c in cols[:5]}
        status = df[cols[5]].str.strip().str.lower()
        badst = ~status.isin(["", *STATUS])
        if badst.any():
            r = df[badst].iloc[0]
            raise SourceError(rel, "unknown observation status", row=int(r["source_row"]), column=cols[5],
                              value=r[cols[5]], expected="blank, x or u")
        st = parsed[key]["status"].where(status.eq(""), status.map(lambda s: STATUS.get(s, ("", ""))[0]))
        rs = parsed[key]["status_reason"].where(status.eq(""), status.map(lambda s: STATUS.get(s, ("", ""))[1]))
        frames.append(pd.DataFrame({
            "measure": mid, "area_code": df["areacd"].values, "area_level": df["area_level"].values,
            "period": periods.map(lambda t: t[0]).values,
            "period_start": pd.to_datetime(periods.map(lambda t: t[1])).values,
            "period_end": pd.to_datetime(periods.map(lambda t: t[2])).values,
            "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
            "value": parsed[key]["value"].values, "status": st.values, "status_reason": rs.values,
            "ci_lower": parsed[cols[3]]["value"].values, "ci_upper": parsed[cols[4]]["value"].values,
            "numerator": parsed[cols[1]]["value"].values, "denominator": parsed[cols[2]]["value"].values,
            "source_row": df["source_row"].values,
        }))
        measures.append(MeasureInfo(mid, label, "ons_els_employment_rate_raw", "%", "Labour market", "ratio",
                                    label + "; numerator and denominator (APS population 16-64) as published",
                                    decimals=1, scale=100.0, hidden=False))
    info = DatasetInfo(
        id="ons_els_employment_rate_raw",
        title="Employment rate and economic inactivity, with numerators and denominators (ONS LI01 / APS, ELS raw file)",
        publisher="Office for National Statistics",
        source_url="https://www.ons.gov.uk/employmentandlabourmarket/peopleinwork/employmentandemployeetypes/datasets/li01regionallabourmarketlocalindicatorsforcountieslocalandunitaryauthorities",
        licence=OGL, attribution="Source: Office for National Statistics licensed under the Open Government Licence v.3.0",
        regularity="annual", release_date="2024-04-16", topic="Labour market",
        spatial_levels="LAD (2021/22 codes), combined authority, region, England", source_file=rel,
        description="APS estimates for January-December of each year, 2004-2023, with the numerator (people in "
                    "employment / inactive aged 16-64) and denominator (APS population aged 16-64).",
        caveats="Published on LAD 2021/22 codes: rates for authorities merged in 2023 are recomputed from the summed "
                "numerators and denominators. APS is a survey: see the confidence intervals.",
    )
    return [StagedDataset(info, measures, pd.concat(frames, ignore_index=True), notes)]
