"""lmi.state: URL parsing/validation (hostile values never raise), round trips, reconciliation."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from lmi import state

AREAS = {
    "E92000001": ("England", "england"), "E12000003": ("Yorkshire and The Humber", "region"),
    "E08000016": ("Barnsley", "lad"), "E08000019": ("Sheffield", "lad"), "E37000054": ("Sheffield City Region", "lep"),
    "E47000002": ("South Yorkshire", "ca"),
}
ALIASES = {"E08000038": "E08000016"}
PARENTS = {"E08000016": {"region": "E12000003", "lep": "E37000054", "ca": "E47000002"},
           "E08000019": {"region": "E12000003", "lep": "E37000054", "ca": "E47000002"}}
PERIODS = {"m_rate": ["2023", "2024", "2025"], "m_count": ["Jul 2025"]}
BREAKDOWNS = {"m_rate": [("total", "total")], "m_count": [("soc2020_major", "1"), ("soc2020_major", "2")]}


def resolve(code: str):
    code = ALIASES.get(code, code)
    if code in AREAS:
        return {"area_code": code, "area_name": AREAS[code][0], "area_level": AREAS[code][1]}
    return None


@pytest.fixture()
def cat() -> state.Catalog:
    return state.Catalog(
        measures={"m_rate": "Labour market", "m_count": "Vacancies and job adverts"},
        resolve=resolve,
        areas_at=lambda lv: sorted(c for c, (_, l) in AREAS.items() if l == lv),
        parent_at=lambda code, lv: PARENTS.get(code, {}).get(lv),
        periods=lambda m: PERIODS.get(m, []),
        breakdowns=lambda m: BREAKDOWNS.get(m, []),
        default_period=lambda m, lv: PERIODS[m][-1],
        default_comparators=lambda code: ([PARENTS[code]["region"]] if code in PARENTS else []) + ["E92000001"],
        default_measures=("m_count",),
    )


def test_round_trip_reproduces_the_view(cat):
    v = state.ViewState(page="time_series", level="lad", area="E08000016", comparators=("E12000003", "E08000019"),
                        measure="m_rate", period="2024", present=True, base="2023", roll=True,
                        dl_areas="level", dl_periods="all", extras=(("x_cluster", "digital"),))
    params = state.to_params(v)
    back, notices = state.parse_params(params, cat)
    assert notices == []
    assert back == v
    assert state.reconcile(back, cat) == v


def test_breakdown_and_empty_comparators_round_trip(cat):
    v = state.ViewState(level="lad", area="E08000016", comparators=(), measure="m_count", period="Jul 2025",
                        breakdown=("soc2020_major", "2"))
    back, notices = state.parse_params(state.to_params(v), cat)
    assert notices == [] and back.breakdown == ("soc2020_major", "2") and back.comparators == ()


def test_barnsley_2025_code_resolves_to_the_spine_code(cat):
    v, notices = state.parse_params({"area": "E08000038", "cmp": "e12000003"}, cat)
    assert notices == []
    assert v.area == "E08000016" and v.level == "lad" and v.comparators == ("E12000003",)


@pytest.mark.parametrize("name,value", [
    ("area", "E08000016' OR '1'='1"),
    ("area", "'; DROP TABLE facts; --"),
    ("area", "../../etc/passwd"),
    ("area", "E08999999"),
    ("cmp", "E08000016,E99999999"),
    ("measure", "m_rate; DELETE FROM facts"),
    ("measure", "../../../secret"),
    ("level", "lad' --"),
    ("page", "../../dashboard"),
    ("period", "2024' UNION SELECT 1"),
    ("bd", "soc2020_major:1' OR 1=1"),
    ("present", "maybe"),
    ("dlareas", "everything"),
    ("area", "E" * 10_000),
    ("measure", "x" * 10_000),
    ("area", 12345),
    ("present", ["1", 2]),
    ("cmp", None),
    ("<script>alert(1)</script>", "1"),
])
def test_hostile_values_are_ignored_with_a_notice_naming_the_parameter(cat, name, value):
    params = {"measure": "m_rate", name: value} if name not in ("measure",) else {name: value}
    v, notices = state.parse_params(params, cat)
    assert notices, "a bad value must produce a notice"
    shown = state.safe_echo(name)
    assert any(n.param == shown for n in notices)
    for n in notices:
        assert "<" not in n.message and "'" + "1'='1" not in n.message
        assert len(n.message) < 200
    fixed = state.reconcile(v, cat)      # and the app can carry on with a valid view
    assert fixed.area in AREAS and fixed.measure in cat.measures


def test_more_than_six_comparators_are_cut_with_a_notice(cat):
    extra = {f"E0800{i:04d}": (f"A{i}", "lad") for i in range(20, 30)}
    AREAS.update(extra)
    try:
        v, notices = state.parse_params({"cmp": ",".join(extra)}, cat)
    finally:
        for k in extra:
            AREAS.pop(k)
    assert len(v.comparators) == state.MAX_COMPARATORS
    assert any(n.param == "cmp" for n in notices)


def test_period_not_of_the_measure_is_rejected(cat):
    v, notices = state.parse_params({"measure": "m_count", "period": "2024"}, cat)
    assert v.period is None and [n.param for n in notices] == ["period"]


def test_area_wins_over_a_contradicting_level(cat):
    v, notices = state.parse_params({"level": "region", "area": "E08000016"}, cat)
    assert v.level == "lad" and any(n.param == "level" for n in notices)


def test_reconcile_fills_defaults(cat):
    v = state.reconcile(state.ViewState(), cat)
    assert v.area == "E92000001" and v.level == "england"
    assert v.measure == "m_count" and v.period == "Jul 2025" and v.comparators == ()
    v = state.reconcile(state.ViewState(level="lad", area="E08000016", measure="m_rate"), cat)
    assert v.comparators == ("E12000003", "E92000001") and v.period == "2025"


def test_level_change_moves_to_the_parent_area(cat):
    v = state.reconcile(state.ViewState(level="lad", area="E08000016", measure="m_rate"), cat)
    up = state.with_level(v, "lep", cat)
    assert up.area == "E37000054" and up.level == "lep" and up.comparators is None
    eng = state.with_level(v, "england", cat)
    assert eng.area == "E92000001"


def test_measure_change_resets_period_and_breakdown(cat):
    v = state.ViewState(level="lad", area="E08000016", measure="m_count", period="Jul 2025",
                        breakdown=("soc2020_major", "2"))
    w = state.reconcile(state.with_measure(v, "m_rate", cat), cat)
    assert w.period == "2025" and w.breakdown is None


def test_comparators_drop_the_area_itself_and_duplicates(cat):
    v = state.reconcile(state.ViewState(level="lad", area="E08000016", measure="m_rate",
                                        comparators=("E08000016", "E08000038", "E92000001", "E92000001")), cat)
    assert v.comparators == ("E92000001",)


text = st.text(max_size=300)
values = st.one_of(text, st.integers(), st.none(), st.lists(text, max_size=3), st.binary(max_size=20))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(st.sampled_from(["page", "level", "area", "cmp", "measure", "period", "bd",
                                                  "present", "hex", "base", "roll", "dlareas", "dlperiods",
                                                  "x_cluster"]), text), values, max_size=8))
def test_parse_never_raises_and_reconciles_to_a_valid_view(params):
    c = state.Catalog(
        measures={"m_rate": "Labour market"}, resolve=resolve,
        areas_at=lambda lv: sorted(k for k, (_, l) in AREAS.items() if l == lv),
        parent_at=lambda code, lv: None, periods=lambda m: PERIODS.get(m, []),
        breakdowns=lambda m: BREAKDOWNS.get(m, []), default_period=lambda m, lv: PERIODS[m][-1],
        default_comparators=lambda code: ["E92000001"])
    v, notices = state.parse_params(params, c)
    for n in notices:
        assert isinstance(n.message, str) and len(n.message) < 250
    fixed = state.reconcile(v, c)
    assert fixed.area in AREAS and fixed.measure == "m_rate" and fixed.period in PERIODS["m_rate"]
    assert len(fixed.comparators) <= state.MAX_COMPARATORS
    again, more = state.parse_params(state.to_params(fixed), c)
    assert more == [] and state.reconcile(again, c) == fixed


def test_extras_round_trip_and_validation(cat):
    v = state.ViewState().with_extra("x_cluster", "health_social_care")
    assert v.extra("x_cluster") == "health_social_care"
    back, notices = state.parse_params({"x_cluster": "bad<value>"}, cat)
    assert back.extras == () and notices[0].param == "x_cluster"
    assert replace(v, extras=()).extra("x_cluster") is None
