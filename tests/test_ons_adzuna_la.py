"""ONS/Adzuna labour demand by LA workbook: staged figures against cells read here with openpyxl."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from lmi.errors import SourceError
from lmi.formats import ons_adzuna_la as fmt
from lmi.formats.base import StageContext

REL = "vacancies/referencetablesupdated.xlsx"
WARDS = "lookups/Ward_to_Local_Authority_District_(December_2023)_Lookup_in_the_United_Kingdom.csv"
M = "ons_adzuna_adverts_index"



@pytest.fixture(scope="module")
def staged(sources_dir, ctx):
    (ds,) = fmt.stage(fmt.read(sources_dir / REL), sources_dir / REL, ctx)
    return ds


def _sheet(path: Path, name: str) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [tuple(r) for r in wb[name].iter_rows(values_only=True)]
    finally:
        wb.close()


def _get(facts, code, period):
    hit = facts[(facts["measure"] == M) & (facts["area_code"] == code) & (facts["period"] == period)]
    assert len(hit) == 1, (code, period)
    return hit.iloc[0]


def test_detect(sources_dir):
    assert fmt.detect(sources_dir / REL)
    for other in ("lookups/LSIP_lookup.xlsx", "skills_survey/ESS_2019_LEP_Summary_Tables_Controlled_v01.00.xlsx",
                  "vacancies/C_VacPcArea.csv", "geography/ons_uk_topojson_regions_rgn.geojson"):
        assert not fmt.detect(sources_dir / other), other


def test_la_and_region_figures_equal_the_official_cells(sources_dir, staged):
    s1 = _sheet(sources_dir / REL, "1")
    assert s1[3][0].startswith("Local authority") and s1[3][2] == "2017"      # header row 4, years as text
    by_name = {r[0]: (i + 1, r) for i, r in enumerate(s1) if r[0]}
    # (LA name, expected LAD code (May 2021 vintage), column index, year)
    cases = [("Adur", "E07000223", 2, 2017), ("York", "E06000014", 7, 2022), ("Amber Valley", "E07000032", 4, 2019),
             ("Wyre Forest", "E07000239", 5, 2020), ("Bristol, City of", "E06000023", 6, 2021)]
    f = staged.facts
    for name, code, col, year in cases:
        row_no, row = by_name[name]
        g = _get(f, code, f"Jan {year}")
        assert g["value"] == pytest.approx(float(row[col])), name
        assert g["status"] == "ok" and g["area_level"] == "lad" and int(g["source_row"]) == row_no
    assert _get(f, "E07000223", "Jan 2017")["period_end"] == pd.Timestamp("2017-01-31")
    s2 = _sheet(sources_dir / REL, "2")
    yh = next(r for r in s2 if r[0] == "Yorkshire And The Humber")
    assert _get(f, "E12000003", "Jan 2017")["value"] == pytest.approx(yh[1])
    ee = next(r for r in s2 if r[0] == "East of England")
    assert _get(f, "E12000006", "Jan 2022")["value"] == pytest.approx(ee[6])
    assert set(f.loc[f["area_level"] == "region", "area_code"]) == {f"E1200000{i}" for i in range(1, 10)}


def test_excluded_las_are_missing_rows(sources_dir, staged):
    s4 = _sheet(sources_dir / REL, "4")
    names = [r[0] for r in s4[3:] if r and r[0]]
    assert "Allerdale" in names and "Isles of Scilly" in names
    f = staged.facts
    for code in ("E07000026", "E06000053", "E09000022"):            # Allerdale, Isles of Scilly, Lambeth
        rows = f[f["area_code"] == code]
        assert len(rows) == 6 and rows["value"].isna().all()
        assert (rows["status"] == "missing").all() and (rows["status_reason"] == "excluded by ONS (sheet 4)").all()
    # devolved areas skipped: e.g. Aberdeen City (sheet 1), East 'Ayshire' (sheet 4)
    with open(sources_dir / WARDS, encoding="utf-8-sig", newline="") as fh:
        dev = {r["LAD23CD"] for r in csv.DictReader(fh) if r["LAD23CD"][0] in "WSN"}
    assert not set(f["area_code"]) & dev and not f["area_code"].str[0].isin(list("WSN")).any()
    s1 = _sheet(sources_dir / REL, "1")
    n_dev = sum(1 for r in s1[4:] if r[0] and r[1] in ("Scotland", "Wales", "Northern Ireland"))
    assert any(f"{n_dev} Welsh/Scottish/NI" in n for n in staged.notes)
    n_eng = sum(1 for r in s1[4:] if r[0]) - n_dev
    assert (f["status"] == "ok").sum() == 6 * (n_eng + 9)


# --- corrupted copies -------------------------------------------------------------------------------
def _copy(sources_dir, tmp_path, edit) -> Path:
    out = tmp_path / "adzuna_corrupt.xlsx"
    shutil.copy(sources_dir / REL, out)
    wb = openpyxl.load_workbook(out)
    edit(wb)
    wb.save(out)
    return out


def _raises(path, ctx, row, column, sheet="1"):
    with pytest.raises(SourceError) as err:
        fmt.stage(fmt.read(path), path, ctx)
    msg = str(err.value)
    assert path.name in msg and f"sheet '{sheet}'" in msg and f"row {row}" in msg and f"column '{column}" in msg, msg
    return err.value


def test_text_in_value(sources_dir, ctx, tmp_path):
    def edit(wb):
        wb["1"]["C10"] = "approx 5"
    e = _raises(_copy(sources_dir, tmp_path, edit), ctx, 10, "C (2017)")
    assert e.value == "approx 5"


def test_unknown_area(sources_dir, ctx, tmp_path):
    def edit(wb):
        wb["1"]["A12"] = "Nowhereshire"
        wb["1"]["B12"] = "South East"
    _raises(_copy(sources_dir, tmp_path, edit), ctx, 12, "A")


def test_missing_column(sources_dir, ctx, tmp_path):
    def edit(wb):
        wb["1"].delete_cols(2)            # drop the Region column
    _raises(_copy(sources_dir, tmp_path, edit), ctx, 4, "B")


def test_duplicated_row(sources_dir, ctx, tmp_path):
    def edit(wb):
        ws = wb["1"]
        for c in range(1, 9):
            ws.cell(row=8, column=c).value = ws.cell(row=7, column=c).value      # Adur twice
    _raises(_copy(sources_dir, tmp_path, edit), ctx, 8, "A")


def test_unknown_region(sources_dir, ctx, tmp_path):
    def edit(wb):
        wb["2"]["A6"] = "Middle Earth"
    _raises(_copy(sources_dir, tmp_path, edit), ctx, 6, "A", sheet="2")
