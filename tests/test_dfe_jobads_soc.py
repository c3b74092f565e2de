"""England job adverts by SOC 2020 unit group (DfE job-ads page): staged figures against the CSV read with csv."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from lmi.errors import SourceError
from lmi.formats import dfe_jobads_soc as fmt
from lmi.formats.base import StageContext
from corrupt import assert_rejected, corrupt_copy, set_cell
from helpers import csv_rows as _rows

REL = "vacancies/dfe_job_ads_england_by_soc2020_unit_group_monthly.csv"
MEASURE = {"soc_3m_avg": "jobads_soc_3m_avg", "soc_growth": "jobads_soc_growth", "soc_pop": "jobads_soc_per_100k",
           "soc_job": "jobads_soc_per_employment"}


class _NoGeo:
    """England-only file: staging needs no name look-ups (any call would be a bug)."""

    def level_of(self, *args):
        raise AssertionError("unexpected geography look-up")

    code_for_name = is_english_lad_code = level_of


@pytest.fixture(scope="module")
def ctx(sources_dir: Path) -> StageContext:
    return StageContext(sources_dir, _NoGeo())



def test_detect(sources_dir):
    assert fmt.detect(sources_dir / REL)
    assert not fmt.detect(sources_dir / "vacancies/C_VacPcArea.csv")
    assert not fmt.detect(sources_dir / "occupations/soc2020volume1structureanddescriptionofunitgroupsexcel16042025.xlsx")


def test_figures_equal_the_official_file(sources_dir, ctx):
    (ds,) = fmt.stage(fmt.read(sources_dir / REL), sources_dir / REL, ctx)
    rows = _rows(sources_dir / REL)
    f = ds.facts.set_index(["measure", "period", "breakdown_code"])
    picks = [
        ("2021-01-01", "1111", "soc_3m_avg", "Jan 2021"),
        ("2024-06-01", "2231", "soc_3m_avg", "Jun 2024"),
        ("2025-11-01", "Unknown", "soc_3m_avg", "Nov 2025"),
        ("2023-02-01", "6135", "soc_growth", "Feb 2023"),
        ("2022-09-01", "3131", "soc_pop", "Sep 2022"),
        ("2025-09-01", "9269", "soc_job", "Sep 2025"),
    ]
    by_key = {(r["timePeriod"], r["soc_4_digit_code"], r["metric"]): r for r in rows}
    for tp, code, metric, period in picks:
        r = by_key[(tp, code, metric)]
        g = f.loc[(MEASURE[metric], period, "unknown" if code == "Unknown" else code)]
        assert g["value"] == pytest.approx(float(r["value"])), (tp, code, metric)
        assert g["status"] == "ok" and g["area_code"] == "E92000001" and g["area_level"] == "england"
        assert g["breakdown_type"] == "soc2020_unit"
        if code != "Unknown":
            assert g["breakdown_label"] == r["soc_4_digit_label"]
    assert all(r["value"] != "" for r in rows)        # no suppressed/blank cells in this file
    assert len(ds.facts) == len(rows)
    # codes stay text (no '1111.0', no dropped leading characters)
    assert ds.facts["breakdown_code"].str.fullmatch(r"\d{4}|unknown").all()
    m = {x.id: x for x in ds.measures}
    assert m["jobads_soc_3m_avg"].aggregation == "sum" and m["jobads_soc_growth"].unit == "%"
    assert m["jobads_soc_per_100k"].unit == "rate per 100,000" and m["jobads_soc_per_employment"].aggregation == "none"
    assert f.loc[("jobads_soc_3m_avg", "Jan 2021", "1111")]["period_end"] == pd.Timestamp("2021-01-31")


# --- corrupted copies -------------------------------------------------------------------------------
def _copy(sources_dir, tmp_path, edit) -> Path:
    return corrupt_copy(sources_dir / REL, tmp_path / "jobads_corrupt.csv", edit, keep_rows=50)


def _raises(path, ctx, row, column):
    return assert_rejected(fmt, path, ctx, row, column)


_set = set_cell


def test_missing_column(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, lambda rows: [x[:3] + x[4:] for x in rows]), ctx, 1, "value")


def test_text_in_value(sources_dir, ctx, tmp_path):
    e = _raises(_copy(sources_dir, tmp_path, _set(9, 3, "n/a")), ctx, 10, "value")
    assert e.value == "n/a"


def test_bad_code(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, _set(14, 1, "111")), ctx, 15, "soc_4_digit_code")


def test_duplicated_row(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, lambda rows: rows + [rows[2]]), ctx, 51,
            "timePeriod, soc_4_digit_code, metric")


def test_unknown_metric_and_period(sources_dir, ctx, tmp_path):
    _raises(_copy(sources_dir, tmp_path, _set(4, 4, "soc_median")), ctx, 5, "metric")
    _raises(_copy(sources_dir, tmp_path, _set(6, 0, "2021-07-15")), ctx, 7, "timePeriod")
