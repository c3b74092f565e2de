"""Pure plotly builders (and the small data shaping they need) for the career-clusters page.

* :func:`pathway_figure` - the pathway as a left-to-right diagram: one column per step, one circle per
  occupation (SOC 2020 unit group), circle area proportional to local demand, colour = location quotient
  against England on a diverging colour-blind-safe scale (ColorBrewer PuOr, log scale centred on LQ 1),
  arrows for the usual next steps. Occupations without a local figure are hollow grey circles with the
  reason in the hover text and a legend entry: never drawn as zero.
* :func:`comparison_figure` - share of all local adverts in each step, the area against its comparators
  and England (grouped bars; areas without figures are named as such in the legend, not drawn as zero).
* :func:`pathway_table`, :func:`comparison_table` - the same numbers as readable tables.

No Streamlit and no database access here.
"""
from __future__ import annotations

import math
import textwrap
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lmi.charts import FONT, OKABE_ITO, status_text

LQ_COLOURSCALE = "PuOr"          # ColorBrewer PuOr: colour-blind safe; orange = below England, purple = above
LQ_RANGE = 2.0                   # colour saturates at LQ <= 1/2 and >= 2 (log2 scale -1..1)
LQ_TICKS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)
MAX_PX, MIN_PX = 46.0, 8.0       # circle diameters (largest value, floor for tiny values)
EDGE = "rgba(60,60,60,0.45)"
NO_FIGURE_GREY = "#8a8a8a"       # outline of the hollow circle drawn for occupations without a local figure
ROW_PX = 62                      # vertical space per occupation in the tallest step


# --- small formatting helpers ----------------------------------------------------------------------
def _ok(x: object) -> bool:
    try:
        return x is not None and not math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def fmt_count(x: object) -> str:
    """Adverts/persons: whole numbers with separators ('n/a' when missing); below 10 one decimal."""
    if not _ok(x):
        return "n/a"
    v = float(x)
    return f"{v:,.1f}" if abs(v) < 10 else f"{v:,.0f}"


ESTIMATE_TEXT = "ESTIMATE (not published): local sub-major adverts x England unit-group share"


def row_status(status: object, reason: object) -> str:
    """Status text for a row of the page's tables: estimates are labelled as such; missing cells give a reason."""
    if reason == "estimate":
        return ESTIMATE_TEXT
    return status_text(status, reason)


def fmt_pct(x: object) -> str:
    return f"{100 * float(x):.2f}%" if _ok(x) else "n/a"


def fmt_lq(x: object) -> str:
    return f"{float(x):.2f}" if _ok(x) else "n/a"


def lq_colour_value(lq: object) -> float:
    """log2(LQ) clipped to the colour range (NaN when missing)."""
    if not _ok(lq) or float(lq) <= 0:
        return math.nan
    lim = math.log2(LQ_RANGE)
    return max(-lim, min(lim, math.log2(float(lq))))


def node_sizes(values: Sequence[float], max_px: float = MAX_PX, min_px: float = MIN_PX) -> list[float]:
    """Circle diameters with area proportional to value (largest = ``max_px``); floored at ``min_px``;
    NaN for missing values."""
    vals = [float(v) if _ok(v) else math.nan for v in values]
    top = max([v for v in vals if not math.isnan(v)] or [0.0])
    out = []
    for v in vals:
        if math.isnan(v):
            out.append(math.nan)
        elif top <= 0:
            out.append(min_px)
        else:
            out.append(max(min_px, max_px * math.sqrt(max(v, 0.0) / top)))
    return out


def wrap(text: str, width: int = 26, lines: int = 3) -> str:
    parts = textwrap.wrap(str(text), width=width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: width - 1].rstrip() + "…"
    return "<br>".join(parts)


def layout_positions(nodes: pd.DataFrame) -> pd.DataFrame:
    """x = step number; y = position within the step (first occupation on top, columns centred)."""
    out = nodes.copy()
    out["x"] = out["step"].astype(float)
    out["y"] = 0.0
    for _, idx in out.groupby("step", sort=False).groups.items():
        n = len(idx)
        for i, j in enumerate(idx):
            out.loc[j, "y"] = (n - 1) / 2 - i
    return out


def step_tick(step: int, name: str, rqf: int, width: int = 24) -> str:
    return f"<b>Step {step} · RQF level {rqf}</b><br>{wrap(name, width, 4)}"


def title_font(title: str, width_px: int = 940, largest: int = 17, smallest: int = 12) -> int:
    """A font size that fits a one-line title into about ``width_px`` (plotly does not wrap titles; the
    title is kept on one line because the page also uses it as the label of the data-table expander)."""
    return max(smallest, min(largest, int(width_px / (0.52 * max(len(title), 1)))))


# --- the pathway diagram ---------------------------------------------------------------------------
def _hover_rows(df: pd.DataFrame, value_label: str, sources: str) -> list[str]:
    out = []
    for r in df.to_dict("records"):
        lines = [f"<b>SOC 2020 {r['soc']}: {r['title']}</b>",
                 f"Step {r['step']}: {r['step_name']} · typical qualification RQF level {r['rqf_level']}"]
        if _ok(r.get("value")):
            lines += [f"{value_label} (ESTIMATE): {fmt_count(r['value'])} ({r.get('period') or 'n/a'})",
                      f"Share of all local adverts: {fmt_pct(r.get('share'))} "
                      f"(England {fmt_pct(r.get('england_share'))})",
                      f"Location quotient vs England: {fmt_lq(r.get('lq'))} (sub-major group {r['submajor']})"]
        else:
            lines.append(f"{value_label}: no figure - {status_text(r.get('status'), r.get('status_reason'))}")
        if _ok(r.get("submajor_value")):
            lines.append(f"Published adverts, sub-major {r['submajor']} (whole group): "
                         f"{fmt_count(r['submajor_value'])}")
        emp = r.get("employment_value")
        if r.get("employment_status") is not None:
            emp_text = fmt_count(emp) if _ok(emp) else f"no figure ({r.get('employment_status')})"
            lines.append(f"In employment (APS), sub-major {r['submajor']} (whole group, "
                         f"{r.get('employment_period') or 'n/a'}): {emp_text}")
        if r.get("next"):
            lines.append(f"Usual next steps: {r['next']}")
        lines.append(wrap(f"Sources: {sources}", 90, 3))
        out.append("<br>".join(lines))
    return out


def pathway_figure(nodes: pd.DataFrame, *, title: str, value_label: str = "Estimated local job adverts",
                   sources: str = "", height: int | None = None, selected: str | None = None,
                   compact: bool = False) -> go.Figure:
    """The pathway diagram for one cluster and area.

    ``nodes``: one row per occupation with columns step, step_name, rqf_level, soc, title, next
    (comma-separated SOC codes), value, share, england_share, lq, status, status_reason, period, submajor
    (as :func:`lmi.cluster_demand.occupation_demand` returns). ``customdata[0]`` of every point is the SOC
    code (used by the page to select an occupation on click). ``compact`` puts each label on one line (for
    presentation mode, where the figure gets a fixed height).
    """
    df = layout_positions(nodes.reset_index(drop=True))
    df["size"] = node_sizes(df["value"].tolist())
    df["colour"] = [lq_colour_value(v) for v in df["lq"]]
    df["hover"] = _hover_rows(df, value_label, sources)
    pos = {r.soc: (r.x, r.y, r.size if _ok(r.size) else MIN_PX * 1.8) for r in df.itertuples()}
    fig = go.Figure()
    # arrows first, so circles and labels sit on top
    for r in df.itertuples():
        for nxt in [c.strip() for c in str(r.next or "").split(",") if c.strip()]:
            if nxt not in pos:
                continue
            x0, y0, s0 = pos[r.soc]
            x1, y1, s1 = pos[nxt]
            if x0 == x1:   # same step: a curve bulging to the left, arrowhead at the end
                cx, cy = x0 - 0.22, (y0 + y1) / 2
                fig.add_shape(type="path", path=f"M {x0},{y0} Q {cx},{cy} {x1},{y1}",
                              line=dict(color=EDGE, width=1.3), layer="below")
                t = 0.8   # arrowhead along the curve's last stretch
                bx = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t ** 2 * x1
                by = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1
                fig.add_annotation(x=x1, y=y1, ax=bx, ay=by, xref="x", yref="y", axref="x", ayref="y", text="",
                                   showarrow=True, arrowhead=2, arrowsize=1.1, arrowwidth=1.3, arrowcolor=EDGE,
                                   standoff=s1 / 2 + 1)
                continue
            fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                               showarrow=True, arrowhead=2, arrowsize=1.1, arrowwidth=1.3, arrowcolor=EDGE,
                               standoff=s1 / 2 + 1, startstandoff=s0 / 2)
    have = df[df["size"].notna() & df["colour"].notna()]
    nolq = df[df["size"].notna() & df["colour"].isna()]
    none = df[df["size"].isna()]
    lim = math.log2(LQ_RANGE)
    ticks = [math.log2(t) for t in LQ_TICKS]
    ticktext = [("≤ " if t == LQ_TICKS[0] else "≥ " if t == LQ_TICKS[-1] else "") + f"{t:g}" for t in LQ_TICKS]
    if len(have):
        fig.add_trace(go.Scatter(
            x=have["x"], y=have["y"], mode="markers", name="Occupation (circle area = estimated local adverts)",
            customdata=np.column_stack([have["soc"], have["hover"]]), hovertemplate="%{customdata[1]}<extra></extra>",
            marker=dict(size=have["size"], color=have["colour"], colorscale=LQ_COLOURSCALE, cmin=-lim, cmax=lim,
                        cmid=0, line=dict(color="#333333", width=1.2), opacity=1,
                        colorbar=dict(title=dict(text="Location quotient vs England<br>(1 = same share of local "
                                                      "adverts as in England)", side="top", font=dict(size=12)),
                                      orientation="h", tickvals=ticks, ticktext=ticktext, thickness=14, len=0.5,
                                      x=0, xanchor="left", y=-0.02, yanchor="top")),
            showlegend=True,
        ))
    if len(nolq):
        fig.add_trace(go.Scatter(
            x=nolq["x"], y=nolq["y"], mode="markers", name="No location quotient (England share missing)",
            customdata=np.column_stack([nolq["soc"], nolq["hover"]]), hovertemplate="%{customdata[1]}<extra></extra>",
            marker=dict(size=nolq["size"], color="white", line=dict(color="#333333", width=1.2))))
    if len(none):
        fig.add_trace(go.Scatter(
            x=none["x"], y=none["y"], mode="markers",
            name=f"Hollow grey: no local figure (suppressed or not published), {len(none)} occupation(s)",
            customdata=np.column_stack([none["soc"], none["hover"]]), hovertemplate="%{customdata[1]}<extra></extra>",
            marker=dict(size=MIN_PX * 1.8, color=NO_FIGURE_GREY, symbol="circle-open-dot", line=dict(width=2))))
    if selected is not None and selected in pos:
        x, y, s = pos[selected]
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", hoverinfo="skip", name="Selected occupation",
                                 marker=dict(size=s + 10, color="rgba(0,0,0,0)", line=dict(color="#000000", width=3))))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=EDGE, width=1.5),
                             name="→ usual next step", hoverinfo="skip"))
    # labels as annotations with a translucent background, drawn over the arrows
    for r in df.itertuples():
        val = f"<i>≈ {fmt_count(r.value)}</i>" if _ok(r.value) else "<i>no figure</i>"
        rad = (r.size if _ok(r.size) else MIN_PX * 1.8) / 2
        name = wrap(f"{r.soc} {r.title}", 40 if compact else 24, 1 if compact else 2)
        name = f"<b>{r.soc}</b>{name[len(r.soc):]}"
        fig.add_annotation(x=r.x, y=r.y, xref="x", yref="y", text=f"{name}{' ' if compact else '<br>'}{val}",
                           showarrow=False, xanchor="left", xshift=rad + 3, align="left", font=dict(size=11),
                           bgcolor="rgba(255,255,255,0.85)", borderpad=1)
    steps = df.drop_duplicates("step").sort_values("step")
    n_max = int(df.groupby("step").size().max()) if len(df) else 1
    span = max(1.0, (n_max - 1) / 2)
    fig.update_xaxes(range=[0.75, float(steps["step"].max()) + 0.9], tickmode="array", tickangle=0,
                     tickvals=steps["step"].astype(float).tolist(), tickfont=dict(size=12),
                     ticktext=[step_tick(int(s.step), s.step_name, int(s.rqf_level)) for s in steps.itertuples()],
                     side="top", showgrid=True, gridcolor="#eeeeee", zeroline=False,
                     title=dict(text="Pathway step, entry to professional (typical qualification level, RQF 1-8)",
                                standoff=8, font=dict(size=13)))
    fig.update_yaxes(range=[-span - 0.6, span + 0.6], showticklabels=False, showgrid=False, zeroline=False,
                     title=dict(text="Occupations in the step (SOC 2020 unit groups)", font=dict(size=13)))
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", y=0.985, yanchor="top", yref="container",
                   font=dict(size=title_font(title))),
        template="plotly_white", font=FONT, height=height or int(max(560, 330 + ROW_PX * n_max)),
        margin=dict(l=10, r=10, t=165, b=120), hoverlabel=dict(font_size=13, align="left"),
        clickmode="event+select", dragmode=False, plot_bgcolor="white",
        legend=dict(orientation="v", yanchor="top", y=-0.02, x=0.6, xanchor="left", itemsizing="constant",
                    font=dict(size=12)))
    return fig


# --- comparison with England and comparators -------------------------------------------------------
def comparison_figure(frame: pd.DataFrame, *, title: str, y_title: str, height: int = 540) -> go.Figure:
    """Grouped bars: share (%) of all local adverts in each step, one colour per area (frame order).

    ``frame``: rows of :func:`lmi.cluster_demand.step_estimates` for several areas. Areas with no figure
    for a step get no bar (never a zero bar) and the legend says which steps are missing.
    """
    fig = go.Figure()
    steps = frame.drop_duplicates("step").sort_values("step")
    labels = {int(s.step): step_tick(int(s.step), s.step_name, int(s.rqf_level), 20) for s in steps.itertuples()}
    for i, (code, g) in enumerate(frame.groupby("area_code", sort=False)):
        g = g.sort_values("step")
        name = f"{g['area_name'].iloc[0]} ({code})"
        missing = g[g["share"].isna()]
        if len(missing) == len(g):
            name += " - no figures: " + status_text(missing["status"].iloc[0], missing["status_reason"].iloc[0])
        elif len(missing):
            name += f" - no figure for step(s) {', '.join(str(int(s)) for s in missing['step'])}"
        hover = [f"<b>{name.split(' - ')[0]}</b><br>Step {int(r.step)}: {r.step_name}<br>"
                 f"Estimated adverts (ESTIMATE): {fmt_count(r.value)} ({r.period or 'n/a'})<br>"
                 f"Share of all adverts in the area: {fmt_pct(r.share)}<br>Location quotient vs England: {fmt_lq(r.lq)}"
                 f"<br>Status: {row_status(r.status, r.status_reason)}" for r in g.itertuples()]
        fig.add_trace(go.Bar(
            x=[labels[int(s)] for s in g["step"]], y=(g["share"] * 100).tolist(), name=name,
            marker_color=OKABE_ITO[i % len(OKABE_ITO)],
            marker_pattern_shape=["", "/", ".", "x", "-", "|", "+"][i % 7],
            text=[f"{100 * v:.1f}%" if _ok(v) else "" for v in g["share"]], textposition="outside",
            customdata=hover, hovertemplate="%{customdata}<extra></extra>"))
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", font=dict(size=title_font(title))),
                      template="plotly_white", font=FONT, height=height, barmode="group",
                      margin=dict(l=10, r=10, t=95, b=10), hoverlabel=dict(font_size=13),
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0, font=dict(size=12)))
    fig.update_yaxes(title_text=y_title, rangemode="tozero", ticksuffix="%")
    fig.update_xaxes(title_text="Pathway step (estimate from sub-major group adverts)", tickangle=0,
                     tickfont=dict(size=12))
    return fig


# --- tables ----------------------------------------------------------------------------------------
PATHWAY_TABLE_COLUMNS = {
    "step": "Step", "step_name": "Step name", "rqf_level": "RQF level", "soc": "SOC 2020 code",
    "title": "Occupation (SOC 2020 unit group)", "basis": "Basis", "period": "Period",
    "value": "Estimated local job adverts (estimate, 3-month average)",
    "share": "Share of all local adverts (%)", "england_share": "England share (%)",
    "lq": "Location quotient vs England", "status": "Status", "submajor": "Sub-major group",
    "submajor_value": "Published local adverts, whole sub-major group",
    "employment_value": "In employment (APS), whole sub-major group (persons)",
    "employment_period": "APS period", "employment_status": "APS status", "note": "Note",
}


def pathway_table(nodes: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind the diagram: one row per occupation (missing values stay empty with a status)."""
    df = nodes.copy()
    for c in ("share", "england_share"):
        df[c] = pd.to_numeric(df[c], errors="coerce") * 100
    df["status"] = [row_status(s, r) for s, r in zip(df["status"], df["status_reason"])]
    df["employment_status"] = [status_text(s, None) if s is not None else "not available"
                               for s in df["employment_status"]]
    out = df[list(PATHWAY_TABLE_COLUMNS)].rename(columns=PATHWAY_TABLE_COLUMNS)
    return out.reset_index(drop=True)


COMPARISON_TABLE_COLUMNS = {
    "area_name": "Area", "area_code": "Code", "step": "Step", "step_name": "Step name", "period": "Period",
    "basis": "Basis", "value": "Estimated adverts (estimate, 3-month average)",
    "share": "Share of all adverts in the area (%)", "lq": "Location quotient vs England", "status": "Status",
}


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.copy()
    df["share"] = pd.to_numeric(df["share"], errors="coerce") * 100
    df["status"] = [row_status(s, r) for s, r in zip(df["status"], df["status_reason"])]
    return df[list(COMPARISON_TABLE_COLUMNS)].rename(columns=COMPARISON_TABLE_COLUMNS).reset_index(drop=True)
