"""lmi.charts figure builders and lmi.headlines tile/summary logic (pure, no database)."""
from __future__ import annotations

import base64
import json
import math

import pandas as pd
import pytest

from lmi import charts, headlines


def ts_rows(values: dict[str, list], periods=("2021", "2022", "2023", "2024"), ci=False) -> pd.DataFrame:
    rows = []
    for code, vals in values.items():
        for p, v in zip(periods, vals):
            if v == "skip":
                continue
            y = int(p)
            rows.append({"area_code": code, "area_name": f"Area {code}", "period": p,
                         "period_start": pd.Timestamp(f"{y}-01-01"), "period_end": pd.Timestamp(f"{y}-12-31"),
                         "value": v, "ci_lower": (v - 1 if ci and v is not None else None),
                         "ci_upper": (v + 1 if ci and v is not None else None),
                         "status": "ok" if v is not None else "suppressed",
                         "status_reason": None if v is not None else "disclosive"})
    return pd.DataFrame(rows)


def test_series_frame_keeps_gaps_and_adds_missing_periods():
    ts = ts_rows({"A": [1.0, None, 3.0, 4.0], "B": [2.0, 2.0, "skip", 2.0]})
    f = charts.series_frame(ts)
    a = f[f.area_code == "A"].set_index("period")["value"]
    b = f[f.area_code == "B"].set_index("period")
    assert math.isnan(a["2022"]) and a["2023"] == 3.0            # suppressed: a gap, not interpolated
    assert math.isnan(b.loc["2023", "value"]) and b.loc["2023", "status"] == "missing"   # absent row: a gap
    assert list(f.area_code.drop_duplicates()) == ["A", "B"]      # selected area first


def test_rolling_average_needs_three_values_and_keeps_gaps():
    ts = ts_rows({"A": [3.0, 6.0, 9.0, None, 12.0, 15.0, 18.0]},
                 periods=("2018", "2019", "2020", "2021", "2022", "2023", "2024"))
    f = charts.series_frame(ts, roll=True).set_index("period")["value"]
    assert math.isnan(f["2019"]) and f["2020"] == pytest.approx(6.0)
    assert all(math.isnan(f[p]) for p in ("2021", "2022", "2023"))
    assert f["2024"] == pytest.approx(15.0)


def test_index_to_base_period():
    ts = ts_rows({"A": [50.0, 55.0, 60.0, 75.0]}, ci=True)
    f = charts.series_frame(ts, base="2022").set_index("period")
    assert f.loc["2022", "value"] == pytest.approx(100.0)
    assert f.loc["2024", "value"] == pytest.approx(75 / 55 * 100)
    assert f.loc["2024", "ci_upper"] == pytest.approx(76 / 55 * 100)


def test_line_chart_breaks_at_gaps_labels_axes_and_draws_ci_bands():
    f = charts.series_frame(ts_rows({"A": [1.0, None, 3.0, 4.0], "B": [2.0, 2.5, 3.0, 3.5]}, ci=True))
    fig = charts.line_chart(f, title="Employment rate (%), Area A and comparison areas, 2021 to 2024",
                            y_title="Employment rate (%)", unit="%", decimals=1)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["Area A", "Area B"]
    assert all(t.connectgaps is False for t in lines)
    assert lines[0].y[1] is None or math.isnan(lines[0].y[1])
    assert any(t.fill == "tonexty" for t in fig.data)
    assert fig.layout.yaxis.title.text == "Employment rate (%)"
    assert fig.layout.xaxis.title.text.startswith("Period")
    assert "2021 to 2024" in fig.layout.title.text


def boundaries():
    poly = lambda x: json.dumps({"type": "Polygon", "coordinates": [[[x, 50], [x + 1, 50], [x + 1, 51], [x, 50]]]})
    return pd.DataFrame({"lad_code": ["E1", "E2", "E3"], "lad_name": ["One", "Two", "Three"],
                         "map_geojson": [poly(0), poly(1), poly(2)], "hex_col": [0, 1, 0], "hex_row": [0, 0, 1]})


def test_map_frame_and_choropleth_draw_missing_areas_grey_with_a_legend_entry():
    b = boundaries()
    vals = pd.DataFrame({"area_code": ["E1", "E2"], "value": [4.5, None], "status": ["ok", "suppressed"],
                         "status_reason": [None, "disclosive"]})
    frame = charts.map_frame(b, vals, "%", 1)
    assert frame.set_index("area_code").loc["E3", "status"] == "missing"
    assert frame.set_index("area_code").loc["E1", "value_text"] == "4.5%"
    gj = charts.feature_collection(b)
    url = charts.geojson_data_url(gj)
    assert json.loads(base64.b64decode(url.split(",", 1)[1])) == gj
    fig = charts.choropleth(frame, url, title="Claimant Count (%), local authority districts in England, 2025",
                            legend_title="Claimant Count (%)", highlight=charts.subset_features(gj, ["E1"]))
    values, grey, outline = fig.data
    assert list(values.locations) == ["E1"] and values.colorscale[0][1].lower() == "#00224e"   # cividis
    assert sorted(grey.locations) == ["E2", "E3"] and grey.showlegend and "Grey" in grey.name
    assert grey.colorscale[0][1] == charts.MISSING_GREY
    assert "%{customdata[0]}" in values.hovertemplate and "Status" in values.hovertemplate
    assert outline.marker.line.width > 1 and list(outline.locations) == ["E1"]
    assert fig.layout.geo.fitbounds == "locations"
    bbox = (0, 50, 1, 51)
    zoomed = charts.choropleth(frame, gj, title="t", legend_title="x", bbox=bbox)
    # zoomed by centre and scale (not axis ranges, which clip the drawing): centred inside the box
    geo = zoomed.layout.geo
    assert geo.fitbounds is None and geo.projection.scale > 1
    assert bbox[0] < geo.center.lon < bbox[2] and bbox[1] < geo.center.lat < bbox[3]


def test_hex_map_places_each_lad_on_its_cell():
    b = boundaries()
    frame = charts.map_frame(b, pd.DataFrame({"area_code": ["E1", "E2", "E3"], "value": [1.0, 2.0, None],
                                              "status": ["ok", "ok", "missing"], "status_reason": [None] * 3}),
                             "persons", 0)
    fig = charts.hex_map(frame, b, title="t", legend_title="x", selected="E2")
    vals = fig.data[0]
    pos = dict(zip(vals.customdata[:, 1], zip(vals.x, vals.y)))
    assert pos["E1"] == (0, 0) and pos["E2"] == (1, 0)
    grey = fig.data[1]
    assert grey.x[0] == pytest.approx(0.5) and grey.y[0] == pytest.approx(0.866)   # odd row shifted
    assert fig.data[2].name.startswith("Selected")


def test_bar_chart_lists_missing_values_without_a_zero_bar_and_has_ci_error_bars():
    rows = pd.DataFrame({"area_code": ["A"], "area_name": ["Area A"], "period": ["2023"], "value": [70.0],
                         "unit": ["%"], "status": ["ok"], "status_reason": [None], "ci_lower": [68.0],
                         "ci_upper": [72.5]})
    frame = charts.compare_frame(rows, ["A", "B"], lambda c: f"Name {c}")
    assert frame.loc[1, "area_name"] == "Name B" and math.isnan(frame.loc[1, "value"])
    fig = charts.bar_chart(frame, label_col="area_name", title="t", x_title="Employment rate (%)", unit="%",
                           decimals=1, highlight="Area A")
    assert list(fig.data[0].y) == ["Area A", "Name B (no value)"]
    assert fig.data[0].error_x.array[0] == pytest.approx(2.5)
    assert fig.layout.xaxis.title.text == "Employment rate (%)"
    table = charts.table_view(frame, "%")
    assert list(table.columns[:4]) == ["Area", "Code", "Period", "Value"] and "95% CI lower" in table


def test_map_level_prefers_lad_then_lep():
    assert charts.map_level(["england", "lad", "lep"]) == "lad"
    assert charts.map_level(["england", "lep", "county"]) == "lep"
    assert charts.map_level(["england"]) is None


# --- headlines ---------------------------------------------------------------------------------
def test_compare_word_says_similar_when_confidence_intervals_overlap():
    assert headlines.compare_word(70.0, 72.0, (67.0, 73.0), (71.5, 72.5)) == "similar to"
    assert headlines.compare_word(70.0, 75.0, (68.0, 72.0), (74.5, 75.5)) == "lower than"
    assert headlines.compare_word(3.2, 4.0, None, None, 1) == "lower than"
    assert headlines.compare_word(4.04, 4.0, None, None, 1) == "the same as"
    assert headlines.compare_word(74.0, 75.0, (71.0, 77.0), None) == "similar to"   # comparator inside the CI


def spec(measure="m", **kw):
    return headlines.TileSpec("k", measure, "Employment rate", **kw)


def test_build_tile_and_summary():
    info = {"unit": "%", "decimals": 1, "aggregation": "weighted_mean"}
    series = ts_rows({"A": [70.0, 72.0, 74.0, 71.0]}, ci=True)
    shown = ({"area_code": "A", "area_name": "Area A", "area_level": "lad"}, "Area A")
    comp = {"area_code": "E", "area_name": "England", "value": 75.5, "ci_lower": 75.3, "ci_upper": 75.7}
    t = headlines.build_tile(spec(), info, series, shown, comp, {"publisher": "ONS", "release_date": "2024-04-16"})
    assert t.available and t.value == 71.0 and t.period == "2024" and t.change == pytest.approx(-3.0)
    assert t.value_text == "71.0%" and t.change_text == "−3.0 pp since 2023"
    assert t.release_date == "2024-04-16" and t.source == "ONS"
    s = headlines.summary("Area A", [t])
    assert s == ["Employment rate in Area A was 71.0% in 2024 (−3.0 pp since 2023), lower than England (75.5%)."]
    t.comparator_value, t.comparator_ci = 71.5, (71.3, 71.7)
    assert "similar to England" in headlines.summary("Area A", [t])[0]


def test_count_tiles_compare_as_a_share_and_missing_measures_are_flagged():
    info = {"unit": "adverts", "decimals": 0, "aggregation": "sum"}
    series = ts_rows({"A": [None, None, None, 3553.0]})
    shown = ({"area_code": "A", "area_name": "Area A", "area_level": "lad"}, "Area A")
    t = headlines.build_tile(spec(), info, series, shown, {"area_name": "Region", "value": 114864.0}, None)
    assert t.value_text == "3,553" and t.comparator_text == "114,864 adverts"
    assert "3.1% of the Region total" in headlines.summary("Area A", [t])[0]
    missing = headlines.build_tile(spec("absent"), None, None, None, None, None)
    assert not missing.available and "not available" in missing.note


def test_tile_area_uses_the_containing_lep_with_a_label():
    parents = pd.DataFrame({"area_code": ["R", "L", "E"], "area_name": ["Region", "The LEP", "England"],
                            "area_level": ["region", "lep", "england"]})
    area = {"area_code": "A", "area_name": "Barnsley", "area_level": "lad"}
    shown, label = headlines.tile_area(area, ["lep", "england"], parents)
    assert shown["area_code"] == "L" and label == "LEP containing Barnsley: The LEP"
    assert headlines.tile_area(area, ["lad"], parents)[0]["area_code"] == "A"
    assert headlines.tile_area(area, ["county"], parents) is None
    t = headlines.build_tile(spec(), {"unit": "%", "decimals": 0}, None, None, None, None)
    assert not t.available and "not published" in t.note


def test_format_helpers():
    assert headlines.fmt_value(None, "%") == "n/a"
    assert headlines.fmt_value(float("nan"), "%") == "n/a"
    assert headlines.fmt_value(1234567.0, "persons") == "1,234,567 persons"
    assert headlines.fmt_change(0.0, "%", 1) == "±0.0 pp"
