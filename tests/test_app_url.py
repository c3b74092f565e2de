"""AppTest: the view survives a round trip through st.query_params; hostile URLs give a warning, never an error."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
BARNSLEY, SHEFFIELD, ENGLAND = "E08000016", "E08000019", "E92000001"


@pytest.fixture(autouse=True)
def _snapshot(monkeypatch, snapshot_db):
    monkeypatch.setenv("LMI_DB", str(snapshot_db))


def run(params: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def snapshot(at: AppTest) -> dict:
    """What a person sees: page title, widget values and chart tables."""
    return {
        "title": at.title[0].value,
        "widgets": {k: at.session_state[k] for k in ("w_level", "w_area", "w_comparators", "w_measure", "w_period",
                                                      "w_present") if k in at.session_state},
        "tables": [e.dataframe[0].value.to_json() for e in at.expander if e.label.startswith("Data table")],
    }


def test_round_trip_through_query_params_restores_the_same_view():
    at = run({})
    at.selectbox(key="w_level").set_value("lad")
    at.run()
    at.selectbox(key="w_area").set_value(SHEFFIELD)
    at.run()
    at.multiselect(key="w_comparators").set_value([ENGLAND, BARNSLEY])
    at.run()
    at.selectbox(key="w_topic").set_value("Labour market")
    at.run()
    at.selectbox(key="w_measure").set_value("els_employment_rate")
    at.run()
    at.selectbox(key="w_period").set_value("2019")
    at.run()
    at.switch_page("pages/time_series.py").run()
    at.selectbox(key="w_base").set_value("2015")
    at.run()
    assert not at.exception
    params = dict(at.query_params)
    assert params["page"] == "time_series" and params["area"] == SHEFFIELD and params["cmp"] == f"{ENGLAND},{BARNSLEY}"
    assert params["measure"] == "els_employment_rate" and params["period"] == "2019" and params["base"] == "2015"
    before = snapshot(at)

    again = run(params)                      # a new session opened from the shared URL
    assert dict(again.query_params) == params
    assert snapshot(again) == before
    assert again.title[0].value.startswith("Time series")


def test_round_trip_of_map_breakdown_and_presentation_mode():
    at = run({"area": BARNSLEY, "measure": "datahub_job_adverts"})
    if "w_breakdown" not in at.session_state:
        pytest.skip("this database has no measure with breakdowns")
    from lmi import queries
    from lmi.db import Database

    b = queries.breakdowns(Database(), "datahub_job_adverts").iloc[2]
    choice = f"{b['breakdown_type']}:{b['breakdown_code']}"
    at.selectbox(key="w_breakdown").set_value(choice)
    at.run()
    at.switch_page("pages/map.py").run()
    at.toggle(key="w_hex").set_value(True)
    at.run()
    at.toggle(key="w_present").set_value(True)
    at.run()
    params = dict(at.query_params)
    assert params["hex"] == "1" and params["present"] == "1" and params["page"] == "map" and params["bd"] == choice
    again = run(params)
    assert dict(again.query_params) == params and snapshot(again) == snapshot(at)
    assert again.session_state["w_breakdown"] == choice


HOSTILE = [
    ("area", "E08000016' OR '1'='1"),
    ("area", "'; DROP TABLE facts; --"),
    ("area", "../../../../etc/passwd"),
    ("area", "E08999999"),
    ("cmp", "E92000001,../../x,E99999999"),
    ("measure", "els_claimant_count' OR 1=1 --"),
    ("measure", "..%2F..%2Fsecret"),
    ("level", "lad;select"),
    ("page", "../../../dashboard"),
    ("period", "2024' UNION SELECT * FROM build_info --"),
    ("bd", "total:total' --"),
    ("present", "[1, 2]"),
    ("hex", "{'a': 1}"),
    ("area", "E" * 10_000),
    ("period", "9" * 10_000),
    ("zzz", "1"),
]


@pytest.mark.parametrize("name,value", HOSTILE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(HOSTILE)])
def test_hostile_url_values_are_ignored_with_a_visible_warning(name, value):
    params = {"area": BARNSLEY, "measure": "els_claimant_count", name: value}
    at = run(params)
    warnings = [w.value for w in at.warning]
    assert any(f"'{name}'" in w for w in warnings), warnings
    assert at.title[0].value.endswith("area profile")
    assert at.query_params.get(name) != value          # the bad value is not written back


def test_barnsley_2025_code_resolves():
    at = run({"area": "E08000038"})
    assert at.title[0].value == "Barnsley: area profile"
    assert at.query_params["area"] == BARNSLEY and at.query_params["level"] == "lad"
    assert not at.warning
