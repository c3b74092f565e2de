"""Data download: a preview of exactly the rows for the current selection, as CSV or XLSX."""
import streamlit as st

from lmi import export, ui
from lmi.schema import LEVEL_LABELS

v = ui.view()
info = ui.measure_info(v.measure)
ui.page_header("Data download", f"{info['label']} · {ui.area_name(v.area)}")

c1, c2 = st.columns(2)
with c1:
    ui.bound(st.radio, "dl_areas", "Areas", v.dl_areas, options=["selection", "level"],
             format_func=lambda o: ("Selected area and comparison areas" if o == "selection"
                                    else f"Every area at this level ({LEVEL_LABELS[v.level].lower()})"))
with c2:
    ui.bound(st.radio, "dl_periods", "Periods", v.dl_periods, options=["one", "all"],
             format_func=lambda o: f"Selected period ({v.period})" if o == "one" else "All periods")
v = ui.view()
sel = ui.download_selection(v)
rows = ui.q("export_rows", **sel)
st.markdown(f"**{len(rows):,} rows** · the same columns as `python -m lmi export`.")
st.code(ui.cli_command(sel), language=None, wrap_lines=True)
st.dataframe(rows, hide_index=True, column_config=ui.EXPORT_COLUMN_CONFIG, height=360)
name_bits = (v.measure, v.area if v.dl_areas == "selection" else f"all-{v.level}",
             v.period if v.dl_periods == "one" else "all-periods")
d1, d2 = st.columns(2)
with d1:
    st.download_button("Download CSV", ui.csv_payload(rows), file_name=export.safe_filename(*name_bits, ext="csv"),
                       mime="text/csv", key="dl_csv", on_click="ignore", icon=":material/download:")
with d2:
    st.download_button("Download Excel (XLSX, with sources sheet)",
                       ui.xlsx_payload(rows),
                       file_name=export.safe_filename(*name_bits, ext="xlsx"), key="dl_xlsx", on_click="ignore",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/table:")
st.caption("Text cells that start with = + - @ or a tab/carriage return are prefixed with an apostrophe so "
           "spreadsheet programs do not run them as formulas. File names give the measure, area, period "
           "and download date.")
