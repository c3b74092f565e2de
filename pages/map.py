"""Map: choropleth (or equal-area hex cartogram) of the chosen measure and period; click an area to select it."""
import streamlit as st

from lmi import charts, ui
from lmi.schema import LEVEL_LABELS

v = ui.view()
info = ui.measure_info(v.measure)
unit, decimals = str(info["unit"]), int(info["decimals"] or 0)
ui.page_header(f"Map: {info['label']}", f"{v.period} · selected: {ui.area_name(v.area)}")

level = charts.map_level(ui.q("measure_levels", v.measure))
if level is None:
    ui.notice(f"{info['label']} is published for England only, so it cannot be mapped.")
    st.stop()
if level != "lad":
    ui.notice(f"{info['label']} is published for {LEVEL_LABELS[level].lower()} areas only, not for local "
              f"authorities, so it is mapped at that level.")

use_hex = False
if level == "lad":
    use_hex = ui.bound(st.toggle, "hex", "Equal-area hex map (every local authority the same size)", v.hex)

values = ui.q("level_values", v.measure, v.period, level, v.breakdown)
if level == "lad":
    areas = ui.q("lad_boundaries")
    frame = charts.map_frame(areas, values, unit, decimals, "lad_code", "lad_name")
else:
    areas = ui.q("area_boundaries", level)
    frame = charts.map_frame(areas, values, unit, decimals, "area_code", "area_name")

where = (f"{LEVEL_LABELS[level].lower()}s in England" + (" (equal-area hex map)" if use_hex else "")
         if v.level == "england" or use_hex else f"{LEVEL_LABELS[level].lower()}s, around {ui.area_name(v.area)}")
title = charts.chart_title(f"{info['label']} ({unit})", where, v.period)
legend = charts.legend_title(info["label"], unit)
if use_hex:
    fig = charts.hex_map(frame, areas, title=title, legend_title=legend,
                         selected=v.area if v.level == "lad" else None)
else:
    bbox, outline = ui.map_zoom(v)
    fig = charts.choropleth(frame, ui.geojson_url(level), title=title, legend_title=legend, bbox=bbox, highlight=outline)

ui.chart(fig, key="map_click", table=charts.table_view(frame, unit), source=ui.source_line(v.measure),
         subtitle=f"{ui.area_name(v.area)}, {v.period}", on_select=ui.select_from_chart("map_click"))
st.caption("Grey areas have no value for this period: the publisher suppressed it (too few survey responses "
           "or disclosive) or did not publish it. Click an area to select it.")
