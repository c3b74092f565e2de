"""Roll LAD figures up to LEP, LSIP, combined authority, region and England.

- counts ('sum'): summed over member LADs, with the number of contributing and missing LADs; a sum
  with missing members is kept but marked 'partial' so it is never mistaken for a complete total;
- rates with numerators ('ratio'): recomputed from the summed numerators and denominators;
- rates without ('weighted_mean'): weighted by the weight measure (population 16-64) and marked 'derived';
- 'none': never rolled up (e.g. survey proportions, projections published above LA level).
A figure the publisher itself gives at a level always wins over a rollup.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lmi import markers

ROLLUP_LEVELS = ("lep", "lsip", "ca", "region", "england")
KEY = ["dataset", "measure", "period", "period_start", "period_end", "breakdown_type", "breakdown_code"]


def _weights(facts: pd.DataFrame, weight_measure: str) -> pd.DataFrame:
    w = facts[(facts["measure"] == weight_measure) & (facts["area_level"] == "lad")
              & (facts["breakdown_type"] == "total") & facts["value"].notna()]
    return pd.DataFrame({"lad_code": w["area_code"], "wyear": pd.to_datetime(w["period_start"]).dt.year,
                         "weight": w["value"]})


def _attach_weights(lad: pd.DataFrame, weights: pd.DataFrame) -> pd.Series:
    """Weight per LAD row: the weight measure's value for the latest year not after the row's year
    (or the earliest year available when the row is older than every weight)."""
    year = pd.to_datetime(lad["period_start"]).dt.year
    out = pd.Series(np.nan, index=lad.index)
    wt = weights.sort_values("wyear")
    for code, grp in wt.groupby("lad_code"):
        idx = lad.index[lad["area_code"] == code]
        if not len(idx):
            continue
        ys = grp["wyear"].to_numpy()
        vs = grp["weight"].to_numpy()
        pos = np.searchsorted(ys, year.loc[idx].to_numpy(), side="right") - 1
        out.loc[idx] = vs[np.clip(pos, 0, len(vs) - 1)]
    return out


def rollup(facts: pd.DataFrame, measures: pd.DataFrame, membership: pd.DataFrame,
           levels: tuple[str, ...] = ROLLUP_LEVELS) -> pd.DataFrame:
    """Derived rows at ``levels`` for every LAD-level figure whose measure can be aggregated.

    ``facts`` holds canonical rows (current LAD codes); ``measures`` the catalogue (id, aggregation,
    scale, weight_measure); ``membership`` (area_level, area_code, lad_code). Levels or keys the
    publisher already gives are skipped.
    """
    m = measures.set_index("id")
    lad = facts[facts["area_level"].eq("lad") & facts["measure"].map(m["aggregation"]).isin(["sum", "ratio", "weighted_mean"])]
    if lad.empty:
        return pd.DataFrame(columns=facts.columns)
    lad = lad.copy()
    lad["aggregation"] = lad["measure"].map(m["aggregation"])
    lad["scale"] = lad["measure"].map(m["scale"]).fillna(1.0).astype(float)
    lad["weight"] = np.nan
    for wm, idx in lad[lad["aggregation"].eq("weighted_mean")].groupby(lad["measure"].map(m["weight_measure"])).groups.items():
        lad.loc[idx, "weight"] = _attach_weights(lad.loc[idx], _weights(facts, wm))
    lad["has_value"] = lad["value"].notna()
    lad["has_ratio"] = lad["numerator"].notna() & lad["denominator"].notna()
    lad["wv"] = lad["value"] * lad["weight"]
    lad["w_used"] = lad["weight"].where(lad["has_value"])
    lad["unit"] = lad["unit"] if "unit" in lad else None

    published = facts[~facts["area_level"].eq("lad")][["measure", "area_code", "period", "breakdown_type", "breakdown_code"]]
    pub_keys = set(map(tuple, published.itertuples(index=False)))
    out = []
    mem = membership[membership["area_level"].isin(levels)]
    size = mem.groupby(["area_level", "area_code"]).size().rename("n_members").reset_index()
    joined = lad.merge(mem, left_on="area_code", right_on="lad_code", suffixes=("_lad", ""))
    group_cols = KEY + ["area_level", "area_code"]
    g = joined.groupby(group_cols, dropna=False, sort=False)
    agg = g.agg(n_contributing=("has_value", "sum"), n_rows=("has_value", "size"),
                value_sum=("value", "sum"), num_sum=("numerator", "sum"), den_sum=("denominator", "sum"),
                n_ratio=("has_ratio", "sum"), wv_sum=("wv", "sum"), w_sum=("w_used", "sum"),
                aggregation=("aggregation", "first"), scale=("scale", "first"), unit=("unit", "first"),
                breakdown_label=("breakdown_label", "first"),
                any_unrel=("status", lambda s: bool((s == markers.UNRELIABLE).any()))).reset_index()
    agg = agg.merge(size, on=["area_level", "area_code"], how="left")
    agg["n_missing"] = (agg["n_members"] - agg["n_contributing"]).astype(int)
    agg["n_contributing"] = agg["n_contributing"].astype(int)

    value = np.full(len(agg), np.nan)
    status = np.empty(len(agg), dtype=object)
    reason = np.empty(len(agg), dtype=object)
    deriv = np.empty(len(agg), dtype=object)
    num = np.full(len(agg), np.nan)
    den = np.full(len(agg), np.nan)
    for i, r in enumerate(agg.itertuples(index=False)):
        complete = r.n_missing == 0
        if r.n_contributing == 0:
            status[i], reason[i], deriv[i] = markers.MISSING, f"none of the {r.n_members} member LADs has a value", "summed"
            continue
        if r.aggregation == "sum":
            value[i], deriv[i] = r.value_sum, "summed"
            status[i] = markers.OK if complete else markers.PARTIAL
            reason[i] = None if complete else f"sum of {r.n_contributing} of {r.n_members} member LADs ({r.n_missing} missing)"
        elif r.aggregation == "ratio" and r.n_ratio == r.n_contributing and r.den_sum > 0:
            value[i], num[i], den[i], deriv[i] = r.num_sum / r.den_sum * r.scale, r.num_sum, r.den_sum, "recomputed"
            status[i] = markers.DERIVED if complete else markers.PARTIAL
            reason[i] = ("recomputed from summed numerators and denominators" if complete else
                         f"recomputed from {r.n_contributing} of {r.n_members} member LADs ({r.n_missing} missing)")
        elif r.w_sum and r.w_sum > 0:
            value[i], deriv[i] = r.wv_sum / r.w_sum, "pop_weighted"
            status[i] = markers.DERIVED if complete else markers.PARTIAL
            reason[i] = ("population-weighted mean of member LADs (not published at this level)" if complete else
                         f"population-weighted mean of {r.n_contributing} of {r.n_members} member LADs ({r.n_missing} missing)")
        else:
            status[i], reason[i], deriv[i] = markers.MISSING, "no weights or denominators to combine member LADs", "summed"
    agg["value"], agg["status"], agg["status_reason"], agg["derivation"] = value, status, reason, deriv
    agg["numerator"], agg["denominator"] = num, den
    agg["ci_lower"] = agg["ci_upper"] = np.nan
    keys = list(map(tuple, agg[["measure", "area_code", "period", "breakdown_type", "breakdown_code"]].itertuples(index=False)))
    agg = agg[[k not in pub_keys for k in keys]]
    cols = [c for c in facts.columns if c in agg.columns or c in ("status_reason",)]
    res = agg.reindex(columns=list(facts.columns))
    return res
