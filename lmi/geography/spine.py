"""The geography spine: current (2023) LADs with region, LEP(s), LSIP, combined authority, country;
the lineage of retired LAD codes; code aliases; and a name/code resolver for staging.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from lmi.errors import SourceError
from lmi.formats.base import normalise_name
from lmi.geography import reference as ref

ENGLAND_CODE = "E92000001"
GLA_CODE = "E61000001"
GLA_NAME = "Greater London Authority"
LAD_PREFIXES = ("E06", "E07", "E08", "E09")
SPINE_YEAR = 2023
OFFICIAL_LAD_COUNT = 296  # English LADs from 1 April 2023 (ONS)

LEVEL_BY_PREFIX = {
    "E06": "lad", "E07": "lad", "E08": "lad", "E09": "lad",
    "E10": "county", "E12": "region", "E92": "england",
    "E37": "lep", "E69": "lsip", "E47": "ca", "E61": "ca",
}


@dataclass
class Spine:
    """All geography tables the build writes, plus the resolver used by staging."""

    lad: pd.DataFrame                 # geo_lad
    lad_lep: pd.DataFrame             # geo_lad_lep
    areas: pd.DataFrame               # geo_areas
    membership: pd.DataFrame          # geo_membership
    lineage: pd.DataFrame             # geo_lineage
    aliases: pd.DataFrame             # geo_code_alias
    wards: pd.DataFrame               # ward_lookup
    references: dict[str, Path]
    names: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    known_codes: dict[str, str] = field(default_factory=dict)   # code -> level (any vintage)
    current_code: dict[str, str] = field(default_factory=dict)  # retired/alias LAD code -> current code
    retired_areas: dict[str, str] = field(default_factory=dict)  # retired non-LAD code -> why it is not kept

    # --- GeoResolver protocol -------------------------------------------------------------
    def level_of(self, code: str) -> str | None:
        return self.known_codes.get(str(code).strip())

    def code_for_name(self, name: str, level: str) -> str | None:
        hits = self.names.get((level, normalise_name(name)))
        if not hits:
            return None
        best = min(p for p, _ in hits)
        codes = sorted({c for p, c in hits if p == best})
        return codes[0] if len(codes) == 1 else None

    def is_english_lad_code(self, code: str) -> bool:
        code = str(code).strip()
        return code[:3] in LAD_PREFIXES and code in self.known_codes

    # --- helpers for the pipeline ----------------------------------------------------------
    def to_current(self, code: str) -> str | None:
        """Current 2023 LAD code for any known LAD code (itself when current)."""
        return self.current_code.get(code)

    def add_name(self, level: str, name: str, code: str, priority: int) -> None:
        key = (level, normalise_name(name))
        if not key[1]:
            return
        self.names.setdefault(key, []).append((priority, code))


def _strip(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip()


def _lep_from_overlay(lads, leps) -> pd.DataFrame:
    """LEPs covering at least 20% of a LAD's area (equal-area projection), for LADs the DfE map lacks."""
    la = lads.to_crs(27700)
    le = leps.to_crs(27700)
    inter = la[["lad_code", "geometry"]].overlay(le[["lep_code", "lep_name", "geometry"]], how="intersection",
                                                 keep_geom_type=True)
    inter["share"] = inter.geometry.area / inter["lad_code"].map(la.set_index("lad_code").geometry.area)
    return inter[inter["share"] >= 0.2][["lad_code", "lep_code", "lep_name"]]


def build_spine(sources: Path, files: list[Path] | None = None) -> Spine:
    """Build the spine from the reference files found under ``sources``."""
    refs = ref.find_references(sources, files)

    # 1. current LADs: LAD May 2023 boundaries, England only
    lad_gdf = ref.read_geojson(refs["lad23_boundaries"])
    lad_gdf = lad_gdf[lad_gdf["LAD23CD"].str[:3].isin(LAD_PREFIXES)].copy()
    lad_gdf["lad_code"] = lad_gdf["LAD23CD"].str.strip()
    lad_gdf["lad_name"] = lad_gdf["LAD23NM"].str.strip()
    if len(lad_gdf) != OFFICIAL_LAD_COUNT:
        raise SourceError(refs["lad23_boundaries"], f"{len(lad_gdf)} English LADs found",
                          column="LAD23CD", expected=f"{OFFICIAL_LAD_COUNT} English LAD23 codes")
    lad = lad_gdf[["lad_code", "lad_name"]].sort_values("lad_code").reset_index(drop=True)
    current = set(lad["lad_code"])

    # 2. lineage: mergers and recodes, chained to the 2023 vintage
    changes = ref.read_csv(refs["changes"])
    ch = changes[changes["type"].isin(["merger", "new_code"]) & changes["oldcd"].str[:3].isin(LAD_PREFIXES)].copy()
    l11 = ref.read_csv(refs["lad11_lad21"])
    l11 = l11[(l11["LAD11CD"] != l11["LAD21CD"]) & l11["LAD11CD"].str.startswith("E")]
    steps = pd.concat([
        pd.DataFrame({"old_code": l11["LAD11CD"].str.strip(), "old_name": l11["LAD11NM"].str.strip(),
                      "new_code": l11["LAD21CD"].str.strip(), "change_year": "2011-2021", "change_type": "lad11_to_lad21"}),
        pd.DataFrame({"old_code": ch["oldcd"].str.strip(), "old_name": ch["oldnm"].str.strip(),
                      "new_code": ch["newcd"].str.strip(), "change_year": ch["start"], "change_type": ch["type"]}),
    ], ignore_index=True).drop_duplicates(["old_code", "new_code"])
    # Barnsley/Sheffield 2025 recodes point *forward* past the 2023 spine: keep them as aliases instead.
    forward = steps[steps["new_code"].isin(set(steps["new_code"]) - current) & steps["old_code"].isin(current)]
    steps = steps.drop(forward.index)
    nxt = dict(zip(steps["old_code"], steps["new_code"]))

    def resolve(code: str) -> str | None:
        seen = set()
        while code not in current and code in nxt and code not in seen:
            seen.add(code)
            code = nxt[code]
        return code if code in current else None

    steps["current_code"] = steps["old_code"].map(resolve)
    bad = steps[steps["current_code"].isna() & ~steps["old_code"].isin(current)]
    lineage = steps.dropna(subset=["current_code"])
    lineage = lineage[~lineage["old_code"].isin(current)]
    names = dict(zip(lad["lad_code"], lad["lad_name"]))
    lineage = pd.DataFrame({
        "old_code": lineage["old_code"], "old_name": lineage["old_name"],
        "new_code": lineage["current_code"], "new_name": lineage["current_code"].map(names),
        "change_year": lineage["change_year"].astype(str), "change_type": lineage["change_type"],
    }).drop_duplicates("old_code").sort_values("old_code").reset_index(drop=True)
    del bad  # codes outside England/E&W chains (e.g. Scottish) are not part of the English spine

    aliases = pd.DataFrame({
        "alias_code": forward["new_code"].values, "code": forward["old_code"].values,
        "note": [f"{n}: recoded {o} -> {c} in {y}; the spine keeps the 2023 code {o}"
                 for n, o, c, y in zip(forward["old_name"], forward["old_code"], forward["new_code"], forward["change_year"])],
    })

    # 3. region: DfE hierarchy rows valid in 2023
    hier = ref.read_csv(refs["dfe_hierarchy"])
    fy = pd.to_numeric(hier["first_available_year_included"], errors="coerce")
    ly = pd.to_numeric(hier["most_recent_year_included"], errors="coerce")
    h23 = hier[(fy <= SPINE_YEAR) & (ly >= SPINE_YEAR) & hier["lad_code"].isin(current)]
    reg = h23.drop_duplicates("lad_code").set_index("lad_code")
    lad["region_code"] = lad["lad_code"].map(reg["region_code"])
    lad["region_name"] = lad["lad_code"].map(reg["region_name"])
    missing = lad[lad["region_code"].isna() | (lad["region_code"] == "")]
    if len(missing):
        raise SourceError(refs["dfe_hierarchy"], f"no region for {len(missing)} current LADs, e.g. {missing['lad_code'].iloc[0]}",
                          column="region_code", expected="one region per 2023 LAD")

    # 4. LSIP
    lsip = ref.read_xlsx_table(refs["lsip_lookup"], ("LAD23CD", "LSIP23CD", "LSIP23NM"))
    lsip = lsip.assign(LAD23CD=_strip(lsip["LAD23CD"]), LSIP23CD=_strip(lsip["LSIP23CD"]), LSIP23NM=_strip(lsip["LSIP23NM"]))
    dup = lsip[lsip.duplicated("LAD23CD", keep=False)]
    if len(dup):
        raise SourceError(refs["lsip_lookup"], "a LAD appears in more than one LSIP", row=int(dup.index[0]) + 2,
                          column="LAD23CD", value=dup["LAD23CD"].iloc[0], expected="exactly one LSIP per LAD")
    ls = lsip.set_index("LAD23CD")
    lad["lsip_code"] = lad["lad_code"].map(ls["LSIP23CD"])
    lad["lsip_name"] = lad["lad_code"].map(ls["LSIP23NM"])
    if lad["lsip_code"].isna().any():
        code = lad.loc[lad["lsip_code"].isna(), "lad_code"].iloc[0]
        raise SourceError(refs["lsip_lookup"], f"current LAD {code} has no LSIP", column="LAD23CD",
                          expected="every 2023 LAD listed once")

    # 5. combined authority (May 2025 lookup; 2025 codes mapped back to the 2023 spine) + GLA
    ca = ref.read_csv(refs["ca_lookup"])
    alias_back = dict(zip(aliases["alias_code"], aliases["code"]))
    ca["lad"] = _strip(ca["LAD25CD"]).map(lambda c: alias_back.get(c, c))
    unknown = ca[~ca["lad"].isin(current)]
    if len(unknown):
        raise SourceError(refs["ca_lookup"], "LAD code not in the 2023 spine", row=int(unknown.index[0]) + 2,
                          column="LAD25CD", value=unknown["LAD25CD"].iloc[0], expected="an English LAD code")
    cas = ca.set_index("lad")
    lad["ca_code"] = lad["lad_code"].map(_strip(cas["CAUTH25CD"]))
    lad["ca_name"] = lad["lad_code"].map(_strip(cas["CAUTH25NM"]))
    london = lad["lad_code"].str.startswith("E09") & lad["ca_code"].isna()
    lad.loc[london, "ca_code"] = GLA_CODE
    lad.loc[london, "ca_name"] = GLA_NAME
    lad["country_code"] = ENGLAND_CODE

    # 6. LEPs: DfE's LAD22 map (LEP and LEP2 names) -> LEP21 codes; LADs it lacks filled by overlay
    lep_gdf = ref.read_geojson(refs["lep_boundaries"])
    lep_gdf["lep_code"] = lep_gdf["LEP21CD"].str.strip()
    lep_gdf["lep_name"] = lep_gdf["LEP21NM"].str.strip()
    lep_by_name = {normalise_name(n): c for n, c in zip(lep_gdf["lep_name"], lep_gdf["lep_code"])}
    lep_names = dict(zip(lep_gdf["lep_code"], lep_gdf["lep_name"]))
    pairs = []
    if "dfe_lep_map" in refs:
        m = ref.read_csv(refs["dfe_lep_map"])
        m.columns = [c.strip() for c in m.columns]
        for _, r in m.iterrows():
            for col in ("LEP", "LEP2"):
                nm = str(r[col]).strip()
                if nm and nm != "0" and nm.upper() != "NA":
                    code = lep_by_name.get(normalise_name(nm))
                    if code is None:
                        raise SourceError(refs["dfe_lep_map"], "LEP name not among LEP21 boundary names", column=col,
                                          value=nm, expected="a LEP21NM from the LEP boundaries")
                    new = resolve(r["LAD22CD"].strip()) if r["LAD22CD"].strip() not in current else r["LAD22CD"].strip()
                    if new:
                        pairs.append((new, code))
    lad_lep = pd.DataFrame(pairs, columns=["lad_code", "lep_code"]).drop_duplicates()
    lacking = sorted(current - set(lad_lep["lad_code"]))
    if lacking:
        over = _lep_from_overlay(lad_gdf[lad_gdf["lad_code"].isin(lacking)], lep_gdf)
        lad_lep = pd.concat([lad_lep, over[["lad_code", "lep_code"]]], ignore_index=True).drop_duplicates()
    lad_lep["lep_name"] = lad_lep["lep_code"].map(lep_names)
    lad_lep = lad_lep.sort_values(["lad_code", "lep_code"]).reset_index(drop=True)
    still = sorted(current - set(lad_lep["lad_code"]))
    if still:
        raise SourceError(refs["lep_boundaries"], f"no LEP found for {len(still)} LADs, e.g. {still[0]}",
                          expected="every 2023 LAD inside a LEP21 area")

    # 7. areas at every level, and membership
    area_rows = [(r.lad_code, r.lad_name, "lad") for r in lad.itertuples()]
    area_rows += [(c, n, "lep") for c, n in lep_names.items()]
    area_rows += [(c, n, "lsip") for c, n in lad[["lsip_code", "lsip_name"]].drop_duplicates().itertuples(index=False)]
    area_rows += [(c, n, "ca") for c, n in lad[["ca_code", "ca_name"]].dropna().drop_duplicates().itertuples(index=False)]
    area_rows += [(c, n, "region") for c, n in lad[["region_code", "region_name"]].drop_duplicates().itertuples(index=False)]
    area_rows += [(ENGLAND_CODE, "England", "england")]
    counties = _counties(refs, hier)
    area_rows += [(c, n, "county") for c, n in counties.items()]
    areas = pd.DataFrame(area_rows, columns=["area_code", "area_name", "area_level"]).drop_duplicates("area_code")
    areas = areas.sort_values(["area_level", "area_name"]).reset_index(drop=True)

    mem = [pd.DataFrame({"area_level": "lad", "area_code": lad["lad_code"], "lad_code": lad["lad_code"]}),
           pd.DataFrame({"area_level": "lep", "area_code": lad_lep["lep_code"], "lad_code": lad_lep["lad_code"]}),
           pd.DataFrame({"area_level": "lsip", "area_code": lad["lsip_code"], "lad_code": lad["lad_code"]}),
           pd.DataFrame({"area_level": "ca", "area_code": lad["ca_code"], "lad_code": lad["lad_code"]}).dropna(),
           pd.DataFrame({"area_level": "region", "area_code": lad["region_code"], "lad_code": lad["lad_code"]}),
           pd.DataFrame({"area_level": "england", "area_code": ENGLAND_CODE, "lad_code": lad["lad_code"]})]
    h23c = h23[h23["new_la_code"].str.startswith("E10")][["new_la_code", "lad_code"]].drop_duplicates()
    mem.append(pd.DataFrame({"area_level": "county", "area_code": h23c["new_la_code"], "lad_code": h23c["lad_code"]}))
    membership = pd.concat(mem, ignore_index=True).drop_duplicates().reset_index(drop=True)

    # 8. wards
    wards = ref.read_csv(refs["ward_lookup"])
    wards = wards[wards["LAD23CD"].isin(current)]
    wards = pd.DataFrame({"ward_code": wards["WD23CD"].str.strip(), "ward_name": wards["WD23NM"].str.strip(),
                          "lad_code": wards["LAD23CD"].str.strip(), "lad_name": wards["LAD23NM"].str.strip()})

    spine = Spine(lad=lad, lad_lep=lad_lep, areas=areas, membership=membership, lineage=lineage,
                  aliases=aliases, wards=wards.reset_index(drop=True), references=refs)
    _index_names(spine, refs, hier, lep_gdf, l11, changes)
    return spine


def _counties(refs: dict[str, Path], hier: pd.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {}
    if "uk_topojson" in refs:
        cty = ref.read_topojson_layer(refs["uk_topojson"], "cty")
        out.update({str(c).strip(): str(n).strip() for c, n in zip(cty["areacd"], cty["areanm"])})
    e10 = hier[hier["new_la_code"].str.startswith("E10")]
    for c, n in zip(e10["new_la_code"], e10["la_name"]):
        out.setdefault(c.strip(), n.strip())
    return out


def _index_names(sp: Spine, refs, hier, lep_gdf, l11, changes) -> None:
    """Fill the name index (priority 0 = current vintage) and the known-code map."""
    for r in sp.lad.itertuples():
        sp.add_name("lad", r.lad_name, r.lad_code, 0)
        sp.known_codes[r.lad_code] = "lad"
        sp.current_code[r.lad_code] = r.lad_code
    for r in sp.lineage.itertuples():
        sp.add_name("lad", r.old_name, r.old_code, 2)
        sp.known_codes[r.old_code] = "lad"
        sp.current_code[r.old_code] = r.new_code
    for r in sp.aliases.itertuples():
        sp.known_codes[r.alias_code] = "lad"
        sp.current_code[r.alias_code] = r.code
    for c, n in zip(l11["LAD21CD"], l11["LAD21NM"]):
        if c.startswith("E") and c in sp.current_code:
            sp.add_name("lad", n, c, 1)
    hl = hier[hier["lad_code"].str[:3].isin(LAD_PREFIXES)][["lad_code", "lad_name"]].drop_duplicates()
    for c, n in zip(hl["lad_code"], hl["lad_name"]):
        if c in sp.current_code:
            sp.add_name("lad", n, c, 0 if c in set(sp.lad["lad_code"]) else 2)
    if "lad22_boundaries" in refs:
        p = ref.read_geojson_properties(refs["lad22_boundaries"])
        for c, n in zip(p["LAD22CD"], p["LAD22NM"]):
            if str(c).startswith("E") and c in sp.current_code:
                sp.add_name("lad", n, c, 1)
    for r in sp.areas.itertuples():
        if r.area_level != "lad":
            sp.add_name(r.area_level, r.area_name, r.area_code, 0)
            sp.known_codes[r.area_code] = r.area_level
    sp.add_name("ca", "London", GLA_CODE, 1)
    # CA names of the 2024 boundaries and the retired North of Tyne / North East (2018) CAs
    if "ca_boundaries" in refs:
        p = ref.read_geojson_properties(refs["ca_boundaries"])
        for c, n in zip(p["CAUTH24CD"], p["CAUTH24NM"]):
            sp.add_name("ca", n, c, 1)
            sp.known_codes.setdefault(c, "ca")
    # names other publishers use for the same areas (Nomis APS, DfE data hub / C_VacPcArea)
    for level, alias, name in (("lep", "Buckinghamshire Thames Valley", "Buckinghamshire"),
                               ("lep", "Hull and East Riding", "Hull and East Yorkshire"),
                               ("lsip", "Norfolk and Suffolk", "New Anglia"),
                               ("lsip", "Gloucestershire", "G First (Gloucestershire)")):
        code = sp.code_for_name(name, level)
        if code:
            sp.add_name(level, alias, code, 1)
    # region names used by other publishers
    for alias, code in (("East", "E12000006"), ("Yorkshire and Humber", "E12000003")):
        sp.add_name("region", alias, code, 1)
    # retired higher-level areas (e.g. the North East and North of Tyne CAs merged in 2024): recognised, not kept
    for r in changes[changes["type"].isin(["merger", "termination"])].itertuples():
        code = str(r.oldcd).strip()
        if code.startswith(("E47", "E10", "E11")) and code not in sp.known_codes:
            sp.retired_areas[code] = (f"{r.oldnm} ({code}) was {'merged into ' + r.newnm if r.newcd else 'abolished'} "
                                      f"in {r.start}; figures for it are not recast")
    sp.add_name("england", "England", ENGLAND_CODE, 0)
    sp.known_codes[ENGLAND_CODE] = "england"


@lru_cache(maxsize=4)
def _cached(sources: str) -> Spine:
    return build_spine(Path(sources))


def load_resolver(sources_dir: Path) -> Spine:
    """The spine for ``sources_dir`` (cached per folder): it implements the GeoResolver protocol."""
    return _cached(str(Path(sources_dir).resolve()))
