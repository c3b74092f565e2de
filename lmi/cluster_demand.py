"""Local demand for each step of a career cluster, from a built lmi database (read-only, bound parameters).

Finest occupational level each source offers (and so the level used here):

* job adverts, DfE data hub (``datahub_job_adverts``): SOC 2020 **sub-major** group by LAD / LSIP / CA /
  England (LEP and region are rollups of LADs), 3-month rolling average, Jul 2025;
* job adverts, England by SOC 2020 **unit group** monthly (``jobads_soc_3m_avg``): England only. It counts
  adverts on a different base from the data-hub series (England Jul 2025: about 0.71 m against 1.48 m), so
  only its within-sub-major unit-group shares are combined with data-hub figures;
* advert feed (``feed_new_adverts``, ``feed_median_salary``): **unit group** by area, when the advert-level
  pipeline has been built (median advertised salary exists only there);
* employment by occupation, APS via DfE data hub (``datahub_aps_employment``): **sub-major** group;
* Skills Imperative 2035 net change and replacement demand: **sub-major** group, England and the
  Lancashire LSIP only.

A step's unit groups usually share a sub-major group with other unit groups (in the same step, other
steps, or outside the cluster), so a local sub-major figure cannot be split by step from published data.
Sub-major figures are therefore reported once per sub-major group (:attr:`ClusterDemand.submajors`),
listing the steps that touch it. Per step (:attr:`ClusterDemand.steps`) the module gives unit-group
sums where a source publishes unit groups, and for local job adverts a clearly labelled ESTIMATE:
local sub-major adverts x the England unit-group share of that sub-major (same month), status
'derived', basis 'estimate' — never presented as published.

Share = value / the area's all-occupation total of the same measure and period; location quotient
LQ = (area value / area total) / (England value / England total).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from lmi import markers
from lmi.clusters import Cluster, SocStructure
from lmi.errors import QueryError

ENGLAND = "E92000001"

# The one place measure ids are named. Keys are the roles this module needs.
MEASURES: dict[str, str] = {
    "adverts": "datahub_job_adverts",                        # sub-major, LAD/LSIP/CA/England (+ rollups)
    "adverts_england_unit": "jobads_soc_3m_avg",             # unit group, England only
    "feed_adverts": "feed_new_adverts",                       # unit group, any area (advert feed)
    "feed_salary": "feed_median_salary",                      # unit group median advertised salary (feed)
    "employment": "datahub_aps_employment",                   # sub-major, LAD/LSIP/CA/England (+ rollups)
    "growth": "si2035_net_change",                            # sub-major, England + Lancashire LSIP
    "replacement": "si2035_replacement_demand",               # sub-major, England + Lancashire LSIP
}
SUBMAJOR_ROLES = ("adverts", "employment", "growth", "replacement")
LABELS = {
    "adverts": "Online job adverts (3-month average)",
    "adverts_england_unit": "Online job adverts, England by unit group (3-month average)",
    "feed_adverts": "New job adverts (advert feed)",
    "feed_salary": "Median advertised salary (advert feed)",
    "employment": "In employment (APS)",
    "growth": "Projected net change in employment 2020-2035 (thousands)",
    "replacement": "Projected replacement demand 2020-2035 (thousands)",
}
SMALL_COUNT = {"adverts": 10.0, "feed_adverts": 10.0}   # below this a cell is flagged as small
SOC_LEVEL = {"soc2020_submajor": "SOC 2020 sub-major group", "soc2020_unit": "SOC 2020 unit group"}

STEP_COLUMNS = ["step", "step_name", "rqf_level", "soc_codes", "measure", "measure_label", "source_level",
                "basis", "period", "value", "area_total", "share", "england_value", "england_total",
                "england_share", "lq", "status", "note"]
SUBMAJOR_COLUMNS = ["measure", "measure_label", "submajor", "submajor_title", "steps", "cluster_unit_groups",
                    "unit_groups_in_submajor", "period", "value", "area_total", "share", "england_value",
                    "england_total", "england_share", "lq", "status", "derivation", "note"]
OCC_COLUMNS = ["step", "soc", "title", "submajor", "england_adverts", "england_share_of_submajor",
               "feed_adverts", "feed_median_salary", "period", "note"]


@dataclass
class ClusterDemand:
    cluster: Cluster
    area_code: str
    area_name: str
    area_level: str
    steps: pd.DataFrame
    submajors: pd.DataFrame
    occupations: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- db access

def _q(con: Any, sql: str, params: Sequence[Any]) -> pd.DataFrame:
    """Run fixed SQL with bound parameters on a duckdb connection or an lmi.db.Database."""
    if hasattr(con, "execute") and not hasattr(con, "scalar"):
        return con.execute(sql, list(params)).df()
    return con.query(sql, list(params))


def _present_measures(con: Any) -> set[str]:
    ids = list(MEASURES.values())
    df = _q(con, f"SELECT id FROM measures WHERE id IN ({', '.join('?' * len(ids))})", ids)
    return set(df["id"])


def area_info(con: Any, area_code: str) -> tuple[str, str]:
    """(name, level) of an area code; QueryError when unknown."""
    df = _q(con, "SELECT area_name, area_level FROM geo_areas WHERE area_code = ?", [area_code])
    if df.empty:
        raise QueryError(f"unknown area code {area_code!r} (not in geo_areas)")
    # an area code appears once per level; prefer the finest
    order = {lv: i for i, lv in enumerate(("lad", "county", "lep", "lsip", "ca", "region", "england"))}
    df = df.assign(o=df["area_level"].map(order).fillna(99)).sort_values("o")
    return str(df["area_name"].iloc[0]), str(df["area_level"].iloc[0])


def _facts(con: Any, measure: str, areas: Sequence[str], btypes: Sequence[str]) -> pd.DataFrame:
    sql = ("SELECT area_code, period, period_start, period_end, breakdown_type, breakdown_code, value, status, "
           "status_reason, derivation, n_contributing, n_missing FROM facts WHERE measure = ? "
           f"AND area_code IN ({', '.join('?' * len(areas))}) "
           f"AND breakdown_type IN ({', '.join('?' * len(btypes))})")
    df = _q(con, sql, [measure, *areas, *btypes])
    df["breakdown_code"] = df["breakdown_code"].astype(str)
    df["period_end"] = pd.to_datetime(df["period_end"])
    return df


def _pick_period(df: pd.DataFrame, area: str, period: str | None) -> tuple[str | None, str | None]:
    """(period label, note): the requested period if the area has it, else the latest with a value."""
    have = df[(df["area_code"] == area)]
    if have.empty:
        return None, None
    if period is not None and period in set(have["period"]):
        return period, None
    with_value = have[have["value"].notna()]
    pool = with_value if not with_value.empty else have
    latest = pool.sort_values("period_end")["period"].iloc[-1]
    note = f"period {period!r} not available for this measure; latest used" if period is not None else None
    return str(latest), note


# --------------------------------------------------------------------------------------------- arithmetic

def _total(rows: pd.DataFrame) -> tuple[float, str]:
    """All-occupation total for one area/period: the published total row, else the sum of the SOC major
    groups (incl. 'unknown'), else of the sub-major groups; NaN when a component is missing."""
    t = rows[(rows["breakdown_type"] == "total") & (rows["breakdown_code"] == "total")]
    if not t.empty and pd.notna(t["value"].iloc[0]):
        return float(t["value"].iloc[0]), "total = the published all-occupation total"
    for bt, label in (("soc2020_major", "major groups"), ("soc2020_submajor", "sub-major groups"),
                      ("soc2020_unit", "unit groups")):
        g = rows[rows["breakdown_type"] == bt]
        if not g.empty:
            if g["value"].isna().any():
                return math.nan, f"total not computable: {int(g['value'].isna().sum())} {label} without a value"
            return float(g["value"].sum()), (f"total = sum of the {len(g)} published SOC 2020 {label}"
                                             + (" (incl. Unknown)" if "unknown" in set(g["breakdown_code"]) else ""))
    return math.nan, "no all-occupation total for this area"


def share_and_lq(value: float, total: float, eng_value: float, eng_total: float) -> tuple[float, float, float]:
    """(area share, England share, location quotient); NaN where a part is missing or a total is not > 0."""
    share = value / total if _ok(value) and _ok(total) and total > 0 else math.nan
    eshare = eng_value / eng_total if _ok(eng_value) and _ok(eng_total) and eng_total > 0 else math.nan
    lq = share / eshare if _ok(share) and _ok(eshare) and eshare != 0 else math.nan
    return share, eshare, lq


def _ok(x: float) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _reliability(role: str, row: pd.Series | None, area_level: str) -> list[str]:
    """Reliability notes for one published/rolled-up cell."""
    if row is None:
        return ["no value for this area and period"]
    notes = []
    status, value = row["status"], row["value"]
    if pd.isna(value):
        notes.append(f"{status}: {row['status_reason'] or 'no value in source'}")
    elif status not in (markers.OK, None):
        notes.append(f"{status}: {row['status_reason']}" if row["status_reason"] else str(status))
    if pd.notna(value) and role in SMALL_COUNT and value < SMALL_COUNT[role]:
        notes.append(f"small cell (< {SMALL_COUNT[role]:g}): volatile, treat with caution")
    if pd.notna(value) and role == "employment" and area_level == "lad":
        notes.append("APS survey estimate (rounded to 100); LAD occupation estimates have wide confidence intervals")
    if status == markers.PARTIAL:
        notes.append("partial sum: the value, its share and LQ are lower bounds")
    elif (row.get("derivation") == "summed" and pd.notna(row.get("n_missing")) and row["n_missing"] > 0
          and not row["status_reason"]):
        notes.append(f"sum of {int(row['n_contributing'])} member LADs; {int(row['n_missing'])} have no value")
    return notes


# --------------------------------------------------------------------------------------------- main entry

def cluster_demand(con: Any, cluster: Cluster, area_code: str, soc: SocStructure,
                   period: str | None = None) -> ClusterDemand:
    """Demand for every step of ``cluster`` in ``area_code``.

    ``period`` (e.g. 'Jul 2025') applies to each measure that has it for the area; other measures use their
    latest period (noted). ``soc`` gives the unit groups of each sub-major group (for the estimate).
    """
    area_name, area_level = area_info(con, area_code)
    present = _present_measures(con)
    notes: list[str] = []
    for role, mid in MEASURES.items():
        if mid not in present:
            notes.append(f"{LABELS[role]}: measure {mid!r} is not in this database")
    cl_subs = cluster.submajor_steps()

    # ---- sub-major measures, once per sub-major group
    sub_rows: list[dict] = []
    sub_data: dict[str, tuple[pd.DataFrame, str | None]] = {}
    for role in SUBMAJOR_ROLES:
        mid = MEASURES[role]
        if mid not in present:
            continue
        df = _facts(con, mid, [area_code, ENGLAND], ["total", "soc2020_major", "soc2020_submajor"])
        per, pnote = _pick_period(df, area_code, period)
        if per is None:
            if role in ("growth", "replacement"):
                notes.append(f"{LABELS[role]}: Skills Imperative 2035 is published for England and the "
                             "Lancashire LSIP only; not available for this area")
            else:
                notes.append(f"{LABELS[role]}: no figures for {area_name} ({area_code})")
            continue
        if pnote:
            notes.append(f"{LABELS[role]}: {pnote} ({per})")
        d = df[df["period"] == per]
        sub_data[role] = (d, per)
        a, e = d[d["area_code"] == area_code], d[d["area_code"] == ENGLAND]
        a_tot, a_how = _total(a)
        e_tot, _ = _total(e)
        notes.append(f"{LABELS[role]} ({per}): {a_how}")
        for sm, steps in sorted(cl_subs.items()):
            ar = a[(a["breakdown_type"] == "soc2020_submajor") & (a["breakdown_code"] == sm)]
            er = e[(e["breakdown_type"] == "soc2020_submajor") & (e["breakdown_code"] == sm)]
            arow = ar.iloc[0] if not ar.empty else None
            val = float(arow["value"]) if arow is not None and pd.notna(arow["value"]) else math.nan
            ev = float(er["value"].iloc[0]) if not er.empty and pd.notna(er["value"].iloc[0]) else math.nan
            share, eshare, lq = share_and_lq(val, a_tot, ev, e_tot)
            in_cluster = [c for c in cluster.codes if soc.ancestor(c, "submajor") == sm]
            n_all = len(soc.units_in(sm))
            note = _reliability(role, arow, area_level)
            note.append(f"published for the whole sub-major group ({n_all} unit groups; {len(in_cluster)} in "
                        f"this cluster{', used by steps ' + ', '.join(map(str, steps)) if len(steps) > 1 else ''}): "
                        "cannot be split by step from published data")
            if not _ok(a_tot):
                note.append(a_how)
            sub_rows.append({
                "measure": mid, "measure_label": LABELS[role], "submajor": sm, "submajor_title": soc.title(sm),
                "steps": ", ".join(map(str, steps)), "cluster_unit_groups": ", ".join(in_cluster),
                "unit_groups_in_submajor": n_all, "period": per, "value": val, "area_total": a_tot,
                "share": share, "england_value": ev, "england_total": e_tot, "england_share": eshare, "lq": lq,
                "status": arow["status"] if arow is not None else markers.MISSING,
                "derivation": arow["derivation"] if arow is not None else None, "note": "; ".join(note),
            })

    # ---- unit-group series
    eng_unit, eng_unit_per = _england_unit_shares(con, present, sub_data.get("adverts"), soc)
    feed = _unit_measure(con, present, "feed_adverts", area_code, period)
    salary = _unit_measure(con, present, "feed_salary", area_code, period)

    step_rows: list[dict] = []
    for s in cluster.steps:
        base = {"step": s.number, "step_name": s.name, "rqf_level": s.rqf_level, "soc_codes": ", ".join(s.codes)}
        if "adverts" in sub_data and eng_unit is not None:
            step_rows.append({**base, **_adverts_estimate(s.codes, sub_data["adverts"], eng_unit, eng_unit_per,
                                                          area_code, soc)})
        if feed is not None:
            step_rows.append({**base, **_unit_sum("feed_adverts", s.codes, feed, area_code)})
        if area_code == ENGLAND and eng_unit is not None:
            step_rows.append({**base, **_england_unit_sum(s.codes, eng_unit, eng_unit_per)})
    steps_df = pd.DataFrame(step_rows, columns=STEP_COLUMNS)
    if "adverts" in sub_data and eng_unit is None and MEASURES["adverts_england_unit"] in present:
        notes.append("no England unit-group adverts for the data-hub month: step estimates not made")

    occ_rows = []
    for s in cluster.steps:
        for o in s.occupations:
            r = {"step": s.number, "soc": o.soc, "title": o.title, "submajor": o.submajor,
                 "england_adverts": math.nan, "england_share_of_submajor": math.nan,
                 "feed_adverts": math.nan, "feed_median_salary": math.nan, "period": eng_unit_per, "note": ""}
            if eng_unit is not None and o.soc in eng_unit.index:
                r["england_adverts"] = float(eng_unit.loc[o.soc, "value"])
                r["england_share_of_submajor"] = float(eng_unit.loc[o.soc, "share_of_submajor"])
            for key, d in (("feed_adverts", feed), ("feed_median_salary", salary)):
                if d is not None:
                    hit = d[0][(d[0]["area_code"] == area_code) & (d[0]["breakdown_code"] == o.soc)]
                    if not hit.empty:
                        r[key] = hit["value"].iloc[0]
            occ_rows.append(r)
    occ_df = pd.DataFrame(occ_rows, columns=OCC_COLUMNS)
    return ClusterDemand(cluster, area_code, area_name, area_level, steps_df,
                         pd.DataFrame(sub_rows, columns=SUBMAJOR_COLUMNS), occ_df, notes)


def _england_unit_shares(con: Any, present: set[str], adverts: tuple[pd.DataFrame, str | None] | None,
                         soc: SocStructure) -> tuple[pd.DataFrame | None, str | None]:
    """England unit-group adverts for the data-hub month, with each unit group's share of its sub-major."""
    mid = MEASURES["adverts_england_unit"]
    if mid not in present or adverts is None:
        return None, None
    d, per = adverts
    end = d.loc[d["period"] == per, "period_end"].iloc[0]
    u = _facts(con, mid, [ENGLAND], ["soc2020_unit"])
    u = u[u["period_end"] == end]
    u = u[u["breakdown_code"].map(soc.is_unit)]
    if u.empty:
        return None, None
    u = u.assign(submajor=u["breakdown_code"].map(lambda c: soc.ancestor(c, "submajor")))
    u = u.set_index("breakdown_code")
    sub_tot = u.groupby("submajor")["value"].transform("sum")
    u["share_of_submajor"] = u["value"] / sub_tot
    return u, str(u["period"].iloc[0])


def _adverts_estimate(codes: list[str], adverts: tuple[pd.DataFrame, str | None], eng_unit: pd.DataFrame,
                      eng_per: str | None, area: str, soc: SocStructure) -> dict:
    """ESTIMATE: sum over sub-majors of local sub-major adverts x England unit-group share (same month)."""
    d, per = adverts
    a, e = d[d["area_code"] == area], d[d["area_code"] == ENGLAND]
    a_tot, _ = _total(a)
    e_tot, _ = _total(e)
    est = eng_est = 0.0
    notes = []
    flagged = set()
    for c in codes:
        sm = soc.ancestor(c, "submajor")
        w = float(eng_unit.loc[c, "share_of_submajor"]) if c in eng_unit.index else math.nan
        if not _ok(w):
            notes.append(f"{c}: no England unit-group adverts")
            w = 0.0
        av = a.loc[(a["breakdown_type"] == "soc2020_submajor") & (a["breakdown_code"] == sm), "value"]
        ev = e.loc[(e["breakdown_type"] == "soc2020_submajor") & (e["breakdown_code"] == sm), "value"]
        est += float(av.iloc[0]) * w if not av.empty and pd.notna(av.iloc[0]) else math.nan
        st = a.loc[(a["breakdown_type"] == "soc2020_submajor") & (a["breakdown_code"] == sm), "status"]
        if not st.empty and st.iloc[0] != markers.OK and sm not in flagged:
            flagged.add(sm)
            notes.append(f"sub-major {sm} cell is {st.iloc[0]}")
        eng_est += float(ev.iloc[0]) * w if not ev.empty and pd.notna(ev.iloc[0]) else math.nan
    share, eshare, lq = share_and_lq(est, a_tot, eng_est, e_tot)
    notes.insert(0, f"ESTIMATE, not published: local sub-major adverts x England unit-group share of the sub-major "
                    f"({eng_per}); within a sub-major the local unit-group mix is assumed to equal England's, "
                    "so the LQ only reflects local differences between sub-major groups")
    if not _ok(est):
        notes.append("a sub-major cell has no value for this area")
    return {"measure": MEASURES["adverts"], "measure_label": LABELS["adverts"] + " - ESTIMATE",
            "source_level": "SOC 2020 sub-major (local) x unit-group share (England)", "basis": "estimate",
            "period": per, "value": est, "area_total": a_tot, "share": share, "england_value": eng_est,
            "england_total": e_tot, "england_share": eshare, "lq": lq, "status": markers.DERIVED,
            "note": "; ".join(notes)}


def _england_unit_sum(codes: list[str], eng_unit: pd.DataFrame, per: str | None) -> dict:
    have = [c for c in codes if c in eng_unit.index]
    val = float(eng_unit.loc[have, "value"].sum()) if have else math.nan
    tot = float(eng_unit["value"].sum())
    share, _, _ = share_and_lq(val, tot, val, tot)
    return {"measure": MEASURES["adverts_england_unit"], "measure_label": LABELS["adverts_england_unit"],
            "source_level": SOC_LEVEL["soc2020_unit"], "basis": "summed", "period": per, "value": val,
            "area_total": tot, "share": share, "england_value": val, "england_total": tot, "england_share": share,
            "lq": 1.0 if _ok(share) else math.nan, "status": markers.OK,
            "note": "sum of published unit-group cells; total = sum of all unit groups (excl. 'Unknown'); this "
                    "series counts adverts on a different base from the data-hub series (compare shares, not "
                    "counts)"}


def _unit_measure(con: Any, present: set[str], role: str, area: str,
                  period: str | None) -> tuple[pd.DataFrame, str] | None:
    mid = MEASURES[role]
    if mid not in present:
        return None
    df = _facts(con, mid, [area, ENGLAND], ["total", "soc2020_unit"])
    per, _ = _pick_period(df, area, period)
    if per is None:
        return None
    return df[df["period"] == per], per


def _unit_sum(role: str, codes: list[str], data: tuple[pd.DataFrame, str], area: str) -> dict:
    d, per = data
    a, e = d[d["area_code"] == area], d[d["area_code"] == ENGLAND]
    a_tot, _ = _total(a)
    e_tot, _ = _total(e)

    def total_of(rows: pd.DataFrame) -> float:
        g = rows[(rows["breakdown_type"] == "soc2020_unit") & rows["breakdown_code"].isin(codes)]
        return float(g["value"].sum()) if not g.empty else 0.0

    val, ev = total_of(a), total_of(e)
    share, eshare, lq = share_and_lq(val, a_tot, ev, e_tot)
    note = ["sum of published unit-group counts"]
    if val < SMALL_COUNT.get(role, 0):
        note.append(f"small count (< {SMALL_COUNT[role]:g}): treat with caution")
    return {"measure": MEASURES[role], "measure_label": LABELS[role], "source_level": SOC_LEVEL["soc2020_unit"],
            "basis": "summed", "period": per, "value": val, "area_total": a_tot, "share": share,
            "england_value": ev, "england_total": e_tot, "england_share": eshare, "lq": lq, "status": markers.OK,
            "note": "; ".join(note)}


# --------------------------------------------------------------------------------------------- per occupation
# (appended for the dashboard page: pure functions of a ClusterDemand, no database access)

OCC_DEMAND_COLUMNS = [
    "step", "step_name", "rqf_level", "soc", "title", "minor", "minor_title", "submajor", "submajor_title", "next",
    "measure", "measure_label", "basis", "period", "value", "area_total", "share", "england_value", "england_total",
    "england_share", "lq", "status", "status_reason", "note", "england_share_of_submajor", "submajor_value",
    "submajor_status", "employment_value", "employment_period", "employment_status", "employment_note",
]
COMPARE_COLUMNS = ["area_code", "area_name", "area_level", "step", "step_name", "rqf_level", "soc_codes", "measure",
                   "measure_label", "basis", "period", "value", "area_total", "share", "england_value",
                   "england_total", "england_share", "lq", "status", "status_reason", "note"]


def _sub_row(d: ClusterDemand, role: str, submajor: str) -> pd.Series | None:
    sm = d.submajors
    hit = sm[(sm["measure"] == MEASURES[role]) & (sm["submajor"] == submajor)]
    return hit.iloc[0] if len(hit) else None


def _reason_of(note: object) -> str:
    """The first clause of a sub-major reliability note (the status reason, before the generic caveats)."""
    text = str(note or "")
    return text.split("; published for the whole sub-major group")[0] or "no value for this area and period"


def occupation_demand(d: ClusterDemand) -> pd.DataFrame:
    """One row per occupation of the cluster: the local job-advert ESTIMATE for its unit group.

    value = local sub-major adverts x the England share of that unit group within its sub-major (same month),
    exactly the per-unit-group term of the step ESTIMATE in :func:`cluster_demand`, so a step's occupations
    add up to the step value. The England counterpart is England sub-major adverts x the same share, so the
    location quotient equals the sub-major's (the local unit-group mix is assumed to be England's).
    Where a part is missing the value is NaN with status and reason (never 0). Also carries the occupation's
    published sub-major figures (local adverts, APS employment) for context.
    """
    cl = d.cluster
    occ = d.occupations.set_index("soc") if len(d.occupations) else pd.DataFrame()
    adv_rows = d.submajors[d.submajors["measure"] == MEASURES["adverts"]]
    pers = d.occupations["period"].dropna() if len(d.occupations) else pd.Series(dtype=object)
    eng_per = str(pers.iloc[0]) if len(pers) else "month n/a"
    rows = []
    for s in cl.steps:
        for o in s.occupations:
            r: dict = {"step": s.number, "step_name": s.name, "rqf_level": s.rqf_level, "soc": o.soc,
                       "title": o.title, "minor": o.minor, "minor_title": o.minor_title, "submajor": o.submajor,
                       "submajor_title": o.submajor_title, "next": ", ".join(o.next),
                       "measure": MEASURES["adverts"], "measure_label": LABELS["adverts"] + " - ESTIMATE",
                       "basis": "estimate", "period": None, "value": math.nan, "area_total": math.nan,
                       "share": math.nan, "england_value": math.nan, "england_total": math.nan,
                       "england_share": math.nan, "lq": math.nan, "status": markers.MISSING,
                       "status_reason": None, "note": "", "england_share_of_submajor": math.nan,
                       "submajor_value": math.nan, "submajor_status": None, "employment_value": math.nan,
                       "employment_period": None, "employment_status": None, "employment_note": None}
            w = float(occ.loc[o.soc, "england_share_of_submajor"]) if o.soc in occ.index else math.nan
            r["england_share_of_submajor"] = w
            sub = _sub_row(d, "adverts", o.submajor)
            emp = _sub_row(d, "employment", o.submajor)
            if emp is not None:
                r.update(employment_value=emp["value"], employment_period=emp["period"],
                         employment_status=emp["status"], employment_note=emp["note"])
            if adv_rows.empty or sub is None:
                r["status_reason"] = "no online job adverts for this area (not published for it)"
            else:
                r.update(period=sub["period"], area_total=sub["area_total"], england_total=sub["england_total"],
                         submajor_value=sub["value"], submajor_status=sub["status"])
                notes = [f"ESTIMATE, not published: local adverts in sub-major group {o.submajor} x England "
                         f"share of unit group {o.soc} within it ({_pct(w)}, {eng_per}); assumes the local "
                         "unit-group mix equals England's, so the LQ is the sub-major group's"]
                if not _ok(w):
                    r["status_reason"] = f"no England unit-group adverts for {o.soc} in the data-hub month"
                elif not _ok(sub["value"]):
                    r["status"] = sub["status"] if sub["status"] != markers.OK else markers.MISSING
                    r["status_reason"] = f"sub-major group {o.submajor} cell: {_reason_of(sub['note'])}"
                else:
                    est = float(sub["value"]) * w
                    eng = float(sub["england_value"]) * w if _ok(sub["england_value"]) else math.nan
                    share, eshare, lq = share_and_lq(est, sub["area_total"], eng, sub["england_total"])
                    r.update(value=est, england_value=eng, share=share, england_share=eshare, lq=lq,
                             status=markers.DERIVED, status_reason="estimate")
                    if sub["status"] != markers.OK:
                        notes.append(f"sub-major cell is {sub['status']}: {_reason_of(sub['note'])}")
                    if est < SMALL_COUNT["adverts"]:
                        notes.append(f"small (< {SMALL_COUNT['adverts']:g} adverts): volatile, treat with caution")
                r["note"] = "; ".join(notes)
            rows.append(r)
    return pd.DataFrame(rows, columns=OCC_DEMAND_COLUMNS)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if _ok(x) else "n/a"


def step_estimates(d: ClusterDemand) -> pd.DataFrame:
    """The step ESTIMATE rows of local job adverts (one per step, every step present; NaN with a reason
    when the area has no figures), with the area's code, name and level - for comparing areas."""
    est = d.steps[d.steps["basis"] == "estimate"].set_index("step") if len(d.steps) else pd.DataFrame()
    rows = []
    for s in d.cluster.steps:
        base = {"area_code": d.area_code, "area_name": d.area_name, "area_level": d.area_level, "step": s.number,
                "step_name": s.name, "rqf_level": s.rqf_level, "soc_codes": ", ".join(s.codes),
                "measure": MEASURES["adverts"], "measure_label": LABELS["adverts"] + " - ESTIMATE",
                "basis": "estimate"}
        if s.number in est.index:
            r = est.loc[s.number]
            ok = _ok(r["value"])
            rows.append({**base, **{k: r[k] for k in ("period", "value", "area_total", "share", "england_value",
                                                        "england_total", "england_share", "lq", "note")},
                         "status": r["status"] if ok else markers.MISSING,
                         "status_reason": "estimate" if ok else "a sub-major cell has no value for this area"})
        else:
            rows.append({**base, "period": None, "value": math.nan, "area_total": math.nan, "share": math.nan,
                         "england_value": math.nan, "england_total": math.nan, "england_share": math.nan,
                         "lq": math.nan, "status": markers.MISSING,
                         "status_reason": "no online job adverts published for this area", "note": ""})
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def find_cluster(clusters: Sequence[Cluster], text: object) -> Cluster | None:
    """The cluster a URL value names: its id or its name, ignoring case, spaces, '-' and '_' and an 'and'
    (so 'health_social_care', 'health-and-social-care' and 'Health and social care' all match); None if none."""
    if not isinstance(text, str) or not text.strip():
        return None

    def norm(s: str) -> str:
        words = [w for w in "".join(ch if ch.isalnum() else " " for ch in s.lower()).split() if w != "and"]
        return "_".join(words)

    key = norm(text)
    for c in clusters:
        if key in (norm(c.id), norm(c.name)):
            return c
    return None
