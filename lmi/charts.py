"""Pure plotly figure builders (and the small data shaping they need) for the dashboard.

Every figure has a descriptive title (what, where, when), labelled axes with units, a colour-blind-safe
palette (cividis for maps; Okabe-Ito for lines and bars) and hover text with name, code, value, unit
and status. Missing or suppressed values are never drawn as zero: maps show them in grey (explained
in the legend), lines break at them.
"""
from __future__ import annotations

import json
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lmi.headlines import fmt_value

# Okabe & Ito (2008) colour-blind-safe qualitative palette (black dropped: used for outlines).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#5f5f5f")
MISSING_GREY = "#b8b8b8"
SEQUENTIAL = "cividis"
FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=14, color="#1b1b1b")
STATUS_TEXT = {
    "ok": "published", "derived": "derived (summed or weighted from local authorities)",
    "partial": "partial (some local authorities missing)", "suppressed": "suppressed by the publisher",
    "unreliable": "unreliable (sample too small)", "missing": "not available",
    "not_comparable": "not comparable", None: "not available",
}


def status_text(status: object, reason: object = None) -> str:
    base = STATUS_TEXT.get(status if isinstance(status, str) else None, str(status))
    if isinstance(reason, str) and reason and status not in ("ok",):
        return f"{base}: {reason}"
    return base


def axis_title(label: str, unit: str) -> str:
    return f"{label} ({unit})" if unit else label


def chart_title(what: str, where: str, when: str | None) -> str:
    """'What, where, when' — e.g. 'Claimant Count (%), local authorities in England, 2025'."""
    return ", ".join(p for p in (what, where, when) if p)


def wrap_title(title: str, width: int = 95) -> str:
    """Break a long title into lines (plotly titles do not wrap by themselves)."""
    import textwrap

    return "<br>".join(textwrap.wrap(title, width)) if len(title) > width else title


def legend_title(label: str, unit: str) -> str:
    """A colour-bar title short enough to fit: 'label (unit)', or just the unit for long labels."""
    full = axis_title(label, unit)
    return full if len(full) <= 32 else (unit or label[:32])


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=wrap_title(title), x=0, xanchor="left", font=dict(size=18)), template="plotly_white",
                      font=FONT, height=height, margin=dict(l=10, r=10, t=60, b=10), hoverlabel=dict(font_size=14),
                      legend=dict(orientation="h", yanchor="top", y=-0.08, x=0))
    return fig


# --- maps ------------------------------------------------------------------------------------------
def feature_collection(boundaries: pd.DataFrame, code_col: str = "lad_code") -> dict:
    """A GeoJSON FeatureCollection from rows with a code and a map_geojson geometry string."""
    feats = [{"type": "Feature", "id": code, "properties": {}, "geometry": json.loads(geom)}
             for code, geom in zip(boundaries[code_col], boundaries["map_geojson"]) if isinstance(geom, str)]
    return {"type": "FeatureCollection", "features": feats}


def geojson_data_url(collection: dict) -> str:
    """The FeatureCollection as a ``data:`` URL. Plotly accepts a URL string for ``geojson`` and the browser
    decodes it once per page (cached by URL), so the Python side handles one string instead of deep-copying
    and re-encoding thousands of coordinate lists on every rerun."""
    import base64

    raw = json.dumps(collection, separators=(",", ":")).encode()
    return "data:application/json;base64," + base64.b64encode(raw).decode("ascii")


def map_frame(areas: pd.DataFrame, values: pd.DataFrame, unit: str, decimals: int,
              code_col: str = "lad_code", name_col: str = "lad_name") -> pd.DataFrame:
    """Every mapped area with its value (NaN when none), value text and status text, sorted by name."""
    base = areas[[code_col, name_col]].rename(columns={code_col: "area_code", name_col: "area_name"})
    cols = ["area_code", "value", "status", "status_reason"]
    vals = values[cols] if len(values) else pd.DataFrame(columns=cols)
    out = base.merge(vals, on="area_code", how="left")
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    out["status"] = out["status"].where(out["status"].notna(), "missing")
    out["value_text"] = [fmt_value(v, unit, decimals) for v in out["value"]]
    out["status_text"] = [status_text(s, r) for s, r in zip(out["status"], out["status_reason"])]
    return out.sort_values("area_name", kind="stable").reset_index(drop=True)


def _hover(unit: str) -> str:
    return ("<b>%{customdata[0]}</b> (%{customdata[1]})<br>Value: %{customdata[2]}<br>"
            "Status: %{customdata[3]}<extra></extra>")


def _zoom(bbox: tuple[float, float, float, float], height: int, width: int | None = None) -> dict:
    """Centre and projection scale that fit ``bbox`` (with a margin) in the whole frame, so the map is
    zoomed without being clipped to the box (lon/lat axis ranges would crop the drawing area)."""
    import math

    lon0, lat0, lon1, lat1 = bbox
    width = width or int(height * 0.8)  # plotly keeps the geo frame near-square: fit the box inside it
    merc = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    lon_span = max(lon1 - lon0, 0.3) * 1.5
    y_span = max(merc(lat1) - merc(lat0), 0.005) * 1.5
    # at projection_scale 1 plotly's mercator frame spans the full 2π of projected height; the width
    # follows from the frame's aspect ratio
    scale = min(2 * math.pi / y_span, (width / height) * 2 * math.pi / math.radians(lon_span))
    return dict(center=dict(lon=(lon0 + lon1) / 2, lat=(lat0 + lat1) / 2), projection_scale=scale)


def choropleth(frame: pd.DataFrame, geojson: dict | str, *, title: str, legend_title: str,
               bbox: tuple[float, float, float, float] | None = None, highlight: dict | None = None,
               height: int = 640) -> go.Figure:
    """Areas coloured by value (cividis); areas without a value in grey with a legend entry;
    ``highlight`` (a GeoJSON FeatureCollection) outlined in black; zoomed to ``bbox`` when given."""
    have = frame[frame["value"].notna()]
    none = frame[frame["value"].isna()]
    fig = go.Figure()
    cd = ["area_name", "area_code", "value_text", "status_text"]
    if len(have):
        fig.add_trace(go.Choropleth(
            geojson=geojson, locations=have["area_code"], z=have["value"], featureidkey="id",
            colorscale=SEQUENTIAL, marker_line_color="white", marker_line_width=0.4,
            customdata=have[cd].to_numpy(), hovertemplate=_hover(""), name="Value",
            colorbar=dict(title=dict(text=legend_title, side="right"), thickness=16, len=0.75, x=1.0),
        ))
    if len(none):
        fig.add_trace(go.Choropleth(
            geojson=geojson, locations=none["area_code"], z=[0] * len(none), featureidkey="id",
            colorscale=[[0, MISSING_GREY], [1, MISSING_GREY]], showscale=False, showlegend=True,
            marker_line_color="white", marker_line_width=0.4, customdata=none[cd].to_numpy(),
            hovertemplate=_hover(""), name=f"Grey: no value (suppressed or not published), {len(none)} areas",
        ))
    if highlight and highlight.get("features"):
        ids = [f["id"] for f in highlight["features"]]
        highlight = highlight if len(json.dumps(highlight)) < 200_000 else geojson_data_url(highlight)
        fig.add_trace(go.Choropleth(
            geojson=highlight, locations=ids, z=[0] * len(ids), featureidkey="id",
            colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]], showscale=False, showlegend=True,
            marker_line_color="#000000", marker_line_width=2.5, hoverinfo="skip", name="Selected area (outline)",
        ))
    geo = dict(visible=False, projection_type="mercator", bgcolor="rgba(0,0,0,0)")
    if bbox is not None:
        geo.update(**_zoom(bbox, height))
    else:
        geo.update(fitbounds="locations")
    fig.update_geos(**geo)
    _layout(fig, title, height)
    fig.update_layout(clickmode="event+select", dragmode=False, margin=dict(l=10, r=10, t=60, b=70),
                      legend=dict(y=-0.01, yanchor="top", x=0, orientation="h", bgcolor="rgba(255,255,255,0)"))
    return fig


def hex_map(frame: pd.DataFrame, cells: pd.DataFrame, *, title: str, legend_title: str,
            selected: str | None = None, height: int = 680) -> go.Figure:
    """Equal-area hex cartogram: one hexagon per LAD at (hex_col, hex_row) of an odd-r grid."""
    df = frame.merge(cells[["lad_code", "hex_col", "hex_row"]].rename(columns={"lad_code": "area_code"}),
                     on="area_code", how="inner")
    df["x"] = df["hex_col"] + 0.5 * (df["hex_row"] % 2)
    df["y"] = df["hex_row"] * 0.866
    rows = max(1.0, float(df["y"].max() - df["y"].min()) + 1.5) if len(df) else 1.0
    size = max(8.0, (height - 110) / rows * 1.12)
    cd = ["area_name", "area_code", "value_text", "status_text"]
    have, none = df[df["value"].notna()], df[df["value"].isna()]
    fig = go.Figure()
    if len(have):
        fig.add_trace(go.Scatter(
            x=have["x"], y=have["y"], mode="markers", name="Value", customdata=have[cd].to_numpy(),
            hovertemplate=_hover(""), showlegend=False,
            marker=dict(symbol="hexagon", size=size, color=have["value"], colorscale=SEQUENTIAL,
                        line=dict(color="white", width=1),
                        colorbar=dict(title=dict(text=legend_title, side="right"), thickness=16, len=0.75)),
        ))
    if len(none):
        fig.add_trace(go.Scatter(
            x=none["x"], y=none["y"], mode="markers", customdata=none[cd].to_numpy(), hovertemplate=_hover(""),
            name=f"Grey: no value (suppressed or not published), {len(none)} areas",
            marker=dict(symbol="hexagon", size=size, color=MISSING_GREY, line=dict(color="white", width=1)),
        ))
    if selected is not None and (sel := df[df["area_code"] == selected]).shape[0]:
        fig.add_trace(go.Scatter(
            x=sel["x"], y=sel["y"], mode="markers", hoverinfo="skip", name="Selected area (outline)",
            marker=dict(symbol="hexagon-open", size=size, color="#000000", line=dict(width=3, color="#000000")),
        ))
    fig.update_xaxes(visible=False, scaleanchor="y", scaleratio=1)
    fig.update_yaxes(visible=False)
    _layout(fig, title, height)
    fig.update_layout(clickmode="event+select", dragmode=False, plot_bgcolor="white",
                      legend=dict(y=0.98, yanchor="top", x=0, orientation="v"))
    return fig


# --- time series -----------------------------------------------------------------------------------
def series_frame(ts: pd.DataFrame, base: str | None = None, roll: bool = False, window: int = 3) -> pd.DataFrame:
    """Shape a time series for plotting: one row per area and period of the measure (periods an area
    lacks are added as gaps), optional rolling mean (needs ``window`` consecutive values; a gap stays a
    gap) and optional index (base period = 100; CI scaled alike)."""
    cols = ["area_code", "area_name", "period", "period_start", "period_end", "value", "ci_lower", "ci_upper",
            "status", "status_reason"]
    if ts is None or ts.empty:
        return pd.DataFrame(columns=cols + ["x"])
    df = ts[cols].copy()
    for c in ("value", "ci_lower", "ci_upper"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["period_start"] = pd.to_datetime(df["period_start"])
    df["period_end"] = pd.to_datetime(df["period_end"])
    periods = df[["period", "period_start", "period_end"]].drop_duplicates("period").sort_values("period_start")
    areas = df[["area_code", "area_name"]].drop_duplicates("area_code")
    grid = areas.merge(periods, how="cross")
    df = grid.merge(df.drop(columns=["area_name", "period_start", "period_end"]), on=["area_code", "period"],
                    how="left")
    df["status"] = df["status"].where(df["status"].notna(), "missing")
    order = {c: i for i, c in enumerate(areas["area_code"])}
    df = df.sort_values(["area_code", "period_start"], key=lambda s: s.map(order) if s.name == "area_code" else s)
    if roll:
        df["value"] = df.groupby("area_code", sort=False)["value"].transform(
            lambda s: s.rolling(window, min_periods=window).mean())
        df[["ci_lower", "ci_upper"]] = np.nan
    if base is not None:
        b = df[df["period"] == base].set_index("area_code")["value"]
        denom = df["area_code"].map(b)
        denom = denom.where(denom != 0)
        for c in ("value", "ci_lower", "ci_upper"):
            df[c] = df[c] / denom * 100
    df["x"] = df["period_start"] + (df["period_end"] - df["period_start"]) / 2
    return df.reset_index(drop=True)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def line_chart(frame: pd.DataFrame, *, title: str, y_title: str, unit: str, decimals: int,
               indexed: bool = False, height: int = 520) -> go.Figure:
    """One line per area (the selected area first and thicker); gaps where values are missing;
    95% confidence bands where the source gives them."""
    fig = go.Figure()
    for i, (code, g) in enumerate(frame.groupby("area_code", sort=False)):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        name = str(g["area_name"].iloc[0])
        if g["ci_lower"].notna().any() and g["ci_upper"].notna().any():
            fig.add_trace(go.Scatter(x=g["x"], y=g["ci_upper"], mode="lines", line=dict(width=0), hoverinfo="skip",
                                     showlegend=False, legendgroup=code, connectgaps=False))
            fig.add_trace(go.Scatter(x=g["x"], y=g["ci_lower"], mode="lines", line=dict(width=0), hoverinfo="skip",
                                     fill="tonexty", fillcolor=_rgba(colour, 0.18), legendgroup=code,
                                     name=f"{name}: 95% confidence interval", connectgaps=False))
        shown = "index" if indexed else unit
        text = [("n/a" if v is None or (isinstance(v, float) and math.isnan(v))
                 else (f"{v:,.1f}" if indexed else fmt_value(v, unit, decimals))) for v in g["value"]]
        stat = [status_text(s, r) for s, r in zip(g["status"], g["status_reason"])]
        fig.add_trace(go.Scatter(
            x=g["x"], y=g["value"], mode="lines+markers", name=name, legendgroup=code, connectgaps=False,
            line=dict(color=colour, width=3.5 if i == 0 else 2, dash="solid" if i < 4 else "dash"),
            marker=dict(size=7 if i == 0 else 5, symbol=["circle", "square", "diamond", "triangle-up",
                                                          "cross", "x", "star"][i % 7]),
            customdata=np.column_stack([g["period"], [name] * len(g), text, stat]),
            hovertemplate="<b>%{customdata[1]}</b>, %{customdata[0]}<br>Value: %{customdata[2]}"
                          + ("" if not indexed else f" (index; {shown})")
                          + "<br>Status: %{customdata[3]}<extra></extra>",
        ))
    if indexed:
        fig.add_hline(y=100, line_dash="dot", line_color="#5f5f5f")
    _layout(fig, title, height)
    fig.update_layout(margin=dict(l=10, r=10, t=60, b=20), legend=dict(y=-0.2, yanchor="top"))
    fig.update_xaxes(title_text="Period (plotted at the middle of each period)", showgrid=True)
    fig.update_yaxes(title_text=y_title, rangemode="tozero" if not indexed else "normal")
    return fig


# --- bars ------------------------------------------------------------------------------------------
def bar_chart(frame: pd.DataFrame, *, label_col: str, title: str, x_title: str, unit: str, decimals: int,
              highlight: str | None = None, height: int | None = None) -> go.Figure:
    """Horizontal bars (one per row, in the given order) with 95% CI error bars where given; rows
    without a value are listed with a 'no value' note instead of a zero-length bar."""
    df = frame.copy()
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    for c in ("ci_lower", "ci_upper"):
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df else np.nan
    labels = [str(x) if pd.notna(v) else f"{x} (no value)" for x, v in zip(df[label_col], df["value"])]
    colours = [OKABE_ITO[0] if (highlight is not None and str(x) == highlight) else "#7aa6c9"
               for x in df[label_col]]
    err = None
    if df["ci_lower"].notna().any():
        err = dict(type="data", symmetric=False, array=(df["ci_upper"] - df["value"]).tolist(),
                   arrayminus=(df["value"] - df["ci_lower"]).tolist(), color="#1b1b1b", thickness=1.5)
    stat = [status_text(s, r) for s, r in zip(df.get("status", [None] * len(df)),
                                               df.get("status_reason", [None] * len(df)))]
    text = [fmt_value(v, unit, decimals) for v in df["value"]]
    fig = go.Figure(go.Bar(
        x=df["value"], y=labels, orientation="h", marker_color=colours, error_x=err, text=text,
        textposition="auto", customdata=np.column_stack([labels, text, stat]) if len(df) else None,
        hovertemplate="<b>%{customdata[0]}</b><br>Value: %{customdata[1]}<br>Status: %{customdata[2]}<extra></extra>",
    ))
    _layout(fig, title, height or max(260, 60 + 38 * len(df)))
    fig.update_yaxes(autorange="reversed", title_text="")
    fig.update_xaxes(title_text=x_title, rangemode="tozero")
    fig.update_layout(showlegend=False)
    return fig


# --- tables shown next to charts -------------------------------------------------------------------
def compare_frame(rows: pd.DataFrame, codes: Sequence[str], name_of) -> pd.DataFrame:
    """One row per requested area in the requested order; areas without a row get value NaN, status
    'missing' (so they show as 'no value', never as zero)."""
    cols = ["area_code", "area_name", "period", "value", "unit", "status", "status_reason", "ci_lower", "ci_upper"]
    have = {r["area_code"]: r for r in rows.to_dict("records")} if len(rows) else {}
    out = []
    for c in dict.fromkeys(codes):
        r = have.get(c)
        out.append({k: r.get(k) for k in cols} if r else
                   {"area_code": c, "area_name": name_of(c), "period": None, "value": np.nan, "unit": None,
                    "status": "missing", "status_reason": "no published value", "ci_lower": np.nan,
                    "ci_upper": np.nan})
    return pd.DataFrame(out, columns=cols)


def table_view(frame: pd.DataFrame, unit: str, label_col: str = "area_name") -> pd.DataFrame:
    """The data behind a chart as a readable table: name, code, period, value, unit, status, CI."""
    out = pd.DataFrame({
        "Area": frame[label_col] if label_col in frame else frame["area_name"],
        "Code": frame["area_code"] if "area_code" in frame else None,
    })
    if "period" in frame:
        out["Period"] = frame["period"]
    out["Value"] = pd.to_numeric(frame["value"], errors="coerce")
    out["Unit"] = unit
    out["Status"] = [status_text(s, r) for s, r in zip(frame.get("status", [None] * len(frame)),
                                                        frame.get("status_reason", [None] * len(frame)))]
    for c, lab in (("ci_lower", "95% CI lower"), ("ci_upper", "95% CI upper")):
        if c in frame and pd.to_numeric(frame[c], errors="coerce").notna().any():
            out[lab] = pd.to_numeric(frame[c], errors="coerce")
    return out.reset_index(drop=True)


MAP_LEVELS = ("lad", "lep", "lsip", "ca", "region")


def map_level(levels: Sequence[str]) -> str | None:
    """The finest level a measure can be mapped at (LAD when published for LADs)."""
    return next((lv for lv in MAP_LEVELS if lv in levels), None)


def subset_features(collection: dict, codes: Iterable[str]) -> dict:
    """The features of a FeatureCollection whose id is in ``codes``."""
    want = set(codes)
    return {"type": "FeatureCollection", "features": [f for f in collection["features"] if f["id"] in want]}
