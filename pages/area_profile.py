"""Area profile (home): headline tiles, a written summary and the selected measure against comparators."""
import streamlit as st

from lmi import charts, headlines, ui
from lmi.schema import LEVEL_LABELS

v = ui.view()
name = ui.area_name(v.area)
ui.page_header(f"{name}: area profile", f"{LEVEL_LABELS.get(v.level, v.level)} · {v.area} · "
               "latest published period for each measure")

tiles = ui.profile_tiles(v)
st.subheader("Headline figures")
cols = st.columns(4)
for i, t in enumerate(tiles):
    with cols[i % 4]:
        ui.tile(t)

st.subheader("Summary")
sentences = headlines.summary(name, tiles)
st.markdown("\n".join(f"- {s}" for s in sentences) if sentences else "No headline figures are available for this area.")
st.caption("Where the source gives 95% confidence intervals and they overlap, the summary says “similar to” "
           "rather than higher or lower.")

if v.measure:
    info = ui.measure_info(v.measure)
    rows = ui.q("values", v.measure, v.period, (v.area, *(v.comparators or ())), v.breakdown)
    frame = charts.compare_frame(rows, [v.area, *(v.comparators or ())], ui.area_name)
    title = charts.chart_title(f"{info['label']} ({info['unit']})", f"{name} and comparison areas", v.period)
    fig = charts.bar_chart(frame, label_col="area_name", title=title, x_title=charts.axis_title(info["label"],
                           info["unit"]), unit=info["unit"], decimals=int(info["decimals"] or 0), highlight=name)
    st.subheader("Selected measure compared")
    ui.chart(fig, key="profile_compare", table=charts.table_view(frame, info["unit"]),
             source=ui.source_line(v.measure), subtitle=f"{name}, {v.period}")
