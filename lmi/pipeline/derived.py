"""Measures the build derives from staged ones (e.g. job adverts per 1,000 residents aged 16-64)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lmi import markers
from lmi.schema import MeasureInfo

PER_RESIDENT = {
    # derived id: (source measure id, label)
    "adverts_per_1000_pop_16_64": ("datahub_job_adverts", "Online job adverts per 1,000 residents aged 16-64"),
    "feed_adverts_per_1000_pop_16_64": ("feed_new_adverts", "New job adverts (advert feed) per 1,000 residents aged 16-64"),
}
DENOMINATOR = "pop_16_64"


def _totals(facts: pd.DataFrame, measure: str) -> pd.DataFrame:
    f = facts[(facts["measure"] == measure) & (facts["area_level"] == "lad")]
    tot = f[f["breakdown_type"] == "total"]
    if len(tot):
        return tot
    # no published total: the total is the sum of the major groups (incl. 'unknown') when all are present
    maj = f[f["breakdown_type"] == "soc2020_major"]
    if maj.empty:
        return maj
    g = maj.groupby(["dataset", "measure", "area_code", "area_level", "period", "period_start", "period_end"], as_index=False)
    out = g.agg(value=("value", lambda v: v.sum() if v.notna().all() else np.nan), source_row=("source_row", "min"),
                unit=("unit", "first"))
    out["status"] = np.where(out["value"].notna(), markers.OK, markers.SUPPRESSED)
    return out


def derive(facts: pd.DataFrame, measures: dict[str, MeasureInfo]) -> tuple[list[MeasureInfo], pd.DataFrame]:
    """New measures and their LAD-level rows (rolled up later like any ratio)."""
    new_m, frames = [], []
    pop = facts[(facts["measure"] == DENOMINATOR) & (facts["area_level"] == "lad") & facts["value"].notna()]
    if pop.empty:
        return new_m, pd.DataFrame()
    pop = pop.assign(year=pd.to_datetime(pop["period_start"]).dt.year)[["area_code", "year", "value", "period"]]
    for mid, (src, label) in PER_RESIDENT.items():
        if src not in measures:
            continue
        tot = _totals(facts, src)
        if tot.empty:
            continue
        tot = tot.assign(year=pd.to_datetime(tot["period_start"]).dt.year).sort_values("year")
        p = pop.sort_values("year").rename(columns={"value": "pop", "period": "pop_period"})
        j = pd.merge_asof(tot, p, on="year", by="area_code", direction="backward")
        ok = j["value"].notna() & j["pop"].gt(0)
        out = pd.DataFrame({
            "dataset": j["dataset"], "measure": mid, "area_code": j["area_code"], "area_level": "lad",
            "period": j["period"], "period_start": j["period_start"], "period_end": j["period_end"],
            "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
            "value": np.where(ok, j["value"] / j["pop"] * 1000, np.nan),
            "unit": "per 1,000 residents aged 16-64",
            "status": np.where(ok, markers.DERIVED, np.where(j["pop"].isna(), markers.MISSING, j["status"])),
            "status_reason": np.where(ok, "adverts ÷ population aged 16-64 (" + j["pop_period"].astype(str) + ") × 1,000",
                                      "adverts or population not available"),
            "ci_lower": np.nan, "ci_upper": np.nan,
            "numerator": np.where(ok, j["value"], np.nan), "denominator": np.where(ok, j["pop"], np.nan),
            "derivation": "recomputed", "n_contributing": np.nan, "n_missing": np.nan,
            "source_row": j["source_row"],
        })
        out.loc[out["status"].eq(markers.OK), "status"] = markers.DERIVED
        base = measures[src]
        new_m.append(MeasureInfo(mid, label, base.dataset, "per 1,000 residents aged 16-64", base.topic, "ratio",
                                 f"{base.label} divided by the mid-year population aged 16-64 of the same or latest "
                                 "earlier year (ONS MYE), × 1,000", decimals=1, scale=1000.0))
        frames.append(out)
    return new_m, (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
