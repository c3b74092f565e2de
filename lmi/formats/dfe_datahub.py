"""DfE Local Skills Dashboard "data hub" long CSV: ``Area, metric, metricNeat, Breakdown, Subgroup, Period, valueText``.

Areas are names with a suffix, no codes: ``'<LAD23 name> LADU'``, ``'<LSIP23 name> LSIP'``,
``'<CA name> MCA'`` (``'Greater London Authority MCA'`` is the GLA, E61000001) and ``'England'``.
Welsh and Scottish ``LADU`` rows are out of scope (skipped with a note); they are recognised from the
W/S/N LAD23 codes of the ONS ward lookup found under the sources folder. ``valueText`` is text; a blank
cell means suppressed or not available. One dataset per family of metrics present: APS labour market and
qualifications (``dfe_datahub_aps``) and online job adverts (``dfe_datahub_job_adverts``).

The helpers :func:`devolved_lad_code` / :func:`period_from_text` are shared with other DfE/ONS formats.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import read_text_csv, csv_has_columns, StageContext, check_unique, normalise_name, require_columns
from lmi.periods import MONTHS, month, month_end, span
from lmi.schema import OGL, DatasetInfo, MeasureInfo, StagedDataset

NAME = "dfe_datahub"
COLUMNS = ["Area", "metric", "metricNeat", "Breakdown", "Subgroup", "Period", "valueText"]
KEY = ["Area", "metric", "Breakdown", "Subgroup", "Period"]
BLANK_REASON = "blank in DfE data hub (suppressed or not available)"
VALUE_MARKERS = {"": markers.Marker(markers.SUPPRESSED, BLANK_REASON)}
SUFFIX_LEVEL = {"LADU": "lad", "LSIP": "lsip", "MCA": "ca"}
_AREA = re.compile(r"^(?P<name>.*\S)\s+(?P<suffix>LADU|LSIP|MCA)$")
REPO = "https://github.com/dfe-analytical-services/lsip_dashboard"
DATAHUB_URL = f"{REPO}/blob/fa5893ce1ae8958584ecc3619ee6ddde2cfea892/Data/AppData/C_datahub.rds"
DASHBOARD = "DfE Local Skills Dashboard (data hub)"

# Welsh/Scottish/NI LAD names as other publishers spell them -> the LAD23NM of the ONS ward lookup.
DEVOLVED_ALIASES = {
    "rhondda cynon taff": "Rhondda Cynon Taf",   # DfE data hub spelling (double f)
    "east ayshire": "East Ayrshire",             # typo in ONS Adzuna tables, sheet 4
}

# Published label typos corrected for display (the code is the slug of the corrected label).
LABEL_FIXES = {"Agricuture and fishing": "Agriculture and fishing"}


# ---------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _devolved_lads(sources_dir: str) -> dict[str, str]:
    """Normalised LAD23 name -> W/S/N LAD23 code, from the ward lookup CSV under ``sources_dir``."""
    from lmi.geography.reference import identify

    for path in sorted(Path(sources_dir).rglob("*.csv")):
        kind = identify(path)
        if kind is None or kind.key != "ward_lookup":
            continue
        wl = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False,
                         usecols=["LAD23CD", "LAD23NM"]).drop_duplicates()
        wl = wl[wl["LAD23CD"].str[:1].isin(["W", "S", "N"])]
        return {normalise_name(n): c.strip() for c, n in zip(wl["LAD23CD"], wl["LAD23NM"])}
    return {}


def devolved_lad_code(name: str, ctx: StageContext) -> str | None:
    """The W/S/N LAD23 code of a Welsh, Scottish or Northern Irish LAD name, else None."""
    table = _devolved_lads(str(Path(ctx.sources_dir).resolve()))
    key = normalise_name(name)
    alias = DEVOLVED_ALIASES.get(key)
    return table.get(normalise_name(alias) if alias else key)


def country_of(code: str) -> str:
    return {"W": "Wales", "S": "Scotland", "N": "Northern Ireland"}.get(code[:1], "outside England")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


_SPAN = re.compile(r"^([A-Za-z]{3})\s+(\d{4})\s*-\s*([A-Za-z]{3})\s+(\d{4})$")   # 'Apr 2020-Mar 2021'
_SPAN1 = re.compile(r"^([A-Za-z]{3})\s*-\s*([A-Za-z]{3})\s+(\d{4})$")            # 'Jan-Dec 2020'
_MON_YY = re.compile(r"^([A-Za-z]{3})[- ](\d{2})$")                                # 'Jul-25', 'Apr 17'


def period_from_text(text: str) -> tuple[str, date, date]:
    """'Apr 2020-Mar 2021' / 'Jan 2020-Dec 2020' / 'Jan-Dec 2020' spans and 'Jul-25' months; ValueError otherwise."""
    t = str(text).strip()
    if m := _SPAN.match(t):
        m1, y1, m2, y2 = MONTHS.get(m[1].lower()), int(m[2]), MONTHS.get(m[3].lower()), int(m[4])
        if m1 and m2 and (y1, m1) <= (y2, m2):
            return span(date(y1, m1, 1), month_end(y2, m2))
    elif m := _SPAN1.match(t):
        m1, m2, y = MONTHS.get(m[1].lower()), MONTHS.get(m[2].lower()), int(m[3])
        if m1 and m2 and m1 <= m2:
            return span(date(y, m1, 1), month_end(y, m2))
    elif m := _MON_YY.match(t):
        mo = MONTHS.get(m[1].lower())
        if mo:
            return month(2000 + int(m[2]), mo)
    raise ValueError(f"unrecognised period {text!r}")


# ---------------------------------------------------------------------------------------------
# metric catalogue
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    measure: str
    label: str
    unit: str
    topic: str
    description: str
    family: str            # 'aps' | 'adverts'


_APS = "ONS Annual Population Survey (via Nomis), as compiled by DfE for the Local Skills Dashboard; "
_QUAL = ("people aged 16-64 whose highest qualification is {x} (APS, Jan-Dec). DfE labels levels 'NVQ'; from "
         "Jan-Dec 2022 the APS asks about RQF levels, so 2022 onwards is not comparable with 2020-2021.")
METRICS: dict[str, Metric] = {
    "all": Metric("datahub_aps_population_16plus", "Population aged 16+ (APS)", "persons", "Population",
                  _APS + "all people aged 16 and over (not 16-64), 12-month APS period.", "aps"),
    "inemployment": Metric("datahub_aps_employment", "In employment, 16+ (APS)", "persons", "Labour market",
                           _APS + "people aged 16+ in employment, 12-month APS period; by industry and by "
                           "SOC 2020 sub-major group.", "aps"),
    "selfemployed": Metric("datahub_aps_self_employed", "Self-employed, 16+ (APS)", "persons", "Labour market",
                           _APS + "self-employed people aged 16+, 12-month APS period.", "aps"),
    "unemployed": Metric("datahub_aps_unemployed", "Unemployed, 16+ (APS)", "persons", "Labour market",
                         _APS + "unemployed people aged 16+ (ILO definition), 12-month APS period.", "aps"),
    "inactive": Metric("datahub_aps_inactive", "Economically inactive, 16+ (APS)", "persons", "Labour market",
                       _APS + "economically inactive people aged 16+, 12-month APS period.", "aps"),
    "qualNone": Metric("datahub_aps_qual_none", "No qualifications (APS)", "persons", "Qualifications",
                       _APS + _QUAL.format(x="none"), "aps"),
    "qualL1": Metric("datahub_aps_qual_level1", "Highest qualification level 1 (NVQ1) (APS)", "persons",
                     "Qualifications", _APS + _QUAL.format(x="level 1"), "aps"),
    "qualL2": Metric("datahub_aps_qual_level2", "Highest qualification level 2 (NVQ2) (APS)", "persons",
                     "Qualifications", _APS + _QUAL.format(x="level 2"), "aps"),
    "qualL3": Metric("datahub_aps_qual_level3", "Highest qualification level 3 (NVQ3) (APS)", "persons",
                     "Qualifications", _APS + _QUAL.format(x="level 3"), "aps"),
    "qualL4": Metric("datahub_aps_qual_level4", "Highest qualification level 4+ (NVQ4) (APS)", "persons",
                     "Qualifications", _APS + _QUAL.format(x="level 4 or above"), "aps"),
    "qualOther": Metric("datahub_aps_qual_other", "Other qualifications (APS)", "persons", "Qualifications",
                        _APS + _QUAL.format(x="an other qualification"), "aps"),
    "qualApp": Metric("datahub_aps_qual_trade_apprenticeship", "Trade apprenticeship (APS)", "persons",
                      "Qualifications", _APS + "people aged 16-64 with a trade apprenticeship (Jan-Dec 2020 and "
                      "2021 only).", "aps"),
    "vacancies": Metric("datahub_job_adverts", "Online job adverts (3-month rolling average)", "adverts",
                        "Vacancies and job adverts",
                        "ONS online job advert estimates (Textkernel), local authority by SOC 2020 occupation, "
                        "aggregated by DfE. The value for a month (e.g. Jul 2025) is the 3-month rolling average "
                        "of monthly adverts ending in that month. No all-occupation total is published: the total "
                        "is the sum of the major groups (including 'Unknown').", "adverts"),
}

# Breakdown -> (breakdown_type, how codes are formed)
BREAKDOWNS = {
    "Total": "total",
    "Industry": "sic2007",
    "Occupation (SOC2020 Sub-Major Group)": "soc2020_submajor",
    "Occupation (SOC2020 Major Group)": "soc2020_major",
    "Age": "age",
    "Gender": "sex",
}
SEX = {"Males": ("male", "Male"), "Females": ("female", "Female"), "Persons": ("persons", "Persons"),
       "Total": ("persons", "Persons")}
_SOC = {"soc2020_major": re.compile(r"^([1-9]) - (.+)$"), "soc2020_submajor": re.compile(r"^([1-9][1-9]) - (.+)$")}
_AGE = re.compile(r"^\d{2}(-\d{2}|\+)$")

DATASETS = {
    "aps": dict(
        id="dfe_datahub_aps",
        title="Local Skills Dashboard data hub: labour market and qualifications (Annual Population Survey)",
        publisher="Department for Education (Unit for Future Skills), from ONS Annual Population Survey via Nomis",
        attribution="Source: Department for Education, Local Skills Dashboard, using Office for National Statistics "
                    "Annual Population Survey data; licensed under the Open Government Licence v3.0",
        regularity="annual", topic="Labour market",
        spatial_levels="LAD (2023, GB as published; England kept), LSIP, combined authority (incl. GLA), England",
        description="Population 16+, employment (total, by industry, by SOC 2020 sub-major group), self-employment, "
                    "unemployment, economic inactivity (Apr-Mar APS periods 2020/21 to 2024/25) and highest "
                    "qualification (total/age/sex, Jan-Dec 2020 to 2024).",
        caveats="Survey estimates rounded to the nearest 100; blank cells are suppressed or not available. "
                "Population and economic activity are people aged 16+ (not 16-64); qualifications are 16-64 and "
                "break in 2022 (NVQ-based to RQF-based APS questions).",
    ),
    "adverts": dict(
        id="dfe_datahub_job_adverts",
        title="Local Skills Dashboard data hub: online job adverts by SOC 2020 occupation (Jul 2025)",
        publisher="Department for Education (Unit for Future Skills), from ONS online job advert estimates (Textkernel)",
        attribution="Source: Department for Education, Local Skills Dashboard, using Office for National Statistics "
                    "online job advert estimates (Textkernel); licensed under the Open Government Licence v3.0",
        regularity="monthly", topic="Vacancies and job adverts",
        spatial_levels="LAD (2023; London boroughs absent), LSIP, combined authority (incl. GLA), England",
        description="Online job adverts, 3-month rolling average, by SOC 2020 major and sub-major group.",
        caveats="All 33 London boroughs are absent (ONS publishes London only as a whole: use the Greater London "
                "LSIP or the GLA). No all-occupation total row: sum the major groups. Values are 3-month rolling "
                "averages of monthly advert counts, not vacancies.",
    ),
}


# ---------------------------------------------------------------------------------------------
# format interface
# ---------------------------------------------------------------------------------------------
def detect(path: Path) -> bool:
    """A CSV whose header has the data-hub columns ``metricNeat`` and ``valueText``."""
    return csv_has_columns(path, {"Area", "metric", "metricNeat", "valueText"})


def read(path: Path) -> pd.DataFrame:
    return read_text_csv(path)


def _resolve_areas(df: pd.DataFrame, rel: str, ctx: StageContext) -> tuple[dict[str, tuple[str, str] | None], dict[str, str]]:
    """Area text -> (code, level), or None for devolved (out of scope); second dict: area -> country."""
    out: dict[str, tuple[str, str] | None] = {}
    devolved: dict[str, str] = {}
    first_row = df.groupby("Area", sort=False)["source_row"].first()
    for area, row in first_row.items():
        text = str(area).strip()
        if normalise_name(text) == "england":
            code = ctx.geo.code_for_name("England", "england")
            out[area] = (code or "E92000001", "england")
            continue
        m = _AREA.match(text)
        if not m:
            raise SourceError(rel, "area is neither 'England' nor a name ending ' LADU', ' LSIP' or ' MCA'",
                              row=int(row), column="Area", value=area,
                              expected="e.g. 'Hartlepool LADU', 'Greater London LSIP', 'Greater Manchester MCA'")
        level = SUFFIX_LEVEL[m["suffix"]]
        code = ctx.geo.code_for_name(m["name"], level)
        if code is None and level == "lad":
            dev = devolved_lad_code(m["name"], ctx)
            if dev:
                out[area] = None
                devolved[area] = country_of(dev)
                continue
        if code is None:
            raise SourceError(rel, f"unknown {level.upper()} area name", row=int(row), column="Area", value=area,
                              expected=f"an English {level.upper()} name known to the geography lookups "
                                       "(or a Welsh/Scottish LAD, which is skipped)")
        out[area] = (code, level)
    return out, devolved


def _breakdowns(df: pd.DataFrame, rel: str) -> pd.DataFrame:
    """breakdown_type/code/label for each distinct (Breakdown, Subgroup)."""
    rows = []
    pairs = df.groupby(["Breakdown", "Subgroup"], sort=False)["source_row"].first()
    for (bd, sg), row in pairs.items():
        btype = BREAKDOWNS.get(str(bd).strip())
        sgt = str(sg).strip()
        if btype is None:
            raise SourceError(rel, "unknown breakdown", row=int(row), column="Breakdown", value=bd,
                              expected="one of " + ", ".join(BREAKDOWNS))
        code = label = None
        if btype == "total" and sgt == "Total":
            code, label = "total", "Total"
        elif btype == "sic2007" and sgt:
            label = LABEL_FIXES.get(sgt, sgt)
            code = slug(label)
        elif btype in _SOC:
            if sgt == "Unknown":
                code, label = "unknown", "Unknown"
            elif m := _SOC[btype].match(sgt):
                code, label = m[1], m[2].strip()
        elif btype == "age" and _AGE.match(sgt):
            code, label = sgt, f"Aged {sgt}"
        elif btype == "sex" and sgt in SEX:
            code, label = SEX[sgt]
        if code is None:
            raise SourceError(rel, f"subgroup not recognised for breakdown {bd!r}", row=int(row), column="Subgroup",
                              value=sg, expected={"total": "'Total'", "soc2020_major": "'<d> - <title>' or 'Unknown'",
                                                  "soc2020_submajor": "'<dd> - <title>' or 'Unknown'",
                                                  "age": "an age band like '16-19'", "sex": "'Males' or 'Females'",
                                                  "sic2007": "an industry name"}[btype])
        rows.append((bd, sg, btype, code, label))
    return pd.DataFrame(rows, columns=["Breakdown", "Subgroup", "breakdown_type", "breakdown_code", "breakdown_label"])


def stage(raw: pd.DataFrame, path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    require_columns(raw, COLUMNS, file=rel)
    df = raw[COLUMNS].copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    check_unique(df, KEY, file=rel)

    # metrics
    first_metric = df.groupby("metric", sort=False)["source_row"].first()
    for met, row in first_metric.items():
        if met not in METRICS:
            raise SourceError(rel, "unknown metric", row=int(row), column="metric", value=met,
                              expected="one of " + ", ".join(METRICS))

    # areas
    areas, devolved = _resolve_areas(df, rel, ctx)
    notes: list[str] = []
    skip = df["Area"].isin(list(devolved))
    if skip.any():
        by_country = df.loc[skip, "Area"].map(devolved).value_counts().to_dict()
        notes.append(f"{int(skip.sum())} rows skipped: Welsh/Scottish LADU areas are out of scope "
                     f"({', '.join(f'{k}: {v} rows' for k, v in sorted(by_country.items()))}; "
                     f"{len(devolved)} areas)")
    df = df[~skip]
    df["area_code"] = df["Area"].map({a: v[0] for a, v in areas.items() if v})
    df["area_level"] = df["Area"].map({a: v[1] for a, v in areas.items() if v})

    # periods
    periods: dict[str, tuple[str, date, date]] = {}
    for p, row in df.groupby("Period", sort=False)["source_row"].first().items():
        try:
            periods[p] = period_from_text(p)
        except ValueError:
            raise SourceError(rel, "period not recognised", row=int(row), column="Period", value=p,
                              expected="'Apr 2020-Mar 2021', 'Jan 2020-Dec 2020' or 'Jul-25'") from None

    bd = _breakdowns(df, rel)
    df = df.merge(bd, on=["Breakdown", "Subgroup"], how="left", validate="many_to_one")
    parsed = markers.parse_series(df["valueText"], file=rel, column="valueText", rows=df["source_row"],
                                  markers=VALUE_MARKERS)
    facts = pd.DataFrame({
        "measure": df["metric"].map({k: v.measure for k, v in METRICS.items()}),
        "area_code": df["area_code"], "area_level": df["area_level"],
        "period": df["Period"].map({k: v[0] for k, v in periods.items()}),
        "period_start": pd.to_datetime(df["Period"].map({k: pd.Timestamp(v[1]) for k, v in periods.items()})),
        "period_end": pd.to_datetime(df["Period"].map({k: pd.Timestamp(v[2]) for k, v in periods.items()})),
        "breakdown_type": df["breakdown_type"], "breakdown_code": df["breakdown_code"],
        "breakdown_label": df["breakdown_label"],
        "value": parsed["value"].values, "status": parsed["status"].values,
        "status_reason": parsed["status_reason"].values,
        "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan, "denominator": np.nan,
        "source_row": df["source_row"].values,
    })
    # two published names resolving to one code would silently double a figure
    check_unique(facts, ["measure", "area_code", "period", "breakdown_type", "breakdown_code"], file=rel)
    if "Industry" in set(df["Breakdown"]) and df["Subgroup"].isin(list(LABEL_FIXES)).any():
        notes.append("industry labels corrected for display: " +
                     "; ".join(f"{k!r} -> {v!r}" for k, v in LABEL_FIXES.items()))

    family = df["metric"].map({k: v.family for k, v in METRICS.items()})
    metrics_present = set(df["metric"])
    out = []
    for fam in ("aps", "adverts"):
        mask = (family == fam).values
        if not mask.any():
            continue
        meta = DATASETS[fam]
        info = DatasetInfo(id=meta["id"], title=meta["title"], publisher=meta["publisher"], source_url=DATAHUB_URL,
                           licence=OGL, attribution=meta["attribution"], regularity=meta["regularity"],
                           release_date=None, topic=meta["topic"], spatial_levels=meta["spatial_levels"],
                           source_file=rel, description=meta["description"], caveats=meta["caveats"])
        present = [m for m in METRICS if METRICS[m].family == fam and m in metrics_present]
        measures = [MeasureInfo(id=METRICS[m].measure, label=METRICS[m].label, dataset=info.id, unit=METRICS[m].unit,
                                topic=METRICS[m].topic, aggregation="sum", description=METRICS[m].description)
                    for m in present]
        fam_notes = list(notes)
        if fam == "adverts" and not (df.loc[mask, "breakdown_type"] == "total").any():
            fam_notes.append("no all-occupation total row in the file: the total is the sum of the SOC 2020 major "
                             "groups (incl. 'Unknown'); none is invented here")
        out.append(StagedDataset(info=info, measures=measures, facts=facts[mask].reset_index(drop=True),
                                 notes=fam_notes))
    return out
