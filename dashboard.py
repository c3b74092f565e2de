"""Local labour-market intelligence dashboard (Streamlit entry point: `streamlit run dashboard.py`).

Registers the pages, draws the shared sidebar and keeps the view in session state and the URL
(lmi.ui.start). Pages hold layout and widgets only; every number comes from lmi.queries.
"""
from pathlib import Path

import streamlit as st

from lmi import ui

st.set_page_config(page_title="Local labour market intelligence (England)", layout="wide",
                   initial_sidebar_state="expanded")

HERE = Path(__file__).parent
# Streamlit's legacy pages/ folder discovery runs a page file directly when its URL is loaded (e.g. /map);
# lmi.ui.view() notices and runs this script around it (lmi.ui.ensure_shell).
PAGES = {
    "profile": st.Page("pages/area_profile.py", title="Area profile", url_path="profile",
                       default=True),
    "map": st.Page("pages/map.py", title="Map", url_path="map"),
    "time_series": st.Page("pages/time_series.py", title="Time series",
                           url_path="time_series"),
    "download": st.Page("pages/download.py", title="Data download",
                        url_path="download"),
    "sources": st.Page("pages/sources.py", title="Sources", url_path="sources"),
}
if (HERE / "pages" / "career_clusters.py").is_file():
    PAGES["career_clusters"] = st.Page("pages/career_clusters.py", title="Career clusters",
                                       url_path="career_clusters")

current = st.navigation(list(PAGES.values()))
ui.start(PAGES, current)
current.run()
