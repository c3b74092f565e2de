"""Pure tests of the career-clusters chart builders, the per-occupation estimate and the download rows.

A small hand-made ClusterDemand (no database) with one suppressed sub-major cell; every expected number
is worked out by hand here.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from lmi import cluster_charts as cc
from lmi import export
from lmi.cluster_demand import (MEASURES, OCC_COLUMNS, STEP_COLUMNS, SUBMAJOR_COLUMNS, ClusterDemand, find_cluster,
                                occupation_demand, step_estimates)
from lmi.cluster_export import COLUMNS, ESTIMATE_STATUS, export_rows
from lmi.clusters import Cluster, EntryRoute, Occupation, Step
from lmi.schema import EXPORT_COLUMNS


def _occ(code: str, title: str, sm: str, nxt: tuple[str, ...] = ()) -> Occupation:
    return Occupation(code, title, code[:3], f"minor {code[:3]}", sm, f"sub-major {sm}", code[0], nxt)


def _cluster(name: str = "Test care") -> Cluster:
    r = (EntryRoute("none", "No formal requirements"),)
    return Cluster("test_care", name, "A test pathway.", (
        Step(1, "Entry", 2, r, (_occ("6135", "Care workers and home carers", "61", ("6136", "6131")),
                                _occ("6131", "Nursing auxiliaries and assistants", "61", ("3219",)))),
        Step(2, "Senior", 3, r, (_occ("6136", "Senior care workers", "61", ("2237",)),
                                 _occ("3219", "Health associate professionals n.e.c.", "32", ("2237",)))),
        Step(3, "Registered", 6, r, (_occ("2237", "Other registered nursing professionals", "22"),)),
    ), "test sources")


AREA_TOTAL, ENG_TOTAL = 1000.0, 100_000.0
SUB = {"61": (100.0, 5000.0), "22": (30.0, 6000.0), "32": (math.nan, 2000.0)}   # local, England adverts
SHARE = {"6135": 0.5, "6131": 0.3, "6136": 0.2, "3219": 0.4, "2237": 0.25}      # England share of sub-major


def _demand(cluster: Cluster | None = None, area_name: str = "Testshire") -> ClusterDemand:
    cl = cluster or _cluster()
    sub_rows = []
    for sm, (val, eng) in SUB.items():
        ok = not math.isnan(val)
        sub_rows.append({
            "measure": MEASURES["adverts"], "measure_label": "Online job adverts (3-month average)", "submajor": sm,
            "submajor_title": f"sub-major {sm}", "steps": "1, 2", "cluster_unit_groups": "",
            "unit_groups_in_submajor": 9,
            "period": "Jul 2025", "value": val, "area_total": AREA_TOTAL,
            "share": val / AREA_TOTAL if ok else math.nan, "england_value": eng, "england_total": ENG_TOTAL,
            "england_share": eng / ENG_TOTAL, "lq": (val / AREA_TOTAL) / (eng / ENG_TOTAL) if ok else math.nan,
            "status": "ok" if ok else "suppressed", "derivation": "published",
            "note": ("" if ok else "suppressed: blank in DfE data hub; ")
                    + "published for the whole sub-major group (9 unit groups): cannot be split by step"})
        sub_rows.append({**sub_rows[-1], "measure": MEASURES["employment"], "measure_label": "In employment (APS)",
                         "period": "Apr 2024-Mar 2025", "value": 2000.0, "status": "ok", "note": "APS"})
    occ_rows = [{"step": cl.step_of(c).number, "soc": c, "title": "", "submajor": c[:2], "england_adverts": 1.0,
                 "england_share_of_submajor": w, "feed_adverts": math.nan, "feed_median_salary": math.nan,
                 "period": "Jul 2025", "note": ""} for c, w in SHARE.items()]
    steps = []
    for s in cl.steps:   # the step estimate as cluster_demand makes it (NaN when a sub-major cell is missing)
        val = sum(SUB[o.submajor][0] * SHARE[o.soc] for o in s.occupations)
        eng = sum(SUB[o.submajor][1] * SHARE[o.soc] for o in s.occupations)
        share, eshare = val / AREA_TOTAL, eng / ENG_TOTAL
        steps.append({"step": s.number, "step_name": s.name, "rqf_level": s.rqf_level, "soc_codes": ", ".join(s.codes),
                      "measure": MEASURES["adverts"], "measure_label": "x - ESTIMATE", "source_level": "x",
                      "basis": "estimate", "period": "Jul 2025", "value": val, "area_total": AREA_TOTAL,
                      "share": share, "england_value": eng, "england_total": ENG_TOTAL, "england_share": eshare,
                      "lq": share / eshare, "status": "derived", "note": "ESTIMATE"})
    return ClusterDemand(cl, "E99999999", area_name, "lad", pd.DataFrame(steps, columns=STEP_COLUMNS),
                         pd.DataFrame(sub_rows, columns=SUBMAJOR_COLUMNS), pd.DataFrame(occ_rows, columns=OCC_COLUMNS))


# ------------------------------------------------------------------------------------ occupation estimate

def test_occupation_demand_by_hand():
    occ = occupation_demand(_demand()).set_index("soc")
    assert occ.loc["6135", "value"] == pytest.approx(50.0)            # 100 x 0.5
    assert occ.loc["6131", "value"] == pytest.approx(30.0)
    assert occ.loc["2237", "value"] == pytest.approx(7.5)             # 30 x 0.25
    assert occ.loc["6135", "england_value"] == pytest.approx(2500.0)
    assert occ.loc["6135", "share"] == pytest.approx(0.05)
    assert occ.loc["6135", "lq"] == pytest.approx(2.0)                # (100/1000) / (5000/100000)
    assert occ.loc["2237", "lq"] == pytest.approx(0.5)                # (30/1000) / (6000/100000)
    assert occ.loc["6135", "status"] == "derived" and occ.loc["6135", "status_reason"] == "estimate"
    assert "ESTIMATE" in occ.loc["6135", "note"] and "small" in occ.loc["2237", "note"]
    # suppressed sub-major cell: missing with the publisher's reason, never zero
    assert math.isnan(occ.loc["3219", "value"]) and occ.loc["3219", "status"] == "suppressed"
    assert "blank in DfE data hub" in occ.loc["3219", "status_reason"]
    assert occ.loc["6135", "employment_value"] == 2000.0
    # occupations add up to the step estimate where the step has one
    d = _demand()
    sums = occupation_demand(d).groupby("step")["value"].sum(min_count=1)
    assert sums.loc[1] == pytest.approx(d.steps.set_index("step").loc[1, "value"])


def test_step_estimates_fill_missing_steps():
    d = _demand()
    d.steps = d.steps[d.steps["step"] != 3]
    st = step_estimates(d).set_index("step")
    assert list(st.index) == [1, 2, 3] and st.loc[1, "area_name"] == "Testshire"
    assert math.isnan(st.loc[3, "value"]) and st.loc[3, "status"] == "missing" and st.loc[3, "status_reason"]


def test_find_cluster():
    cl = _cluster("Health and social care")
    assert find_cluster([cl], "test_care") is cl
    assert find_cluster([cl], "health-and-social-care") is cl
    assert find_cluster([cl], "Health and Social Care") is cl
    assert find_cluster([cl], "health") is None and find_cluster([cl], None) is None


# ------------------------------------------------------------------------------------ chart builders

def test_sizes_and_colours():
    sizes = cc.node_sizes([100.0, 25.0, math.nan, 0.01])
    assert sizes[0] == cc.MAX_PX and sizes[1] == pytest.approx(cc.MAX_PX / 2)   # area proportional to value
    assert math.isnan(sizes[2]) and sizes[3] == cc.MIN_PX
    assert cc.lq_colour_value(1.0) == 0 and cc.lq_colour_value(2.0) == 1 and cc.lq_colour_value(0.5) == -1
    assert cc.lq_colour_value(8.0) == 1 and math.isnan(cc.lq_colour_value(math.nan))
    pos = cc.layout_positions(pd.DataFrame({"step": [1, 1, 1, 2]}))
    assert list(pos["y"]) == [1.0, 0.0, -1.0, 0.0] and list(pos["x"]) == [1.0, 1.0, 1.0, 2.0]


def test_pathway_figure():
    occ = occupation_demand(_demand())
    fig = cc.pathway_figure(occ, title="Test care: estimated job adverts, Testshire, Jul 2025", sources="S1",
                            selected="6135")
    main = next(t for t in fig.data if t.name and t.name.startswith("Occupation"))
    codes = [c[0] for c in main.customdata]
    assert codes == ["6135", "6131", "6136", "2237"]
    assert list(main.marker.size) == pytest.approx(cc.node_sizes([50.0, 30.0, 20.0, 7.5]))
    assert list(main.marker.color) == pytest.approx([1.0, 1.0, 1.0, -1.0])
    assert main.marker.colorscale is not None and main.marker.cmid == 0
    assert "Location quotient vs England" in main.marker.colorbar.title.text
    assert list(main.marker.colorbar.ticktext)[list(main.marker.colorbar.tickvals).index(0.0)] == "1"
    hover = main.customdata[0][1]
    for bit in ("SOC 2020 6135: Care workers and home carers", "RQF level 2", "ESTIMATE", "Location quotient",
                "Sources: S1", "Usual next steps: 6136, 6131"):
        assert bit in hover
    missing = next(t for t in fig.data if t.name and "no local figure" in t.name)
    assert [c[0] for c in missing.customdata] == ["3219"] and "blank in DfE data hub" in missing.customdata[0][1]
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == 5                  # 6135->6136, 6135->6131 (same step), 6131->3219, 6136->2237, 3219->2237
    assert len(fig.layout.shapes) == 1      # the same-step curve
    ticks = list(fig.layout.xaxis.ticktext)
    assert ticks[0].startswith("<b>Step 1 · RQF level 2</b>") and "RQF" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.title.text and fig.layout.title.text.startswith("Test care")
    assert any(t.name == "Selected occupation" for t in fig.data)


def test_comparison_figure_and_tables():
    a = step_estimates(_demand())
    b = step_estimates(_demand(area_name="Nowhere")).assign(area_code="E99999998", value=np.nan, share=np.nan,
                                                             lq=np.nan, status="missing",
                                                             status_reason="no online job adverts published")
    fig = cc.comparison_figure(pd.concat([a, b]), title="t", y_title="Share (%)")
    assert [t.name.split(" (")[0] for t in fig.data] == ["Testshire", "Nowhere"]
    assert "no figures" in fig.data[1].name and all(y is None or math.isnan(y) for y in fig.data[1].y)
    assert list(fig.data[0].y) == pytest.approx(list(a["share"] * 100), nan_ok=True)
    assert fig.layout.yaxis.title.text == "Share (%)"
    t = cc.pathway_table(occupation_demand(_demand()))
    row = t[t["SOC 2020 code"] == "3219"].iloc[0]
    assert math.isnan(row["Estimated local job adverts (estimate, 3-month average)"])
    assert "suppressed" in row["Status"] and "blank in DfE data hub" in row["Status"]
    assert t[t["SOC 2020 code"] == "6135"].iloc[0]["Status"] == cc.ESTIMATE_TEXT
    assert t[t["SOC 2020 code"] == "6135"].iloc[0]["Share of all local adverts (%)"] == pytest.approx(5.0)


# ------------------------------------------------------------------------------------ download rows

META = {MEASURES["adverts"]: {"label": "Online job adverts", "unit": "adverts", "dataset": "dfe_adverts",
                              "source_url": "https://example.org", "release_date": None, "licence": "OGL"},
        MEASURES["employment"]: {"label": "In employment", "unit": "persons", "dataset": "dfe_aps",
                                 "source_url": "https://example.org/aps", "release_date": "2025-01-01",
                                 "licence": "OGL"}}
DATES = {(MEASURES["adverts"], "Jul 2025"): ("2025-07-01", "2025-07-31")}


def test_export_rows():
    rows = export_rows([_demand()], META, DATES)
    assert tuple(rows.columns) == COLUMNS and COLUMNS[: len(EXPORT_COLUMNS)] == EXPORT_COLUMNS
    unit = rows[rows["breakdown"].str.startswith("soc2020_unit: ")].set_index("soc_codes")
    assert unit.loc["6135", "value"] == pytest.approx(50.0) and unit.loc["6135", "status"] == ESTIMATE_STATUS
    assert unit.loc["6135", "period_start"] == "2025-07-01" and unit.loc["6135", "dataset"] == "dfe_adverts"
    assert unit.loc["6135", "location_quotient"] == pytest.approx(2.0)
    assert unit.loc["6135", "share_pct"] == pytest.approx(5.0)
    assert math.isnan(unit.loc["3219", "value"]) and unit.loc["3219", "status"].startswith("suppressed (")
    steps = rows[rows["breakdown"].str.startswith("career_cluster_step: ")]
    assert list(steps["step"]) == [1, 2, 3]
    sub = rows[(rows["breakdown"] == "soc2020_submajor: 32 sub-major 32") & (rows["measure"] == MEASURES["adverts"])]
    assert len(sub) == 1 and math.isnan(sub["value"].iloc[0])
    assert sub["status"].iloc[0] == "suppressed (blank in DfE data hub)"
    emp = rows[rows["measure"] == MEASURES["employment"]]
    assert set(emp["unit"]) == {"persons"} and set(emp["measure_label"]) == {"In employment"}


def test_export_is_formula_neutralised():
    rows = export_rows([_demand(_cluster("=HYPERLINK(\"http://x\")"), area_name="+cmd")], META, DATES)
    text = export.to_csv(rows).decode("utf-8-sig")
    back = pd.read_csv(io.StringIO(text), dtype=str)
    assert (back["cluster_name"] == "'=HYPERLINK(\"http://x\")").all()
    assert (back["area_name"] == "'+cmd").all()
    assert not any(str(v).startswith(("=", "+", "@")) for v in back.to_numpy().ravel() if isinstance(v, str))
    # numbers stay numbers; suppressed cells stay empty, not zero
    assert pd.to_numeric(back["value"], errors="coerce").notna().sum() > 0
    assert back.loc[back["soc_codes"] == "3219", "value"].isna().all()
