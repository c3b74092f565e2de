"""The canonical long table, the catalogue records and the area levels every module shares."""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Literal

import pandas as pd

# Area levels in the spine, finest first. 'county' is used only for sources published on
# upper-tier county geography (e.g. ESS 2019 LEA tables); it is kept, never apportioned down.
LEVELS: tuple[str, ...] = ("lad", "lep", "lsip", "ca", "region", "england")
ALL_LEVELS: tuple[str, ...] = LEVELS + ("county",)
LEVEL_LABELS: dict[str, str] = {
    "lad": "Local authority district",
    "lep": "Local enterprise partnership",
    "lsip": "Local skills improvement plan area",
    "ca": "Combined authority",
    "region": "Region",
    "england": "England",
    "county": "County (upper-tier local authority)",
}

# Topics used to group measures in the sidebar and catalogue.
TOPICS: tuple[str, ...] = (
    "Vacancies and job adverts",
    "Population",
    "Labour market",
    "Skills survey",
    "Qualifications",
    "Further education",
    "Projections",
    "Occupations",
)

# breakdown_type vocabulary (breakdown_code conventions in brackets)
BREAKDOWN_TYPES: dict[str, str] = {
    "total": "Total ('total')",
    "soc2020_major": "SOC 2020 major group ('1'..'9')",
    "soc2020_submajor": "SOC 2020 sub-major group ('11'..'92')",
    "soc2020_minor": "SOC 2020 minor group ('111'..)",
    "soc2020_unit": "SOC 2020 unit group ('1111'..)",
    "soc2010_submajor": "SOC 2010 sub-major group ('11'..'92')",
    "sic2007": "SIC 2007 industry group (publisher's grouping; code = slug of the label)",
    "age": "Age band ('16-64', '16-24', ...)",
    "sex": "Sex ('persons', 'male', 'female')",
    "age_sex": "Age band and sex ('16-64|female')",
    "qualification": "Qualification level (e.g. 'nvq3', 'rqf4')",
    "age_sex_qualification": "Age band | sex | qualification (e.g. '16-64|female|nvq3')",
    "establishment_type": "Establishment type (ESS)",
    "sector": "Survey sector (ESS)",
    "establishment_size": "Establishment size band (ESS)",
}

Aggregation = Literal["sum", "ratio", "weighted_mean", "none"]

# Columns a format's stage() returns (dataset and unit are filled in from the catalogue records).
STAGE_COLUMNS: tuple[str, ...] = (
    "measure",          # measure id (must be declared in the StagedDataset's measures)
    "area_code",        # ONS code as published (old vintages are recast by the pipeline)
    "area_level",       # one of ALL_LEVELS, the level the publisher published it at
    "period",           # display label, e.g. '2023', 'Jul 2025', 'Jan-Dec 2022', '2019/20'
    "period_start",     # datetime64 (first day covered)
    "period_end",       # datetime64 (last day covered)
    "breakdown_type",   # 'total' or e.g. 'soc2020_submajor', 'soc2020_unit', 'sic2007_section', 'age', 'sex', 'sector'
    "breakdown_code",   # 'total' or the code, e.g. '11', '2231', 'F'
    "breakdown_label",  # human label, e.g. 'Corporate managers and directors'
    "value",            # float, NaN when not available
    "status",           # lmi.markers status vocabulary
    "status_reason",    # text, None when ok
    "ci_lower",         # float or NaN (95% CI where the source gives one)
    "ci_upper",
    "numerator",        # float or NaN: for rates, the published numerator (enables recomputation)
    "denominator",      # float or NaN
    "source_row",       # int: row in the source file, for error messages and tests
)

# Columns of the canonical table `facts` in the database.
FACT_COLUMNS: tuple[str, ...] = (
    "dataset", "measure", "area_code", "area_level", "period", "period_start", "period_end",
    "breakdown_type", "breakdown_code", "breakdown_label", "value", "unit", "status",
    "status_reason", "ci_lower", "ci_upper", "numerator", "denominator",
    "derivation",       # 'published' | 'recast' | 'summed' | 'recomputed' | 'pop_weighted'
    "n_contributing",   # for derived rows: LADs (or areas) that had a value
    "n_missing",        # for derived rows: member LADs without a value
)

# Columns of every export (CLI `lmi export` and the dashboard downloads), in this order.
EXPORT_COLUMNS: tuple[str, ...] = (
    "area_code", "area_name", "area_level", "measure", "measure_label", "period",
    "period_start", "period_end", "breakdown", "value", "unit", "status", "ci_lower",
    "ci_upper", "dataset", "source_url", "release_date", "licence",
)

OGL = "Open Government Licence v3.0"
OGL_URL = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"


@dataclass
class DatasetInfo:
    """One row of the dataset catalogue: the labels the UKCES review asks every LMI dataset to carry."""

    id: str                       # short id, e.g. 'ons_els_claimant_count'
    title: str                    # original title as the publisher gives it
    publisher: str                # e.g. 'Office for National Statistics'
    source_url: str
    licence: str                  # e.g. OGL
    attribution: str              # required attribution text
    regularity: str               # 'monthly' | 'quarterly' | 'annual' | 'biennial' | 'one-off' | 'irregular'
    release_date: str | None      # ISO date the source was released/last modified, if known
    topic: str                    # one of TOPICS
    spatial_levels: str           # spatial availability as published, e.g. 'LAD, CA, region, England'
    source_file: str              # path relative to the sources folder
    description: str = ""
    caveats: str = ""
    latest_period: str | None = None   # filled in by the pipeline from the facts

    def as_row(self) -> dict:
        return asdict(self)


@dataclass
class MeasureInfo:
    """A measure: one kind of number a dataset publishes."""

    id: str                        # globally unique measure id, snake_case, e.g. 'claimant_rate'
    label: str                     # e.g. 'Claimant count rate'
    dataset: str                   # DatasetInfo.id
    unit: str                      # e.g. '%', 'persons', 'adverts', 'index', 'rate per 100,000'
    topic: str                     # one of TOPICS
    aggregation: Aggregation       # how to roll LAD values up: sum counts; ratio = sum(num)/sum(den)*scale
    description: str = ""
    decimals: int = 0
    scale: float = 1.0             # for 'ratio': value = numerator / denominator * scale
    weight_measure: str | None = None  # for 'weighted_mean': measure id of the weights (e.g. population 16-64)
    higher_is_better: bool | None = None
    hidden: bool = False           # helper series (numerators, denominators) not offered in the picker

    def as_row(self) -> dict:
        return asdict(self)


@dataclass
class StagedDataset:
    """What a format's ``stage`` returns for one dataset."""

    info: DatasetInfo
    measures: list[MeasureInfo]
    facts: pd.DataFrame            # STAGE_COLUMNS
    notes: list[str] = field(default_factory=list)  # e.g. '12 rows skipped: Welsh areas'
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # reference tables, e.g. {'soc2020': ...}


def empty_stage_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in STAGE_COLUMNS})
