"""Local demand per career-cluster step: every figure re-computed here from the official CSV cells.

Two databases are exercised: a tiny DuckDB with the contract's table/column names built in this file
from the raw cells (fast, always runs when the sources are present), and the real lmi database (the
snapshot when it holds the measures, else one built from the sources by the code under test).
"""
from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from lmi.cluster_demand import ENGLAND, MEASURES, cluster_demand, share_and_lq
from lmi.clusters import SocStructure, load_clusters
from lmi.errors import QueryError
from lmi.paths import default_db
from lmi.schema import FACT_COLUMNS

VAC = "vacancies/dfe_datahub_online_job_adverts_by_area_soc2020_Jul2025.csv"
APS = "employment/dfe_datahub_aps_labour_market_and_quals_by_area.csv"
UG = "vacancies/dfe_job_ads_england_by_soc2020_unit_group_monthly.csv"
LEP_LOOKUP = "lookups/dfe_lsip_dashboard_C_mapLA_LAD22_LEP_LSIP_MCA_APS2021.csv"
SOC_XLSX = "occupations/soc2020volume1structureanddescriptionofunitgroupsexcel16042025.xlsx"
APS_PERIOD = "Apr 2024-Mar 2025"

# area code -> (level, name in the data hub files)
AREAS = {
    "E07000123": ("lad", "Preston LADU"),
    "E06000008": ("lad", "Blackburn with Darwen LADU"),
    "E69000019": ("lsip", "Lancashire LSIP"),
    "E92000001": ("england", "England"),
}
LEP = "E37000019"          # Lancashire LEP: no data-hub rows, a sum of member LADs
CLUSTERS = ("health_social_care", "construction_built_environment")
TEST_AREAS = ("E07000123", "E06000008", LEP, "E69000019")


# ------------------------------------------------------------------------------------ raw official cells

class Raw:
    """Cells of the official CSVs, read with the csv module (no lmi code)."""

    def __init__(self, src: Path):
        self.adverts: dict[str, dict[tuple[str, str], float]] = {}
        with open(src / VAC, encoding="utf-8-sig", newline="") as f:
            for r in csv.DictReader(f):
                bt = "major" if "Major Group" in r["Breakdown"] and "Sub" not in r["Breakdown"] else "submajor"
                code = "unknown" if r["Subgroup"] == "Unknown" else r["Subgroup"].split(" - ")[0]
                self.adverts.setdefault(r["Area"], {})[(bt, code)] = float(r["valueText"])
        self.aps: dict[str, dict[str, float]] = {}   # area -> code/'total' -> value (nan = blank)
        with open(src / APS, encoding="utf-8-sig", newline="") as f:
            for r in csv.DictReader(f):
                if r["metric"] != "inemployment" or r["Period"] != APS_PERIOD:
                    continue
                if r["Breakdown"] == "Total":
                    key = "total"
                elif r["Breakdown"].startswith("Occupation"):
                    key = r["Subgroup"].split(" - ")[0]
                else:
                    continue
                self.aps.setdefault(r["Area"], {})[key] = float(r["valueText"]) if r["valueText"] else math.nan
        self.ug: dict[str, float] = {}
        with open(src / UG, encoding="utf-8-sig", newline="") as f:
            for r in csv.DictReader(f):
                if r["metric"] == "soc_3m_avg" and r["timePeriod"] == "2025-07-01" and r["soc_4_digit_code"] != "Unknown":
                    self.ug[r["soc_4_digit_code"]] = float(r["value"])
        self.lep_names: list[str] = []
        with open(src / LEP_LOOKUP, encoding="utf-8-sig", newline="") as f:
            for r in csv.DictReader(f):
                if r["LEP"] == "Lancashire" or r["LEP2"] == "Lancashire":
                    self.lep_names.append(r["LAD22NM"] + " LADU")

    def adverts_of(self, area: str, members: list[str] | None = None) -> dict[tuple[str, str], float]:
        if area != LEP:
            return self.adverts[AREAS[area][1]]
        out: dict[tuple[str, str], float] = {}
        for name in members or self.lep_names:
            for k, v in self.adverts[name].items():
                out[k] = out.get(k, 0.0) + v
        return out

    def aps_of(self, area: str, members: list[str] | None = None) -> dict[str, float]:
        if area != LEP:
            return self.aps[AREAS[area][1]]
        out: dict[str, float] = {}
        for name in members or self.lep_names:
            for k, v in self.aps[name].items():
                if not math.isnan(v):
                    out[k] = out.get(k, 0.0) + v
                else:
                    out.setdefault(k, 0.0)
        return out


@pytest.fixture(scope="module")
def raw(sources_dir: Path) -> Raw:
    return Raw(sources_dir)


@pytest.fixture(scope="module")
def soc(sources_dir: Path) -> SocStructure:
    return SocStructure.from_workbook(sources_dir / SOC_XLSX, SOC_XLSX)


@pytest.fixture(scope="module")
def model(soc):
    return load_clusters(soc=soc)


# ------------------------------------------------------------------------------------ tiny fixture database

def _fact(measure, area, level, period, start, end, btype, code, value, status="ok", reason=None,
          derivation="published", n_c=None, n_m=None) -> dict:
    return {"dataset": "fixture", "measure": measure, "area_code": area, "area_level": level, "period": period,
            "period_start": pd.Timestamp(start), "period_end": pd.Timestamp(end), "breakdown_type": btype,
            "breakdown_code": code, "breakdown_label": code, "value": value, "unit": "x", "status": status,
            "status_reason": reason, "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan,
            "denominator": np.nan, "derivation": derivation, "n_contributing": n_c, "n_missing": n_m}


@pytest.fixture(scope="module")
def fixture_db(raw: Raw, soc: SocStructure, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clusters") / "fixture.duckdb"
    rows = []
    areas = [(c, lv, AREAS[c][1]) for c, (lv, _) in AREAS.items()] + [(LEP, "lep", "Lancashire")]
    for code, level, _ in areas:
        deriv = "summed" if code == LEP else "published"
        for (bt, sc), v in raw.adverts_of(code).items():
            rows.append(_fact(MEASURES["adverts"], code, level, "Jul 2025", date(2025, 7, 1), date(2025, 7, 31),
                              f"soc2020_{bt}", sc, v, derivation=deriv))
        for key, v in raw.aps_of(code).items():
            bt = "total" if key == "total" else "soc2020_submajor"
            st, why = ("ok", None) if not math.isnan(v) else ("suppressed", "blank in DfE data hub")
            rows.append(_fact(MEASURES["employment"], code, level, APS_PERIOD, date(2024, 4, 1),
                              date(2025, 3, 31), bt, key, v, st, why, derivation=deriv))
        # an older APS period with a different value, to check the latest period is chosen by default
        rows.append(_fact(MEASURES["employment"], code, level, "Apr 2023-Mar 2024", date(2023, 4, 1),
                          date(2024, 3, 31), "total", "total", 1.0))
    for u, v in raw.ug.items():
        rows.append(_fact(MEASURES["adverts_england_unit"], ENGLAND, "england", "Jul 2025", date(2025, 7, 1),
                          date(2025, 7, 31), "soc2020_unit", u, v))
    facts = pd.DataFrame(rows, columns=list(FACT_COLUMNS))
    con = duckdb.connect(str(path))
    con.register("_f", facts)
    con.execute("CREATE TABLE facts AS SELECT * FROM _f")
    con.execute("CREATE TABLE measures (id VARCHAR, dataset VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO measures VALUES (?, 'fixture', ?)",
                    [(MEASURES[k], k) for k in ("adverts", "employment", "adverts_england_unit")])
    con.execute("CREATE TABLE geo_areas (area_code VARCHAR, area_name VARCHAR, area_level VARCHAR)")
    con.executemany("INSERT INTO geo_areas VALUES (?, ?, ?)",
                    [(c, n.removesuffix(" LADU").removesuffix(" LSIP"), lv) for c, lv, n in areas])
    con.execute("CREATE TABLE soc2020 (code VARCHAR, level VARCHAR, title VARCHAR)")
    con.executemany("INSERT INTO soc2020 VALUES (?, ?, ?)", [(c, g.level, g.title) for c, g in soc.groups.items()])
    con.execute("CREATE TABLE build_info (key VARCHAR, value VARCHAR)")
    con.execute("INSERT INTO build_info VALUES ('build_id', 'fixture')")
    con.close()
    return path


# ------------------------------------------------------------------------------------ independent checks

def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _check_area(con, model, raw: Raw, cluster_id: str, area: str, members: list[str] | None = None) -> int:
    """Assert every adverts/APS figure for one cluster and area; return the number of figures checked."""
    cl = model.get(cluster_id)
    d = cluster_demand(con, cl, area, model.soc)
    n = 0
    adv, eng = raw.adverts_of(area, members), raw.adverts["England"]
    a_tot = sum(v for (bt, _), v in adv.items() if bt == "major")
    e_tot = sum(v for (bt, _), v in eng.items() if bt == "major")
    subs = sorted({c[:2] for c in cl.codes})
    sm = d.submajors
    got_adv = sm[sm["measure"] == MEASURES["adverts"]].set_index("submajor")
    assert sorted(got_adv.index) == subs
    for s in subs:
        r = got_adv.loc[s]
        share, eshare = adv[("submajor", s)] / a_tot, eng[("submajor", s)] / e_tot
        assert r["value"] == adv[("submajor", s)] and r["area_total"] == a_tot and r["england_total"] == e_tot
        assert _close(r["share"], share) and _close(r["england_share"], eshare) and _close(r["lq"], share / eshare)
        assert r["period"] == "Jul 2025"
        n += 1
    aps, aps_e = raw.aps_of(area, members), raw.aps["England"]
    got_aps = sm[sm["measure"] == MEASURES["employment"]].set_index("submajor")
    for s in subs:
        r = got_aps.loc[s]
        v = aps.get(s, math.nan)
        if area != LEP and math.isnan(v):
            assert math.isnan(r["value"]) and r["status"] == "suppressed" and "suppressed" in r["note"]
        else:
            assert r["value"] == v, (area, s)
            share, eshare = v / aps["total"], aps_e[s] / aps_e["total"]
            assert _close(r["share"], share) and _close(r["lq"], share / eshare)
        assert r["area_total"] == aps["total"] and r["period"] == APS_PERIOD
        n += 1
    # step ESTIMATE: local sub-major x England unit-group share of the sub-major
    ug_sub: dict[str, float] = {}
    for u, v in raw.ug.items():
        ug_sub[u[:2]] = ug_sub.get(u[:2], 0.0) + v
    est = d.steps[d.steps["basis"] == "estimate"].set_index("step")
    assert len(est) == len(cl.steps)
    for s in cl.steps:
        local = sum(adv[("submajor", u[:2])] * raw.ug[u] / ug_sub[u[:2]] for u in s.codes)
        national = sum(eng[("submajor", u[:2])] * raw.ug[u] / ug_sub[u[:2]] for u in s.codes)
        r = est.loc[s.number]
        assert _close(r["value"], local) and _close(r["england_value"], national)
        assert _close(r["lq"], (local / a_tot) / (national / e_tot))
        assert r["status"] == "derived" and "ESTIMATE" in r["measure_label"] and "not published" in r["note"]
        n += 1
    return n


def test_fixture_db_figures_equal_the_official_cells(fixture_db, model, raw):
    con = duckdb.connect(str(fixture_db), read_only=True)
    n = sum(_check_area(con, model, raw, c, a) for c in CLUSTERS for a in TEST_AREAS)
    assert n > 100


def test_suppressed_cell_is_reported_not_zero(fixture_db, model, raw):
    con = duckdb.connect(str(fixture_db), read_only=True)
    assert math.isnan(raw.aps["Preston LADU"]["12"])          # blank in the official file
    d = cluster_demand(con, model.get("health_social_care"), "E07000123", model.soc)
    r = d.submajors[(d.submajors["measure"] == MEASURES["employment"]) & (d.submajors["submajor"] == "12")].iloc[0]
    assert math.isnan(r["value"]) and math.isnan(r["share"]) and math.isnan(r["lq"]) and r["status"] == "suppressed"


def test_health_pathway_in_a_lancashire_authority(fixture_db, model, raw):
    con = duckdb.connect(str(fixture_db), read_only=True)
    d = cluster_demand(con, model.get("health_social_care"), "E06000008", model.soc)
    assert d.area_name == "Blackburn with Darwen" and d.area_level == "lad"
    step1 = d.steps[(d.steps["step"] == 1) & (d.steps["basis"] == "estimate")].iloc[0]
    assert step1["soc_codes"].split(", ")[:1] == ["6135"]
    v61 = raw.adverts["Blackburn with Darwen LADU"][("submajor", "61")]
    ug61 = sum(v for u, v in raw.ug.items() if u.startswith("61"))
    assert _close(step1["value"], v61 * (raw.ug["6135"] + raw.ug["6131"] + raw.ug["6132"]) / ug61)
    row61 = d.submajors[(d.submajors["measure"] == MEASURES["adverts"]) & (d.submajors["submajor"] == "61")].iloc[0]
    assert row61["steps"] == "1, 2" and "cannot be split by step" in row61["note"]
    assert any("Skills Imperative 2035 is published for England and the Lancashire LSIP only" in n for n in d.notes) \
        or any(MEASURES["growth"] in n for n in d.notes)


def test_period_selection_and_unknown_area(fixture_db, model):
    con = duckdb.connect(str(fixture_db), read_only=True)
    cl = model.get("land_based")
    d = cluster_demand(con, cl, "E07000123", model.soc, period="Apr 2023-Mar 2024")
    emp = d.submajors[d.submajors["measure"] == MEASURES["employment"]]
    assert set(emp["period"]) == {"Apr 2023-Mar 2024"} and set(emp["area_total"]) == {1.0}
    assert any("'Apr 2023-Mar 2024' not available" in n for n in d.notes)   # adverts fall back to Jul 2025
    with pytest.raises(QueryError):
        cluster_demand(con, cl, "E99999999", model.soc)


def test_share_and_lq_arithmetic():
    s, e, lq = share_and_lq(25.0, 100.0, 10.0, 200.0)
    assert (s, e, lq) == (0.25, 0.05, 5.0)
    assert all(math.isnan(x) for x in share_and_lq(5.0, 0.0, 1.0, 0.0))
    assert math.isnan(share_and_lq(math.nan, 10.0, 1.0, 10.0)[2])


def test_cli_prints_the_same_table(fixture_db, raw, capsys, sources_dir, monkeypatch):
    from lmi.cli import main

    monkeypatch.setenv("LMI_SOURCES", str(sources_dir))
    rc = main(["clusters", "--cluster", "health_social_care", "--area", "E07000123", "--db", str(fixture_db)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "ESTIMATE" in out and "Preston" in out and "6135" in out
    assert f"{raw.adverts['Preston LADU'][('submajor', '61')]:,.0f}" in out
    assert main(["clusters", "--db", str(fixture_db)]) == 0
    assert "13 career clusters" in capsys.readouterr().out
    assert main(["clusters", "--area", "E99999999", "--db", str(fixture_db)]) == 1
    assert "unknown area code" in capsys.readouterr().err


def test_unit_group_feed_measures_are_summed_per_step(fixture_db, model, tmp_path):
    """Advert-feed series (unit groups, any area): step value = sum of its unit groups; salary per unit group.
    The feed is not among the official sources yet, so the counts here are synthetic."""
    import shutil

    path = tmp_path / "feed.duckdb"
    shutil.copy(fixture_db, path)
    con = duckdb.connect(str(path))
    cl = model.get("health_social_care")
    counts = {"E07000123": {"6135": 40.0, "6136": 12.0, "2237": 9.0, "9999": 0.0},
              ENGLAND: {"6135": 4000.0, "6136": 1500.0, "2237": 2500.0}}
    rows = []
    for area, cc in counts.items():
        lv = "lad" if area != ENGLAND else "england"
        for u, v in cc.items():
            if u != "9999":
                rows.append(_fact(MEASURES["feed_adverts"], area, lv, "Oct 2025", date(2025, 10, 1),
                                  date(2025, 10, 31), "soc2020_unit", u, v))
        rows.append(_fact(MEASURES["feed_adverts"], area, lv, "Oct 2025", date(2025, 10, 1), date(2025, 10, 31),
                          "total", "total", 1000.0 if area != ENGLAND else 100000.0))
    rows.append(_fact(MEASURES["feed_salary"], "E07000123", "lad", "Oct 2025", date(2025, 10, 1),
                      date(2025, 10, 31), "soc2020_unit", "6135", 24500.0))
    con.register("_f", pd.DataFrame(rows, columns=list(FACT_COLUMNS)))
    con.execute("INSERT INTO facts SELECT * FROM _f")
    con.executemany("INSERT INTO measures VALUES (?, 'fixture', ?)",
                    [(MEASURES["feed_adverts"], "feed"), (MEASURES["feed_salary"], "salary")])
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    d = cluster_demand(con, cl, "E07000123", model.soc)
    feed = d.steps[d.steps["measure"] == MEASURES["feed_adverts"]].set_index("step")
    assert feed.loc[1, "value"] == 40.0 and feed.loc[2, "value"] == 12.0 and feed.loc[4, "value"] == 9.0
    assert _close(feed.loc[1, "share"], 40 / 1000) and _close(feed.loc[1, "lq"], (40 / 1000) / (4000 / 100000))
    assert "small count" in feed.loc[4, "note"] and feed.loc[1, "basis"] == "summed"
    occ = d.occupations.set_index("soc")
    assert occ.loc["6135", "feed_median_salary"] == 24500.0 and math.isnan(occ.loc["6136", "feed_median_salary"])


# ------------------------------------------------------------------------------------ the real database

NEEDED = (MEASURES["adverts"], MEASURES["employment"], MEASURES["adverts_england_unit"])


def _has_measures(path: Path) -> bool:
    try:
        con = duckdb.connect(str(path), read_only=True)
        ids = set(con.execute("SELECT id FROM measures").df()["id"])
        con.close()
        return set(NEEDED) <= ids
    except duckdb.Error:
        return False


@pytest.fixture(scope="module")
def real_db(request, sources_dir) -> Path:
    path = default_db()
    if path.is_file() and _has_measures(path):
        return path
    built = request.getfixturevalue("built_db")      # build from the sources with the code under test
    assert _has_measures(built), "the built database lacks the cluster measures " + ", ".join(NEEDED)
    return built


def test_real_db_figures_equal_the_official_cells(real_db, model, raw):
    con = duckdb.connect(str(real_db), read_only=True)
    members = con.execute("SELECT l.area_name FROM geo_membership m JOIN geo_areas l ON l.area_code = m.lad_code "
                          "AND l.area_level = 'lad' WHERE m.area_code = ? AND m.area_level = 'lep'", [LEP]).df()
    names = sorted(n + " LADU" for n in members["area_name"])
    assert names == sorted(raw.lep_names)
    n = sum(_check_area(con, model, raw, c, a, names if a == LEP else None) for c in CLUSTERS for a in TEST_AREAS)
    assert n > 100


def test_real_db_projections_for_lancashire_lsip(real_db, model):
    con = duckdb.connect(str(real_db), read_only=True)
    d = cluster_demand(con, model.get("health_social_care"), "E69000019", model.soc)
    for role in ("growth", "replacement"):
        rows = d.submajors[d.submajors["measure"] == MEASURES[role]]
        assert len(rows) == 6
        tot = con.execute("SELECT value FROM facts WHERE measure = ? AND area_code = ? AND breakdown_type = 'total'",
                          [MEASURES[role], "E69000019"]).fetchone()[0]
        etot = con.execute("SELECT value FROM facts WHERE measure = ? AND area_code = ? AND breakdown_type = 'total'",
                           [MEASURES[role], ENGLAND]).fetchone()[0]
        for r in rows.itertuples():
            v = con.execute("SELECT value FROM facts WHERE measure = ? AND area_code = ? AND breakdown_type = "
                            "'soc2020_submajor' AND breakdown_code = ?", [MEASURES[role], "E69000019", r.submajor]
                            ).fetchone()[0]
            assert r.value == v and r.area_total == tot and r.england_total == etot
            assert _close(r.lq, (v / tot) / (r.england_value / etot))
    # and not for a LAD
    d = cluster_demand(con, model.get("health_social_care"), "E07000123", model.soc)
    assert not (d.submajors["measure"] == MEASURES["growth"]).any()
