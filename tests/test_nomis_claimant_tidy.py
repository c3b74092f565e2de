"""Monthly claimant count (Trafford Data Lab extract of Nomis NM_162_1): staged figures vs the CSV read with csv."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from lmi.errors import SourceError
from lmi.formats import nomis_claimant_tidy as fmt
from lmi.formats.base import StageContext
from corrupt import assert_rejected, corrupt_copy, set_cell
from helpers import csv_rows as _rows, one_fact as _get

REL = "claimant_count/trafford_cipfa_neighbours_claimant_count_monthly.csv"





def test_detect(sources_dir):
    assert fmt.detect(sources_dir / REL)
    assert not fmt.detect(sources_dir / "claimant_count/ons_els_claimant-count.csv")
    assert not fmt.detect(sources_dir / "claimant_count/ons_els_claimant-count.json")
    assert not fmt.detect(sources_dir / "vacancies/C_VacPcArea.csv")


def test_figures_equal_the_official_file(sources_dir, ctx):
    (ds,) = fmt.stage(fmt.read(sources_dir / REL), sources_dir / REL, ctx)
    assert ds.info.publisher.startswith("Office for National Statistics / DWP")
    rows = _rows(sources_dir / REL)
    f = ds.facts
    picks = [("E92000001", "March 2023", "Count", "Mar 2023"), ("E92000001", "March 2023", "Percentage", "Mar 2023"),
             ("E08000009", "January 2025", "Count", "Jan 2025"), ("E06000061", "August 2024", "Percentage", "Aug 2024"),
             ("E06000004", "March 2026", "Count", "Mar 2026"), ("E08000002", "December 2023", "Percentage", "Dec 2023")]
    by_key = {(r["area_code"], r["period"], r["measure"]): r for r in rows}
    for code, period, meas, label in picks:
        r = by_key[(code, period, meas)]
        mid = "claimant_count_monthly" if meas == "Count" else "claimant_rate_monthly"
        g = _get(f, mid, code, label)
        assert g["value"] == pytest.approx(float(r["value"])), (code, period, meas)
        assert g["status"] == "ok"
        if meas == "Percentage":       # numerator = the published count of the same area and month
            assert g["numerator"] == float(by_key[(code, period, "Count")]["value"]) and pd.isna(g["denominator"])
    assert _get(f, "claimant_count_monthly", "E92000001", "Mar 2023")["area_level"] == "england"
    assert _get(f, "claimant_count_monthly", "E08000009", "Jan 2025")["period_start"] == pd.Timestamp("2025-01-01")
    assert all(r["value"] != "" for r in rows)          # no suppressed/blank cells in this extract
    wards = [r for r in rows if r["area_code"].startswith("E05")]
    assert wards and not f["area_code"].str.startswith("E05").any()
    assert any(f"{len(wards)} ward rows" in n for n in ds.notes)
    assert len(f) == len(rows) - len(wards)
    assert f["area_code"].nunique() == 17                  # England + 16 LADs
    m = {x.id: x for x in ds.measures}
    assert m["claimant_rate_monthly"].aggregation == "weighted_mean" and m["claimant_rate_monthly"].weight_measure == "pop_16_64"
    assert m["claimant_count_monthly"].aggregation == "sum" and m["claimant_count_monthly"].unit == "persons"


def test_nomis_markers_are_data(sources_dir, ctx, tmp_path):
    p = _copy(sources_dir, tmp_path, _set(3, 6, "!"))
    (ds,) = fmt.stage(fmt.read(p), p, ctx)
    g = ds.facts[ds.facts["source_row"] == 4].iloc[0]
    assert pd.isna(g["value"]) and g["status"] == "suppressed"


# --- corrupted copies -------------------------------------------------------------------------------
def _copy(sources_dir, tmp_path, edit) -> Path:
    return corrupt_copy(sources_dir / REL, tmp_path / "claimant_corrupt.csv", edit, keep_rows=40)


def _raises(path, ctx, row, column):
    return assert_rejected(fmt, path, ctx, row, column)


_set = set_cell


def test_missing_column(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, lambda rows: [x[:6] for x in rows]), ctx, 1, "value")


def test_text_in_value(sources_dir, ctx, tmp_path):
    e = _raises(_copy(sources_dir, tmp_path, _set(5, 6, "about 4000")), ctx, 6, "value")
    assert e.value == "about 4000"


def test_unknown_area(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, _set(7, 0, "E06999999")), ctx, 8, "area_code")


def test_duplicated_row(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, lambda rows: rows + [rows[9]]), ctx, 41, "area_code, period, measure")


def test_bad_period_and_measure(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, _set(2, 2, "Spring 2023")), ctx, 3, "period")
    _raises(_copy(sources_dir, tmp_path, _set(4, 4, "Rate")), ctx, 5, "measure")
