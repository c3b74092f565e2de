"""The career-cluster model: the shipped YAML validates against the official SOC 2020 workbook (read
directly here), the hierarchy is derived correctly, and corrupted copies fail with file/line/key."""
from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
import yaml

from lmi.clusters import (REQUIRED_CLUSTERS, SocStructure, check_clusters, load_clusters, model_table)
from lmi.errors import SourceError
from lmi.paths import CLUSTERS_FILE

SOC_XLSX = "occupations/soc2020volume1structureanddescriptionofunitgroupsexcel16042025.xlsx"
TEXT = CLUSTERS_FILE.read_text(encoding="utf-8")
DOC = yaml.safe_load(TEXT)


def _all_codes(doc: dict) -> set[str]:
    out = set()
    for c in doc["clusters"]:
        for s in c["steps"]:
            for o in s["occupations"]:
                out.add(str(o["soc"]))
                out.update(str(n) for n in o.get("next", []) or [])
    return out


@pytest.fixture(scope="module")
def workbook_units(sources_dir: Path) -> dict[str, str]:
    """Unit group code -> title, read straight from column D / E of 'SOC2020 descriptions'."""
    wb = openpyxl.load_workbook(sources_dir / SOC_XLSX, read_only=True)
    ws = wb["SOC2020 descriptions"]
    header = [str(c) for c in next(ws.iter_rows(min_row=1, max_row=1, values_only=True))]
    assert header[3] == "SOC 2020 Unit Group"
    out = {}
    for row in ws.iter_rows(min_row=2, values_only=True):
        unit = row[3]
        if unit is not None and str(unit).strip() != "<blank>":
            out[str(unit).strip()] = " ".join(str(row[4]).split())
    wb.close()
    assert len(out) == 412
    return out


@pytest.fixture(scope="module")
def framework_parents(sources_dir: Path) -> dict[str, tuple[str, str]]:
    """Unit group -> (minor, sub-major) from the OTHER sheet, 'SOC2020 Framework', by row order."""
    wb = openpyxl.load_workbook(sources_dir / SOC_XLSX, read_only=True)
    ws = wb["SOC2020 Framework"]
    sub = minor = None
    out = {}
    for row in ws.iter_rows(min_row=2, values_only=True):
        if row[2] is not None:
            sub = str(row[2]).strip()
        if row[3] is not None:
            minor = str(row[3]).strip()
        if row[4] is not None:
            out[str(row[4]).strip()] = (minor, sub)
    wb.close()
    return out


@pytest.fixture(scope="module")
def official_soc(sources_dir: Path) -> SocStructure:
    return SocStructure.from_workbook(sources_dir / SOC_XLSX, SOC_XLSX)


@pytest.fixture(scope="module")
def fake_soc() -> SocStructure:
    """A structure holding just the codes the YAML uses (parents by prefix): for tests without sources."""
    codes = sorted(c for c in _all_codes(DOC) if re.fullmatch(r"\d{4}", c))
    rows, seen = [], set()
    for u in codes:
        for k in (1, 2, 3, 4):
            if u[:k] not in seen:
                seen.add(u[:k])
                rows.append((u[:k], f"group {u[:k]}"))
    return SocStructure.from_rows(rows, "fake")


# ------------------------------------------------------------------------------------------ shipped file

def test_every_code_is_a_real_soc2020_unit_group(workbook_units):
    codes = _all_codes(DOC)
    assert codes, "no codes read from the YAML"
    missing = sorted(c for c in codes if c not in workbook_units)
    assert not missing, f"codes not in the official SOC 2020 workbook: {missing}"


def test_shipped_model_validates_against_the_workbook(official_soc):
    clusters, problems = check_clusters(CLUSTERS_FILE, official_soc)
    assert problems == [], [str(p) for p in problems]
    assert 10 <= len(clusters) <= 14
    assert {c.id for c in clusters} >= set(REQUIRED_CLUSTERS)


def test_titles_and_parent_groups_are_derived_from_the_official_structure(official_soc, workbook_units,
                                                                         framework_parents):
    model = load_clusters(soc=official_soc)
    table = model_table(model)
    assert len(table) == sum(len(s["occupations"]) for c in DOC["clusters"] for s in c["steps"])
    for r in table.itertuples():
        assert r.title == workbook_units[r.soc]
        assert (r.minor, r.submajor) == framework_parents[r.soc], r.soc
        assert r.major == r.soc[0]
    # spot checks against the published structure
    row = table[(table.cluster == "health_social_care") & (table.soc == "6136")].iloc[0]
    assert (row.minor, row.minor_title) == ("613", "Caring personal services")
    assert (row.submajor, row.submajor_title) == ("61", "Caring personal service occupations")


def test_structure_rules_hold_in_the_raw_yaml():
    """Independent re-check of the rules on the raw YAML (not through lmi.clusters)."""
    for c in DOC["clusters"]:
        where = {}
        prev = 0
        for i, s in enumerate(c["steps"]):
            assert isinstance(s["rqf_level"], int) and 1 <= s["rqf_level"] <= 8
            assert s["rqf_level"] >= prev
            prev = s["rqf_level"]
            assert s["entry_routes"]
            for o in s["occupations"]:
                assert isinstance(o["soc"], str)
                assert o["soc"] not in where, (c["id"], o["soc"])
                where[o["soc"]] = i
        for i, s in enumerate(c["steps"]):
            for o in s["occupations"]:
                for n in o.get("next", []) or []:
                    assert n in where and where[n] >= i and n != o["soc"], (c["id"], o["soc"], n)


def test_every_cluster_cites_its_sources_in_a_comment():
    blocks = re.split(r"\n  - id: ", TEXT)[1:]
    assert len(blocks) == len(DOC["clusters"])
    for b in blocks:
        assert re.search(r"^\s*# Sources: \S", b, flags=re.M), b.splitlines()[0]


def test_health_and_social_care_pathway(official_soc, workbook_units):
    model = load_clusters(soc=official_soc)
    hsc = model.get("Health and social care")
    step = {o.soc: s.number for s in hsc.steps for o in s.occupations}
    nxt = {o.soc: set(o.next) for s in hsc.steps for o in s.occupations}
    assert workbook_units["6135"] == "Care workers and home carers"
    assert workbook_units["6136"] == "Senior care workers"
    assert workbook_units["3219"] == "Health associate professionals n.e.c."
    assert step["6135"] < step["6136"] < step["3219"] < step["2237"]
    assert step["3213"] == step["3219"]            # assistant practitioners beside nursing associates
    assert "6136" in nxt["6135"] and "3219" in nxt["6136"] and "2237" in nxt["3219"]
    nurses = {c for c in workbook_units if c.startswith("223")}
    ahps = {"2221", "2222", "2223", "2254", "2255", "2256"}
    assert ahps <= set(step) and {c for c in nurses if c in step} >= {"2231", "2232", "2235", "2236", "2237"}
    assert all(step[c] >= step["3219"] + 1 for c in ahps | (nurses & set(step)))
    assert [s.rqf_level for s in hsc.steps] == [2, 3, 5, 6, 7]


def test_soc_structure_from_db_table_matches_workbook(official_soc, tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "soc.duckdb"))
    rows = [(c, g.level, g.title) for c, g in official_soc.groups.items()]
    con.execute("CREATE TABLE soc2020 (code VARCHAR, level VARCHAR, title VARCHAR)")
    con.executemany("INSERT INTO soc2020 VALUES (?, ?, ?)", rows[::-1])  # order must not matter
    from_db = SocStructure.from_db(con)
    assert from_db.groups == official_soc.groups


# ------------------------------------------------------------------------------------------ bad input

def _line_of(text: str, needle: str) -> int:
    for i, ln in enumerate(text.splitlines(), start=1):
        if needle in ln:
            return i
    raise AssertionError(needle)


def _problems(tmp_path: Path, text: str, soc: SocStructure) -> list[SourceError]:
    p = tmp_path / "career_clusters.yaml"
    p.write_text(text, encoding="utf-8")
    _, problems = check_clusters(p, soc)
    return problems


def _one(problems: list[SourceError], fragment: str) -> SourceError:
    hits = [p for p in problems if fragment in p.detail]
    assert hits, [str(p) for p in problems]
    return hits[0]


def test_clean_copy_has_no_problems(tmp_path, fake_soc):
    assert _problems(tmp_path, TEXT, fake_soc) == []


def test_unknown_soc_code_names_file_line_and_key(tmp_path, fake_soc):
    bad = TEXT.replace('{soc: "6132", next: ["2255"]}', '{soc: "6199", next: ["2255"]}')
    e = _one(_problems(tmp_path, bad, fake_soc), "not a SOC 2020 unit group")
    assert e.row == _line_of(bad, '"6199"')
    assert e.column == "clusters[0].steps[0].occupations[2].soc"
    assert e.value == "6199"
    assert "career_clusters.yaml" in str(e) and f"row {e.row}" in str(e)


def test_unquoted_code_is_rejected(tmp_path, fake_soc):
    bad = TEXT.replace('{soc: "6132", next: ["2255"]}', '{soc: 6132, next: ["2255"]}')
    e = _one(_problems(tmp_path, bad, fake_soc), "not a quoted 4-digit string")
    assert e.row == _line_of(bad, "{soc: 6132,")


def test_missing_or_bad_qualification_level(tmp_path, fake_soc):
    bad = TEXT.replace("        rqf_level: 3\n", "", 1)
    e = _one(_problems(tmp_path, bad, fake_soc), "no valid qualification level")
    assert e.column.endswith("steps[1].rqf_level")
    bad = TEXT.replace("        rqf_level: 7\n", "        rqf_level: 9\n", 1)
    e = _one(_problems(tmp_path, bad, fake_soc), "no valid qualification level")
    assert e.value == 9 and e.row == _line_of(bad, "rqf_level: 9")


def test_backward_next_link_is_rejected(tmp_path, fake_soc):
    bad = TEXT.replace('{soc: "3219", next: ["2237", "2232", "2235"]}', '{soc: "3219", next: ["6135"]}')
    e = _one(_problems(tmp_path, bad, fake_soc), "earlier step")
    assert e.row == _line_of(bad, '{soc: "3219", next: ["6135"]}')
    assert e.column == "clusters[0].steps[2].occupations[0].next[0]"


def test_next_link_outside_the_cluster_is_rejected(tmp_path, fake_soc):
    bad = TEXT.replace('{soc: "2256"}', '{soc: "2256", next: ["1122"]}')
    _one(_problems(tmp_path, bad, fake_soc), "not in this cluster")


def test_duplicated_occupation_in_a_cluster(tmp_path, fake_soc):
    bad = TEXT.replace('{soc: "2233"}', '{soc: "6135"}', 1)
    e = _one(_problems(tmp_path, bad, fake_soc), "already in step 1")
    assert e.value == "6135" and e.row == _line_of(bad, '{soc: "6135"}  # Registered specialist nurses')


def test_cluster_without_sources_comment(tmp_path, fake_soc):
    bad = re.sub(r"    # Sources: \[SOC-ER\] 9111", "    # Notes: [SOC-ER] 9111", TEXT)
    assert bad != TEXT
    e = _one(_problems(tmp_path, bad, fake_soc), "no '# Sources:' comment")
    assert e.value == "land_based"


def test_bad_entry_route_and_too_few_clusters(tmp_path, fake_soc):
    bad = TEXT.replace("{route: none, name: \"No formal academic entry requirements; DBS check\"}",
                       "{route: gap_year, name: \"x\"}")
    _one(_problems(tmp_path, bad, fake_soc), "unknown entry route type")
    doc = yaml.safe_load(TEXT)
    doc["clusters"] = doc["clusters"][:3]
    e = _one(_problems(tmp_path, yaml.safe_dump(doc), fake_soc), "clusters")
    assert "10-14 clusters" in str(e)


def test_load_raises_first_problem_with_count(tmp_path, fake_soc):
    bad = TEXT.replace('"6132"', '"6199"').replace("        rqf_level: 3\n", "", 1)
    p = tmp_path / "career_clusters.yaml"
    p.write_text(bad, encoding="utf-8")
    with pytest.raises(SourceError) as ei:
        load_clusters(p, fake_soc)
    assert "more problem" in str(ei.value) and "career_clusters.yaml" in str(ei.value)


def test_misordered_structure_is_caught():
    with pytest.raises(SourceError, match="does not sit under"):
        SocStructure.from_rows([("6", "a"), ("61", "b"), ("613", "c"), ("6211", "d")], "x.xlsx")


def test_invalid_yaml_reports_line(tmp_path, fake_soc):
    p = tmp_path / "career_clusters.yaml"
    p.write_text("clusters:\n  - id: a\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SourceError) as ei:
        check_clusters(p, fake_soc)
    assert ei.value.row is not None


def test_corrupted_workbook_names_sheet_row_and_value(sources_dir, tmp_path):
    """A unit group moved under the wrong minor group in a copy of the official workbook."""
    wb = openpyxl.load_workbook(sources_dir / SOC_XLSX)
    ws = wb["SOC2020 descriptions"]
    row = next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, 4).value).strip() == "6136")
    ws.cell(row, 4).value = "6216"
    bad = tmp_path / "soc_bad.xlsx"
    wb.save(bad)
    with pytest.raises(SourceError) as ei:
        SocStructure.from_workbook(bad, "soc_bad.xlsx")
    e = ei.value
    assert (e.file, e.sheet, e.row, e.value) == ("soc_bad.xlsx", "SOC2020 descriptions", row, "6216")
