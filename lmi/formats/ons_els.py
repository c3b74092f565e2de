"""ONS Explore Local Statistics (ELS) indicator CSVs, each with its JSON metadata file beside it.

Any ELS indicator dropped under the sources folder becomes a measure: label, unit, decimals, source,
release date and caveats come from the ``ess-beta-metadata`` block of the JSON.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import read_text_csv, csv_header, StageContext, check_unique, require_columns
from lmi.periods import iso_interval
from lmi.schema import OGL, DatasetInfo, MeasureInfo, StagedDataset

NAME = "ons_els"
COLUMNS = ["areacd", "areanm", "geography", "indicator", "period", "observation", "measure", "unit",
           "lci_95", "uci_95", "status", "notes"]
LEVEL_BY_PREFIX = {"E06": "lad", "E07": "lad", "E08": "lad", "E09": "lad", "E12": "region",
                   "E92": "england", "E47": "ca", "E61": "ca"}
STATUS_CODES = {
    "x": (markers.SUPPRESSED, "not available or suppressed (ONS status x)"),
    "u": (markers.UNRELIABLE, "low reliability (ONS status u)"),
    "c": (markers.SUPPRESSED, "confidential (ONS status c)"),
}
TOPIC_HINTS = (("claimant", "Labour market"), ("employ", "Labour market"), ("inactiv", "Labour market"),
               ("qualif", "Qualifications"), ("further education", "Further education"),
               ("vacanc", "Vacancies and job adverts"), ("population", "Population"))




def detect(path: Path) -> bool:
    """An ELS CSV: JSON metadata beside it and the ELS identifying columns (stage checks the rest)."""
    if path.suffix.lower() != ".csv" or not path.with_suffix(".json").is_file():
        return False
    h = set(csv_header(path))
    return {"areacd", "areanm", "period"} <= h and ("indicator" in h or "observation" in h)


def read(path: Path) -> dict:
    frame = read_text_csv(path)
    meta_path = path.with_suffix(".json")
    try:
        with open(meta_path, encoding="utf-8-sig") as fh:
            meta = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(meta_path, f"metadata file is not valid JSON ({exc})",
                          expected="an ONS ELS metadata JSON object with an 'ess-beta-metadata' block") from None
    if not isinstance(meta, dict):
        raise SourceError(meta_path, "metadata file is not a JSON object",
                          expected="an ONS ELS metadata JSON object with an 'ess-beta-metadata' block")
    return {"frame": frame, "meta": meta}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _metadata_for(meta: dict, indicator: str, path: Path) -> dict:
    block = meta.get("ess-beta-metadata")
    if not isinstance(block, dict):
        raise SourceError(path.with_suffix(".json"), "metadata block missing", column="ess-beta-metadata",
                          expected="an ONS ELS metadata JSON with an 'ess-beta-metadata' object")
    if "label" in block:
        return block
    if indicator in block:
        return {**block.get("shared", {}), **block[indicator]}
    raise SourceError(path.with_suffix(".json"), f"no metadata for indicator {indicator!r}",
                      column="ess-beta-metadata", expected="a 'label' or one block per indicator")


def _release_date(meta: dict, m: dict) -> str | None:
    for text in (m.get("sourceDate"),):
        if text:
            try:
                return datetime.strptime(text, "%d/%m/%Y").date().isoformat()
            except ValueError:
                pass
    note = meta.get("_note", "")
    hit = re.search(r"(\d{2}/\d{2}/\d{4})", note)
    return datetime.strptime(hit[1], "%d/%m/%Y").date().isoformat() if hit else None


def _unit(m: dict) -> str:
    if m.get("suffix") == "%":
        return "%"
    return str(m.get("subText") or m.get("suffix") or m.get("prefix") or "value").strip()


def _topic(label: str) -> str:
    low = label.lower()
    for hint, topic in TOPIC_HINTS:
        if hint in low:
            return topic
    return "Labour market"


def stage(raw: dict, path: Path, ctx: StageContext) -> list[StagedDataset]:
    df: pd.DataFrame = raw["frame"]
    meta: dict = raw["meta"]
    rel = ctx.rel(path)
    require_columns(df, COLUMNS, file=rel)
    df = df.copy()
    df["source_row"] = np.arange(2, len(df) + 2)
    df["areacd"] = df["areacd"].str.strip().str.upper()
    prefix = df["areacd"].str[:3]
    df["area_level"] = prefix.map(LEVEL_BY_PREFIX)
    out_of_scope = df["area_level"].isna()
    notes = []
    if out_of_scope.any():
        kinds = df.loc[out_of_scope, "geography"].value_counts().to_dict()
        notes.append(f"{int(out_of_scope.sum())} rows outside the spine's levels skipped "
                     f"(counties, Wales, Scotland, NI, GB/UK): {kinds}")
    df = df[~out_of_scope]
    unknown = df[df["area_level"].eq("lad") & ~df["areacd"].map(ctx.geo.is_english_lad_code)]
    if len(unknown):
        r = unknown.iloc[0]
        raise SourceError(rel, "unknown local authority code", row=int(r["source_row"]), column="areacd",
                          value=r["areacd"], expected="an English LAD code (E06/E07/E08/E09) of a known vintage")
    check_unique(df, ["areacd", "indicator", "period"], file=rel)

    parsed = markers.parse_series(df["observation"], file=rel, column="observation", rows=df["source_row"])
    for name in ("lci_95", "uci_95"):
        ci = markers.parse_series(df[name], file=rel, column=name, rows=df["source_row"])
        df[name] = ci["value"].values
    status = df["status"].str.strip().str.lower()
    bad = ~status.isin(["", *STATUS_CODES])
    if bad.any():
        r = df[bad].iloc[0]
        raise SourceError(rel, "unknown status code", row=int(r["source_row"]), column="status",
                          value=r["status"], expected="blank, x, u or c")
    st = parsed["status"].where(status.eq(""), status.map(lambda s: STATUS_CODES.get(s, ("", ""))[0]))
    reason = parsed["status_reason"].where(status.eq(""), status.map(lambda s: STATUS_CODES.get(s, ("", ""))[1]))
    notes_col = df["notes"].str.strip()
    reason = reason.where(notes_col.eq(""), (reason.fillna("").astype(str) + "; " + notes_col).str.strip("; "))

    periods = {}
    for p, row in zip(df["period"], df["source_row"]):
        if p not in periods:
            try:
                periods[p] = iso_interval(p)
            except ValueError:
                raise SourceError(rel, "period is not an ISO-8601 start/duration", row=int(row), column="period",
                                  value=p, expected="e.g. 2024-01-01/P1Y") from None
    per = df["period"].map(periods)

    datasets = []
    file_slug = slug(path.stem.replace("ons_els_", ""))
    for indicator, idx in df.groupby("indicator").groups.items():
        m = _metadata_for(meta, indicator, path)
        measure_id = "els_" + slug(re.sub(r"\s*\((Great Britain|GB|UK)\)\s*$", "", indicator))
        label = str(m.get("label") or indicator)
        unit = _unit(m)
        facts = pd.DataFrame({
            "measure": measure_id,
            "area_code": df.loc[idx, "areacd"],
            "area_level": df.loc[idx, "area_level"],
            "period": per.loc[idx].map(lambda t: t[0]),
            "period_start": pd.to_datetime(per.loc[idx].map(lambda t: t[1])),
            "period_end": pd.to_datetime(per.loc[idx].map(lambda t: t[2])),
            "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
            "value": parsed.loc[idx, "value"],
            "status": st.loc[idx], "status_reason": reason.loc[idx].replace("", None),
            "ci_lower": df.loc[idx, "lci_95"], "ci_upper": df.loc[idx, "uci_95"],
            "numerator": np.nan, "denominator": np.nan,
            "source_row": df.loc[idx, "source_row"],
        })
        info = DatasetInfo(
            id=f"ons_els_{file_slug}" + ("" if df["indicator"].nunique() == 1 else f"_{slug(indicator)}"),
            title=f"{label} (ONS Explore Local Statistics)",
            publisher=str(m.get("sourceOrg") or "Office for National Statistics"),
            source_url=str(m.get("sourceURL") or "https://www.ons.gov.uk/explore-local-statistics/"),
            licence=OGL,
            attribution=f"Source: {m.get('sourceOrg') or 'Office for National Statistics'}, via ONS Explore Local "
                        "Statistics, licensed under the Open Government Licence v.3.0",
            regularity="annual",
            release_date=_release_date(meta, m),
            topic=_topic(label),
            spatial_levels="LAD, combined authority, region, England (as published; also GB nations)",
            source_file=rel,
            description=str(m.get("longDescription") or m.get("subtitle") or ""),
            caveats=str(m.get("caveats") or ""),
        )
        measure = MeasureInfo(
            id=measure_id, label=label.replace(" (Great Britain)", ""), dataset=info.id, unit=unit,
            topic=info.topic, aggregation="weighted_mean", weight_measure="pop_16_64",
            description=str(m.get("subtitle") or ""), decimals=int(m.get("decimalPlaces") or 0),
        )
        datasets.append(StagedDataset(info=info, measures=[measure], facts=facts.reset_index(drop=True), notes=notes))
    return datasets
