"""Small helpers shared by the format tests: independent reads of official CSVs, one staged figure."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd


def csv_rows(path: Path) -> list[dict]:
    """Every row of an official CSV as a dict, read with the csv module (not lmi's readers)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def one_fact(facts: pd.DataFrame, measure: str, code: str, period: str) -> pd.Series:
    """The single staged row for a measure, area and period (fails if there is not exactly one)."""
    hit = facts[(facts["measure"] == measure) & (facts["area_code"] == code) & (facts["period"] == period)]
    assert len(hit) == 1, (measure, code, period)
    return hit.iloc[0]
