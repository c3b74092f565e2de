"""Recast LAD figures published on retired codes onto the current (2023) LAD codes.

Counts are summed over the predecessors; rates are recomputed from the summed numerator and
denominator when the source gives both; otherwise a merged authority's rate is flagged
'not comparable' (no value is invented). A pure recode (one predecessor) keeps its value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lmi import markers

KEY = ["dataset", "measure", "period", "breakdown_type", "breakdown_code"]


def recast_to_current(facts: pd.DataFrame, measures: pd.DataFrame, current_code: dict[str, str]) -> pd.DataFrame:
    """Return ``facts`` with every LAD row on a current code (derivation 'recast' where it changed)."""
    facts = facts.copy()
    is_lad = facts["area_level"].eq("lad")
    mapped = facts.loc[is_lad, "area_code"].map(current_code)
    facts.loc[is_lad, "new_code"] = mapped
    facts["new_code"] = facts["new_code"].fillna(facts["area_code"])
    changed = is_lad & facts["new_code"].ne(facts["area_code"])
    if not changed.any():
        return facts.drop(columns="new_code")
    keep = facts[~changed]
    old = facts[changed]
    # a current-code row published for the same key wins over recast predecessors
    have = set(map(tuple, keep.loc[keep["area_level"].eq("lad"), KEY + ["area_code"]].itertuples(index=False)))
    probe = list(map(tuple, old[KEY + ["new_code"]].itertuples(index=False)))
    old = old[[p not in have for p in probe]]
    if old.empty:
        return keep.drop(columns="new_code")
    agg = measures.set_index("id")["aggregation"].to_dict()
    rows = []
    for key, grp in old.groupby(KEY + ["new_code"], sort=False, dropna=False):
        first = grp.iloc[0].to_dict()
        n = len(grp)
        how = agg.get(first["measure"], "none")
        codes = ", ".join(grp["area_code"])
        all_ok = grp["value"].notna().all()
        row = {**first, "area_code": first["new_code"], "derivation": "recast", "n_contributing": int(grp["value"].notna().sum()),
               "n_missing": int(grp["value"].isna().sum()), "source_row": int(grp["source_row"].min())}
        row["ci_lower"] = row["ci_upper"] = np.nan
        if n == 1:
            row["ci_lower"], row["ci_upper"] = first["ci_lower"], first["ci_upper"]
            row["status_reason"] = _join(first.get("status_reason"), f"published on the retired code {codes}")
        elif how == "sum":
            row["value"] = grp["value"].sum() if all_ok else np.nan
            row["numerator"] = row["denominator"] = np.nan
            row["status"] = markers.OK if all_ok else markers.MISSING
            row["status_reason"] = (f"sum of {n} predecessor authorities ({codes})" if all_ok else
                                    f"not all predecessor authorities ({codes}) have a value")
        elif grp["numerator"].notna().all() and grp["denominator"].notna().all() and grp["denominator"].sum() > 0:
            num, den = grp["numerator"].sum(), grp["denominator"].sum()
            scale = float(measures.set_index("id").at[first["measure"], "scale"] or 1.0)
            row.update(value=num / den * scale, numerator=num, denominator=den, status=markers.DERIVED,
                       status_reason=f"recomputed from the numerators and denominators of {codes}")
        else:
            row.update(value=np.nan, numerator=np.nan, denominator=np.nan, status=markers.NOT_COMPARABLE,
                       status_reason=f"published separately for {codes}; a rate cannot be combined without "
                                     "numerators and denominators")
        rows.append(row)
    recast = pd.DataFrame(rows)
    return pd.concat([keep, recast], ignore_index=True).drop(columns="new_code")


def _join(a, b) -> str:
    a = a if isinstance(a, str) and a else None
    return f"{a}; {b}" if a else b
