"""Time series: the selected area and comparators over time, optionally indexed or smoothed."""
import streamlit as st

from lmi import charts, headlines, ui

v = ui.view()
info = ui.measure_info(v.measure)
unit, decimals = str(info["unit"]), int(info["decimals"] or 0)
codes = (v.area, *(v.comparators or ()))
ui.page_header(f"Time series: {info['label']}", f"{ui.area_name(v.area)} and {len(codes) - 1} comparison area(s)")

periods = ui.q("periods", v.measure)["period"].astype(str).tolist()
c1, c2 = st.columns(2)
with c1:
    base = ui.bound(st.selectbox, "base", "Index to a base period (= 100)", v.base or "",
                    options=["", *periods], format_func=lambda p: p or "No index (actual values)")
roll = False
if info["topic"] in headlines.ROLLING_TOPICS:
    with c2:
        roll = ui.bound(st.toggle, "roll", "3-month rolling average", v.roll,
                        help="Average of each month and the two before it; shown only where all three exist.")

ts = ui.q("time_series", v.measure, codes, v.breakdown)
frame = charts.series_frame(ts, base=base or None, roll=roll)
what = f"{info['label']} ({'index, ' + base + ' = 100' if base else unit})" + (", 3-month average" if roll else "")
span = f"{periods[0]} to {periods[-1]}" if periods else None
title = charts.chart_title(what, f"{ui.area_name(v.area)} and comparison areas", span)
y_title = f"Index ({base} = 100)" if base else charts.axis_title(info["label"], unit)
fig = charts.line_chart(frame, title=title, y_title=y_title, unit=unit, decimals=decimals, indexed=bool(base))
ui.chart(fig, key="ts_chart", table=charts.table_view(frame, "index" if base else unit),
         source=ui.source_line(v.measure), subtitle=f"{ui.area_name(v.area)}, {span}")
if frame["ci_lower"].notna().any():
    st.caption("Shaded bands are 95% confidence intervals published with the survey estimates.")
st.caption("Breaks in a line mark periods with no published value (suppressed or not available); "
           "they are not filled in.")
