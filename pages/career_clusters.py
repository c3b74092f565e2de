"""Career clusters: a pathway's occupations with local demand, location quotients, comparison and download.

The cluster is kept in the URL as ``?x_cluster=<id>`` (names and hyphenated forms such as
``health-and-social-care`` are accepted and rewritten to the id; unknown values are ignored with a
warning). Area, comparators and period come from the shared sidebar. Figures come from
lmi.cluster_demand (cached per database build); charts from lmi.cluster_charts; download rows from
lmi.cluster_export, written through lmi.export (formula-neutralised).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lmi import charts, cluster_charts as cc, cluster_export, export, state, ui
from lmi.cluster_demand import (ENGLAND, LABELS, MEASURES, ClusterDemand, cluster_demand, find_cluster,
                                occupation_demand, step_estimates)
from lmi.clusters import CareerModel, load_clusters
from lmi.schema import LEVEL_LABELS

PARAM = "x_cluster"
NOTICE = "cc_notice"
OCC_KEY = "cc_occ"


@st.cache_resource(show_spinner=False, max_entries=4)
def _model(path: str, build_id: str) -> CareerModel:
    return load_clusters(con=ui.db())


@st.cache_data(show_spinner=False, max_entries=400)
def _demand(path: str, build_id: str, cluster_id: str, area: str, period: str | None) -> ClusterDemand:
    m = _model(path, build_id)
    return cluster_demand(ui.db(), m.get(cluster_id), area, m.soc, period=period)


def _set_cluster(cluster_id: str) -> None:
    st.session_state[ui.VIEW] = ui.view().with_extra(PARAM, cluster_id)
    st.query_params[PARAM] = cluster_id


def _short_source(measure: str) -> str:
    info = ui.measure_info(measure)
    ds = ui.dataset_row(str(info["dataset"]))
    return f"{ds['publisher'].split(' (')[0]}, {ds['title']}" if ds is not None else str(info["dataset"])


def _measure_meta(measure: str) -> dict:
    info = ui.measure_info(measure)
    ds = ui.dataset_row(str(info["dataset"])) or {}
    return {"label": info["label"], "unit": info["unit"], "dataset": info["dataset"],
            "source_url": ds.get("source_url"), "release_date": ds.get("release_date"), "licence": ds.get("licence")}


v = ui.view()   # first: runs the page inside dashboard.py when opened directly
db = ui.db()
KEY = (str(db.path), db.build_id)
model = _model(*KEY)
ids = [c.id for c in model.clusters]
names = {c.id: c.name for c in model.clusters}

# --- the cluster named in the URL: accept ids and names, ignore unknown values visibly --------------
raw = v.extra(PARAM)
if raw not in ids:
    found = find_cluster(model.clusters, raw)
    fixed = found.id if found else ids[0]
    _set_cluster(fixed)
    if raw is not None and found is None:
        st.session_state[NOTICE] = (state.Notice(PARAM, f"unknown career cluster '{state.safe_echo(raw)}'; showing "
                                                        f"'{names[fixed]}' instead").message, ui.view())
    v = ui.view()
notice = st.session_state.get(NOTICE)
if notice and notice[1] == v:
    st.warning(notice[0], icon=":material/warning:")
elif notice:
    del st.session_state[NOTICE]

present = ui.present()
area, area_name = v.area, ui.area_name(v.area)
adverts_periods = ui.lookups().periods.get(MEASURES["adverts"], [])
period = v.period if v.period in adverts_periods else None

cl = model.get(v.extra(PARAM))
d = _demand(*KEY, cl.id, area, period)
nodes = occupation_demand(d)
per = (next((str(p) for p in nodes["period"].dropna()), None) or period
       or (adverts_periods[-1] if adverts_periods else None))
level_label = LEVEL_LABELS.get(d.area_level, d.area_level)

ui.page_header(f"Career clusters: {cl.name}",
               f"{area_name} · {level_label} · {area} · online job adverts, 3-month rolling average, {per or 'n/a'}")
if not present:
    c1, c2 = st.columns([2, 3])
    with c1:
        ui.extra_option(PARAM, ids, label="Career cluster", format_func=lambda i: names.get(i, i))
    with c2:
        st.markdown(f"{cl.description}  \n{len(cl.steps)} steps, {len(cl.codes)} occupations (SOC 2020 unit groups).")
    if v.period and period is None:
        st.caption(f"The sidebar period ({v.period}) is not a period of online job adverts by occupation; the "
                   "latest published period is used.")
if nodes["value"].isna().all():
    ui.notice(f"No local online job adverts by occupation are published for {area_name} ({area}), so the pathway "
              "is shown without local demand. Data-hub adverts are published for local authorities (London boroughs "
              "absent), LSIPs and combined authorities; LEPs and regions are sums of their local authorities.")

sources = "; ".join([f"{_short_source(MEASURES['adverts'])} (local adverts by SOC 2020 sub-major group)",
                     f"{_short_source(MEASURES['adverts_england_unit'])} (England unit-group shares)",
                     f"{_short_source(MEASURES['employment'])} (APS employment)"])
source_caption = " ".join(ui.source_line(MEASURES[r]) for r in ("adverts", "adverts_england_unit", "employment"))

# --- the pathway diagram -----------------------------------------------------------------------------
codes = [o.soc for s in cl.steps for o in s.occupations]
if st.session_state.get(OCC_KEY) not in codes:
    st.session_state[OCC_KEY] = codes[0]


def _on_select() -> None:
    event = st.session_state.get("cc_pathway") or {}
    for p in (event.get("selection") or {}).get("points") or []:
        cd = p.get("customdata") or []
        if cd and str(cd[0]) in codes:
            st.session_state[OCC_KEY] = str(cd[0])
            return


title = charts.chart_title(f"{cl.name}: estimated job adverts and location quotient by occupation", area_name, per)
hover_sources = ("DfE Local Skills Dashboard data hub (local adverts by SOC 2020 sub-major group, APS employment); "
                 "DfE online job adverts in England by unit group (shares)")
fig = cc.pathway_figure(nodes, title=title, sources=hover_sources, selected=st.session_state.get(OCC_KEY),
                        compact=present)
if not present:
    st.subheader("Pathway and local demand")
ui.chart(fig, key="cc_pathway", table=cc.pathway_table(nodes), source=source_caption,
         subtitle=f"{cl.name}: {area_name}, {per}", on_select=_on_select)
st.caption("Circle area: estimated local job adverts (an ESTIMATE - local adverts are published by SOC 2020 "
           "sub-major group only; each unit group gets its England share of the sub-major, so the location "
           "quotient is the sub-major group's). Colour: location quotient against England (purple above 1 = a "
           "larger share of local adverts than in England, orange below 1). Arrows: usual next steps. Hollow grey "
           "circles: no local figure (suppressed or not published), never zero. Click a circle to see its details.")

# --- one occupation in detail (hover shows the same in the chart) ------------------------------------
titles = {r.soc: r.title for r in nodes.itertuples()}
if not present:
    st.subheader("Occupation details")
    soc = st.selectbox("Occupation (or click a circle in the diagram)", codes, key=OCC_KEY,
                       format_func=lambda c: f"{c} {titles.get(c, '')}")
    r = nodes[nodes["soc"] == soc].iloc[0]
    step = cl.step_of(soc)
    with st.container(border=True):
        st.markdown(f"**SOC 2020 {soc}: {r['title']}**  \nMinor group {r['minor']} {r['minor_title']} · sub-major "
                    f"group {r['submajor']} {r['submajor_title']}  \nStep {step.number}: {step.name} · typical "
                    f"qualification level **RQF {step.rqf_level}**")
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Local adverts (estimate)", cc.fmt_count(r["value"]),
                  help="ESTIMATE, not published: " + str(r["note"] or r["status_reason"]))
        m2.metric("Share of all local adverts", cc.fmt_pct(r["share"]))
        m3.metric("England share", cc.fmt_pct(r["england_share"]))
        m4.metric("Location quotient vs England", cc.fmt_lq(r["lq"]))
        lines = []
        if pd.isna(r["value"]):
            lines.append(f"No local estimate: {cc.row_status(r['status'], r['status_reason'])}.")
        lines.append(f"Published local adverts, whole sub-major group {r['submajor']} ({r['period'] or 'n/a'}): "
                     f"{cc.fmt_count(r['submajor_value'])}")
        emp = (cc.fmt_count(r["employment_value"]) if pd.notna(r["employment_value"])
               else f"no figure ({r['employment_status'] or 'not available'})")
        lines.append(f"In employment (APS), whole sub-major group {r['submajor']} ({r['employment_period'] or 'n/a'}): "
                     f"{emp}")
        for role in ("growth", "replacement"):
            sub = d.submajors[(d.submajors["measure"] == MEASURES[role]) & (d.submajors["submajor"] == r["submajor"])]
            if len(sub):
                s0 = sub.iloc[0]
                lines.append(f"{LABELS[role]}, sub-major group {r['submajor']}: {cc.fmt_count(s0['value'])} "
                             f"({s0['status']})")
        lines.append("Entry routes to this step: " + "; ".join(
            f"{e.name}" + (f" (RQF {e.level})" if e.level else "") for e in step.entry_routes))
        nxt = [c for c in str(r["next"] or "").split(", ") if c]
        lines.append("Usual next steps: " + (", ".join(f"{c} {titles.get(c, '')}" for c in nxt) or "none listed"))
        lines.append(f"Sources: {sources}.")
        st.markdown("\n".join(f"- {x}" for x in lines))

    st.subheader("The pathway's numbers")
    t1, t2, t3 = st.tabs(["By occupation", "By step", "Published, by SOC 2020 sub-major group"])
    with t1:
        st.dataframe(cc.pathway_table(nodes), hide_index=True, key="cc_table_occ")
    with t2:
        st.dataframe(cc.comparison_table(step_estimates(d)), hide_index=True, key="cc_table_step")
    with t3:
        sm = d.submajors.copy()
        for c in ("share", "england_share"):
            sm[c] = sm[c] * 100
        st.dataframe(sm.rename(columns={"measure_label": "Measure", "submajor": "Sub-major group",
                                        "submajor_title": "Sub-major title", "steps": "Steps", "period": "Period",
                                        "value": "Value", "share": "Share of area total (%)",
                                        "england_share": "England share (%)", "lq": "Location quotient",
                                        "status": "Status", "note": "Note"})
                     [["Measure", "Sub-major group", "Sub-major title", "Steps", "Period", "Value",
                       "Share of area total (%)", "England share (%)", "Location quotient", "Status", "Note"]],
                     hide_index=True, key="cc_table_sub")
        st.caption("Published figures cover the whole sub-major group (other occupations included) and cannot be "
                   "split by step. Empty values are suppressed or not published (see Status), not zero.")

# --- comparison with England and the comparison areas -------------------------------------------------
compare = list(dict.fromkeys([area, *(v.comparators or ()), ENGLAND]))
frames = [step_estimates(_demand(*KEY, cl.id, c, period)) for c in compare]
cmp = pd.concat(frames, ignore_index=True)
if not present:
    st.subheader("Compared with England and the comparison areas")
ctitle = charts.chart_title(f"Share of job adverts in each step of {cl.name} (%, estimate)",
                            f"{area_name}, comparison areas and England", per)
cfig = cc.comparison_figure(cmp, title=ctitle, y_title="Share of all adverts in the area (%)")
ui.chart(cfig, key="cc_compare", table=cc.comparison_table(cmp), source=ui.source_line(MEASURES["adverts"]) + " "
         + ui.source_line(MEASURES["adverts_england_unit"]), subtitle=f"{cl.name}: {area_name} compared, {per}")
st.caption("Shares, not counts, are compared because areas differ in size. Change the comparison areas in the "
           "sidebar; England is always shown.")

# --- download ------------------------------------------------------------------------------------------
if not present:
    st.subheader("Download")
    demands = [_demand(*KEY, cl.id, c, period) for c in compare]
    meta = {m: _measure_meta(m) for m in MEASURES.values() if m in ui.lookups().measures}
    dates = {}
    for m in meta:
        for p in ui.q("periods", m).itertuples():
            dates[(m, str(p.period))] = (pd.Timestamp(p.period_start).strftime("%Y-%m-%d"),
                                         pd.Timestamp(p.period_end).strftime("%Y-%m-%d"))
    rows = cluster_export.export_rows(demands, meta, dates)
    used = cluster_export.datasets_used(rows, [meta.get(MEASURES["adverts_england_unit"], {}).get("dataset")])
    st.markdown(f"**{len(rows):,} rows** for {len(compare)} area(s): each occupation's and step's estimate and the "
                "published sub-major figures, in the same columns as other downloads (then the cluster columns).")
    name_bits = ("career-cluster", cl.id, area, per or "latest")
    b1, b2 = st.columns(2)
    with b1:
        st.download_button("Download CSV", ui.csv_payload(rows), file_name=export.safe_filename(*name_bits, ext="csv"),
                           mime="text/csv", key="cc_dl_csv", on_click="ignore", icon=":material/download:")
    with b2:
        st.download_button("Download Excel (XLSX, with sources sheet)",
                           lambda: export.to_xlsx(rows, export.metadata_for(db, pd.DataFrame({"dataset": used}))),
                           file_name=export.safe_filename(*name_bits, ext="xlsx"), key="cc_dl_xlsx", on_click="ignore",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           icon=":material/table:")
    with st.expander("Preview the download rows"):
        st.dataframe(rows, hide_index=True, column_config=ui.EXPORT_COLUMN_CONFIG, key="cc_dl_preview")

with st.expander("About these figures"):
    st.markdown("\n".join(f"- {n}" for n in d.notes))
    st.markdown(f"**Where this pathway comes from:** {cl.sources}")
    st.caption(f"Clusters file {model.file}, checked against {model.soc.source}.")
