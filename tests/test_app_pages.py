"""AppTest: every page driven from dashboard.py; the values shown equal lmi.queries for the same selection."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lmi import export, headlines, queries
from lmi.db import Database

ROOT = Path(__file__).resolve().parent.parent
BARNSLEY, SHEFFIELD, YORKS, ENGLAND = "E08000016", "E08000019", "E12000003", "E92000001"


@pytest.fixture(scope="module")
def db(snapshot_db) -> Database:
    return Database(snapshot_db)


@pytest.fixture(autouse=True)
def _snapshot(monkeypatch, snapshot_db):
    monkeypatch.setenv("LMI_DB", str(snapshot_db))


def app(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.query_params.update(params)
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest, prefix: str = "Data table") -> pd.DataFrame:
    exps = [e for e in at.expander if e.label.startswith(prefix)]
    assert exps, f"no expander {prefix!r}"
    return exps[0].dataframe[0].value


def fmt(v, unit, dec):
    return headlines.fmt_value(v, unit if unit == "%" else "", dec)


def test_profile_tiles_equal_queries(db):
    at = app(area="E08000038")          # Barnsley's 2025 code resolves to the spine's 2023 code
    assert at.title[0].value == "Barnsley: area profile"
    shown = {m.label: m.value for m in at.metric}
    known = set(queries.measures(db, include_hidden=True)["id"])
    checked = 0
    for spec in headlines.TILES:
        if spec.measure not in known:
            assert shown[spec.label] == "Not available"
            continue
        info = queries.measure(db, spec.measure)
        if "lad" not in queries.measure_levels(db, spec.measure):
            continue
        if spec.sum_breakdown and ("total" not in set(queries.breakdowns(db, spec.measure)["breakdown_type"])):
            period = queries.latest_period(db, spec.measure, "lad")
            parts = queries.breakdown_values(db, spec.measure, period, BARNSLEY, spec.sum_breakdown)
            expected = parts["value"].sum()
        else:
            expected = queries.headline(db, spec.measure, BARNSLEY)["latest"]["value"]
        assert shown[spec.label] == fmt(expected, info["unit"], info["decimals"]), spec.label
        checked += 1
    assert checked >= 3
    # the comparator (region) value for the claimant rate, for the same period
    h = queries.headline(db, "els_claimant_count", BARNSLEY, YORKS)
    caption = " ".join(c.value for c in at.caption)
    assert f"Yorkshire and The Humber: {headlines.fmt_value(h['comparator']['value'], '%', 1)}" in caption
    assert any("Barnsley was" in m.value for m in at.markdown)     # the written summary


def test_change_area_comparators_measure_and_period(db):
    at = app(area=BARNSLEY, measure="els_employment_rate")
    at.selectbox(key="w_area").set_value(SHEFFIELD)
    ok(at.run())
    assert at.title[0].value == "Sheffield: area profile"
    assert at.query_params["area"] == SHEFFIELD
    assert at.multiselect(key="w_comparators").value == queries.default_comparators(db, SHEFFIELD)
    at.multiselect(key="w_comparators").set_value([ENGLAND, BARNSLEY])
    ok(at.run())
    at.selectbox(key="w_period").set_value("2021")
    ok(at.run())
    got = table(at)
    want = queries.values(db, "els_employment_rate", "2021", [SHEFFIELD, ENGLAND, BARNSLEY])
    assert got["Code"].tolist() == [SHEFFIELD, ENGLAND, BARNSLEY]
    assert got["Value"].tolist() == pytest.approx(want["value"].tolist())
    assert got["95% CI lower"].tolist() == pytest.approx(want["ci_lower"].tolist())
    # switch topic and measure
    at.selectbox(key="w_topic").set_value("Population")
    ok(at.run())
    at.selectbox(key="w_measure").set_value("pop_16_64")
    ok(at.run())
    assert at.query_params["measure"] == "pop_16_64"
    period = at.query_params["period"]
    assert period == queries.default_period(db, "pop_16_64", "lad")
    got = table(at)
    want = queries.values(db, "pop_16_64", period, [SHEFFIELD, ENGLAND, BARNSLEY])
    assert got["Value"].tolist() == pytest.approx(want["value"].tolist())
    # level change moves to the containing area
    at.selectbox(key="w_level").set_value("region")
    ok(at.run())
    assert at.query_params["area"] == YORKS and at.title[0].value.startswith("Yorkshire and The Humber")


def test_map_page_values_and_hex_toggle(db):
    at = app(area=BARNSLEY, measure="els_claimant_count", period="2024")
    ok(at.switch_page("pages/map.py").run())
    assert at.title[0].value == "Map: " + queries.measure(db, "els_claimant_count")["label"]
    got = table(at).set_index("Code")
    want = queries.level_values(db, "els_claimant_count", "2024", "lad").set_index("area_code")
    assert len(got) == len(queries.lad_boundaries(db))
    common = want.index[want["value"].notna()]
    assert got.loc[common, "Value"].tolist() == pytest.approx(want.loc[common, "value"].tolist())
    assert got.loc[BARNSLEY, "Value"] == pytest.approx(want.loc[BARNSLEY, "value"])
    at.toggle(key="w_hex").set_value(True)
    ok(at.run())
    assert at.query_params["hex"] == "1" and at.query_params["page"] == "map"
    assert len(table(at)) == len(got)


def test_map_of_a_measure_only_published_for_leps(db):
    lep_only = [m for m in queries.measures(db)["id"]
                if "lad" not in (lv := queries.measure_levels(db, m)) and "lep" in lv]
    if not lep_only:
        pytest.skip("this database has no LEP-only measure")
    m = lep_only[0]
    at = app(area=BARNSLEY, measure=m)
    ok(at.switch_page("pages/map.py").run())
    assert any("mapped at that level" in i.value for i in at.info)
    period = at.query_params["period"]
    got = table(at).set_index("Code")
    want = queries.level_values(db, m, period, "lep").dropna(subset=["value"]).set_index("area_code")
    assert got.loc[want.index, "Value"].tolist() == pytest.approx(want["value"].tolist())


def test_time_series_page_values_index_and_gaps(db):
    at = app(area=BARNSLEY, measure="els_employment_rate", cmp=f"{YORKS},{ENGLAND}")
    ok(at.switch_page("pages/time_series.py").run())
    got = table(at)
    want = queries.time_series(db, "els_employment_rate", [BARNSLEY, YORKS, ENGLAND])
    merged = want.merge(got, left_on=["area_code", "period"], right_on=["Code", "Period"], how="left")
    assert merged["Value"].tolist() == pytest.approx(merged["value"].tolist(), nan_ok=True)
    base = want["period"].iloc[0]
    at.selectbox(key="w_base").set_value(base)
    ok(at.run())
    idx = table(at)
    first = idx[idx["Period"] == base]["Value"].dropna()
    assert first.tolist() == pytest.approx([100.0] * len(first))
    assert at.query_params["base"] == base


def capture_downloads(monkeypatch) -> dict:
    """Record what the download buttons would send (file name -> bytes)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    got: dict[str, object] = {}
    orig_add, orig_def = MediaFileManager.add, MediaFileManager.add_deferred

    def add(self, data, mimetype, coordinates, file_name=None, **kw):
        got[file_name] = data
        return orig_add(self, data, mimetype, coordinates, file_name=file_name, **kw)

    def add_deferred(self, fn, mimetype, coordinates, file_name=None, **kw):
        got[file_name] = fn
        return orig_def(self, fn, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add", add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return got


def test_download_preview_and_files_equal_the_cli_export(db, monkeypatch, snapshot_db):
    files = capture_downloads(monkeypatch)
    at = app(area=BARNSLEY, measure="els_claimant_count", period="2024", cmp=f"{YORKS},{ENGLAND}")
    ok(at.switch_page("pages/download.py").run())
    want = queries.export_rows(db, measures=["els_claimant_count"], areas=[BARNSLEY, YORKS, ENGLAND], period="2024")
    preview = at.dataframe[0].value
    assert list(preview.columns) == list(want.columns)
    assert len(preview) == len(want) == 3
    assert preview["value"].tolist() == pytest.approx(want["value"].tolist())
    names = sorted(files)
    assert any(n.endswith(".csv") and "els-claimant-count" in n and "2024" in n and BARNSLEY in n for n in names)
    csv = next(v for n, v in files.items() if n.endswith(".csv"))
    csv = csv() if callable(csv) else csv
    cli = subprocess.run([sys.executable, "-m", "lmi", "export", "--db", str(snapshot_db), "--measure",
                          "els_claimant_count", "--area", BARNSLEY, "--area", YORKS, "--area", ENGLAND,
                          "--period", "2024"], cwd=ROOT, capture_output=True, check=True)
    assert csv.decode("utf-8-sig").splitlines() == cli.stdout.decode("utf-8").splitlines()
    xlsx = next(v for n, v in files.items() if n.endswith(".xlsx"))
    book = pd.read_excel(io.BytesIO(xlsx() if callable(xlsx) else xlsx), sheet_name=None)
    assert set(book) == {"data", "metadata"} and len(book["data"]) == 3
    # every area at the level, all periods
    at.radio(key="w_dl_areas").set_value("level")
    at.radio(key="w_dl_periods").set_value("all")
    ok(at.run())
    want = queries.export_rows(db, measures=["els_claimant_count"], level="lad")
    assert len(at.dataframe[0].value) == len(want)
    assert "--level lad" in at.code[0].value


def test_sources_page_lists_the_catalogue(db):
    at = app()
    ok(at.switch_page("pages/sources.py").run())
    cat = queries.catalogue(db)
    got = at.dataframe[0].value
    assert sorted(got["Dataset id"]) == sorted(cat["id"])
    assert got.set_index("Dataset id")["Stale"].to_dict() == cat.set_index("id")["stale"].astype(bool).to_dict()
    assert {"Regularity", "Latest period", "Release date", "Topic (classification)", "Spatial availability",
            "Licence"} <= set(got.columns)
    assert any("Licence" in m.value or "licen" in m.value for m in at.markdown)


def test_presentation_mode_hides_chrome_and_enlarges_charts():
    at = app(area=BARNSLEY, measure="els_claimant_count", present="1")
    ok(at.switch_page("pages/time_series.py").run())
    assert at.query_params["present"] == "1"
    assert any("stSidebar" in h.value and "display: none" in h.value for h in at.get("html"))
    assert at.button(key="exit_present") is not None
    assert any(s.value.startswith("Barnsley,") for s in at.subheader)      # subtitle: area, period
    at.button(key="exit_present").click()
    ok(at.run())
    assert "present" not in at.query_params
