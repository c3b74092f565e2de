"""DfE C_VacPcArea (monthly adverts by LEP/LSIP/MCA): staged figures against the official CSV read with csv."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lmi.errors import SourceError
from lmi.formats import dfe_vacancy_areas as fmt
from lmi.formats.base import StageContext
from corrupt import assert_rejected, corrupt_copy, set_cell
from helpers import csv_rows as _rows, one_fact as _get

REL = "vacancies/C_VacPcArea.csv"



@pytest.fixture(scope="module")
def staged(sources_dir, ctx):
    (ds,) = fmt.stage(fmt.read(sources_dir / REL), sources_dir / REL, ctx)
    return ds




def test_detect(sources_dir):
    assert fmt.detect(sources_dir / REL)
    assert not fmt.detect(sources_dir / "vacancies/dfe_datahub_online_job_adverts_by_area_soc2020_Jul2025.csv")
    assert not fmt.detect(sources_dir / "lookups/LSIP_lookup.xlsx")
    assert not fmt.detect(sources_dir / "geography/Local_Enterprise_Partnerships_(May_2021)_EN_BUC.geojson")


# (geographic_level, area, time_period) -> expected ONS code
CASES = [
    ("LEP", "Black Country", "Apr 17", "E37000001", "Apr 2017"),
    ("LEP", "London", "Jan 20", "E37000051", "Jan 2020"),
    ("LEP", "Greater Birmingham and Solihull", "Nov 21", "E37000012", "Nov 2021"),   # published as '1e+05'
    ("LSIP", "Enterprise M3 LEP (including all of Surrey)", "Mar 19", "E69000009", "Mar 2019"),
    ("LSIP", "Norfolk and Suffolk", "Oct 22", "E69000022", "Oct 2022"),
    ("LSIP", "Gloucestershire", "Dec 18", "E69000011", "Dec 2018"),
    ("MCA", "Greater Manchester", "Jun 21", "E47000001", "Jun 2021"),
]


def test_figures_equal_the_official_file(sources_dir, staged):
    rows = {(r["geographic_level"], r["area"], r["time_period"]): r for r in _rows(sources_dir / REL)}
    f = staged.facts
    for lv, area, tp, code, period in CASES:
        r = rows[(lv, area, tp)]
        g = _get(f, "dfe_monthly_job_adverts", code, period)
        assert g["value"] == pytest.approx(float(r["vacancies"])), area
        assert g["status"] == "ok" and g["area_level"] == {"LEP": "lep", "LSIP": "lsip", "MCA": "ca"}[lv]
        assert _get(f, "dfe_job_adverts_per_employment", code, period)["value"] == pytest.approx(float(r["jobpc"]))
    assert rows[("LEP", "Greater Birmingham and Solihull", "Nov 21")]["vacancies"] == "1e+05"
    assert _get(f, "dfe_monthly_job_adverts", "E37000012", "Nov 2021")["value"] == 100000.0
    m = {x.id: x for x in staged.measures}
    assert m["dfe_monthly_job_adverts"].aggregation == "sum" and m["dfe_monthly_job_adverts"].unit == "adverts"
    assert m["dfe_job_adverts_per_employment"].aggregation == "none"


def test_gaps_and_skips(sources_dir, staged):
    rows = _rows(sources_dir / REL)
    f = staged.facts
    assert not any(r["time_period"] == "Oct 17" for r in rows)       # no blanks/suppression in this file either
    assert all(r["vacancies"] != "" and r["jobpc"] != "" for r in rows)
    assert "Oct 2017" not in set(f["period"]) and {"Sep 2017", "Nov 2017"} <= set(f["period"])
    assert any("Oct 2017" in n and "not interpolated" in n for n in staged.notes)
    n_unknown = sum(1 for r in rows if r["area"] == "Unknown")
    assert n_unknown == 138 and any("'Unknown'" in n for n in staged.notes)
    # the 2018-2024 North East CA is never attached to the 2024 North East CA
    assert "E47000014" not in set(f["area_code"])
    n_kept = sum(1 for r in rows if r["area"] != "Unknown" and not (r["geographic_level"] == "MCA" and
                                                                     r["area"] in ("North East", "North of Tyne")))
    assert len(f) == 2 * n_kept


# --- corrupted copies -------------------------------------------------------------------------------
def _copy(sources_dir, tmp_path, edit) -> Path:
    return corrupt_copy(sources_dir / REL, tmp_path / "C_VacPcArea_corrupt.csv", edit, keep_rows=80)


def _raises(path, ctx, row, column):
    return assert_rejected(fmt, path, ctx, row, column)


_set = set_cell


def test_missing_column(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, lambda rows: [x[:3] + x[4:] for x in rows]), ctx, 1, "vacancies")


def test_text_in_value(sources_dir, ctx, tmp_path):
    e = _raises(_copy(sources_dir, tmp_path, _set(7, 3, "lots")), ctx, 8, "vacancies")
    assert e.value == "lots"


def test_unknown_area(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, _set(12, 1, "Nowhereshire")), ctx, 13, "area")


def test_duplicated_row(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, lambda rows: rows + [rows[3]]), ctx, 81, "geographic_level, area, time_period")


def test_year_mismatch(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, _set(2, 5, "19")), ctx, 3, "Year")
