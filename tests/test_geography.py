"""The geography spine against the official lookups (read independently here)."""
from __future__ import annotations

import csv
import json

import pytest

from lmi.geography.spine import load_resolver


@pytest.fixture(scope="module")
def spine(sources_dir):
    return load_resolver(sources_dir)


def _official_lad23(sources_dir):
    with open(sources_dir / "geography/Local_Authority_Districts_May_2023_UK_BUC.geojson", encoding="utf-8") as fh:
        doc = json.load(fh)
    return {f["properties"]["LAD23CD"]: f["properties"]["LAD23NM"] for f in doc["features"]
            if f["properties"]["LAD23CD"][:3] in ("E06", "E07", "E08", "E09")}


def test_spine_has_the_official_lads_each_with_one_region_and_one_lsip(spine, sources_dir):
    official = _official_lad23(sources_dir)
    assert len(official) == 296
    assert set(spine.lad["lad_code"]) == set(official)
    assert spine.lad["lad_code"].is_unique
    assert spine.lad["region_code"].str.startswith("E12").all()
    assert spine.lad["lsip_code"].str.startswith("E69").all()
    # LSIP as in the official lookup (read with openpyxl here)
    import openpyxl

    wb = openpyxl.load_workbook(sources_dir / "lookups/LSIP_lookup.xlsx", read_only=True)
    rows = list(wb.worksheets[0].iter_rows(min_row=2, values_only=True))
    official_lsip = {r[0].strip(): r[2].strip() for r in rows if r[0]}
    got = dict(zip(spine.lad["lad_code"], spine.lad["lsip_code"]))
    assert got == official_lsip


def test_lad_in_two_leps_belongs_to_both(spine):
    # Cannock Chase sat in both Greater Birmingham and Solihull and Stoke-on-Trent and Staffordshire LEPs
    leps = set(spine.lad_lep.loc[spine.lad_lep["lad_code"] == "E07000192", "lep_name"])
    assert leps == {"Greater Birmingham and Solihull", "Stoke-on-Trent and Staffordshire"}
    assert spine.lad_lep.groupby("lad_code").size().max() == 2
    # the six hyphenated LADs DfE's name join lost still get a LEP (from the boundary overlay)
    for code, lep in (("E06000004", "Tees Valley"), ("E06000021", "Stoke-on-Trent and Staffordshire"),
                      ("E07000221", "Coventry and Warwickshire"), ("E06000033", "South East")):
        assert lep in set(spine.lad_lep.loc[spine.lad_lep["lad_code"] == code, "lep_name"])


def test_combined_authority_from_the_2025_lookup(spine, sources_dir):
    with open(sources_dir / "lookups/Local_Authority_District_to_Combined_Authority_(May_2025)_Lookup_in_EN.csv",
              encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    ca = dict(zip(spine.lad["lad_code"], spine.lad["ca_code"]))
    back = {"E08000038": "E08000016", "E08000039": "E08000019"}
    for r in rows:
        assert ca[back.get(r["LAD25CD"], r["LAD25CD"])] == r["CAUTH25CD"]
    assert ca["E09000033"] == "E61000001"  # Westminster -> GLA
    assert spine.lad.loc[spine.lad["lad_code"] == "E07000123", "ca_code"].item() == "E47000018"  # Preston -> Lancashire CA


def test_barnsley_and_sheffield_2025_codes_resolve_both_ways(spine):
    assert spine.to_current("E08000038") == "E08000016"
    assert spine.to_current("E08000039") == "E08000019"
    assert spine.to_current("E08000016") == "E08000016"
    alias = dict(zip(spine.aliases["code"], spine.aliases["alias_code"]))
    assert alias["E08000016"] == "E08000038" and alias["E08000019"] == "E08000039"


def test_lineage_recasts_retired_codes_onto_2023_codes(spine):
    cases = {"E07000026": "E06000063", "E07000027": "E06000064", "E07000163": "E06000065",
             "E07000190": "E06000066",  # Taunton Deane -> Somerset West and Taunton (2019) -> Somerset (2023)
             "E07000004": "E06000060", "E07000150": "E06000061", "E06000028": "E06000058"}
    for old, new in cases.items():
        assert spine.to_current(old) == new


def test_name_resolution_handles_publisher_variants(spine):
    assert spine.code_for_name("Bristol, City of", "lad") == "E06000023"
    assert spine.code_for_name("Stockton-on-Tees", "lad") == "E06000004"
    assert spine.code_for_name("Yorkshire And The Humber", "region") == "E12000003"
    assert spine.code_for_name("Lancashire", "lsip") == "E69000019"
    assert spine.code_for_name("Nowhereshire", "lad") is None
