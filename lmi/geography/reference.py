"""Find and read the geography reference files (lookups and boundaries) by their content.

Each reference kind is recognised by its header (CSV/XLSX) or feature properties (GeoJSON), so a
newer download of the same ONS product placed anywhere under the sources folder is picked up.
Readers here do no transforms beyond decoding the file.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lmi.errors import SourceError


@dataclass(frozen=True)
class RefKind:
    key: str
    title: str
    suffixes: tuple[str, ...]
    needs: tuple[str, ...]       # header cells / property names that identify the kind
    required: bool = True


REFERENCE_KINDS: tuple[RefKind, ...] = (
    RefKind("lad23_boundaries", "Local Authority Districts (May 2023) Boundaries UK BUC", (".geojson", ".json"), ("LAD23CD", "LAD23NM", "BNG_E")),
    RefKind("lad22_boundaries", "Local Authority Districts (December 2022) Boundaries UK BUC", (".geojson", ".json"), ("LAD22CD", "LAD22NM", "BNG_E"), False),
    RefKind("lep_boundaries", "Local Enterprise Partnerships (May 2021) Boundaries EN BUC", (".geojson", ".json"), ("LEP21CD", "LEP21NM")),
    RefKind("lsip_boundaries", "Local Skills Improvement Plan Areas (August 2023) Boundaries EN BUC", (".geojson", ".json"), ("LSIP23CD", "LSIP23NM"), False),
    RefKind("ca_boundaries", "Combined Authorities Boundaries EN BUC", (".geojson", ".json"), ("CAUTH24CD", "CAUTH24NM"), False),
    RefKind("country_boundaries", "Countries (December 2024) Boundaries UK BUC", (".geojson", ".json"), ("CTRY24CD", "CTRY24NM"), False),
    RefKind("region_boundaries", "ONS UK TopoJSON: regions layer", (".geojson", ".json"), ("areacd", "areanm", "layer"), False),
    RefKind("uk_topojson", "ONS UK TopoJSON 2014-2025 (multi-vintage)", (".topojson", ".json"), ("ltla", "cty"), False),
    RefKind("lsip_lookup", "LAD (2023) to Local Skills Improvement Plan Areas (August 2023) Lookup in England", (".xlsx",), ("LAD23CD", "LSIP23CD", "LSIP23NM")),
    RefKind("ca_lookup", "Local Authority District to Combined Authority (May 2025) Lookup in EN", (".csv",), ("LAD25CD", "CAUTH25CD", "CAUTH25NM")),
    RefKind("lad11_lad21", "Local Authority District (2011) to Local Authority District (2021) Lookup for England and Wales", (".csv",), ("LAD11CD", "LAD21CD")),
    RefKind("changes", "ONS UK TopoJSON geography changes 2018-2025", (".csv",), ("oldcd", "newcd", "type", "start")),
    RefKind("ward_lookup", "Ward to Local Authority District (December 2023) Lookup in the United Kingdom", (".csv",), ("WD23CD", "WD23NM", "LAD23CD", "LAD23NM")),
    RefKind("dfe_hierarchy", "DfE geography hierarchy (dfeR::geo_hierarchy)", (".csv",), ("lad_code", "region_code", "first_available_year_included")),
    RefKind("dfe_lep_map", "DfE Local Skills Dashboard LAD map attributes (LAD22 to LEP/LSIP/MCA)", (".csv",), ("LAD22CD", "LEP", "LEP2")),
    RefKind("dfe_missing_leps", "DfE Local Skills Dashboard manual mapping of abolished LADs (missing_leps)", (".xlsx",), ("LADNM", "LEP", "LSIP", "LAD23CD")),
    RefKind("ltla14_lookup", "ONS UK TopoJSON LTLA14 lookup", (".csv",), ("ltlacd", "ctycd", "rgncd")),
)
KIND_BY_KEY = {k.key: k for k in REFERENCE_KINDS}


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            return [c.strip() for c in next(csv.reader(fh))]
        except StopIteration:
            return []


def _xlsx_headers(path: Path) -> list[str]:
    import openpyxl

    cells: list[str] = []
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows(min_row=1, max_row=3, values_only=True):
                cells.extend(str(c).strip() for c in row if c is not None)
    finally:
        wb.close()
    return cells


def _json_keys(path: Path) -> list[str]:
    """Property names of the first feature (GeoJSON) or the object names (TopoJSON)."""
    import re

    with open(path, encoding="utf-8-sig") as fh:
        head = fh.read(200_000)
    if re.search(r'"type"\s*:\s*"Topology"', head[:2000]):
        with open(path, encoding="utf-8-sig") as fh:
            return list(json.load(fh).get("objects", {}).keys())
    feats = head.find('"features"')
    start = head.find('"properties"', max(feats, 0))
    if feats < 0 or start < 0:
        return []
    return re.findall(r'"([A-Za-z0-9_]+)"\s*:', head[start:start + 4000])


def identify(path: Path) -> RefKind | None:
    """The reference kind of ``path`` judged from its header/properties, or None."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            cells = _csv_header(path)
        elif suffix == ".xlsx":
            cells = _xlsx_headers(path)
        elif suffix in (".geojson", ".json", ".topojson"):
            cells = _json_keys(path)
        else:
            return None
    except Exception:
        return None
    present = set(cells)
    for kind in REFERENCE_KINDS:
        if suffix in kind.suffixes and all(n in present for n in kind.needs):
            return kind
    return None


def find_references(sources: Path, files: list[Path] | None = None) -> dict[str, Path]:
    """Map reference kind -> file under ``sources``; raise SourceError if a required kind is missing."""
    found: dict[str, Path] = {}
    for path in files if files is not None else sorted(p for p in sources.rglob("*") if p.is_file()):
        kind = identify(path)
        if kind and kind.key not in found:
            found[kind.key] = path
    for kind in REFERENCE_KINDS:
        if kind.required and kind.key not in found:
            raise SourceError(sources, f"no file found for the required reference '{kind.title}'",
                              expected=f"a file whose header has {', '.join(kind.needs)}")
    return found


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def read_geojson_properties(path: Path) -> pd.DataFrame:
    with open(path, encoding="utf-8-sig") as fh:
        doc = json.load(fh)
    return pd.DataFrame([f.get("properties", {}) for f in doc.get("features", [])])


def read_geojson(path: Path):
    """GeoDataFrame in WGS84 (files without a crs member are WGS84 per RFC 7946)."""
    import geopandas as gpd

    gdf = gpd.read_file(path)
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    return gdf.to_crs(4326)


def read_xlsx_table(path: Path, needs: tuple[str, ...]) -> pd.DataFrame:
    """The first sheet whose first row contains all ``needs`` headers, as text."""
    sheets = pd.read_excel(path, sheet_name=None, dtype=str, header=0)
    for name, df in sheets.items():
        cols = [str(c).strip() for c in df.columns]
        if all(n in cols for n in needs):
            df.columns = cols
            return df.fillna("")
    raise SourceError(path, "no sheet has the expected header row", row=1,
                      expected=f"a sheet with columns {', '.join(needs)}")


def read_topojson_layer(path: Path, layer: str) -> pd.DataFrame:
    with open(path, encoding="utf-8-sig") as fh:
        doc = json.load(fh)
    geoms = doc.get("objects", {}).get(layer, {}).get("geometries", [])
    return pd.DataFrame([g.get("properties", {}) for g in geoms])
