"""A minimal database with the contract's table and column names, built from the official sources.

Used by tests and benchmarks only when the snapshot ``data/lmi.duckdb`` is absent, so that the
advert pipeline runs unchanged against either. Holds: lad_boundaries, ward_lookup, soc2020,
geo_lad, geo_areas, geo_membership (lad, region, england), facts (pop_16_64 by LAD, latest year),
measures, datasets, build_info.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import shapely

from lmi.schema import FACT_COLUMNS, DatasetInfo, MeasureInfo

LAD_GEOJSON = "geography/Local_Authority_Districts_May_2023_UK_BUC.geojson"
WARD_CSV = "lookups/Ward_to_Local_Authority_District_(December_2023)_Lookup_in_the_United_Kingdom.csv"
HIER_CSV = "lookups/dfeR_geo_hierarchy_ward_pcon_lad_la_cauth_rgn_ctry.csv"
SOC_XLSX = "occupations/soc2020volume1structureanddescriptionofunitgroupsexcel16042025.xlsx"
POP_CSV = "population/ons_mye_population_tidy_2011-2024.csv"


def _lad_boundaries(src: Path) -> pd.DataFrame:
    gj = json.loads((src / LAD_GEOJSON).read_text(encoding="utf-8"))
    rows = []
    for f in gj["features"]:
        p = f["properties"]
        if not str(p["LAD23CD"]).startswith("E"):
            continue
        geom = shapely.geometry.shape(f["geometry"])
        rows.append({
            "lad_code": p["LAD23CD"], "lad_name": p["LAD23NM"],
            "geometry_wkb": shapely.to_wkb(geom),
            "map_geojson": json.dumps(shapely.geometry.mapping(shapely.simplify(geom, 0.005))),
            "centroid_lon": float(p["LONG"]), "centroid_lat": float(p["LAT"]),
            "hex_col": None, "hex_row": None,
        })
    return pd.DataFrame(rows)


def _soc2020(src: Path) -> pd.DataFrame:
    x = pd.read_excel(src / SOC_XLSX, sheet_name="SOC2020 descriptions", dtype=str)
    x.columns = ["major", "submajor", "minor", "unit", "title", "groups", "description",
                 "entry_routes", "tasks", "related_job_titles"]
    rows = []
    for rec in x.to_dict("records"):
        r = {k: (v if isinstance(v, str) and v != "<blank>" else None) for k, v in rec.items()}
        for level, col in (("major", "major"), ("submajor", "submajor"), ("minor", "minor"), ("unit", "unit")):
            if r[col]:
                code = str(r[col]).strip()
                break
        else:
            continue
        rel = None
        if r["related_job_titles"]:
            items = [t.strip().lstrip("~").strip() for t in re.split(r"\n+", r["related_job_titles"])]
            rel = "; ".join(t for t in items if t)
        rows.append({
            "code": code, "level": level, "title": r["title"].strip(),
            "parent_code": code[:-1] if len(code) > 1 else None,
            "major": code[:1], "submajor": code[:2] if len(code) >= 2 else None,
            "minor": code[:3] if len(code) >= 3 else None,
            "description": r["description"], "entry_routes": r["entry_routes"], "tasks": r["tasks"],
            "related_job_titles": rel, "skill_level": None,
        })
    return pd.DataFrame(rows).drop_duplicates("code")


def database_for_tests(dest: Path, sources_dir: Path | None) -> Path | None:
    """A writable database for tests and benchmarks: a copy of the snapshot when it has the tables
    the advert pipeline reads, else a minimal one built from ``sources_dir``; None if neither is possible."""
    import shutil

    from lmi.paths import DEFAULT_DB

    dest = Path(dest)
    if DEFAULT_DB.is_file():
        con = duckdb.connect(str(DEFAULT_DB), read_only=True)
        try:
            tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        finally:
            con.close()
        needed = {"lad_boundaries", "ward_lookup", "geo_membership", "facts", "measures", "datasets", "build_info"}
        if needed <= tables and ("soc2020" in tables or sources_dir is not None):
            shutil.copyfile(DEFAULT_DB, dest)
            return dest
    if sources_dir is None:
        return None
    return build(sources_dir, dest)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Give all-empty columns a real type (DuckDB would otherwise create them as NULL-typed)."""
    df = df.copy()
    for c in df.columns:
        if df[c].isna().all():
            df[c] = df[c].astype("boolean" if c == "higher_is_better" else "string")
    return df


def build(sources_dir: Path, out: Path) -> Path:
    """Write a minimal contract-shaped database to ``out`` from the official sources folder."""
    src = Path(sources_dir)
    out = Path(out)
    if out.exists():
        out.unlink()
    lads = _lad_boundaries(src)
    ward = pd.read_csv(src / WARD_CSV, encoding="utf-8-sig", dtype=str)
    ward = ward[ward["LAD23CD"].str.startswith("E")]
    ward_lookup = ward.rename(columns={"WD23CD": "ward_code", "WD23NM": "ward_name", "LAD23CD": "lad_code",
                                       "LAD23NM": "lad_name"})[["ward_code", "ward_name", "lad_code", "lad_name"]]
    hier = pd.read_csv(src / HIER_CSV, dtype=str)
    hier = hier[hier["lad_code"].isin(lads["lad_code"])].drop_duplicates("lad_code")
    region = hier.set_index("lad_code")[["region_code", "region_name"]]
    geo_lad = lads[["lad_code", "lad_name"]].join(region, on="lad_code")
    for c in ("lsip_code", "lsip_name", "ca_code", "ca_name"):
        geo_lad[c] = None
    geo_lad["country_code"] = "E92000001"
    mem = [pd.DataFrame({"area_level": "lad", "area_code": lads["lad_code"], "lad_code": lads["lad_code"]}),
           pd.DataFrame({"area_level": "region", "area_code": geo_lad["region_code"], "lad_code": geo_lad["lad_code"]}),
           pd.DataFrame({"area_level": "england", "area_code": "E92000001", "lad_code": lads["lad_code"]})]
    membership = pd.concat(mem, ignore_index=True).dropna()
    areas = pd.concat([
        pd.DataFrame({"area_code": lads["lad_code"], "area_name": lads["lad_name"], "area_level": "lad"}),
        geo_lad[["region_code", "region_name"]].drop_duplicates().dropna().set_axis(["area_code", "area_name"], axis=1).assign(area_level="region"),
        pd.DataFrame({"area_code": ["E92000001"], "area_name": ["England"], "area_level": ["england"]}),
    ], ignore_index=True)
    pop = pd.read_csv(src / POP_CSV, dtype={"area_code": str})
    pop = pop[(pop["source"] == "strategy-unit") & (pop["sex"] == "Persons") & (pop["age_band"] == "16-64")
              & pop["area_code"].isin(lads["lad_code"])]
    yr = int(pop["year"].max())
    pop = pop[pop["year"] == yr]
    facts = pd.DataFrame({
        "dataset": "ons_mye", "measure": "pop_16_64", "area_code": pop["area_code"], "area_level": "lad",
        "period": f"mid-{yr}", "period_start": pd.Timestamp(yr, 6, 30), "period_end": pd.Timestamp(yr, 6, 30),
        "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
        "value": pop["population"].astype(float), "unit": "persons", "status": "ok", "status_reason": None,
        "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan, "denominator": np.nan,
        "derivation": "published", "n_contributing": None, "n_missing": None,
    })[list(FACT_COLUMNS)]
    facts["n_contributing"] = facts["n_contributing"].astype("Int64")
    facts["n_missing"] = facts["n_missing"].astype("Int64")
    facts["status_reason"] = facts["status_reason"].astype("string")
    measures = pd.DataFrame([MeasureInfo("pop_16_64", "Population aged 16-64", "ons_mye", "persons",
                                         "Population", "sum").as_row()])
    datasets = pd.DataFrame([DatasetInfo("ons_mye", "Mid-year population estimates", "ONS", "", "OGL", "",
                                         "annual", None, "Population", "LAD", POP_CSV).as_row()])
    con = duckdb.connect(str(out))
    try:
        for name, df in (("lad_boundaries", lads), ("ward_lookup", ward_lookup), ("soc2020", _soc2020(src)),
                         ("geo_lad", geo_lad), ("geo_areas", areas), ("geo_membership", membership),
                         ("facts", facts), ("measures", measures), ("datasets", datasets)):
            con.from_df(_typed(df)).create(name)  # names from the fixed tuple above
        con.execute("ALTER TABLE lad_boundaries ALTER geometry_wkb TYPE BLOB")
        con.execute("ALTER TABLE facts ALTER period_start TYPE DATE")
        con.execute("ALTER TABLE facts ALTER period_end TYPE DATE")
        con.execute("CREATE TABLE build_info(key VARCHAR, value VARCHAR)")
        con.execute("INSERT INTO build_info VALUES ('build_id', 'adverts-devdb')")
    finally:
        con.close()
    return out

