"""DfE data-hub long CSVs (APS and job adverts): staged figures against the official files read here with csv."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from lmi.errors import SourceError
from lmi.formats import dfe_datahub as fmt
from lmi.formats.base import StageContext
from helpers import csv_rows as _rows

APS = "employment/dfe_datahub_aps_labour_market_and_quals_by_area.csv"
ADS = "vacancies/dfe_datahub_online_job_adverts_by_area_soc2020_Jul2025.csv"
WARDS = "lookups/Ward_to_Local_Authority_District_(December_2023)_Lookup_in_the_United_Kingdom.csv"
KEY = ["measure", "area_code", "period", "breakdown_type", "breakdown_code"]




def _lad23(sources_dir: Path) -> dict[str, str]:
    return {r["LAD23NM"]: r["LAD23CD"] for r in _rows(sources_dir / WARDS)}


def _stage(sources_dir, rel, ctx):
    path = sources_dir / rel
    return fmt.stage(fmt.read(path), path, ctx)


def _get(facts: pd.DataFrame, *key) -> pd.Series:
    hit = facts[(facts[KEY] == pd.Series(key, index=KEY)).all(axis=1)]
    assert len(hit) == 1, key
    return hit.iloc[0]


def test_detect(sources_dir):
    assert fmt.detect(sources_dir / APS) and fmt.detect(sources_dir / ADS)
    assert not fmt.detect(sources_dir / "vacancies/C_VacPcArea.csv")
    assert not fmt.detect(sources_dir / "vacancies/referencetablesupdated.xlsx")
    assert not fmt.detect(sources_dir / "geography/Local_Authority_Districts_May_2023_UK_BUC.geojson")
    assert not fmt.detect(sources_dir / "claimant_count/ons_els_claimant-count.json")


def test_aps_figures_equal_the_official_file(sources_dir, ctx):
    (ds,) = _stage(sources_dir, APS, ctx)
    assert ds.info.id == "dfe_datahub_aps" and ds.info.topic == "Labour market"
    topics = {m.id: m.topic for m in ds.measures}
    assert topics["datahub_aps_qual_level4"] == "Qualifications" and topics["datahub_aps_employment"] == "Labour market"
    f = ds.facts
    lad = _lad23(sources_dir)
    rows = _rows(sources_dir / APS)
    pick = lambda **kw: next(r for r in rows if all(r[k] == v for k, v in kw.items()))  # noqa: E731

    r = pick(Area="England", metric="all", Period="Apr 2020-Mar 2021")
    assert _get(f, "datahub_aps_population_16plus", "E92000001", "Apr 2020-Mar 2021", "total", "total")["value"] \
        == float(r["valueText"])
    r = pick(Area="Hartlepool LADU", metric="inemployment", Breakdown="Occupation (SOC2020 Sub-Major Group)",
             Subgroup="22 - Health professionals", Period="Apr 2023-Mar 2024")
    g = _get(f, "datahub_aps_employment", lad["Hartlepool"], "Apr 2023-Mar 2024", "soc2020_submajor", "22")
    assert g["value"] == float(r["valueText"]) and g["area_level"] == "lad"
    assert g["breakdown_label"] == "Health professionals"
    r = pick(Area="Greater London Authority MCA", metric="qualL4", Breakdown="Gender", Subgroup="Females",
             Period="Jan 2022-Dec 2022")
    g = _get(f, "datahub_aps_qual_level4", "E61000001", "Jan-Dec 2022", "sex", "female")
    assert g["value"] == float(r["valueText"]) and g["area_level"] == "ca"
    r = pick(Area="Greater London LSIP", metric="qualNone", Breakdown="Age", Subgroup="25-29", Period="Jan 2021-Dec 2021")
    assert _get(f, "datahub_aps_qual_none", "E69000013", "Jan-Dec 2021", "age", "25-29")["value"] == float(r["valueText"])
    r = pick(Area="Leeds LADU", metric="inemployment", Breakdown="Industry", Subgroup="Construction",
             Period="Apr 2024-Mar 2025")
    g = _get(f, "datahub_aps_employment", lad["Leeds"], "Apr 2024-Mar 2025", "sic2007", "construction")
    assert g["value"] == float(r["valueText"])
    assert g["period_start"] == pd.Timestamp("2024-04-01") and g["period_end"] == pd.Timestamp("2025-03-31")
    # a suppressed (blank) cell for an English LAD
    r = next(x for x in rows if x["valueText"] == "" and x["Area"].endswith(" LADU") and x["metric"] == "unemployed"
             and x["Area"][:-5] in lad and lad[x["Area"][:-5]].startswith("E"))
    g = _get(f, "datahub_aps_unemployed", lad[r["Area"][:-5]], r["Period"], "total", "total")
    assert pd.isna(g["value"]) and g["status"] == "suppressed"
    assert g["status_reason"] == "blank in DfE data hub (suppressed or not available)"
    assert int(g["source_row"]) == rows.index(r) + 2
    # Welsh / Scottish LADU rows are skipped and counted
    devolved = {n for n, c in lad.items() if c[0] in "WS"}
    n_dev = sum(1 for x in rows if x["Area"].endswith(" LADU") and (x["Area"][:-5] in devolved
                                                                      or x["Area"] == "Rhondda Cynon Taff LADU"))
    assert n_dev > 0 and any(f"{n_dev} rows skipped" in n for n in ds.notes)
    assert not f["area_code"].str[0].isin(["W", "S"]).any()
    assert len(f) == len(rows) - n_dev


def test_job_advert_figures_equal_the_official_file(sources_dir, ctx):
    (ds,) = _stage(sources_dir, ADS, ctx)
    assert ds.info.id == "dfe_datahub_job_adverts" and [m.id for m in ds.measures] == ["datahub_job_adverts"]
    assert "3-month rolling average" in ds.measures[0].description
    f = ds.facts
    lad = _lad23(sources_dir)
    rows = _rows(sources_dir / ADS)
    assert all(r["valueText"] != "" for r in rows)          # no suppressed cells in this file
    assert (f["status"] == "ok").all()
    checks = [
        ("England", "Occupation (SOC2020 Sub-Major Group)", "11 - Corporate managers and directors",
         "E92000001", "soc2020_submajor", "11"),
        ("England", "Occupation (SOC2020 Major Group)", "Unknown", "E92000001", "soc2020_major", "unknown"),
        ("Hartlepool LADU", "Occupation (SOC2020 Major Group)", "2 - Professional occupations",
         lad["Hartlepool"], "soc2020_major", "2"),
        ("Greater London LSIP", "Occupation (SOC2020 Sub-Major Group)", "61 - Caring personal service occupations",
         "E69000013", "soc2020_submajor", "61"),
        ("Greater London Authority MCA", "Occupation (SOC2020 Major Group)", "9 - Elementary occupations",
         "E61000001", "soc2020_major", "9"),
    ]
    for area, bd, sg, code, btype, bcode in checks:
        r = next(x for x in rows if (x["Area"], x["Breakdown"], x["Subgroup"]) == (area, bd, sg))
        g = _get(f, "datahub_job_adverts", code, "Jul 2025", btype, bcode)
        assert g["value"] == float(r["valueText"]), area
    assert g["period_start"] == pd.Timestamp("2025-07-01")
    assert not (f["breakdown_type"] == "total").any()
    assert any("no all-occupation total" in n for n in ds.notes)


# --- corrupted copies -------------------------------------------------------------------------------
def _copy(sources_dir: Path, tmp_path: Path, edit) -> Path:
    with open(sources_dir / ADS, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[:60]
    rows = edit(rows)
    out = tmp_path / "datahub_corrupt.csv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return out


def _raises(path: Path, ctx, row: int | None, column: str) -> SourceError:
    with pytest.raises(SourceError) as err:
        fmt.stage(fmt.read(path), path, ctx)
    msg = str(err.value)
    assert path.name in msg and f"column '{column}" in msg
    if row is not None:
        assert f"row {row}" in msg
    return err.value


def test_missing_column(sources_dir, ctx, tmp_path):
    p = _copy(sources_dir, tmp_path, lambda rows: [r[:-1] for r in rows])
    _raises(p, ctx, 1, "valueText")


def test_text_in_value(sources_dir, ctx, tmp_path):
    def edit(rows):
        rows[10][6] = "about 40"
        return rows
    e = _raises(_copy(sources_dir, tmp_path, edit), ctx, 11, "valueText")
    assert e.value == "about 40"


def test_unknown_area(sources_dir, ctx, tmp_path):
    def edit(rows):
        rows[20][0] = "Nowhereshire LADU"
        return rows
    e = _raises(_copy(sources_dir, tmp_path, edit), ctx, 21, "Area")
    assert "Nowhereshire" in str(e)


def test_duplicated_row(sources_dir, ctx, tmp_path):
    p = _copy(sources_dir, tmp_path, lambda rows: rows + [rows[5]])
    _raises(p, ctx, 61, "Area, metric, Breakdown, Subgroup, Period")


def test_bad_period_and_subgroup(sources_dir, ctx, tmp_path):
    def edit(rows):
        rows[3][5] = "Summer 2025"
        return rows
    _raises(_copy(sources_dir, tmp_path, edit), ctx, 4, "Period")

    def edit2(rows):
        rows[4][4] = "Managers"
        return rows
    _raises(_copy(sources_dir, tmp_path, edit2), ctx, 5, "Subgroup")


def test_period_parsing():
    assert fmt.period_from_text("Apr 2020-Mar 2021")[0] == "Apr 2020-Mar 2021"
    assert fmt.period_from_text("Jan 2020-Dec 2020")[0] == "Jan-Dec 2020"
    assert fmt.period_from_text("Jan-Dec 2020")[0] == "Jan-Dec 2020"
    label, start, end = fmt.period_from_text("Jul-25")
    assert (label, start.isoformat(), end.isoformat()) == ("Jul 2025", "2025-07-01", "2025-07-31")
    with pytest.raises(ValueError):
        fmt.period_from_text("Mar 2021-Apr 2020")
