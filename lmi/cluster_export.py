"""Download rows for the career-clusters page, in the export layout of every other download.

The first columns are exactly :data:`lmi.schema.EXPORT_COLUMNS` with the same conventions as
:func:`lmi.queries.export_rows` (breakdown 'type: code label', status 'status (reason)', dataset id and its
source URL, release date and licence); cluster-specific columns follow (:data:`CLUSTER_COLUMNS`). Rows:

* one per area x occupation: the local job-advert ESTIMATE for the unit group (status 'derived (ESTIMATE ...)');
* one per area x step: the step ESTIMATE (sum of its occupations);
* one per area x SOC 2020 sub-major group x published measure (adverts, APS employment, Skills Imperative),
  as published or rolled up, suppressed cells with an empty value and the reason.

Formula neutralisation happens when writing (:func:`lmi.export.to_csv` / :func:`lmi.export.to_xlsx`).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from lmi.cluster_demand import ClusterDemand, occupation_demand, step_estimates
from lmi.schema import EXPORT_COLUMNS

CLUSTER_COLUMNS: tuple[str, ...] = (
    "cluster_id", "cluster_name", "step", "step_name", "rqf_level", "soc_codes", "basis", "share_pct",
    "england_share_pct", "location_quotient", "note",
)
COLUMNS: tuple[str, ...] = (*EXPORT_COLUMNS, *CLUSTER_COLUMNS)
ESTIMATE_STATUS = ("derived (ESTIMATE, not published: local SOC 2020 sub-major adverts x England unit-group "
                   "share of the sub-major, same month)")


def _num(x: object) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _status(status: object, reason: object) -> str:
    s = str(status) if status is not None else "missing"
    if reason == "estimate":
        return ESTIMATE_STATUS
    return f"{s} ({reason})" if reason else s


def _meta_cols(measure: str, meta: Mapping[str, Mapping], period: object,
               dates: Mapping[tuple[str, str], tuple[str | None, str | None]]) -> dict:
    m = meta.get(measure, {})
    start, end = dates.get((measure, str(period)), (None, None)) if period else (None, None)
    return {"measure": measure, "unit": m.get("unit"), "dataset": m.get("dataset"), "source_url": m.get("source_url"),
            "release_date": m.get("release_date"), "licence": m.get("licence"), "period": period,
            "period_start": start, "period_end": end, "ci_lower": math.nan, "ci_upper": math.nan}


def export_rows(demands: Sequence[ClusterDemand], meta: Mapping[str, Mapping],
                dates: Mapping[tuple[str, str], tuple[str | None, str | None]]) -> pd.DataFrame:
    """Rows for the selected area, its comparators and England (one ClusterDemand each, in that order).

    ``meta``: measure id -> {label, unit, dataset, source_url, release_date, licence};
    ``dates``: (measure id, period label) -> (period_start, period_end) as ISO dates.
    """
    rows: list[dict] = []
    for d in demands:
        cl = d.cluster
        area = {"area_code": d.area_code, "area_name": d.area_name, "area_level": d.area_level,
                "cluster_id": cl.id, "cluster_name": cl.name}
        for r in occupation_demand(d).to_dict("records"):
            rows.append({**area, **_meta_cols(r["measure"], meta, r["period"], dates),
                         "measure_label": r["measure_label"], "breakdown": f"soc2020_unit: {r['soc']} {r['title']}",
                         "value": _num(r["value"]), "status": _status(r["status"], r["status_reason"]),
                         "step": r["step"], "step_name": r["step_name"], "rqf_level": r["rqf_level"],
                         "soc_codes": r["soc"], "basis": "estimate", "share_pct": _num(r["share"]) * 100,
                         "england_share_pct": _num(r["england_share"]) * 100, "location_quotient": _num(r["lq"]),
                         "note": r["note"]})
        for r in step_estimates(d).to_dict("records"):
            rows.append({**area, **_meta_cols(r["measure"], meta, r["period"], dates),
                         "measure_label": r["measure_label"],
                         "breakdown": f"career_cluster_step: {cl.id} step {r['step']} {r['step_name']}",
                         "value": _num(r["value"]), "status": _status(r["status"], r["status_reason"]),
                         "step": r["step"], "step_name": r["step_name"], "rqf_level": r["rqf_level"],
                         "soc_codes": r["soc_codes"], "basis": "estimate", "share_pct": _num(r["share"]) * 100,
                         "england_share_pct": _num(r["england_share"]) * 100, "location_quotient": _num(r["lq"]),
                         "note": r["note"]})
        for r in d.submajors.to_dict("records"):
            label = meta.get(r["measure"], {}).get("label") or r["measure_label"]
            reason = None
            if r["status"] not in ("ok", None) or not not_nan(r["value"]):
                reason = str(r["note"]).split("; published for the whole sub-major group")[0] or None
                if reason and reason.startswith(f"{r['status']}: "):
                    reason = reason[len(f"{r['status']}: "):]
            rows.append({**area, **_meta_cols(r["measure"], meta, r["period"], dates), "measure_label": label,
                         "breakdown": f"soc2020_submajor: {r['submajor']} {r['submajor_title']}",
                         "value": _num(r["value"]), "status": _status(r["status"], reason), "step": None,
                         "step_name": None, "rqf_level": None, "soc_codes": r["cluster_unit_groups"],
                         "basis": r["derivation"] or "published", "share_pct": _num(r["share"]) * 100,
                         "england_share_pct": _num(r["england_share"]) * 100, "location_quotient": _num(r["lq"]),
                         "note": f"used by step(s) {r['steps']}; {r['note']}"})
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["step"] = df["step"].astype("Int64")
    df["rqf_level"] = df["rqf_level"].astype("Int64")
    return df


def not_nan(x: object) -> bool:
    return not math.isnan(_num(x))


def datasets_used(rows: pd.DataFrame, extra: Sequence[str] = ()) -> list[str]:
    """Dataset ids behind the rows, plus ``extra`` (the England unit-group dataset behind every ESTIMATE)."""
    ids = [str(x) for x in rows["dataset"].dropna().unique()] if len(rows) else []
    return sorted(set(ids) | {e for e in extra if e})
