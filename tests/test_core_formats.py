"""ELS, MYE, SNPP, Census and raw-ELS figures in the built database against the official files,
read independently here with csv/openpyxl (never through lmi's readers)."""
from __future__ import annotations

import csv

import duckdb
import pytest


def _els_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _fact(db, measure, area, period, btype="total", bcode="total"):
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT value, status, status_reason, ci_lower, ci_upper FROM facts WHERE measure=? AND "
                          "area_code=? AND period=? AND breakdown_type=? AND breakdown_code=?",
                          [measure, area, period, btype, bcode]).fetchone()
    finally:
        con.close()
    assert row is not None, (measure, area, period)
    return row


ELS = [
    ("claimant_count/ons_els_claimant-count.csv", "els_claimant_count"),
    ("employment/ons_els_employment-rate.csv", None),
    ("qualifications/ons_els_qualifications-level-3-or-above.csv", "els_level_3_or_above_qualifications"),
    ("qualifications/ons_els_qualifications-none-gb.csv", "els_no_qualifications"),
    ("education/ons_els_further-education-and-skills-participation.csv", "els_further_education_and_skills_participation"),
    ("education/ons_els_further-education-and-skills-learner-achievements.csv",
     "els_further_education_and_skills_learner_achievements"),
]


@pytest.mark.parametrize("rel,measure", ELS)
def test_els_cells_equal_the_official_file(built_db, sources_dir, rel, measure):
    rows = [r for r in _els_rows(sources_dir / rel) if r["areacd"][:3] in ("E06", "E07", "E08", "E09", "E12", "E92")]
    ok = [r for r in rows if r["observation"]][::max(1, len(rows) // 6)][:6]
    sup = [r for r in rows if r["status"] == "x"][:1]
    assert len(ok) >= 5
    for r in ok + sup:
        m = measure or ("els_employment_rate" if r["indicator"] == "Employment rate" else "els_economically_inactive")
        year = r["period"][:4]
        period = year if r["period"][5:10] == "01-01" else f"{year}/{str(int(year) + 1)[-2:]}"
        code = {"E08000038": "E08000016", "E08000039": "E08000019"}.get(r["areacd"], r["areacd"])
        value, status, reason, lo, hi = _fact(built_db, m, code, period)
        if r["observation"]:
            assert value == pytest.approx(float(r["observation"]))
            if r["lci_95"]:
                assert lo == pytest.approx(float(r["lci_95"])) and hi == pytest.approx(float(r["uci_95"]))
        else:
            assert value is None and status == "suppressed" and "x" in reason


def test_population_figures_equal_the_official_file(built_db, sources_dir):
    with open(sources_dir / "population/ons_mye_population_tidy_2011-2024.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    want = [("open-innovations", "E07000123", "2023", "All ages", "pop_all_ages"),
            ("open-innovations", "E92000001", "2011", "All ages", "pop_all_ages"),
            ("strategy-unit", "E06000008", "2019", "16-64", "pop_16_64"),
            ("strategy-unit", "E09000001", "2023", "16-64", "pop_16_64"),
            ("regioniq", "E06000008", "2024", "16-64", "pop_16_64"),
            ("regioniq", "E10000017", "2024", "All ages", "pop_all_ages")]
    for src, code, yr, band, measure in want:
        r = next(r for r in rows if r["source"] == src and r["area_code"] == code and r["year"] == yr
                 and r["age_band"] == band and r["sex"] == "Persons")
        assert _fact(built_db, measure, code, f"mid-{yr}")[0] == pytest.approx(float(r["population"]))
    # England mid-2024 = sum of the July 2025 release's 153 county/unitary rows (SOURCES.md: 58,620,101)
    assert _fact(built_db, "pop_all_ages", "E92000001", "mid-2024")[0] == 58_620_101


def test_census_retired_codes_are_summed_onto_successors(built_db, sources_dir):
    import openpyxl

    wb = openpyxl.load_workbook(sources_dir / "population/ons_census2021_how_the_population_changed_where_you_live_datadownload.xlsx",
                                read_only=True)
    cells = {r[0]: r for r in wb["Population change"].iter_rows(values_only=True) if r and r[0]}
    cumberland = sum(cells[c][3] for c in ("E07000026", "E07000028", "E07000029"))  # Allerdale, Carlisle, Copeland
    value, status, reason, *_ = _fact(built_db, "census_usual_residents", "E06000063", "Census 2021")
    assert value == cumberland and status == "ok" and "sum of 3" in reason
    assert _fact(built_db, "census_usual_residents", "E07000123", "Census 2011")[0] == cells["E07000123"][2]


def test_rates_on_retired_codes_are_recomputed_from_numerators(built_db, sources_dir):
    rows = _els_rows(sources_dir / "population/ons_els_employment-rate-raw_APS_16-64_numerator_denominator.csv")
    parts = [r for r in rows if r["areacd"] in ("E07000026", "E07000028", "E07000029") and r["period"].startswith("2021")]
    num = sum(float(r["employment_rate_numerator"]) for r in parts)
    den = sum(float(r["employment_rate_denominator"]) for r in parts)
    value, status, reason, *_ = _fact(built_db, "aps_employment_rate_raw", "E06000063", "2021")
    assert value == pytest.approx(num / den * 100) and status == "derived"


def test_count_rollups_reconcile_with_their_lads(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    try:
        # England (published) = sum of its LADs, for the exact all-ages series
        eng, lads = con.execute("""SELECT (SELECT value FROM facts WHERE measure='pop_all_ages' AND area_code='E92000001'
                                            AND period='mid-2021'),
                                          (SELECT sum(value) FROM facts WHERE measure='pop_all_ages' AND area_level='lad'
                                            AND period='mid-2021')""").fetchone()
        assert eng == lads
        # every LSIP rollup = sum of its member LADs, with no missing LAD
        bad = con.execute("""SELECT count(*) FROM facts r WHERE r.measure='pop_16_64' AND r.area_level='lsip'
            AND r.period='mid-2022' AND (r.n_missing <> 0 OR abs(r.value - (SELECT sum(l.value) FROM facts l
            JOIN geo_membership m ON m.lad_code = l.area_code AND m.area_level='lsip' AND m.area_code = r.area_code
            WHERE l.measure='pop_16_64' AND l.period='mid-2022' AND l.area_level='lad')) > 0)""").fetchone()[0]
        assert bad == 0
        assert con.execute("SELECT count(*) FROM facts WHERE measure='pop_16_64' AND area_level='lsip' AND period='mid-2022'").fetchone()[0] == 38
        # a suppressed LAD is counted as missing: City of London's 2023 employment rate is suppressed ('x')
        n_missing, n_contrib, status = con.execute("""SELECT n_missing, n_contributing, status FROM facts
            WHERE measure='aps_employment_rate_raw' AND area_level='lsip' AND period='2023'
              AND area_code = (SELECT lsip_code FROM geo_lad WHERE lad_code='E09000001')""").fetchone()
        assert n_missing == 1 and status == "partial"
    finally:
        con.close()


def test_snpp_and_census_figures_equal_the_official_files(built_db, sources_dir):
    with open(sources_dir / "population/ons_snpp2018_principal_sex_age_bands_2018-2043_lad23_via_strategy-unit.csv",
              encoding="utf-8") as fh:
        rows = {(r["area_code"], r["sex"], r["age_band"]): r for r in csv.DictReader(fh)}
    for code, band, measure, year in (("E07000123", "16-64", "snpp_pop_16_64", "2035"),
                                      ("E06000008", "All ages", "snpp_pop_all_ages", "2043"),
                                      ("E09000033", "65+", "snpp_pop_65_plus", "2030"),
                                      ("E92000001", "All ages", "snpp_pop_all_ages", "2018"),
                                      ("E10000017", "0-15", "snpp_pop_0_15", "2025")):
        assert _fact(built_db, measure, code, year)[0] == float(rows[(code, "Persons", band)][year])
    import openpyxl

    wb = openpyxl.load_workbook(sources_dir / "population/ons_census2021_how_the_population_changed_where_you_live_datadownload.xlsx",
                                read_only=True)
    cells = {r[0]: r for r in wb["Population change"].iter_rows(values_only=True) if r and r[0]}
    for code, col, period in (("E92000001", 3, "Census 2021"), ("E12000002", 2, "Census 2011"),
                              ("E06000008", 3, "Census 2021"), ("E09000001", 2, "Census 2011"),
                              ("E08000016", 3, "Census 2021")):
        assert _fact(built_db, "census_usual_residents", code, period)[0] == cells[code][col]
