"""The career-clusters page, driven through dashboard.py with Streamlit's AppTest.

Every figure the page shows (diagram, tables, comparison chart, occupation details, download preview) is
checked against lmi.cluster_demand called directly on the same database for the same selection
(cluster, area, comparators, period). Uses the committed snapshot database (or $LMI_DB).
"""
from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmi.cluster_charts import lq_colour_value, node_sizes
from lmi.cluster_demand import ENGLAND, MEASURES, cluster_demand, occupation_demand, step_estimates
from lmi.schema import EXPORT_COLUMNS

st_testing = pytest.importorskip("streamlit.testing.v1")
ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = str(ROOT / "dashboard.py")
PAGE = "pages/career_clusters.py"
LEP, PRESTON, LSIP, NORTH_WEST = "E37000019", "E07000123", "E69000019", "E12000002"
OCC_VALUE = "Estimated local job adverts (estimate, 3-month average)"
STEP_VALUE = "Estimated adverts (estimate, 3-month average)"


@pytest.fixture(scope="module")
def db():
    from lmi.db import Database
    from lmi.paths import default_db

    if not default_db().is_file():
        pytest.skip(f"no database at {default_db()} (run `python -m lmi build`)")
    d = Database(default_db())
    present = set(d.query("SELECT id FROM measures")["id"])
    missing = {MEASURES["adverts"], MEASURES["adverts_england_unit"]} - present
    assert not missing, f"the database lacks the job-advert measures {missing}"
    return d


@pytest.fixture(scope="module")
def model(db):
    from lmi.clusters import load_clusters

    return load_clusters(con=db)


def _new_app(**params) -> "st_testing.AppTest":
    at = st_testing.AppTest.from_file(DASHBOARD, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(PAGE)
    at.run()
    _no_errors(at)
    return at


@pytest.fixture(scope="module")
def app(db):
    return _new_app()


def _no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _select_area(at, level: str, code: str) -> None:
    at.selectbox(key="w_level").select(level).run()
    at.selectbox(key="w_area").select(code).run()
    _no_errors(at)
    assert at.session_state["lmi_view"].area == code


def _select_cluster(at, cluster_id: str) -> None:
    at.selectbox(key="w_x_cluster").select(cluster_id).run()
    _no_errors(at)


def _expected(at, db, model, area: str | None = None):
    """cluster_demand for the page's current selection (same period rule as the page)."""
    v = at.session_state["lmi_view"]
    periods = set(db.query("SELECT DISTINCT period FROM facts WHERE measure = ?", [MEASURES["adverts"]])["period"])
    period = v.period if v.period in periods else None
    cl = model.get(dict(v.extras)["x_cluster"])
    return cluster_demand(db, cl, area or v.area, model.soc, period=period)


def _frame_with(at, column: str, last: bool = False) -> pd.DataFrame:
    """The first (or last) table on the page with ``column``."""
    for df in (reversed(at.dataframe) if last else at.dataframe):
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column!r}: {[list(d.value.columns)[:4] for d in at.dataframe]}")


def _same(a, b) -> bool:
    a = pd.to_numeric(pd.Series(list(a)), errors="coerce").to_numpy(float)
    b = pd.to_numeric(pd.Series(list(b)), errors="coerce").to_numpy(float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True))


def _arr(x) -> list:
    """A plotly JSON array: plain list or typed array {'dtype', 'bdata'} (plotly >= 6)."""
    if isinstance(x, dict) and "bdata" in x:
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"])).tolist()
    return list(x)


def _charts(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _check_page_matches(at, db, model) -> None:
    """Diagram, occupation table, step table, sub-major table, details and download vs cluster_demand."""
    d = _expected(at, db, model)
    occ = occupation_demand(d)
    # title names the cluster; subtitle the area and period
    assert at.title[0].value == f"Career clusters: {d.cluster.name}"
    assert any(d.area_name in m.value and d.area_code in m.value for m in at.markdown)
    # occupation table = the diagram's numbers
    t = _frame_with(at, OCC_VALUE)
    assert list(t["SOC 2020 code"]) == list(occ["soc"])
    assert _same(t[OCC_VALUE], occ["value"])
    assert _same(t["Share of all local adverts (%)"], occ["share"] * 100)
    assert _same(t["England share (%)"], occ["england_share"] * 100)
    assert _same(t["Location quotient vs England"], occ["lq"])
    assert _same(t["RQF level"], occ["rqf_level"])
    assert all("ESTIMATE" in s for s, v in zip(t["Status"], t[OCC_VALUE]) if pd.notna(v))
    assert all(s and "ESTIMATE" not in s for s, v in zip(t["Status"], t[OCC_VALUE]) if pd.isna(v))
    # per step: the page's step table = cluster_demand's step ESTIMATE rows
    est = d.steps[d.steps["basis"] == "estimate"].sort_values("step")
    s = _frame_with(at, STEP_VALUE)
    s = s[s["Code"] == d.area_code].sort_values("Step")
    assert list(s["Step"]) == [st.number for st in d.cluster.steps]
    if len(est):
        assert _same(s[STEP_VALUE], est["value"]) and _same(s["Location quotient vs England"], est["lq"])
        assert _same(s["Share of all adverts in the area (%)"], est["share"] * 100)
        # occupations add up to their step
        assert _same(occ.groupby("step")["value"].sum().loc[est["step"]], est["value"])
    # published sub-major figures
    sm = _frame_with(at, "Sub-major title")
    assert _same(sm["Value"], d.submajors["value"]) and _same(sm["Location quotient"], d.submajors["lq"])
    assert list(sm["Status"]) == list(d.submajors["status"])
    # the diagram: one point per occupation, circle area ~ value, colour = log2(LQ), SOC code in customdata
    fig = _charts(at)[0]
    assert d.cluster.name in fig["layout"]["title"]["text"] and d.area_name in fig["layout"]["title"]["text"]
    pts = {}
    for tr in fig["data"]:
        for i, cd in enumerate(tr.get("customdata") or []):
            pts[cd[0]] = (tr, i, cd[1])
    assert set(pts) == set(occ["soc"])
    sizes = dict(zip(occ["soc"], node_sizes(occ["value"].tolist())))
    for r in occ.itertuples():
        tr, i, hover = pts[r.soc]
        assert f"SOC 2020 {r.soc}: {r.title}" in hover and f"RQF level {r.rqf_level}" in hover
        assert "Sources:" in hover
        if pd.notna(r.value):
            assert math.isclose(_arr(tr["marker"]["size"])[i], sizes[r.soc])
            assert f"{r.value:,.0f}" in hover or f"{r.value:,.1f}" in hover
            if pd.notna(r.lq):
                assert math.isclose(_arr(tr["marker"]["color"])[i], lq_colour_value(r.lq))
        else:
            assert "no local figure" in tr["name"]
    # occupation details = the selected occupation's row
    soc = at.selectbox(key="cc_occ").value
    row = occ[occ["soc"] == soc].iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    expect_v = ("n/a" if pd.isna(row["value"])
                else f"{row['value']:,.0f}" if row["value"] >= 10 else f"{row['value']:,.1f}")
    assert metrics["Local adverts (estimate)"] == expect_v
    assert metrics["Location quotient vs England"] == ("n/a" if pd.isna(row["lq"]) else f"{row['lq']:.2f}")
    # download preview: export columns first, the area's estimates equal
    dl = _frame_with(at, "location_quotient")
    assert tuple(dl.columns[: len(EXPORT_COLUMNS)]) == EXPORT_COLUMNS
    mine = dl[(dl["area_code"] == d.area_code) & dl["breakdown"].str.startswith("soc2020_unit: ")]
    assert list(mine["soc_codes"]) == list(occ["soc"]) and _same(mine["value"], occ["value"])
    # every chart has a source caption and a data-table expander
    assert sum("Source:" in c.value for c in at.caption) >= 2
    assert sum(e.label.startswith("Data table: ") for e in at.expander) >= 2


def test_lep_figures_equal_cluster_demand(app, db, model):
    _select_area(app, "lep", LEP)
    _select_cluster(app, "health_social_care")
    assert app.query_params["x_cluster"] == "health_social_care"
    _check_page_matches(app, db, model)


def test_preston_health_pathway_and_cluster_change(app, db, model):
    _select_area(app, "lad", PRESTON)
    _select_cluster(app, "health_social_care")
    _check_page_matches(app, db, model)
    occ = occupation_demand(_expected(app, db, model)).set_index("soc")
    step_of = occ["step"].to_dict()
    # care workers -> senior care workers -> nursing associates / assistant practitioners -> nurses and AHPs
    assert step_of["6135"] < step_of["6136"] < step_of["3219"] < step_of["2237"]
    assert step_of["3213"] == step_of["3219"] and step_of["2221"] == step_of["2237"] == step_of["2232"]
    assert "6136" in occ.loc["6135", "next"] and "3219" in occ.loc["6136", "next"]
    for code in ("6135", "6136", "3219", "3213", "2237", "2232", "2221", "2222"):
        assert occ.loc[code, "value"] > 0, code          # local demand for a Lancashire authority
    t = _frame_with(app, OCC_VALUE).set_index("SOC 2020 code")
    assert t.loc["6135", "Step name"].startswith("Care")
    assert t.loc["6136", "Occupation (SOC 2020 unit group)"] == "Senior care workers"
    # arrows for next steps are drawn
    assert len(_charts(app)[0]["layout"].get("annotations", [])) > len(occ)
    # change the cluster: URL, title and figures follow
    _select_cluster(app, "construction_built_environment")
    assert app.query_params["x_cluster"] == "construction_built_environment"
    _check_page_matches(app, db, model)


def test_comparison_with_comparators_and_england(app, db, model):
    _select_area(app, "lad", PRESTON)
    app.multiselect(key="w_comparators").set_value([LSIP, NORTH_WEST]).run()
    _no_errors(app)
    t = _frame_with(app, STEP_VALUE, last=True)      # the comparison chart's data table
    assert list(dict.fromkeys(t["Code"])) == [PRESTON, LSIP, NORTH_WEST, ENGLAND]
    fig = _charts(app)[1]
    assert [tr["name"].split(" (")[0] for tr in fig["data"]][-1] == "England"
    for i, code in enumerate([PRESTON, LSIP, NORTH_WEST, ENGLAND]):
        want = step_estimates(_expected(app, db, model, code))
        got = t[t["Code"] == code]
        assert _same(got[STEP_VALUE], want["value"]) and _same(got["Location quotient vs England"], want["lq"])
        assert _same(_arr(fig["data"][i]["y"]), want["share"] * 100)
    # England against itself: LQ 1 for every step
    assert _same(t[t["Code"] == ENGLAND]["Location quotient vs England"], [1.0] * len(want))


def test_select_occupation_details(app, db, model):
    _select_area(app, "lad", PRESTON)
    _select_cluster(app, "health_social_care")
    app.selectbox(key="cc_occ").select("6136").run()
    _no_errors(app)
    text = " ".join(m.value for m in app.markdown)
    assert "SOC 2020 6136: Senior care workers" in text and "RQF 3" in text and "Sources:" in text
    _check_page_matches(app, db, model)


def test_unknown_cluster_in_url_is_ignored_with_message(db):
    at = _new_app(x_cluster="no-such-cluster")
    assert any("x_cluster" in w.value and "unknown career cluster" in w.value for w in at.warning)
    assert at.query_params["x_cluster"] == "health_social_care"
    assert at.title[0].value == "Career clusters: Health and social care"
    # a name-like value is accepted (no warning) and written back as the id
    at = _new_app(x_cluster="green-energy-and-environment")
    assert not any("x_cluster" in w.value for w in at.warning)
    assert at.query_params["x_cluster"] == "green_energy_environment"


def test_area_without_adverts_shows_missing_not_zero(db, model):
    at = _new_app(area="E09000007")           # Camden: London boroughs are absent from the data hub
    t = _frame_with(at, OCC_VALUE)
    assert t[OCC_VALUE].isna().all() and (t[OCC_VALUE] != 0).all()
    assert all("not published" in s or "no online job adverts" in s for s in t["Status"])
    assert any("No local online job adverts" in i.value for i in at.info)
    fig = _charts(at)[0]
    assert any("no local figure" in (tr.get("name") or "") for tr in fig["data"])
