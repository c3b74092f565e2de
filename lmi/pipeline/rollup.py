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
                breakdown_label=("breakdown_label", "first")).reset_index()
    agg = agg.merge(size, on=["area_level", "area_code"], how="left")
    agg["n_missing"] = (agg["n_members"] - agg["n_contributing"]).astype(int)
    agg["n_contributing"] = agg["n_contributing"].astype(int)

    n_c, n_m, n_mem = agg["n_contributing"].to_numpy(), agg["n_missing"].to_numpy(), agg["n_members"].to_numpy()
    how = agg["aggregation"].to_numpy()
    complete = n_m == 0
    none = n_c == 0
    is_sum = (how == "sum") & ~none
    is_ratio = (how == "ratio") & ~none & (agg["n_ratio"].to_numpy() == n_c) & (agg["den_sum"].to_numpy() > 0)
    is_w = ~none & ~is_sum & ~is_ratio & (agg["w_sum"].fillna(0).to_numpy() > 0)
    lost = ~none & ~is_sum & ~is_ratio & ~is_w
    cnt = lambda a: a.astype(int).astype(str)
    partial_txt = "of " + cnt(n_mem) + " member LADs (" + cnt(n_m) + " missing)"
    value = np.select([is_sum, is_ratio, is_w],
                      [agg["value_sum"], agg["num_sum"] / agg["den_sum"].where(agg["den_sum"] > 0) * agg["scale"],
                       agg["wv_sum"] / agg["w_sum"].where(agg["w_sum"] > 0)], np.nan)
    num = np.where(is_ratio, agg["num_sum"], np.nan)
    den = np.where(is_ratio, agg["den_sum"], np.nan)
    status = np.select([none | lost, is_sum & complete, ~complete], [markers.MISSING, markers.OK, markers.PARTIAL],
                       markers.DERIVED).astype(object)
    reason = np.select(
        [none, lost, is_sum & complete, is_sum, is_ratio & complete, is_ratio, is_w & complete, is_w],
        ["none of the " + cnt(n_mem) + " member LADs has a value",
         "no weights or denominators to combine member LADs",
         "",
         "sum of " + cnt(n_c) + " " + partial_txt,
         "recomputed from summed numerators and denominators",
         "recomputed from " + cnt(n_c) + " " + partial_txt,
         "population-weighted mean of member LADs (not published at this level)",
         "population-weighted mean of " + cnt(n_c) + " " + partial_txt], "").astype(object)
    reason[reason == ""] = None
    deriv = np.select([is_ratio, is_w], ["recomputed", "pop_weighted"], "summed").astype(object)
    agg["value"], agg["status"], agg["status_reason"], agg["derivation"] = value, status, reason, deriv
    agg["numerator"], agg["denominator"] = num, den
    agg["ci_lower"] = agg["ci_upper"] = np.nan
    keys = list(map(tuple, agg[["measure", "area_code", "period", "breakdown_type", "breakdown_code"]].itertuples(index=False)))
    agg = agg[[k not in pub_keys for k in keys]]
    cols = [c for c in facts.columns if c in agg.columns or c in ("status_reason",)]
    res = agg.reindex(columns=list(facts.columns))
    return res
