"""Sources: the dataset catalogue with the UKCES labels, licences, attribution and a staleness flag."""
import streamlit as st

from lmi import ui

ui.page_header("Sources", "Every dataset in the dashboard, with its licence and how up to date it is")
cat = ui.catalogue_table()
stale = int(cat["Stale"].sum())
if stale:
    st.warning(f"{stale} dataset(s) are older than their publication cycle implies (flagged “Stale”): a newer "
               "release may exist.", icon=":material/schedule:")
st.dataframe(cat, hide_index=True, column_config=ui.CATALOGUE_COLUMN_CONFIG)
st.subheader("Licences and attribution")
for line in ui.attributions():
    st.markdown(f"- {line}")
st.caption("Classification follows the UKCES labels: source, regularity, latest period and release date, "
           "topic, and spatial availability.")
