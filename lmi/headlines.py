"""Which measures make the area-profile tiles, how each tile is worked out, and the written summary.

This is the one place (besides the format modules) that names measure ids. A tile whose measure is
absent from the database is kept, marked unavailable, and shown with a visible "not available" note.
Everything here is pure: the app passes in rows it got from :mod:`lmi.queries`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd


@dataclass(frozen=True)
class TileSpec:
    key: str
    measure: str
    label: str
    note: str = ""
    sum_breakdown: str | None = None   # no all-categories total published: show the sum of this breakdown


TILES: tuple[TileSpec, ...] = (
    TileSpec("adverts", "datahub_job_adverts", "Online job adverts",
             note="3-month average; sum of all SOC 2020 major groups", sum_breakdown="soc2020_major"),
    TileSpec("adverts_rate", "adverts_per_1000_pop_16_64", "Adverts per 1,000 aged 16–64"),
    TileSpec("claimant", "els_claimant_count", "Claimant rate"),
    TileSpec("employment", "els_employment_rate", "Employment rate (16–64)"),
    TileSpec("level3", "els_level_3_or_above_qualifications", "Level 3+ qualified (16–64)"),
    # ESS 2019 is published for LEPs (and for upper-tier LEAs, where two-tier districts have no figure of
    # their own): the tile reports the LEP-table figure for the LEP containing the area, labelled so.
    TileSpec("ssv", "ess_lep_ssv_density", "Skill-shortage vacancy density",
             note="share of vacancies hard to fill for lack of skills; Employer Skills Survey 2019, LEP tables"),
    TileSpec("pop", "pop_16_64", "Population aged 16–64"),
)

# Measures the sidebar starts on when the URL names none (first one present wins).
DEFAULT_MEASURES: tuple[str, ...] = ("datahub_job_adverts", "els_claimant_count", "els_employment_rate", "pop_16_64")
# Measures for which the time-series page offers a 3-period rolling average.
ROLLING_TOPICS: tuple[str, ...] = ("Vacancies and job adverts",)

LEVEL_ORDER = ("lad", "ca", "lep", "lsip", "region", "england")
SHORT_LEVEL = {"lad": "Local authority", "lep": "LEP", "lsip": "LSIP area", "ca": "Combined authority",
               "region": "Region", "england": "England", "county": "County"}


@dataclass
class Tile:
    """One headline tile, ready to display."""

    key: str
    label: str
    measure: str
    available: bool
    note: str = ""
    area_code: str | None = None
    area_name: str | None = None
    area_label: str | None = None       # e.g. "LEP containing Barnsley: Sheffield City Region"
    period: str | None = None
    value: float | None = None
    unit: str = ""
    decimals: int = 0
    aggregation: str = ""
    status: str | None = None
    status_reason: str | None = None
    ci: tuple[float, float] | None = None
    previous_period: str | None = None
    change: float | None = None
    comparator_code: str | None = None
    comparator_name: str | None = None
    comparator_value: float | None = None
    comparator_ci: tuple[float, float] | None = None
    source: str = ""
    release_date: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def value_text(self) -> str:
        """The value for the tile: percentages with '%', other units left to the caption."""
        return fmt_value(self.value, self.unit if self.unit == "%" else "", self.decimals)

    @property
    def comparator_text(self) -> str:
        return fmt_value(self.comparator_value, self.unit, self.decimals)

    @property
    def is_count(self) -> bool:
        """Counts (summed measures) are compared as a share of the comparator, not higher/lower."""
        return self.aggregation == "sum"

    @property
    def share_of_comparator(self) -> float | None:
        if self.value is None or not self.comparator_value:
            return None
        return self.value / self.comparator_value * 100

    @property
    def change_text(self) -> str | None:
        if self.change is None:
            return None
        return fmt_change(self.change, self.unit, self.decimals) + f" since {self.previous_period}"


def _num(x: object) -> float | None:
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fmt_value(value: float | None, unit: str, decimals: int = 0) -> str:
    """A value with its unit: 3.2%, 118,400 persons, 12.5 per 1,000 ... ('n/a' when missing)."""
    v = _num(value)
    if v is None:
        return "n/a"
    d = max(0, int(decimals or 0))
    if unit == "%":
        return f"{v:,.{d}f}%"
    text = f"{v:,.{d}f}"
    return f"{text} {unit}" if unit else text


def fmt_change(change: float, unit: str, decimals: int = 0) -> str:
    """A signed change: +0.4 pp for percentages (percentage points), else +1,200 persons."""
    d = max(0, int(decimals or 0))
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    mag = f"{abs(change):,.{d}f}"
    if unit == "%":
        return f"{sign}{mag} pp"
    return f"{sign}{mag} {unit}".rstrip()


def tile_area(area: Mapping, measure_levels: Sequence[str], parents: pd.DataFrame) -> tuple[dict, str] | None:
    """The area a tile reports: the selected one if the measure exists at its level, else the smallest
    containing area that has it (e.g. the LEP containing a LAD), with a label saying so."""
    if area["area_level"] in measure_levels:
        return dict(area), str(area["area_name"])
    if parents is not None and len(parents):
        ranked = sorted(parents.to_dict("records"), key=lambda r: LEVEL_ORDER.index(r["area_level"])
                        if r["area_level"] in LEVEL_ORDER else 99)
        for p in ranked:
            if p["area_level"] in measure_levels:
                label = f"{SHORT_LEVEL.get(p['area_level'], p['area_level'])} containing {area['area_name']}: " \
                        f"{p['area_name']}"
                return p, label
    return None


def build_tile(spec: TileSpec, info: Mapping | None, series: pd.DataFrame | None, shown: tuple[dict, str] | None,
               comparator: Mapping | None, dataset: Mapping | None) -> Tile:
    """Assemble a tile from a measure's catalogue row, the shown area's time series (oldest first),
    the comparator's row for the same period, and the dataset's catalogue row."""
    if info is None:
        return Tile(spec.key, spec.label, spec.measure, False, note="not available in this database yet")
    tile = Tile(spec.key, spec.label, spec.measure, False, note=spec.note, unit=str(info.get("unit") or ""),
                decimals=int(info.get("decimals") or 0), aggregation=str(info.get("aggregation") or ""))
    if dataset is not None:
        tile.source = str(dataset.get("publisher") or dataset.get("attribution") or "")
        rel = dataset.get("release_date")
        tile.release_date = str(rel) if isinstance(rel, str) and rel else None
    if shown is None:
        tile.note = "not published for this kind of area" + (f" ({spec.note})" if spec.note else "")
        return tile
    area, label = shown
    tile.area_code, tile.area_name, tile.area_label = area["area_code"], area["area_name"], label
    rows = series.dropna(subset=["value"]) if series is not None and len(series) else pd.DataFrame()
    if rows.empty:
        tile.note = f"no published value for {area['area_name']}"
        return tile
    last = rows.iloc[-1]
    tile.available = True
    tile.period, tile.value = str(last["period"]), _num(last["value"])
    tile.status, tile.status_reason = last.get("status"), last.get("status_reason")
    lo, hi = _num(last.get("ci_lower")), _num(last.get("ci_upper"))
    tile.ci = (lo, hi) if lo is not None and hi is not None else None
    if len(rows) > 1:
        prev = rows.iloc[-2]
        tile.previous_period = str(prev["period"])
        pv = _num(prev["value"])
        tile.change = None if pv is None or tile.value is None else tile.value - pv
    if comparator is not None and _num(comparator.get("value")) is not None:
        tile.comparator_code = comparator.get("area_code")
        tile.comparator_name = comparator.get("area_name")
        tile.comparator_value = _num(comparator.get("value"))
        clo, chi = _num(comparator.get("ci_lower")), _num(comparator.get("ci_upper"))
        tile.comparator_ci = (clo, chi) if clo is not None and chi is not None else None
    return tile


def compare_word(value: float, comp: float, ci: tuple[float, float] | None, comp_ci: tuple[float, float] | None,
                 decimals: int = 0) -> str:
    """'similar to' when confidence intervals exist and overlap; else 'higher than' / 'lower than' /
    'the same as' (equal at the displayed precision)."""
    if ci is not None or comp_ci is not None:
        a = ci or (value, value)
        b = comp_ci or (comp, comp)
        if a[0] <= b[1] and b[0] <= a[1]:
            return "similar to"
    if round(value, max(0, decimals)) == round(comp, max(0, decimals)):
        return "the same as"
    return "higher than" if value > comp else "lower than"


def summary(area_name: str, tiles: Sequence[Tile]) -> list[str]:
    """One plain-English sentence per available tile: value, period, change and comparison."""
    out: list[str] = []
    for t in tiles:
        if not t.available or t.value is None:
            continue
        where = area_name if t.area_name == area_name else t.area_name
        s = f"{t.label} in {where} was {t.value_text} in {t.period}"
        if t.change is not None:
            if round(t.change, max(0, t.decimals)) == 0:
                s += f", unchanged since {t.previous_period}"
            else:
                s += f" ({fmt_change(t.change, t.unit, t.decimals)} since {t.previous_period})"
        if t.comparator_value is not None and t.comparator_name:
            if t.is_count:
                if t.share_of_comparator is not None:
                    s += f", {t.share_of_comparator:.1f}% of the {t.comparator_name} total ({t.comparator_text})"
            else:
                word = compare_word(t.value, t.comparator_value, t.ci, t.comparator_ci, t.decimals)
                s += f", {word} {t.comparator_name} ({t.comparator_text})"
        out.append(s + ".")
    return out
