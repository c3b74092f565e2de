"""ONS 'How the population changed where you live: Census 2021' data download (Population change sheet)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import StageContext, check_unique
from lmi.schema import OGL, DatasetInfo, MeasureInfo, StagedDataset

NAME = "ons_census2021"
SHEET = "Population change"
ANCHOR = "area code"
LEVEL_BY_PREFIX = {"E06": "lad", "E07": "lad", "E08": "lad", "E09": "lad", "E10": "county", "E12": "region",
                   "E92": "england"}


def detect(path: Path) -> bool:
    if path.suffix.lower() != ".xlsx":
        return False
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        if SHEET not in wb.sheetnames:
            return False
        for row in wb[SHEET].iter_rows(min_row=1, max_row=12, max_col=6, values_only=True):
            if row and str(row[0] or "").lower().startswith(ANCHOR):
                return any("2021" in str(c) for c in row if c)
        return False
    finally:
        wb.close()


def read(path: Path) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=SHEET, header=None, dtype=object)


def stage(raw: pd.DataFrame, path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    first = raw[0].astype(str).str.strip().str.lower()
    hits = np.flatnonzero(first.str.startswith(ANCHOR).values)
    if not len(hits):
        raise SourceError(rel, "header row not found", sheet=SHEET, column="A",
                          expected="a row starting 'Area code' above the data")
    h = int(hits[0])
    header = [str(c).strip() for c in raw.iloc[h]]
    cols = {}
    for i, c in enumerate(header):
        low = c.lower()
        if low.startswith("area code"):
            cols["code"] = i
        elif low.startswith("area name"):
            cols["name"] = i
        elif "2011" in low and "persons" in low:
            cols["2011"] = i
        elif "2021" in low and "persons" in low:
            cols["2021"] = i
    for need in ("code", "name", "2011", "2021"):
        if need not in cols:
            raise SourceError(rel, "expected column missing from the header row", sheet=SHEET, row=h + 1,
                              column=need, expected="Area code, Area name, All persons 2011, All persons 2021")
    body = raw.iloc[h + 1:].copy()
    body["source_row"] = body.index + 1
    body = body[body[cols["code"]].notna()]
    body["area_code"] = body[cols["code"]].astype(str).str.strip()
    body["area_level"] = body["area_code"].str[:3].map(LEVEL_BY_PREFIX)
    body = body[body["area_level"].notna()]
    lad = body[body["area_level"] == "lad"]
    bad = lad[~lad["area_code"].map(ctx.geo.is_english_lad_code)]
    if len(bad):
        r = bad.iloc[0]
        raise SourceError(rel, "unknown local authority code", sheet=SHEET, row=int(r["source_row"]), column="A",
                          value=r["area_code"], expected="an English LAD code of a known vintage")
    check_unique(body, ["area_code"], file=rel, sheet=SHEET)
    frames = []
    for yr, day in (("2011", "2011-03-27"), ("2021", "2021-03-21")):
        val = markers.parse_series(body[cols[yr]], file=rel, column=header[cols[yr]], rows=body["source_row"], sheet=SHEET)
        frames.append(pd.DataFrame({
            "measure": "census_usual_residents", "area_code": body["area_code"].values,
            "area_level": body["area_level"].values, "period": f"Census {yr}",
            "period_start": pd.Timestamp(day), "period_end": pd.Timestamp(day),
            "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
            "value": val["value"].values, "status": val["status"].values, "status_reason": val["status_reason"].values,
            "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan, "denominator": np.nan,
            "source_row": body["source_row"].values,
        }))
    info = DatasetInfo(
        id="ons_census2021_population_change", title="How the population changed where you live: Census 2021",
        publisher="Office for National Statistics",
        source_url="https://www.ons.gov.uk/peoplepopulationandcommunity/populationandmigration/populationestimates/bulletins/populationandhouseholdestimatesenglandandwales/census2021",
        licence=OGL, attribution="Source: Office for National Statistics licensed under the Open Government Licence v.3.0",
        regularity="decennial", release_date="2022-06-28", topic="Population",
        spatial_levels="LAD (April 2022 boundaries), county, region, England", source_file=rel,
        description="Usual residents on Census day 2011 and 2021.",
        caveats="2021 counts are rounded to the nearest 100; Census day, not mid-year; a cross-check on the MYE.",
    )
    m = MeasureInfo("census_usual_residents", "Usual residents (Census)", info.id, "persons", "Population", "sum",
                    "Usual resident population on Census day")
    return [StagedDataset(info, [m], pd.concat(frames, ignore_index=True))]
