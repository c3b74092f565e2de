"""The dashboard's view state and its URL form: parsing, validation and reconciliation (no Streamlit).

A :class:`ViewState` is everything needed to reproduce a view: page, area level, area, comparators,
measure, period, breakdown, presentation mode and the per-page options. :func:`parse_params` turns URL
query parameters into a state, ignoring anything unknown or hostile with a :class:`Notice` naming the
parameter (never an exception); :func:`to_params` writes the state back. :func:`reconcile` fills gaps
and repairs inconsistencies (area vs level, period vs measure, ...) from a :class:`Catalog` of
allow-lists, which the app builds from :mod:`lmi.queries` and tests can build by hand.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from lmi.schema import LEVELS

# Page slugs (the st.Page url_path of each page); 'profile' is the home page.
PAGES: tuple[str, ...] = ("profile", "map", "time_series", "download", "sources", "career_clusters")
MAX_COMPARATORS = 6
MAX_PARAM_LEN = 200            # longer values are rejected before any other check
ENGLAND = "E92000001"
DL_AREAS = ("selection", "level")   # download: selected area + comparators, or every area at the level
DL_PERIODS = ("one", "all")         # download: the selected period, or every period

_CODE = re.compile(r"^[A-Z][0-9]{8}$")
_MEASURE = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
_PERIOD = re.compile(r"^[A-Za-z0-9 /\-]{1,40}$")
_EXTRA_NAME = re.compile(r"^x_[a-z0-9_]{1,30}$")
_EXTRA_VALUE = re.compile(r"^[A-Za-z0-9_.:\- ]{0,80}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ViewState:
    """One dashboard view. ``comparators`` None means "use the defaults for the area"."""

    page: str = "profile"
    level: str = "england"
    area: str | None = None
    comparators: tuple[str, ...] | None = None
    measure: str | None = None
    period: str | None = None
    breakdown: tuple[str, str] | None = None
    present: bool = False
    hex: bool = False
    base: str | None = None          # time series: index to this period (=100)
    roll: bool = False               # time series: 3-period rolling average (adverts)
    dl_areas: str = "selection"
    dl_periods: str = "one"
    extras: tuple[tuple[str, str], ...] = ()   # page-specific options ('x_...' parameters), sorted by name

    def extra(self, name: str, default: str | None = None) -> str | None:
        return dict(self.extras).get(name, default)

    def with_extra(self, name: str, value: str | None) -> "ViewState":
        d = dict(self.extras)
        if value is None:
            d.pop(name, None)
        else:
            d[name] = value
        return replace(self, extras=tuple(sorted(d.items())))


@dataclass(frozen=True)
class Notice:
    """A URL parameter that was ignored, and why (shown to the user with st.warning)."""

    param: str
    reason: str

    @property
    def message(self) -> str:
        return f"Ignored URL parameter '{self.param}': {self.reason}."


@dataclass
class Catalog:
    """Allow-lists and defaults the state is checked against (built from lmi.queries by the app).

    resolve(code) -> {'area_code','area_name','area_level'} or None (aliases such as Barnsley's 2025
    code resolve to the spine code); areas_at(level) -> codes; parent_at(code, level) -> code or None;
    periods(measure) -> labels oldest first; breakdowns(measure) -> [(type, code)], total first;
    default_period(measure, level) -> label; default_comparators(code) -> codes.
    """

    measures: Mapping[str, str]                      # measure id -> topic
    resolve: Callable[[str], dict | None]
    areas_at: Callable[[str], list[str]]
    parent_at: Callable[[str, str], str | None]
    periods: Callable[[str], list[str]]
    breakdowns: Callable[[str], list[tuple[str, str]]]
    default_period: Callable[[str, str], str | None]
    default_comparators: Callable[[str], list[str]]
    default_measures: tuple[str, ...] = ()
    pages: tuple[str, ...] = PAGES
    levels: tuple[str, ...] = LEVELS


def safe_echo(value: object, limit: int = 30) -> str:
    """A short, markup-free rendering of an untrusted value for a warning message."""
    text = re.sub(r"[^A-Za-z0-9 _.:\-]", "?", str(value))
    return text[:limit] + ("…" if len(text) > limit else "")


def _one(raw: object) -> object:
    """Query parameters may repeat; the last value wins (as in st.query_params[key])."""
    if isinstance(raw, (list, tuple)):
        return raw[-1] if raw else ""
    return raw


def _text(name: str, raw: object, notices: list[Notice]) -> str | None:
    raw = _one(raw)
    if not isinstance(raw, str):
        notices.append(Notice(name, f"expected text, got {type(raw).__name__}"))
        return None
    if len(raw) > MAX_PARAM_LEN:
        notices.append(Notice(name, f"value too long ({len(raw):,} characters)"))
        return None
    return raw.strip()


def _flag(name: str, raw: object, notices: list[Notice]) -> bool | None:
    text = _text(name, raw, notices)
    if text is None:
        return None
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    notices.append(Notice(name, f"'{safe_echo(text)}' is not on/off (use 1 or 0)"))
    return None


def _area(name: str, text: str, cat: Catalog, notices: list[Notice]) -> dict | None:
    code = text.upper()
    if not _CODE.match(code):
        notices.append(Notice(name, f"'{safe_echo(text)}' is not an area code (e.g. E08000016)"))
        return None
    found = cat.resolve(code)
    if found is None:
        notices.append(Notice(name, f"unknown area code '{code}'"))
    return found


def parse_params(params: Mapping[str, object], cat: Catalog) -> tuple[ViewState, list[Notice]]:
    """Read a view from URL query parameters; every bad value is dropped with a Notice."""
    notices: list[Notice] = []
    v: dict = {}
    known = {"page", "level", "area", "cmp", "measure", "period", "bd", "present", "hex", "base", "roll",
             "dlareas", "dlperiods"}
    extras: dict[str, str] = {}
    for name in params:
        if not isinstance(name, str) or len(name) > 40:
            notices.append(Notice(safe_echo(name), "not a parameter this dashboard uses"))
        elif _EXTRA_NAME.match(name):
            t = _text(name, params[name], notices)
            if t is not None and _EXTRA_VALUE.match(t):
                extras[name] = t
            elif t is not None:
                notices.append(Notice(name, "unexpected characters in the value"))
        elif name not in known:
            notices.append(Notice(safe_echo(name), "not a parameter this dashboard uses"))
    if extras:
        v["extras"] = tuple(sorted(extras.items()))

    if "page" in params and (t := _text("page", params["page"], notices)) is not None:
        if t in cat.pages:
            v["page"] = t
        else:
            notices.append(Notice("page", f"unknown page '{safe_echo(t)}'"))
    if "level" in params and (t := _text("level", params["level"], notices)) is not None:
        if t.lower() in cat.levels:
            v["level"] = t.lower()
        else:
            notices.append(Notice("level", f"unknown area level '{safe_echo(t)}'"))
    if "area" in params and (t := _text("area", params["area"], notices)) is not None:
        found = _area("area", t, cat, notices)
        if found:
            if "level" in v and v["level"] != found["area_level"]:
                notices.append(Notice("level", f"'{v['level']}' does not match the area's level "
                                               f"'{found['area_level']}'; the area's level is used"))
            v["area"], v["level"] = found["area_code"], found["area_level"]
    if "cmp" in params and (t := _text("cmp", params["cmp"], notices)) is not None:
        codes: list[str] = []
        for part in [p for p in t.split(",") if p.strip()]:
            found = _area("cmp", part.strip(), cat, notices)
            if found and found["area_code"] not in codes:
                codes.append(found["area_code"])
        if len(codes) > MAX_COMPARATORS:
            notices.append(Notice("cmp", f"at most {MAX_COMPARATORS} comparison areas; extra ones dropped"))
        v["comparators"] = tuple(codes[:MAX_COMPARATORS])
    if "measure" in params and (t := _text("measure", params["measure"], notices)) is not None:
        if _MEASURE.match(t) and t in cat.measures:
            v["measure"] = t
        else:
            notices.append(Notice("measure", f"unknown measure '{safe_echo(t)}'"))
    measure = v.get("measure")
    for name in ("period", "base"):
        if name in params and (t := _text(name, params[name], notices)) is not None:
            if measure is None:
                notices.append(Notice(name, "no valid measure to check the period against"))
            elif _PERIOD.match(t) and t in cat.periods(measure):
                v[name] = t
            else:
                notices.append(Notice(name, f"'{safe_echo(t)}' is not a period of this measure"))
    if "bd" in params and (t := _text("bd", params["bd"], notices)) is not None:
        bt, _, bc = t.partition(":")
        if measure is not None and (bt, bc) in cat.breakdowns(measure):
            v["breakdown"] = (bt, bc)
        else:
            notices.append(Notice("bd", f"'{safe_echo(t)}' is not a breakdown of this measure"))
    for name in ("present", "hex", "roll"):
        if name in params and (b := _flag(name, params[name], notices)) is not None:
            v[name] = b
    for name, field_, allowed in (("dlareas", "dl_areas", DL_AREAS), ("dlperiods", "dl_periods", DL_PERIODS)):
        if name in params and (t := _text(name, params[name], notices)) is not None:
            if t in allowed:
                v[field_] = t
            else:
                notices.append(Notice(name, f"expected one of {', '.join(allowed)}"))
    return ViewState(**v), notices


def to_params(view: ViewState) -> dict[str, str]:
    """The URL query parameters for a view (flags and per-page options only when not default)."""
    out: dict[str, str] = {"page": view.page, "level": view.level}
    if view.area:
        out["area"] = view.area
    if view.comparators is not None:
        out["cmp"] = ",".join(view.comparators)
    if view.measure:
        out["measure"] = view.measure
    if view.period:
        out["period"] = view.period
    if view.breakdown:
        out["bd"] = f"{view.breakdown[0]}:{view.breakdown[1]}"
    for name in ("present", "hex", "roll"):
        if getattr(view, name):
            out[name] = "1"
    if view.base:
        out["base"] = view.base
    if view.dl_areas != "selection":
        out["dlareas"] = view.dl_areas
    if view.dl_periods != "one":
        out["dlperiods"] = view.dl_periods
    out.update(dict(view.extras))
    return out


def default_area(level: str, cat: Catalog) -> str:
    if level == "england":
        return ENGLAND
    codes = cat.areas_at(level)
    return codes[0] if codes else ENGLAND


def with_level(view: ViewState, level: str, cat: Catalog) -> ViewState:
    """Switch level: the area becomes its parent at that level when there is one, else the first area."""
    if level not in cat.levels or level == view.level:
        return view
    area = cat.parent_at(view.area, level) if view.area else None
    area = area or default_area(level, cat)
    return replace(view, level=level, area=area, comparators=None)


def with_area(view: ViewState, code: str, cat: Catalog) -> ViewState:
    """Select an area (its level follows); comparators go back to the defaults for it."""
    found = cat.resolve(code)
    if found is None:
        return view
    return replace(view, area=found["area_code"], level=found["area_level"], comparators=None)


def with_measure(view: ViewState, measure: str, cat: Catalog) -> ViewState:
    """Select a measure; period, breakdown and index base are reset to its defaults."""
    if measure not in cat.measures or measure == view.measure:
        return view
    return replace(view, measure=measure, period=None, breakdown=None, base=None)


def reconcile(view: ViewState, cat: Catalog) -> ViewState:
    """Fill defaults and repair inconsistencies so that every field is valid for the catalogue."""
    page = view.page if view.page in cat.pages else "profile"
    level = view.level if view.level in cat.levels else "england"
    area, found = view.area, (cat.resolve(view.area) if view.area else None)
    if found is None:
        area = default_area(level, cat)
        found = cat.resolve(area) or {"area_code": area, "area_level": level}
    area, level = found["area_code"], found["area_level"]
    if view.comparators is None:
        comps = tuple(c for c in cat.default_comparators(area) if c != area)
    else:
        comps = []
        for c in view.comparators:
            r = cat.resolve(c)
            if r and r["area_code"] != area and r["area_code"] not in comps:
                comps.append(r["area_code"])
        comps = tuple(comps)
    comps = comps[:MAX_COMPARATORS]
    measure = view.measure if view.measure in cat.measures else None
    if measure is None:
        measure = next((m for m in cat.default_measures if m in cat.measures), None)
        measure = measure or next(iter(cat.measures), None)
    period = breakdown = base = None
    if measure is not None:
        periods = cat.periods(measure)
        period = view.period if view.period in periods else cat.default_period(measure, level)
        if period not in periods:
            period = periods[-1] if periods else None
        breakdown = view.breakdown if view.breakdown in cat.breakdowns(measure) else None
        base = view.base if view.base in periods else None
    return replace(view, page=page, level=level, area=area, comparators=comps, measure=measure, period=period,
                   breakdown=breakdown, base=base,
                   dl_areas=view.dl_areas if view.dl_areas in DL_AREAS else "selection",
                   dl_periods=view.dl_periods if view.dl_periods in DL_PERIODS else "one")
