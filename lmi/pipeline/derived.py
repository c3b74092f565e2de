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


TOTAL_FROM = "soc2020_major"


def breakdown_totals(facts: pd.DataFrame, measures: dict[str, MeasureInfo]) -> pd.DataFrame:
    """Total rows for count measures published only by SOC 2020 major group (e.g. DfE job adverts):
    the sum of the major groups including 'unknown', at every area the publisher gives, marked 'summed'
    (and 'partial' when a group is suppressed). Nothing is added where a published total exists."""
    counts = [m.id for m in measures.values() if m.aggregation == "sum"]
    f = facts[facts["measure"].isin(counts)]
    has_total = set(f.loc[f["breakdown_type"] == "total", "measure"])
    maj = f[(f["breakdown_type"] == TOTAL_FROM) & ~f["measure"].isin(has_total)]
    if maj.empty:
        return pd.DataFrame()
    keys = ["dataset", "measure", "area_code", "area_level", "period", "period_start", "period_end", "unit"]
    g = maj.groupby(keys, as_index=False, dropna=False).agg(
        value=("value", "sum"), n_contributing=("value", "count"), n=("value", "size"), source_row=("source_row", "min"))
    g["n_missing"] = g["n"] - g["n_contributing"]
    complete = g["n_missing"] == 0
    g["value"] = g["value"].where(g["n_contributing"] > 0)
    g["status"] = np.where(g["n_contributing"] == 0, markers.MISSING, np.where(complete, markers.OK, markers.PARTIAL))
    g["status_reason"] = np.where(complete, "sum of the SOC 2020 major groups including 'unknown' (no published total)",
                                  "sum of " + g["n_contributing"].astype(str) + " of " + g["n"].astype(str)
                                  + " SOC 2020 major groups (others suppressed)")
    g["breakdown_type"], g["breakdown_code"], g["breakdown_label"] = "total", "total", "Total (sum of SOC 2020 major groups)"
    g["ci_lower"] = g["ci_upper"] = g["numerator"] = g["denominator"] = np.nan
    g["derivation"] = "summed_groups"
    return g.drop(columns=["n"])


def complete_years(facts: pd.DataFrame) -> set[int]:
    """Years in which every LAD has the denominator, so every area's rate uses the same population year."""
    lad = facts[(facts["measure"] == DENOMINATOR) & (facts["area_level"] == "lad") & facts["value"].notna()
                & (facts["breakdown_type"] == "total")]
    n = lad.groupby(pd.to_datetime(lad["period_start"]).dt.year)["area_code"].nunique()
    return set(n[n == n.max()].index) if len(n) else set()


def derive(facts: pd.DataFrame, measures: dict[str, MeasureInfo]) -> tuple[list[MeasureInfo], pd.DataFrame]:
    """Totals for breakdown-only counts, then new measures and their LAD-level rows (rolled up later)."""
    new_m, frames = [], []
    totals = breakdown_totals(facts, measures)
    if len(totals):
        frames.append(totals)
        facts = pd.concat([facts, totals], ignore_index=True)
    pop = facts[(facts["measure"] == DENOMINATOR) & (facts["area_level"] == "lad") & facts["value"].notna()]
    if pop.empty:
        return new_m, (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
    pop = pop.assign(year=pd.to_datetime(pop["period_start"]).dt.year)[["area_code", "year", "value", "period"]]
    pop = pop[pop["year"].isin(complete_years(facts))]
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
                                 f"{base.label} divided by the mid-year population aged 16-64 (ONS MYE) of the same or "
                                 "latest earlier year for which every LAD has an estimate, × 1,000", decimals=1, scale=1000.0))
        frames.append(out)
    return new_m, (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())


def per_resident_above_lad(facts: pd.DataFrame, measures: dict[str, MeasureInfo]) -> pd.DataFrame:
    """After rollup: per-resident rates for areas above LAD where the publisher gives the count itself
    (e.g. job adverts for England, Greater London LSIP, the GLA), using that count rather than a partial
    sum of LADs. Returns the rows that replace the rollup's rows for the same keys."""
    pop = facts[(facts["measure"] == DENOMINATOR) & (facts["area_level"] != "lad") & facts["value"].notna()
                & (facts["breakdown_type"] == "total") & facts["status"].isin([markers.OK, markers.DERIVED])]
    pop = pop.assign(year=pd.to_datetime(pop["period_start"]).dt.year)[["area_code", "year", "value", "period"]]
    pop = pop[pop["year"].isin(complete_years(facts))]
    frames = []
    for mid, (src, _label) in PER_RESIDENT.items():
        if src not in measures or mid not in measures:
            continue
        tot = facts[(facts["measure"] == src) & (facts["area_level"] != "lad") & (facts["breakdown_type"] == "total")
                    & facts["derivation"].isin(["published", "summed_groups"]) & facts["value"].notna()]
        if tot.empty:
            continue
        tot = tot.assign(year=pd.to_datetime(tot["period_start"]).dt.year).sort_values("year")
        p = pop.sort_values("year").rename(columns={"value": "pop", "period": "pop_period"})
        j = pd.merge_asof(tot, p, on="year", by="area_code", direction="backward").dropna(subset=["pop"])
        if j.empty:
            continue
        out = j[["dataset", "area_code", "area_level", "period", "period_start", "period_end", "source_row"]].copy()
        out["measure"] = mid
        out["breakdown_type"], out["breakdown_code"], out["breakdown_label"] = "total", "total", "Total"
        out["value"] = j["value"] / j["pop"] * 1000
        out["unit"] = "per 1,000 residents aged 16-64"
        out["status"] = markers.DERIVED
        out["status_reason"] = ("published adverts ÷ population aged 16-64 (" + j["pop_period"].astype(str) + ") × 1,000")
        out["ci_lower"] = out["ci_upper"] = np.nan
        out["numerator"], out["denominator"] = j["value"], j["pop"]
        out["derivation"] = "recomputed"
        out["n_contributing"] = out["n_missing"] = np.nan
        frames.append(out)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
