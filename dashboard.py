"""Local labour-market intelligence dashboard (Streamlit entry point: `streamlit run dashboard.py`).

Registers the pages, draws the shared sidebar and keeps the view in session state and the URL
(lmi.ui.start). Pages hold layout and widgets only; every number comes from lmi.queries.
"""
from pathlib import Path

import streamlit as st

from lmi import ui

st.set_page_config(page_title="Local labour market intelligence (England)", page_icon=":material/insights:",
                   layout="wide", initial_sidebar_state="expanded")

HERE = Path(__file__).parent
# url_path values must differ from the file names in pages/: Streamlit's legacy pages/ folder discovery
# would otherwise run a page file directly (without this script, so without the sidebar and state).
PAGES = {
    "profile": st.Page("pages/area_profile.py", title="Area profile", icon=":material/home:", url_path="profile",
                       default=True),
    "map": st.Page("pages/map.py", title="Map", icon=":material/map:", url_path="maps"),
    "time_series": st.Page("pages/time_series.py", title="Time series", icon=":material/show_chart:",
                           url_path="trends"),
    "download": st.Page("pages/download.py", title="Data download", icon=":material/download:",
                        url_path="data"),
    "sources": st.Page("pages/sources.py", title="Sources", icon=":material/menu_book:", url_path="catalogue"),
}
if (HERE / "pages" / "career_clusters.py").is_file():
    PAGES["career_clusters"] = st.Page("pages/career_clusters.py", title="Career clusters",
                                       icon=":material/work:", url_path="careers")

current = st.navigation(list(PAGES.values()))
ui.start(PAGES, current)
current.run()
