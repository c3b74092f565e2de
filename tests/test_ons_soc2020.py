"""ONS SOC 2020 Volume 1 workbook: hierarchy table checked against independent openpyxl reads."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from lmi.errors import SourceError
from lmi.formats import ons_soc2020 as fmt
from lmi.formats.base import StageContext

REL = "occupations/soc2020volume1structureanddescriptionofunitgroupsexcel16042025.xlsx"
SHEET = "SOC2020 descriptions"


class FakeGeo:
    def level_of(self, code):
        return None

    def code_for_name(self, name, level):
        return None

    def is_english_lad_code(self, code):
        return False


@pytest.fixture(scope="module")
def src(request) -> Path:
    """The official sources folder (the lead's ``sources_dir`` fixture when present)."""
    try:
        return request.getfixturevalue("sources_dir")
    except Exception:  # no conftest fixture (or a narrower scope): same rule, same skip message
        path = Path(__file__).resolve().parents[1].parent / "shared" / "lmi-sources"
        if not path.is_dir():
            pytest.skip("official sources folder ../shared/lmi-sources not present")
        return path


@pytest.fixture(scope="module")
def soc_path(src) -> Path:
    return src / REL


@pytest.fixture(scope="module")
def table(soc_path) -> pd.DataFrame:
    return fmt.load_soc2020(soc_path)


def _norm(v) -> str:
    return " ".join(str(v or "").split()).lower()


@pytest.fixture(scope="module")
def sheet_rows(soc_path):
    """Independent read: header row located by scanning for the 'Unit Group' header cell."""
    wb = openpyxl.load_workbook(soc_path, read_only=True, data_only=True)
    rows = [tuple(r) for r in wb[SHEET].iter_rows(values_only=True)]
    wb.close()
    hdr = next(i for i, r in enumerate(rows) if any(_norm(c).endswith("unit group") for c in r))
    heads = [_norm(c) for c in rows[hdr]]
    col = {
        "major": next(i for i, h in enumerate(heads) if h.endswith("major group") and "sub" not in h),
        "submajor": next(i for i, h in enumerate(heads) if h.endswith("sub-major group")),
        "minor": next(i for i, h in enumerate(heads) if h.endswith("minor group")),
        "unit": next(i for i, h in enumerate(heads) if h.endswith("unit group")),
        "title": next(i for i, h in enumerate(heads) if h.endswith("group title")),
        "description": next(i for i, h in enumerate(heads) if h == "group description"),
        "entry": next(i for i, h in enumerate(heads) if "entry routes" in h),
        "related": next(i for i, h in enumerate(heads) if "related job titles" in h),
    }
    return rows, hdr, col


def _find(sheet_rows, level: str, code: str):
    rows, hdr, col = sheet_rows
    for i in range(hdr + 1, len(rows)):
        if str(rows[i][col[level]]).strip() == code:
            return rows[i], col
    raise AssertionError(f"{code} not in sheet")


def test_counts_per_level(table):
    assert table["level"].value_counts().to_dict() == {"unit": 412, "minor": 104, "submajor": 26, "major": 9}
    assert list(table.columns) == list(fmt.COLUMNS)
    assert table["code"].is_unique
    assert table["code"].map(type).eq(str).all()
    assert (table["code"].str.len() == table["level"].map({"major": 1, "submajor": 2, "minor": 3, "unit": 4})).all()


@pytest.mark.parametrize("level,code", [("major", "1"), ("submajor", "22"), ("minor", "342"), ("unit", "2161"),
                                        ("unit", "9269"), ("unit", "2237")])
def test_titles_and_texts_match_sheet(table, sheet_rows, level, code):
    row, col = _find(sheet_rows, level, code)
    got = table.set_index("code").loc[code]
    assert got["level"] == level
    assert got["title"] == str(row[col["title"]]).strip()
    assert got["description"] == str(row[col["description"]]).strip()
    if level == "unit":
        assert got["entry_routes"] == str(row[col["entry"]]).strip()
        assert got["related_job_titles"] == str(row[col["related"]]).strip()
    else:  # '<blank>' literal is empty
        assert str(row[col["related"]]).strip() == "<blank>"
        assert pd.isna(got["related_job_titles"]) and pd.isna(got["tasks"])


def test_major_titles_are_proper_case_not_framework_upper(table):
    majors = table[table["level"] == "major"].set_index("code")["title"]
    assert majors["1"] == "Managers, directors and senior officials"
    assert majors["9"] == "Elementary occupations"
    assert not any(t.isupper() for t in majors)


def test_ancestors_and_skill_levels(table):
    t = table.set_index("code")
    u = t.loc["2161"]
    assert (u["parent_code"], u["minor"], u["submajor"], u["major"]) == ("216", "216", "21", "2")
    assert t.loc["21", "parent_code"] == "2" and t.loc["2", "parent_code"] is None
    for _, r in table[table["level"] != "major"].iterrows():
        assert r["parent_code"] in t.index and r["code"].startswith(r["parent_code"])
    assert t.loc["9", "skill_level"] == 1 and t.loc["2161", "skill_level"] == 4 and t.loc["5", "skill_level"] == 3
    assert table["skill_level"].notna().all()


def test_stage_returns_reference_table_and_catalogue(soc_path, src):
    ctx = StageContext(src, FakeGeo())
    [ds] = fmt.stage(fmt.read(soc_path), soc_path, ctx)
    assert ds.facts.empty and ds.measures == []
    assert len(ds.tables["soc2020"]) == 551
    assert ds.info.topic == "Occupations" and ds.info.release_date == "2025-04-16"
    assert ds.info.regularity == "irregular" and ds.info.spatial_levels == "not spatial (classification)"
    assert ds.info.source_file == REL
    assert ds.info.title == "SOC 2020 Volume 1: structure and descriptions of unit groups"
    assert ds.info.source_url.endswith("soc2020volume1structureanddescriptionsofunitgroups")


def test_detect(src, soc_path, tmp_path):
    assert fmt.detect(soc_path)
    assert not fmt.detect(src / "projections" / "EN_MainTables.Main.xlsx")
    assert not fmt.detect(src / "lookups" / "LSIP_lookup.xlsx")
    for p in sorted(src.rglob("*.csv"))[:3] + sorted(src.rglob("*.geojson"))[:1]:
        assert not fmt.detect(p)
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip")
    assert not fmt.detect(junk)


# ---------------------------------------------------------------- corrupted copies
def _corrupt(soc_path: Path, tmp_path: Path, edit) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(soc_path, data_only=True)
    ws = wb[SHEET]
    edit(ws)
    out = tmp_path / "soc_corrupt.xlsx"
    wb.save(out)
    return out


def _row_of(ws, col_letter: str, code: str) -> int:
    for cell in ws[col_letter]:
        if str(cell.value).strip() == code:
            return cell.row
    raise AssertionError(code)


def _stage_error(path: Path, src: Path) -> SourceError:
    with pytest.raises(SourceError) as ei:
        fmt.stage(fmt.read(path), path, StageContext(src, FakeGeo()))
    return ei.value


def test_duplicated_code_raises(soc_path, tmp_path, src):
    state = {}

    def edit(ws):
        r = _row_of(ws, "D", "1112")
        state["row"] = r
        ws.cell(r, 4).value = 1111

    path = _corrupt(soc_path, tmp_path, edit)
    err = _stage_error(path, src)
    msg = str(err)
    assert "soc_corrupt.xlsx" in msg and f"row {state['row']}" in msg and "column 'D'" in msg
    assert f"sheet {SHEET!r}" in msg and "duplicated" in msg


def test_unit_group_without_parent_minor_raises(soc_path, tmp_path, src):
    state = {}

    def edit(ws):
        ws.cell(_row_of(ws, "C", "111"), 3).value = "119"   # minor group 111 renumbered: 1111/1112 orphaned
        state["row"] = _row_of(ws, "D", "1111")

    err = _stage_error(_corrupt(soc_path, tmp_path, edit), src)
    assert err.row == state["row"] and err.column == "D" and err.sheet == SHEET
    assert "parent minor group 111 is absent" in str(err) and "soc_corrupt.xlsx" in str(err)


def test_missing_header_raises(soc_path, tmp_path, src):
    def edit(ws):
        for cell in ws[1]:
            if _norm(cell.value) == "group description":
                cell.value = None

    err = _stage_error(_corrupt(soc_path, tmp_path, edit), src)
    assert err.row == 1 and err.column == "group description" and "soc_corrupt.xlsx" in str(err)


def test_text_in_code_cell_raises(soc_path, tmp_path, src):
    state = {}

    def edit(ws):
        r = _row_of(ws, "D", "2161")
        state["row"] = r
        ws.cell(r, 4).value = "21x1"

    err = _stage_error(_corrupt(soc_path, tmp_path, edit), src)
    assert err.row == state["row"] and err.column == "D" and err.value == "21x1"
    assert re.search(r"expected a 4-digit code", str(err))


def test_wrong_count_raises(soc_path, tmp_path, src):
    def edit(ws):
        r = _row_of(ws, "D", "9269")
        ws.delete_rows(r)

    err = _stage_error(_corrupt(soc_path, tmp_path, edit), src)
    assert "411 unit groups" in str(err) and "412 unit groups" in str(err)
