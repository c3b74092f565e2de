"""Shared Streamlit helpers for dashboard.py and every page: data access, view state, sidebar, charts.

API for page authors (e.g. ``pages/career_clusters.py``)::

    from lmi import ui
    view = ui.view()                      # the current lmi.state.ViewState (area, level, comparators,
                                          # measure, period, breakdown, present, extras...), already valid
    df = ui.q("time_series", view.measure, [view.area])   # any lmi.queries function by name, cached per
                                          # database build (args must be hashable: lists become tuples)
    ui.area_name(code); ui.measure_info(measure_id)        # labels
    ui.page_header("Career clusters", f"{ui.area_name(view.area)}, {view.period}")
    ui.chart(fig, key="cc_bar", table=df_for_the_chart, source=ui.source_line(measure_id))
                                          # title/subtitle/source line, presentation sizing, data-table expander
    value = ui.extra_option("x_cluster", options, label="Career cluster", format_func=str)
                                          # a page option kept in the URL as ?x_cluster=... (validated)
    ui.present()                          # True in presentation mode (show one chart per screen)

Every number shown must come from :mod:`lmi.queries` (through :func:`q`); no SQL or duckdb here or in
pages. The database is opened once per process (``st.cache_resource``, path from
:func:`lmi.paths.default_db`, which honours ``$LMI_DB``); query results are cached with
``st.cache_data`` keyed on the database path and ``build_id``. Figures are built fresh on each run.

The view lives in ``st.session_state["lmi_view"]`` and is mirrored into ``st.query_params`` on every
run, so reloading or sharing the URL reproduces it. Widgets are bound to it by key (``w_<field>``):
each widget is set from the view before it is drawn, and its ``on_change`` callback writes the view.
"""
from __future__ import annotations

import runpy
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
import streamlit as st

from lmi import headlines, queries, state
from lmi.db import Database
from lmi.paths import default_db
from lmi.schema import LEVEL_LABELS, TOPICS

VIEW = "lmi_view"
NOTICES = "lmi_notices"
# Plotly's geo charts fetch a base-map TopoJSON from a CDN even when no base layer is drawn; our maps draw
# only our own GeoJSON, so point plotly at an empty topology (a data: URL; the '#' swallows the file name
# plotly appends) and the page makes no outside request.
EMPTY_TOPOJSON_URL = ("data:application/json;base64,"
                      + __import__("base64").b64encode(b'{"type":"Topology","objects":{},"arcs":[]}').decode()
                      + "#")
PLOTLY_CONFIG = {"topojsonURL": EMPTY_TOPOJSON_URL, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
                 "toImageButtonOptions": {"format": "png", "scale": 2}, "scrollZoom": False}
_QUERY_FUNCS = frozenset({
    "measures", "measure", "areas", "resolve_area", "parents", "members", "default_comparators",
    "measure_levels", "periods", "latest_period", "breakdowns", "values", "level_values", "time_series",
    "breakdown_values", "headline", "lad_boundaries", "area_boundaries", "area_bbox", "catalogue",
    "measure_summary", "export_rows", "default_period", "level_label", "breakdown_sum_series",
})


# --- data ------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _open(path: str) -> Database:
    return Database(path)


def db() -> Database:
    """The read-only database for this process (``$LMI_DB`` or the snapshot)."""
    return _open(str(default_db()))


def _hashable(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return tuple(_hashable(i) for i in x)
    return x


def _listy(x: Any) -> Any:
    return [_listy(i) for i in x] if isinstance(x, tuple) else x


@st.cache_data(show_spinner=False, max_entries=5000)
def _cached(path: str, build_id: str, name: str, args: tuple, kwargs: tuple) -> Any:
    fn = getattr(queries, name)
    return fn(_open(path), *[_listy(a) for a in args], **{k: _listy(v) for k, v in kwargs})


def q(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``lmi.queries.<name>(db, *args, **kwargs)`` through the per-build cache."""
    if name not in _QUERY_FUNCS:
        raise ValueError(f"not a cached query: {name!r}")
    d = db()
    return _cached(str(d.path), d.build_id, name, _hashable(tuple(args)),
                   tuple(sorted((k, _hashable(v)) for k, v in kwargs.items())))


@st.cache_resource(show_spinner=False, max_entries=16)
def _geojson(path: str, build_id: str, level: str) -> dict:
    """Map outlines as a GeoJSON FeatureCollection (shared, read-only; figures are never cached)."""
    from lmi.charts import feature_collection

    if level == "lad":
        return feature_collection(queries.lad_boundaries(_open(path)), "lad_code")
    return feature_collection(queries.area_boundaries(_open(path), level), "area_code")


def geojson(level: str) -> dict:
    d = db()
    return _geojson(str(d.path), d.build_id, queries.check_level(level))


@st.cache_resource(show_spinner=False, max_entries=16)
def _geojson_url(path: str, build_id: str, level: str) -> str:
    from lmi.charts import geojson_data_url

    return geojson_data_url(_geojson(path, build_id, level))


def geojson_url(level: str) -> str:
    """The map outlines of ``level`` as a data: URL string for plotly's ``geojson`` (see charts)."""
    d = db()
    return _geojson_url(str(d.path), d.build_id, queries.check_level(level))


class Lookups:
    """Read-only labels and allow-lists derived once per database build (shared across sessions)."""

    def __init__(self, d: Database) -> None:
        areas = queries.areas(d)
        self.areas: dict[str, dict] = {r["area_code"]: r for r in areas.to_dict("records")}
        self.by_level: dict[str, list[str]] = {}
        for level in areas["area_level"].unique():
            self.by_level[str(level)] = queries.areas(d, str(level))["area_code"].tolist()
        self.labels = {c: _label(r) for c, r in self.areas.items()}
        rank = {lv: i for i, lv in enumerate(("england", "region", "ca", "lep", "lsip", "lad"))}
        self.compare_options = sorted(self.areas, key=lambda c: (rank.get(self.areas[c]["area_level"], 9),
                                                                 self.areas[c]["area_name"]))
        ms = queries.measures(d, include_hidden=True)
        self.measures: dict[str, dict] = {r["id"]: r for r in ms.to_dict("records")}
        self.periods: dict[str, list[str]] = {m: [] for m in self.measures}
        for m, g in queries.all_periods(d).groupby("measure", sort=False):
            self.periods[str(m)] = g["period"].astype(str).tolist()
        self.breakdowns: dict[str, list[tuple[str, str]]] = {m: [] for m in self.measures}
        self.breakdown_labels: dict[str, dict[str, str]] = {m: {} for m in self.measures}
        for m, b in queries.all_breakdowns(d).groupby("measure", sort=False):
            self.breakdowns[str(m)] = list(zip(b["breakdown_type"].astype(str), b["breakdown_code"].astype(str)))
            self.breakdown_labels[str(m)] = {f"{t}:{c}": ("Total" if t == "total" else str(lab)) for t, c, lab in
                                             zip(b["breakdown_type"], b["breakdown_code"], b["breakdown_label"])}


def _label(r: dict) -> str:
    lvl = headlines.SHORT_LEVEL.get(r["area_level"], r["area_level"])
    code = r["area_code"]
    if r["area_level"] in ("lad", "england"):
        return f"{r['area_name']} ({code})"
    return f"{r['area_name']} — {lvl} ({code})"


@st.cache_resource(show_spinner=False, max_entries=8)
def _lookups(path: str, build_id: str) -> Lookups:
    return Lookups(_open(path))


def lookups() -> Lookups:
    d = db()
    return _lookups(str(d.path), d.build_id)


def _area_index() -> dict[str, dict]:
    return lookups().areas


def area_name(code: str | None) -> str:
    if not code:
        return ""
    hit = _area_index().get(code)
    return str(hit["area_name"]) if hit else code


def measure_info(measure_id: str) -> dict:
    """A measure's catalogue row (QueryError when unknown)."""
    hit = lookups().measures.get(measure_id)
    return dict(hit) if hit is not None else q("measure", measure_id)


def dataset_row(dataset_id: str) -> dict | None:
    cat = q("catalogue", today=date.today())
    hit = cat[cat["id"] == dataset_id]
    return hit.iloc[0].to_dict() if len(hit) else None


def source_line(measure_id: str) -> str:
    """'Source: <publisher attribution>. <title>, released <date>.' for a measure's dataset."""
    info = measure_info(measure_id)
    ds = dataset_row(str(info["dataset"]))
    if ds is None:
        return f"Source: dataset {info['dataset']}."
    released = ds.get("release_date")
    rel = f", released {released}" if isinstance(released, str) and released.strip() else ""
    return f"{str(ds['attribution']).rstrip('.')}. {ds['title']}{rel}."


# --- catalogue of allow-lists for the view -----------------------------------------------------------
def _parent_at(code: str, level: str) -> str | None:
    if level == "england":
        return state.ENGLAND
    par = q("parents", code)
    hit = par[par["area_level"] == level]
    return str(hit.iloc[0]["area_code"]) if len(hit) else None


def catalog() -> state.Catalog:
    lk = lookups()
    visible = {m: r["topic"] for m, r in lk.measures.items() if not r["hidden"]}
    return state.Catalog(
        measures=visible,
        resolve=lambda code: q("resolve_area", code),
        areas_at=lambda level: lk.by_level.get(level, []),
        parent_at=_parent_at,
        periods=lambda m: lk.periods.get(m, []),
        breakdowns=lambda m: lk.breakdowns.get(m, []),
        default_period=lambda m, level: q("default_period", m, level),
        default_comparators=lambda code: q("default_comparators", code),
        default_measures=headlines.DEFAULT_MEASURES,
    )


# --- view state ------------------------------------------------------------------------------------
DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard.py"


def _in_shell() -> bool:
    """True when this run is executing inside dashboard.py (its frame is on the call stack)."""
    f = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_filename
        if name.endswith("dashboard.py") and Path(name).resolve() == DASHBOARD:
            return True
        f = f.f_back
    return False


def ensure_shell() -> None:
    """Run the page inside dashboard.py. Streamlit's legacy ``pages/`` folder discovery runs a page
    file directly when the URL names it (e.g. /map); then we run dashboard.py (which registers the
    pages, draws the sidebar and runs this page through st.navigation) and stop the outer run."""
    if not _in_shell():
        runpy.run_path(str(DASHBOARD), run_name="__main__")
        st.stop()


def view() -> state.ViewState:
    """The current view (valid against the database). Pages call this first."""
    ensure_shell()
    return st.session_state[VIEW]


def present() -> bool:
    return bool(st.session_state.get(VIEW) and st.session_state[VIEW].present)


def _set_view(v: state.ViewState) -> None:
    st.session_state[VIEW] = state.reconcile(v, catalog())
    st.session_state[NOTICES] = []


def _bind(key: str, value: Any) -> None:
    if st.session_state.get(key, object()) != value:
        st.session_state[key] = value


def _changed(field: str) -> None:
    """on_change callback of the widget ``w_<field>``: apply the new value to the view."""
    v, cat, new = st.session_state[VIEW], catalog(), st.session_state.get(f"w_{field}")
    if field == "level":
        v = state.with_level(v, new, cat)
    elif field == "area":
        v = state.with_area(v, new, cat)
    elif field == "topic":
        first = next((m for m, t in cat.measures.items() if t == new), None)
        v = state.with_measure(v, first, cat) if first else v
    elif field == "measure":
        v = state.with_measure(v, new, cat)
    elif field == "comparators":
        v = replace(v, comparators=tuple(new or ()))
    elif field == "breakdown":
        v = replace(v, breakdown=tuple(new.split(":", 1)) if new else None)
    elif field == "base":
        v = replace(v, base=new or None)
    elif field.startswith("x_"):
        v = v.with_extra(field, None if new is None else str(new))
    else:
        v = replace(v, **{field: new})
    _set_view(v)


def bound(widget: Callable[..., Any], field: str, label: str, value: Any, **kwargs: Any) -> Any:
    """Draw ``widget`` bound to view field ``field`` (shown value ``value``; changes go to the view)."""
    _bind(f"w_{field}", value)
    return widget(label, key=f"w_{field}", on_change=_changed, args=(field,), **kwargs)


def extra_option(name: str, options: Sequence[str], *, label: str, format_func: Callable[[Any], str] = str,
                 widget: Callable[..., Any] | None = None, **kwargs: Any) -> str | None:
    """A page option kept in the URL as ``?x_<name>=...`` (``name`` must start with 'x_')."""
    if not name.startswith("x_") or not options:
        raise ValueError("extra options are named 'x_...' and need options")
    current = st.session_state[VIEW].extra(name)
    if current not in options:
        current = options[0]
    return bound(widget or st.selectbox, name, label, current, options=list(options), format_func=format_func,
                 **kwargs)


def _query_param_dict() -> dict[str, object]:
    qp = st.query_params
    return {k: (vals if len(vals := qp.get_all(k)) > 1 else (vals[0] if vals else "")) for k in qp.keys()}


def start(pages: dict[str, Any], current: Any) -> state.ViewState:
    """Run at the top of dashboard.py, after st.navigation: read the URL on a session's first run
    (switching to the page it names), keep the view valid, draw the sidebar, apply presentation CSS,
    show notices about ignored URL parameters and write the view back to the URL."""
    slug = next((s for s, p in pages.items() if p is current or p.url_path == current.url_path), "profile")
    cat = catalog()
    cat.pages = tuple(pages)
    if VIEW not in st.session_state:
        params = _query_param_dict()
        v, notices = state.parse_params(params, cat)
        st.session_state[VIEW] = state.reconcile(v, cat)
        st.session_state[NOTICES] = notices
        if "page" in params and v.page in pages and v.page != slug:
            st.session_state[VIEW] = replace(st.session_state[VIEW], page=v.page)
            st.switch_page(pages[v.page])
    v = state.reconcile(replace(st.session_state[VIEW], page=slug), cat)
    st.session_state[VIEW] = v
    sidebar(v, cat)
    v = st.session_state[VIEW]
    apply_presentation(v)
    for n in st.session_state.get(NOTICES, []):
        st.warning(n.message, icon=":material/warning:")
    params = state.to_params(v)
    if _query_param_dict() != params:
        st.query_params.from_dict(params)
    return v


# --- sidebar ---------------------------------------------------------------------------------------
def _area_label(code: str) -> str:
    return lookups().labels.get(code, code)


def _labeller(mapping: dict) -> Callable[[Any], str]:
    return lambda key: str(mapping.get(key, key))


def sidebar(v: state.ViewState, cat: state.Catalog) -> None:
    """The shared sidebar: area level and area, comparators, topic and measure, period, breakdown,
    presentation switch."""
    lk = lookups()
    labels = {m: r["label"] for m, r in lk.measures.items()}
    units = {m: r["unit"] for m, r in lk.measures.items()}
    used = set(cat.measures.values())
    topics = [t for t in TOPICS if t in used] + sorted(used - set(TOPICS))
    with st.sidebar:
        st.markdown("### Area")
        bound(st.selectbox, "level", "Area level", v.level, options=list(cat.levels),
              format_func=lambda lv: LEVEL_LABELS.get(lv, lv))
        area_label = _labeller(lk.labels)
        bound(st.selectbox, "area", "Area (type a name or code)", v.area, options=cat.areas_at(v.level),
              format_func=area_label, placeholder="Search by name or code")
        bound(st.multiselect, "comparators", f"Compare with (up to {state.MAX_COMPARATORS})",
              list(v.comparators or ()), options=[c for c in lk.compare_options if c != v.area],
              format_func=area_label, max_selections=state.MAX_COMPARATORS,
              help="England and the area's region are offered by default.")
        st.markdown("### Measure")
        topic = cat.measures.get(v.measure, topics[0] if topics else None)
        bound(st.selectbox, "topic", "Topic", topic, options=topics)
        bound(st.selectbox, "measure", "Measure", v.measure,
              options=[m for m, t in cat.measures.items() if t == topic],
              format_func=lambda m: f"{labels.get(m, m)} ({units.get(m, '')})")
        periods = list(reversed(cat.periods(v.measure))) if v.measure else []
        bound(st.selectbox, "period", "Period", v.period, options=periods)
        bks = cat.breakdowns(v.measure) if v.measure else []
        if len(bks) > 1:
            blabels = lk.breakdown_labels.get(v.measure, {})
            cur = f"{v.breakdown[0]}:{v.breakdown[1]}" if v.breakdown else f"{bks[0][0]}:{bks[0][1]}"
            bound(st.selectbox, "breakdown", "Breakdown", cur, options=list(blabels),
                  format_func=lambda k: blabels.get(k, k))
        st.markdown("### View")
        bound(st.toggle, "present", "Presentation mode", v.present,
              help="Hides the sidebar and menus, enlarges text, one chart per screen.")
        d = db()
        st.caption(f"Data build {d.build_id}. Figures are official statistics; see Sources for licences.")


# --- presentation and layout -----------------------------------------------------------------------
PRESENTATION_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stSidebarNav"],
[data-testid="stExpandSidebarButton"] { display: none !important; }
[data-testid="stMainBlockContainer"], .block-container { max-width: 100% !important; padding: 1.5rem 3rem !important; }
h1 { font-size: 3.2rem !important; } h2 { font-size: 2.4rem !important; } h3 { font-size: 2rem !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.45rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.2rem !important; }
[data-testid="stMetric"] [data-testid="stMetricValue"], [data-testid="stMetric"] [data-testid="stMetricValue"] * { font-size: 3rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.3rem !important; }
[data-testid="stPlotlyChart"] { min-height: 78vh; margin-bottom: 12vh; }
</style>
"""


def apply_presentation(v: state.ViewState) -> None:
    if v.present:
        st.html(PRESENTATION_CSS)
        st.button("Exit presentation mode", key="exit_present", on_click=_exit_present, icon=":material/close:")


def _exit_present() -> None:
    _set_view(replace(st.session_state[VIEW], present=False))


def page_header(title: str, subtitle: str | None = None) -> None:
    """The page title (and a bold subtitle). Like :func:`view`, makes sure the page runs inside dashboard.py."""
    ensure_shell()
    st.title(title)
    if subtitle:
        st.markdown(f"**{subtitle}**")


def chart(fig: Any, *, key: str, table: pd.DataFrame, source: str, subtitle: str | None = None,
          column_config: dict | None = None, on_select: Callable[[], None] | None = None,
          selection_mode: str | Sequence[str] = "points") -> Any:
    """Show a figure with its source line and an expander holding the same data as a table.
    In presentation mode the figure fills the screen and a subtitle (area, period) goes above it."""
    title = (fig.layout.title.text or "Chart").replace("<br>", " ")
    if present():
        fig.update_layout(height=760, font=dict(size=18), title=dict(font=dict(size=28)))
        if subtitle:
            st.subheader(subtitle)
    kwargs: dict[str, Any] = {}
    if on_select is not None:
        kwargs.update(on_select=on_select, selection_mode=selection_mode)
    event = st.plotly_chart(fig, key=key, theme=None, config=PLOTLY_CONFIG, alt=title, **kwargs)
    st.caption(source)
    with st.expander(f"Data table: {title}"):
        st.dataframe(table, hide_index=True, column_config=column_config)
    return event


def notice(text: str) -> None:
    st.info(text, icon=":material/info:")


# --- area profile ----------------------------------------------------------------------------------
def profile_tiles(v: state.ViewState) -> list[headlines.Tile]:
    """The headline tiles for the view's area (lmi.headlines.TILES), cached per build, area and comparators."""
    d = db()
    return _profile_tiles(str(d.path), d.build_id, v.area, tuple(v.comparators or ()))


@st.cache_data(show_spinner=False, max_entries=2000)
def _profile_tiles(path: str, build_id: str, area_code: str, comparators: tuple[str, ...]) -> list[headlines.Tile]:
    v = state.ViewState(area=area_code, comparators=comparators)
    infos = lookups().measures
    area = q("resolve_area", v.area)
    parents = q("parents", v.area)
    tiles = []
    for spec in headlines.TILES:
        info = infos.get(spec.measure)
        if info is None:
            tiles.append(headlines.build_tile(spec, None, None, None, None, None))
            continue
        shown = headlines.tile_area(area, q("measure_levels", spec.measure), parents)
        summed = bool(spec.sum_breakdown) and ("total", "total") not in lookups().breakdowns.get(spec.measure, [])

        def series_for(code: str) -> pd.DataFrame:
            if summed:
                return q("breakdown_sum_series", spec.measure, (code,), spec.sum_breakdown)
            return q("time_series", spec.measure, (code,), None)

        series = comp = None
        if shown is not None:
            series = series_for(shown[0]["area_code"])
            have = series.dropna(subset=["value"])
            if len(have):
                period = str(have.iloc[-1]["period"])
                for c in v.comparators or ():
                    if c == shown[0]["area_code"]:
                        continue
                    rows = series_for(c)
                    rows = rows[(rows["period"] == period) & rows["value"].notna()]
                    if len(rows):
                        comp = rows.iloc[0].to_dict()
                        break
        tiles.append(headlines.build_tile(spec, info, series, shown, comp, dataset_row(str(info["dataset"]))))
    return tiles


def tile(t: headlines.Tile) -> None:
    """One headline tile: value, change since the previous period, comparator, source and date."""
    with st.container(border=True):
        if not t.available:
            st.metric(t.label, "Not available")
            st.caption(f"Not available: {t.note}.")
            return
        arrow = "off" if not t.change else ("up" if t.change > 0 else "down")
        st.metric(t.label, t.value_text, delta=t.change_text, delta_color="off", delta_arrow=arrow,
                  help=t.status_reason if t.status not in ("ok", None) else None)
        lines = [f"**{t.period}**" + (f" · {t.unit}" if t.unit != "%" else "")]
        if t.area_label and t.area_label != t.area_name:
            lines.append(t.area_label)
        if t.change is None:
            lines.append("No earlier period to compare.")
        if t.comparator_value is not None:
            share = f" ({t.share_of_comparator:.1f}% of it)" if t.is_count and t.share_of_comparator else ""
            lines.append(f"{t.comparator_name}: {t.comparator_text}{share}")
        if t.status not in ("ok", None):
            lines.append(f"Status: {t.status}")
        if t.note:
            lines.append(t.note[:1].upper() + t.note[1:] + ".")
        lines.append(f"Source: {t.source}" + (f", released {t.release_date}" if t.release_date else ""))
        st.caption("  \n".join(lines))


# --- map -------------------------------------------------------------------------------------------
def select_from_chart(key: str) -> Callable[[], None]:
    """An on_select callback for a map: the clicked area (customdata[1] or location) becomes the view's area."""
    def _cb() -> None:
        event = st.session_state.get(key) or {}
        points = (event.get("selection") or {}).get("points") or []
        for p in points:
            code = p.get("location") or (p.get("customdata") or [None, None])[1]
            if isinstance(code, str) and state._CODE.match(code):
                _set_view(state.with_area(st.session_state[VIEW], code, catalog()))
                return
    return _cb


def map_zoom(v: state.ViewState) -> tuple[tuple[float, float, float, float] | None, dict | None]:
    """(bbox, outline) for the view: a LAD is shown within its region; higher areas are zoomed to."""
    from lmi.charts import subset_features

    if v.level == "england":
        return None, None
    if v.level == "lad":
        region = _parent_at(v.area, "region")
        return (q("area_bbox", region) if region else None), subset_features(geojson("lad"), [v.area])
    return q("area_bbox", v.area), subset_features(geojson(v.level), [v.area])


# --- download and sources --------------------------------------------------------------------------
EXPORT_COLUMN_CONFIG = {
    "area_code": st.column_config.TextColumn("Area code"),
    "area_name": st.column_config.TextColumn("Area"),
    "area_level": st.column_config.TextColumn("Level"),
    "measure": st.column_config.TextColumn("Measure id"),
    "measure_label": st.column_config.TextColumn("Measure"),
    "period": st.column_config.TextColumn("Period"),
    "period_start": st.column_config.TextColumn("Period start"),
    "period_end": st.column_config.TextColumn("Period end"),
    "breakdown": st.column_config.TextColumn("Breakdown"),
    "value": st.column_config.NumberColumn("Value", format="%.2f"),
    "unit": st.column_config.TextColumn("Unit"),
    "status": st.column_config.TextColumn("Status"),
    "ci_lower": st.column_config.NumberColumn("95% CI lower", format="%.2f"),
    "ci_upper": st.column_config.NumberColumn("95% CI upper", format="%.2f"),
    "dataset": st.column_config.TextColumn("Dataset"),
    "source_url": st.column_config.LinkColumn("Source URL"),
    "release_date": st.column_config.TextColumn("Released"),
    "licence": st.column_config.TextColumn("Licence"),
}

CATALOGUE_COLUMN_CONFIG = {
    "Dataset": st.column_config.TextColumn("Dataset", width="large"),
    "Publisher": st.column_config.TextColumn("Publisher", width="medium"),
    "Spatial availability": st.column_config.TextColumn("Spatial availability", width="medium"),
    "Source URL": st.column_config.LinkColumn("Source URL", display_text="publisher page"),
    "Stale": st.column_config.CheckboxColumn("Stale", help="Latest data older than 1.5 × its publication cycle"),
    "Days since latest": st.column_config.NumberColumn("Days since latest", format="%d"),
}


def download_selection(v: state.ViewState) -> dict:
    """export_rows keyword arguments for the view (the same filters `python -m lmi export` takes)."""
    return {
        "measures": (v.measure,),
        "areas": (v.area, *(v.comparators or ())) if v.dl_areas == "selection" else None,
        "level": v.level if v.dl_areas == "level" else None,
        "period": v.period if v.dl_periods == "one" else None,
    }


def cli_command(sel: dict) -> str:
    """The `python -m lmi export` command that produces the same rows."""
    import shlex

    parts = ["python", "-m", "lmi", "export"]
    for m in sel.get("measures") or ():
        parts += ["--measure", m]
    if sel.get("level"):
        parts += ["--level", sel["level"]]
    for a in sel.get("areas") or ():
        parts += ["--area", a]
    if sel.get("period"):
        parts += ["--period", sel["period"]]
    return " ".join(shlex.quote(p) for p in parts)


def csv_payload(rows: pd.DataFrame) -> Callable[[], bytes]:
    """Deferred CSV bytes for st.download_button (built on click, off the script thread)."""
    from lmi import export

    return lambda: export.to_csv(rows)


def xlsx_payload(rows: pd.DataFrame) -> Callable[[], bytes]:
    """Deferred XLSX bytes (data + metadata sheet with sources, licences, attribution)."""
    from lmi import export

    d = db()
    return lambda: export.to_xlsx(rows, export.metadata_for(d, rows))


def catalogue_table() -> pd.DataFrame:
    """The dataset catalogue with the UKCES labels, for display."""
    cat = q("catalogue", today=date.today())
    return pd.DataFrame({
        "Dataset": cat["title"], "Publisher": cat["publisher"], "Topic (classification)": cat["topic"],
        "Regularity": cat["regularity"], "Latest period": cat["latest_period"],
        "Release date": cat["release_date"], "Spatial availability": cat["spatial_levels"],
        "Licence": cat["licence"], "Stale": cat["stale"].astype(bool),
        "Days since latest": pd.to_numeric(cat["days_since_latest"], errors="coerce"),
        "Source URL": cat["source_url"], "Dataset id": cat["id"],
    })


def attributions() -> list[str]:
    """Distinct licence + attribution lines of the datasets in the catalogue."""
    cat = q("catalogue", today=date.today())
    seen: dict[str, None] = {}
    for lic, att in zip(cat["licence"], cat["attribution"]):
        text = str(att) if "licen" in str(att).lower() else f"{att} Licence: {lic}."
        seen.setdefault(text, None)
    return list(seen)
