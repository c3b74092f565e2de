"""DfE Local Skills Dashboard ``C_VacPcArea``: monthly online job adverts by LEP, LSIP and MCA (names only).

Columns ``geographic_level, area, time_period ('Apr 17'), vacancies, jobpc, Year ('17')``. The LSIP names are
DfE's 2022 set; where they differ from the LSIP23 names an explicit alias is used (``LSIP_ALIASES``). The
'Unknown' pseudo-area (adverts without a usable location) is skipped with a note. Oct 2017 is absent from the
file and stays absent (a gap, never interpolated).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import read_text_csv, csv_has_columns, StageContext, check_unique, normalise_name, require_columns
from lmi.periods import MONTHS, month
from lmi.schema import OGL, STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset

NAME = "dfe_vacancy_areas"
COLUMNS = ["geographic_level", "area", "time_period", "vacancies", "jobpc", "Year"]
LEVELS = {"LEP": "lep", "LSIP": "lsip", "MCA": "ca"}
DATASET_ID = "dfe_vacancy_areas"
SOURCE_URL = ("https://github.com/dfe-analytical-services/lsip_dashboard/blob/"
              "fd8f7bdafd42dd45089ca08511eb9a61a50f72a6/Data/AppData/C_VacPcArea.csv")

# DfE 2022 LSIP names -> LSIP23 names (ONS LSIP August 2023 boundaries / LSIP lookup), same areas.
LSIP_ALIASES = {
    "Enterprise M3 LEP (including all of Surrey)": "Enterprise M3",   # LSIP23 E69000009 (name shortened in 2023 files)
    "Gloucestershire": "G First (Gloucestershire)",                   # LSIP23 E69000011
    "Norfolk and Suffolk": "New Anglia",                              # LSIP23 E69000022 (Norfolk + Suffolk)
}
# MCA names whose 2017-2022 geography is a retired combined authority: the 'North East' MCA of this file sits
# beside 'North of Tyne', so it is the 2018-2024 North East CA (Durham, Gateshead, South Tyneside, Sunderland,
# E47000010), not the 2024 North East CA (E47000014, all seven LAs). Used only if the geography spine knows the
# code; otherwise the rows are skipped with a note (never attached to the wrong CA).
RETIRED_CA = {"North East": "E47000010", "North of Tyne": "E47000011"}
PSEUDO_AREAS = {"unknown"}
VALUE_MARKERS = {"": markers.Marker(markers.MISSING, "blank in source"),
                 "NA": markers.Marker(markers.MISSING, "NA in source (not available)")}
_TP = re.compile(r"^([A-Za-z]{3}) (\d{2})$")




def detect(path: Path) -> bool:
    """A CSV with the ``geographic_level, area, time_period, vacancies, jobpc`` header."""
    return csv_has_columns(path, {"geographic_level", "area", "time_period", "vacancies", "jobpc"})


def read(path: Path) -> pd.DataFrame:
    return read_text_csv(path)


def _area_codes(df: pd.DataFrame, rel: str, ctx: StageContext) -> tuple[dict, list[str]]:
    """(level text, area) -> (code, level) or None (skipped), plus notes."""
    out: dict[tuple[str, str], tuple[str, str] | None] = {}
    notes: list[str] = []
    firsts = df.groupby(["geographic_level", "area"], sort=False)["source_row"].first()
    for (lvtext, area), row in firsts.items():
        level = LEVELS.get(str(lvtext).strip())
        if level is None:
            raise SourceError(rel, "unknown geographic level", row=int(row), column="geographic_level",
                              value=lvtext, expected="LEP, LSIP or MCA")
        name = str(area).strip()
        if normalise_name(name) in PSEUDO_AREAS:
            out[(lvtext, area)] = None
            continue
        if level == "ca" and name in RETIRED_CA:
            code = RETIRED_CA[name]
            out[(lvtext, area)] = (code, "ca") if ctx.geo.level_of(code) == "ca" else None
            continue
        code = ctx.geo.code_for_name(LSIP_ALIASES.get(name, name) if level == "lsip" else name, level)
        if code is None:
            raise SourceError(rel, f"unknown {lvtext} name", row=int(row), column="area", value=area,
                              expected=f"an English {lvtext} name known to the geography lookups "
                                       "(add an alias to dfe_vacancy_areas if the publisher renamed it)")
        out[(lvtext, area)] = (code, level)
    return out, notes


def stage(raw: pd.DataFrame, path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    require_columns(raw, COLUMNS, file=rel)
    df = raw[COLUMNS].copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    check_unique(df, ["geographic_level", "area", "time_period"], file=rel)

    # periods: 'Apr 17' must agree with Year '17'
    periods = {}
    for (tp, yr), row in df.groupby(["time_period", "Year"], sort=False)["source_row"].first().items():
        m = _TP.match(str(tp).strip())
        mo = MONTHS.get(m[1].lower()) if m else None
        if not m or not mo:
            raise SourceError(rel, "time period not recognised", row=int(row), column="time_period", value=tp,
                              expected="a month and 2-digit year like 'Apr 17'")
        if str(yr).strip() != m[2]:
            raise SourceError(rel, "Year does not match time_period", row=int(row), column="Year", value=yr,
                              expected=f"'{m[2]}' (the year of {tp!r})")
        periods[tp] = month(2000 + int(m[2]), mo)

    areas, notes = _area_codes(df, rel, ctx)
    key = list(zip(df["geographic_level"], df["area"]))
    skipped = np.array([areas[k] is None for k in key])
    if skipped.any():
        sk = df[skipped].groupby(["geographic_level", "area"]).size()
        pseudo = [f"{lv} {a!r}: {n} rows" for (lv, a), n in sk.items() if normalise_name(a) in PSEUDO_AREAS]
        retired = [f"{lv} {a!r} ({RETIRED_CA.get(a)}): {n} rows" for (lv, a), n in sk.items()
                   if normalise_name(a) not in PSEUDO_AREAS]
        if pseudo:
            notes.append("rows skipped: 'Unknown' pseudo-area (adverts without a usable location) - " + "; ".join(pseudo))
        if retired:
            notes.append("rows skipped: retired combined authorities not in the geography spine (never mapped to "
                         "the 2024 North East CA, whose area differs) - " + "; ".join(retired))
    df = df[~skipped].reset_index(drop=True)
    codes = [areas[k] for k in zip(df["geographic_level"], df["area"])]
    df["area_code"] = [c[0] for c in codes]
    df["area_level"] = [c[1] for c in codes]

    vac = markers.parse_series(df["vacancies"], file=rel, column="vacancies", rows=df["source_row"],
                               markers=VALUE_MARKERS)
    pc = markers.parse_series(df["jobpc"], file=rel, column="jobpc", rows=df["source_row"], markers=VALUE_MARKERS)
    base = pd.DataFrame({
        "area_code": df["area_code"], "area_level": df["area_level"],
        "period": df["time_period"].map({k: v[0] for k, v in periods.items()}),
        "period_start": pd.to_datetime(df["time_period"].map({k: pd.Timestamp(v[1]) for k, v in periods.items()})),
        "period_end": pd.to_datetime(df["time_period"].map({k: pd.Timestamp(v[2]) for k, v in periods.items()})),
        "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
        "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan, "denominator": np.nan,
        "source_row": df["source_row"],
    })
    parts = []
    for mid, parsed in (("dfe_monthly_job_adverts", vac), ("dfe_job_adverts_per_employment", pc)):
        part = base.copy()
        part.insert(0, "measure", mid)
        part["value"] = parsed["value"].values
        part["status"] = parsed["status"].values
        part["status_reason"] = parsed["status_reason"].values
        parts.append(part)
    facts = pd.concat(parts, ignore_index=True)[list(STAGE_COLUMNS)]
    check_unique(facts, ["measure", "area_code", "period"], file=rel)

    have = sorted(set(facts["period_start"]))
    allm = pd.date_range(have[0], have[-1], freq="MS") if have else []
    gaps = [f"{d:%b %Y}" for d in allm if d not in set(have)]
    if gaps:
        notes.append("months absent from the file, left absent (not interpolated): " + ", ".join(gaps))
    if raw["vacancies"].str.contains("e", case=False).any():
        notes.append("some vacancies cells are written in exponent form by R (e.g. '1e+05' = 100000); read as numbers")

    info = DatasetInfo(
        id=DATASET_ID,
        title="Local Skills Dashboard: online job adverts by LEP, LSIP and MCA (C_VacPcArea)",
        publisher="Department for Education (Unit for Future Skills), from ONS experimental online job advert "
                  "estimates (Textkernel)",
        source_url=SOURCE_URL, licence=OGL,
        attribution="Source: Department for Education, Local Skills Dashboard, using Office for National Statistics "
                    "online job advert estimates (Textkernel); licensed under the Open Government Licence v3.0",
        regularity="monthly", release_date=None, topic="Vacancies and job adverts",
        spatial_levels="LEP (2021 set), LSIP (2022/2023 set), combined authority (2022 set)",
        source_file=rel,
        description="Monthly online job adverts Jan 2017 - Oct 2022 aggregated by DfE from local-authority "
                    "estimates, and DfE's adverts-to-employment ratio 'jobpc'.",
        caveats="Oct 2017 (and Nov-Dec 2022) absent. Names only: LSIP names are DfE's 2022 set (aliases to LSIP23 "
                "documented in the module). 'Unknown' LEP/LSIP pseudo-areas skipped. The North East and North of "
                "Tyne MCAs are retired CAs (2018-2024 geography).",
    )
    measures = [
        MeasureInfo(id="dfe_monthly_job_adverts", label="Online job adverts (monthly, DfE LEP/LSIP/MCA series)",
                    dataset=DATASET_ID, unit="adverts", topic="Vacancies and job adverts", aggregation="sum",
                    description="Online job adverts in the month (ONS experimental estimates from Textkernel data), "
                                "summed by DfE from local authorities to LEP, LSIP and MCA."),
        MeasureInfo(id="dfe_job_adverts_per_employment", label="Job adverts per person in employment (DfE jobpc)",
                    dataset=DATASET_ID, unit="ratio (adverts per person in employment)",
                    topic="Vacancies and job adverts", aggregation="none", decimals=4,
                    description="DfE's 'jobpc': online job adverts relative to employment in the area (about 0.01). "
                                "DfE's exact definition (which employment estimate and period) is not given in the "
                                "file, so it is not rolled up or recomputed."),
    ]
    return [StagedDataset(info=info, measures=measures, facts=facts, notes=notes)]
