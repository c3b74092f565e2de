"""ONS mid-year population estimates (MYE) and 2018-based projections (SNPP) by local authority.

Three layouts are recognised:

- the tidy long compilation (``area_code, area_name, area_type, year, sex, age_band, population,
  source, vintage, exact_official_value``): the MYE dataset, taking all-ages totals from the Nomis
  all-ages series (exact), 16-64 and sex × age bands by LAD from the single-year-of-age series, and
  mid-2024 from the July 2025 release (county/unitary level only, as published);
- wide sex × age-band tables (``area_code, area_name, sex, age_band, <years>``): when the years run
  into the future this is the SNPP projection dataset; otherwise it is one of the MYE components
  already in the tidy compilation, recognised and recorded without staging its values twice;
- the other MYE component layouts (Nomis all-ages long; NM_31_1 wide by CTYUA) likewise.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import read_text_csv, csv_header, StageContext, check_unique, require_columns
from lmi.periods import mid_year, year
from lmi.schema import OGL, DatasetInfo, MeasureInfo, StagedDataset

NAME = "ons_mye"
TIDY = ["area_code", "area_name", "area_type", "year", "sex", "age_band", "population", "source", "vintage",
        "exact_official_value"]
WIDE = ["area_code", "area_name", "sex", "age_band"]
NOMIS_ALL_AGES = ["geography_code", "geography_name", "date", "value", "Measure"]
NM31 = ["region", "region_code", "age_band"]
ATTRIBUTION = "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
MYE_URL = ("https://www.ons.gov.uk/peoplepopulationandcommunity/populationandmigration/populationestimates/"
           "datasets/populationestimatesforukenglandandwalesscotlandandnorthernireland")
SNPP_URL = ("https://www.ons.gov.uk/peoplepopulationandcommunity/populationandmigration/populationprojections/"
            "datasets/localauthoritiesinenglandz1")
LEVEL_BY_PREFIX = {"E06": "lad", "E07": "lad", "E08": "lad", "E09": "lad", "E10": "county", "E12": "region",
                   "E92": "england", "E47": "ca"}
SEX = {"Persons": "persons", "Females": "female", "Males": "male"}
THIS_YEAR = date.today().year




def _kind(path: Path) -> str | None:
    if path.suffix.lower() != ".csv":
        return None
    h = csv_header(path)
    if {"area_code", "area_type", "source", "vintage"} <= set(h):
        return "tidy"
    if h[:4] == WIDE and len(h) > 4 and all(c.isdigit() for c in h[4:]):
        return "snpp" if max(int(c) for c in h[4:]) > THIS_YEAR else "component"
    if h == NOMIS_ALL_AGES or (h[:3] == NM31 and all(c.isdigit() for c in h[3:])):
        return "component"
    return None


def detect(path: Path) -> bool:
    return _kind(path) is not None


def read(path: Path) -> dict:
    return {"kind": _kind(path), "frame": read_text_csv(path)}


def _levels(codes: pd.Series) -> pd.Series:
    return codes.str[:3].map(LEVEL_BY_PREFIX)


def _check_codes(df: pd.DataFrame, ctx: StageContext, rel: str, code_col: str = "area_code") -> None:
    lad = df[df["area_level"].eq("lad")]
    bad = lad[~lad[code_col].map(ctx.geo.is_english_lad_code)]
    if len(bad):
        r = bad.iloc[0]
        raise SourceError(rel, "unknown local authority code", row=int(r["source_row"]), column=code_col,
                          value=r[code_col], expected="an English LAD code (E06-E09) of a known vintage")


def _facts(df: pd.DataFrame, measure: str, value: pd.DataFrame, periods: pd.Series, btype, bcode, blabel) -> pd.DataFrame:
    return pd.DataFrame({
        "measure": measure, "area_code": df["area_code"].values, "area_level": df["area_level"].values,
        "period": periods.map(lambda t: t[0]).values,
        "period_start": pd.to_datetime(periods.map(lambda t: t[1])).values,
        "period_end": pd.to_datetime(periods.map(lambda t: t[2])).values,
        "breakdown_type": btype, "breakdown_code": bcode, "breakdown_label": blabel,
        "value": value["value"].values, "status": value["status"].values,
        "status_reason": value["status_reason"].values, "ci_lower": np.nan, "ci_upper": np.nan,
        "numerator": np.nan, "denominator": np.nan, "source_row": df["source_row"].values,
    })


def _mye_info(rel: str, note: str = "") -> DatasetInfo:
    return DatasetInfo(
        id="ons_mye", title="Population estimates for the UK, mid-year (local authority based), persons by age and sex",
        publisher="Office for National Statistics", source_url=MYE_URL, licence=OGL, attribution=ATTRIBUTION,
        regularity="annual", release_date="2025-07-30", topic="Population",
        spatial_levels="LAD (2023 boundaries), county, combined authority, region, England; mid-2024 county/unitary only",
        source_file=rel,
        description="Usually resident population at 30 June. 2011 is Census-2011 based; 2012-2020 rebased on "
                    "Census 2021. All-ages totals 2011-2023 and 16-64 by LAD are from the July 2024 release; "
                    "mid-2024 from the July 2025 release (which also revised 2022-23; not mixed here)." + note,
        caveats="Age bands that include 90+ (All ages, 65+) in the sex-by-age series are within ±5 of the official "
                "figure because the compiler modelled single years over 90; the all-ages totals used here are exact.",
    )


def _stage_tidy(df: pd.DataFrame, rel: str, ctx: StageContext) -> list[StagedDataset]:
    require_columns(df, TIDY, file=rel)
    df = df.copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    df["area_code"] = df["area_code"].str.strip().str.upper()
    df["area_level"] = _levels(df["area_code"])
    notes = []
    skip = df["area_level"].isna()
    if skip.any():
        notes.append(f"{int(skip.sum())} rows for areas outside the spine's levels skipped (e.g. metropolitan "
                     "counties, inner/outer London)")
    df = df[~skip]
    _check_codes(df, ctx, rel)
    yrs = pd.to_numeric(df["year"].where(df["year"].str.fullmatch(r"\s*\d{4}\s*")), errors="coerce")
    bad = yrs.isna() | ~yrs.between(1900, 2100)
    if bad.any():
        r = df[bad].iloc[0]
        raise SourceError(rel, "year is not a four-digit year", row=int(r["source_row"]), column="year",
                          value=r["year"], expected="a year between 1900 and 2100")
    df["year"] = yrs.astype(int)
    src = df["source"]
    # all ages, persons: Nomis series (exact) for 2011-2023, July 2025 release for 2024 only
    all_ages = df[((src == "open-innovations") | ((src == "regioniq") & (df["year"] == 2024)))
                  & (df["age_band"] == "All ages") & (df["sex"] == "Persons")]
    w1664 = df[((src == "strategy-unit") | ((src == "regioniq") & (df["year"] == 2024)))
               & (df["age_band"] == "16-64") & (df["sex"] == "Persons")]
    bands = df[(src == "strategy-unit") & ~((df["age_band"] == "All ages") & (df["sex"] == "Persons"))
               & ~((df["age_band"] == "16-64") & (df["sex"] == "Persons"))]
    frames = []
    for measure, part in (("pop_all_ages", all_ages), ("pop_16_64", w1664)):
        check_unique(part, ["area_code", "year"], file=rel)
        val = markers.parse_series(part["population"], file=rel, column="population", rows=part["source_row"])
        frames.append(_facts(part, measure, val, part["year"].map(mid_year), "total", "total", "Total"))
    check_unique(bands, ["area_code", "year", "sex", "age_band"], file=rel)
    val = markers.parse_series(bands["population"], file=rel, column="population", rows=bands["source_row"])
    code = bands["age_band"] + "|" + bands["sex"].map(SEX).fillna(bands["sex"].str.lower())
    label = bands["age_band"] + ", " + bands["sex"].str.lower()
    frames.append(_facts(bands, "pop_by_age_sex", val, bands["year"].map(mid_year), "age_sex", code.values, label.values))
    facts = pd.concat(frames, ignore_index=True)
    # England mid-2024: the July 2025 release has no England row; its county/unitary rows partition England.
    for measure in ("pop_all_ages", "pop_16_64"):
        part = facts[(facts["measure"] == measure) & (facts["period"] == "mid-2024")
                     & facts["area_code"].str[:3].isin(["E06", "E08", "E09", "E10"])]
        if len(part) and not ((facts["measure"] == measure) & (facts["period"] == "mid-2024")
                              & (facts["area_level"] == "england")).any():
            row = part.iloc[[0]].copy()
            row["area_code"], row["area_level"] = "E92000001", "england"
            row["value"] = part["value"].sum(min_count=len(part))
            row["status"] = markers.OK if part["status"].eq(markers.OK).all() else markers.MISSING
            row["status_reason"] = "sum of the 153 English county and unitary rows of the July 2025 release"
            facts = pd.concat([facts, row], ignore_index=True)
    measures = [
        MeasureInfo("pop_all_ages", "Population, all ages", "ons_mye", "persons", "Population", "sum",
                    "Mid-year population estimate, all ages, persons", 0, higher_is_better=None),
        MeasureInfo("pop_16_64", "Population aged 16-64", "ons_mye", "persons", "Population", "sum",
                    "Mid-year population estimate, aged 16 to 64 (working age), persons", 0),
        MeasureInfo("pop_by_age_sex", "Population by age band and sex", "ons_mye", "persons", "Population", "sum",
                    "Mid-year population estimate by age band and sex (2011-2023)", 0),
    ]
    return [StagedDataset(_mye_info(rel), measures, facts, notes)]


def _stage_snpp(df: pd.DataFrame, rel: str, ctx: StageContext) -> list[StagedDataset]:
    require_columns(df, WIDE, file=rel)
    df = df.copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    df["area_code"] = df["area_code"].str.strip()
    df["area_level"] = _levels(df["area_code"])
    df = df[df["area_level"].notna()]
    _check_codes(df, ctx, rel)
    check_unique(df, ["area_code", "sex", "age_band"], file=rel)
    keep = df[(df["sex"] == "Persons") & df["age_band"].isin(["All ages", "16-64", "65+", "0-15"])]
    years = [c for c in df.columns if str(c).isdigit()]
    long = keep.melt(id_vars=["area_code", "area_level", "sex", "age_band", "source_row"], value_vars=years,
                     var_name="year", value_name="population")
    val = markers.parse_series(long["population"], file=rel, column="population", rows=long["source_row"])
    long["year"] = long["year"].astype(int)
    measure = long["age_band"].map({"All ages": "snpp_pop_all_ages", "16-64": "snpp_pop_16_64",
                                    "65+": "snpp_pop_65_plus", "0-15": "snpp_pop_0_15"})
    frames = []
    for m in measure.unique():
        sel = measure == m
        part = long[sel]
        frames.append(_facts(part, m, val[sel], part["year"].map(year), "total", "total", "Total"))
    facts = pd.concat(frames, ignore_index=True)
    info = DatasetInfo(
        id="ons_snpp2018", title="Subnational population projections for England: 2018-based (principal projection)",
        publisher="Office for National Statistics", source_url=SNPP_URL, licence=OGL, attribution=ATTRIBUTION,
        regularity="biennial", release_date="2020-03-24", topic="Projections",
        spatial_levels="LAD (aggregated to 2023 boundaries), county, England", source_file=rel,
        description="Projected usual resident population at 30 June, 2018 to 2043, principal projection.",
        caveats="Based on the pre-Census-2021 mid-2018 estimates, so levels for 2021-23 sit below the rebased "
                "estimates. Rounded to whole persons per single year of age, so LAD sums can differ from "
                "county or England rows by a few persons.",
    )
    labels = {"snpp_pop_all_ages": "Projected population, all ages", "snpp_pop_16_64": "Projected population aged 16-64",
              "snpp_pop_65_plus": "Projected population aged 65 and over", "snpp_pop_0_15": "Projected population aged 0-15"}
    measures = [MeasureInfo(k, v, info.id, "persons", "Projections", "sum", v + " (2018-based SNPP, principal)")
                for k, v in labels.items()]
    return [StagedDataset(info, measures, facts)]


def stage(raw: dict, path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    kind = raw["kind"]
    if kind == "tidy":
        return _stage_tidy(raw["frame"], rel, ctx)
    if kind == "snpp":
        return _stage_snpp(raw["frame"], rel, ctx)
    # An MYE component file: its values are the ones the tidy compilation carries. Recorded, not staged twice.
    info = _mye_info(rel)
    info.id = "ons_mye_component_" + path.stem.lower().replace("-", "_")[:40]
    info.title = "Population estimates (component of the ons_mye dataset)"
    info.description = ("This file is one of the three Nomis-derived MYE files whose values the tidy compilation "
                        "(dataset ons_mye) holds; it is recognised and listed, not staged a second time.")
    return [StagedDataset(info, [], pd.DataFrame(), [f"{rel}: values held by dataset ons_mye"])]
