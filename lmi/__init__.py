"""lmi: labour-market intelligence for local skills planning in England.

Data flows one way: official files -> readers (lmi.formats) -> staging -> geography
harmonisation (lmi.geography) -> rollups and marts (lmi.pipeline) -> data/lmi.duckdb ->
typed read API (lmi.queries) -> figure builders (lmi.charts) -> Streamlit pages.
"""

__version__ = "0.1.0"
