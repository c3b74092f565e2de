"""Skills Imperative 2035 MainTables workbooks: staged cells checked against independent openpyxl reads."""
from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from lmi.errors import SourceError
from lmi.formats import skills_imperative as fmt
from lmi.formats.base import StageContext

EN = "projections/EN_MainTables.Main.xlsx"
LSIP = "projections/LA_LSIP_MainTables.Main.xlsx"
LANCS = "E69000019"


class FakeGeo:
    """Stand-in resolver: knows only the Lancashire LSIP."""

    def level_of(self, code):
        return {"E92000001": "england", LANCS: "lsip"}.get(code)

    def code_for_name(self, name, level):
        return LANCS if (name.strip().lower(), level) == ("lancashire", "lsip") else None

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
def geo(src):
    from lmi.geography.spine import load_resolver

    return load_resolver(src)


@pytest.fixture(scope="module")
def staged(src, geo):
    ctx = StageContext(src, geo)
    out = {}
    for rel in (EN, LSIP):
        [ds] = fmt.stage(fmt.read(src / rel), src / rel, ctx)
        out[rel] = ds
    return out


@functools.lru_cache(maxsize=None)
def _rows(path: Path, sheet: str) -> list[tuple]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = [tuple(r) for r in wb[sheet].iter_rows(values_only=True)]
    wb.close()
    return rows


def _t(v) -> str:
    return " ".join(str(v if v is not None else "").split()).lower()


def _first(rows, pred, start_row=0, cols=None):
    for r in range(start_row, len(rows)):
        for c, v in enumerate(rows[r]):
            if (cols is None or c in cols) and pred(v):
                return r, c
    raise AssertionError("anchor not found")


def official(path: Path, sheet: str, row_label: str, header, *, after: str | None = None) -> float:
    """Independent read: the first row labelled ``row_label`` (below the cell ``after`` if given) and the
    nearest header cell equal to ``header`` above it, in the same side-by-side table."""
    rows = _rows(path, sheet)
    start = 0
    if after is not None:
        start, _ = _first(rows, lambda v: _t(v) == _t(after))
    r, c = _first(rows, lambda v: _t(v).startswith(_t(row_label)), start)
    for hr in range(r - 1, -1, -1):
        for hc in range(c + 1, min(c + 8, len(rows[hr]))):
            v = rows[hr][hc]
            if (isinstance(header, int) and v == header) or (isinstance(header, str) and _t(v) == _t(header)):
                return float(rows[r][hc])
    raise AssertionError(f"header {header!r} not found above {row_label!r}")


def fact(ds, measure, btype, code, period) -> pd.Series:
    f = ds.facts
    hit = f[(f.measure == measure) & (f.breakdown_type == btype) & (f.breakdown_code == code) & (f.period == period)]
    assert len(hit) == 1, (measure, btype, code, period, len(hit))
    return hit.iloc[0]


CASES = [  # measure, btype, code, period, sheet, row label, header, after
    ("si2035_employment", "soc2020_submajor", "22", "2035", "Occ T2", "22 Health professionals", 2035, None),
    ("si2035_employment", "soc2020_submajor", "63", "2015", "Occ T2", "63 Community and civil", 2015, None),
    ("si2035_employment", "total", "total", "2020", "Occ T2", "All occupations", 2020, None),
    ("si2035_employment", "soc2020_major", "9", "2025", "Occ T1", "Elementary occupations", 2025, None),
    ("si2035_replacement_demand", "soc2020_submajor", "61", "2020-2035", "RD T1", "61 Caring personal",
     "Replacement Demand level", None),
    ("si2035_total_requirement", "total", "total", "2020-2035", "RD T1", "All occupations", "Total Requirement", None),
    ("si2035_net_change", "soc2020_submajor", "41", "2020-2035", "RD T1", "41 Administrative", "Net Change", None),
    ("si2035_net_change", "soc2020_major", "5", "2020-2035", "RD T1", "Skilled trades occupations", "Net Change",
     "All qualifications"),
    ("si2035_employment_by_qualification", "qualification", "rqf3", "2025", "Qual T1", "RQF3 A level", 2025, None),
    ("si2035_employment_by_qualification", "qualification", "none", "2035", "Qual T1", "No Qualification", 2035, None),
    ("si2035_employment_by_industry", "sic2007", "construction", "2035", "Ind T2", "Construction", 2035, None),
    ("si2035_employment_by_industry", "sic2007", "public-admin-and-defence", "2015", "Ind T2",
     "Public admin. and defence", 2015, None),
]


@pytest.mark.parametrize("rel", [EN, LSIP])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES])
def test_cells_match_workbook(staged, src, rel, case):
    measure, btype, code, period, sheet, label, header, after = case
    got = fact(staged[rel], measure, btype, code, period)
    want = official(src / rel, sheet, label, header, after=after)
    assert math.isclose(got["value"], want, rel_tol=1e-12)
    if abs(want) < 10:
        assert got["status"] == "unreliable" and "10,000-person" in got["status_reason"]
    else:
        assert got["status"] == "ok" and got["status_reason"] is None


def test_areas_units_and_periods(staged, geo):
    en, ls = staged[EN], staged[LSIP]
    assert set(en.facts.area_code) == {"E92000001"} and set(en.facts.area_level) == {"england"}
    assert set(ls.facts.area_code) == {geo.code_for_name("Lancashire", "lsip")} == {LANCS}
    assert set(ls.facts.area_level) == {"lsip"}
    for ds in (en, ls):
        f = ds.facts
        assert {m.unit for m in ds.measures} == {"thousand jobs"}
        assert {m.aggregation for m in ds.measures} == {"none"} and {m.topic for m in ds.measures} == {"Projections"}
        assert set(f.measure) <= {m.id for m in ds.measures}
        lv = f[f.measure == "si2035_employment"]
        assert set(lv.period) == {"2015", "2019", "2020", "2025", "2035"}
        assert (lv.breakdown_type == "soc2020_submajor").sum() == 26 * 5
        assert (lv.breakdown_type == "soc2020_major").sum() == 9 * 5
        r = fact(ds, "si2035_employment", "soc2020_submajor", "11", "2035")
        assert r.period_start == pd.Timestamp("2035-01-01") and r.period_end == pd.Timestamp("2035-12-31")
        ch = f[f.measure == "si2035_net_change"]
        assert set(ch.period) == {"2020-2035"}
        assert (ch.period_start == pd.Timestamp("2020-01-01")).all()
        assert (ch.period_end == pd.Timestamp("2035-12-31")).all()
        assert len(ch) == 26 + 1 + 9
        assert not f.duplicated(["measure", "period", "breakdown_type", "breakdown_code"]).any()
        assert f.value.notna().all()


def test_licence_not_ogl(staged):
    info = staged[EN].info
    assert "Not Open Government Licence" in info.licence and "Warwick" in info.licence
    assert info.attribution.startswith("Skills Imperative 2035: Warwick Institute for Employment Research")
    assert info.topic == "Projections" and info.source_url.startswith("https://www.nfer.ac.uk/")
    assert staged[EN].info.source_file == EN and staged[LSIP].info.source_file == LSIP


def test_small_lsip_cells_flagged_but_kept(staged, src):
    ls = staged[LSIP].facts
    small = ls[ls.value.abs() < 10]
    assert len(small) > 50
    assert (small.status == "unreliable").all() and small.value.notna().all()
    assert (ls[ls.value.abs() >= 10].status == "ok").all()
    got = fact(staged[LSIP], "si2035_employment", "soc2020_submajor", "63", "2035")
    assert got.value == official(src / LSIP, "Occ T2", "63 Community and civil", 2035) < 10
    assert got.status == "unreliable"


def test_fake_resolver_and_detect(src, tmp_path):
    [ds] = fmt.stage(fmt.read(src / LSIP), src / LSIP, StageContext(src, FakeGeo()))
    assert set(ds.facts.area_code) == {LANCS}
    assert fmt.detect(src / EN) and fmt.detect(src / LSIP)
    assert not fmt.detect(src / "occupations" / "soc2020volume1structureanddescriptionofunitgroupsexcel16042025.xlsx")
    assert not fmt.detect(src / "lookups" / "LSIP_lookup.xlsx")
    for p in sorted(src.rglob("*.csv"))[:3] + sorted(src.rglob("*.geojson"))[:1]:
        assert not fmt.detect(p)
    junk = tmp_path / "x.xlsx"
    junk.write_text("nope")
    assert not fmt.detect(junk)


# ---------------------------------------------------------------- corrupted copies
@pytest.fixture(scope="module")
def trimmed(src, tmp_path_factory) -> Path:
    """A values-only copy of the LSIP workbook with just the sheets the format reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(src / LSIP, data_only=True)
    for ws in list(wb.worksheets):
        if ws.title not in fmt.SHEETS:
            wb.remove(ws)
    out = tmp_path_factory.mktemp("si") / "trimmed.xlsx"
    wb.save(out)
    return out


def _corrupt(trimmed: Path, tmp_path: Path, sheet: str, edit) -> Path:
    wb = openpyxl.load_workbook(trimmed)
    state = edit(wb[sheet])
    out = tmp_path / "si_corrupt.xlsx"
    wb.save(out)
    return out, state


def _cell(ws, pred):
    for row in ws.iter_rows():
        for cell in row:
            if pred(_t(cell.value)):
                return cell
    raise AssertionError("anchor not found")


def _error(path: Path, src: Path) -> SourceError:
    with pytest.raises(SourceError) as ei:
        fmt.stage(fmt.read(path), path, StageContext(src, FakeGeo()))
    assert "si_corrupt.xlsx" in str(ei.value)
    return ei.value


def test_trimmed_copy_stages_like_original(trimmed, src):
    [a] = fmt.stage(fmt.read(trimmed), trimmed, StageContext(src, FakeGeo()))
    [b] = fmt.stage(fmt.read(src / LSIP), src / LSIP, StageContext(src, FakeGeo()))
    pd.testing.assert_frame_equal(a.facts, b.facts)


def test_deleted_anchor_header_raises(trimmed, tmp_path, src):
    def edit(ws):
        c = _cell(ws, lambda t: t == "total requirement")
        c.value = None
        return c.row

    path, row = _corrupt(trimmed, tmp_path, "RD T1", edit)
    err = _error(path, src)
    assert err.sheet == "RD T1" and err.row == row and err.column.startswith("A:")
    assert "Total Requirement" in str(err)


def test_deleted_levels_anchor_raises(trimmed, tmp_path, src):
    def edit(ws):
        c = _cell(ws, lambda t: t.startswith("levels"))
        c.value = "Something else"
        return c.column_letter

    path, col = _corrupt(trimmed, tmp_path, "Occ T1", edit)
    err = _error(path, src)
    assert err.sheet == "Occ T1" and err.column == col and err.row is not None and "Levels" in str(err)


def test_text_in_numeric_cell_raises(trimmed, tmp_path, src):
    def edit(ws):
        lab = _cell(ws, lambda t: t.startswith("22 health professionals"))
        yr = next(c for c in ws[6] if c.value == 2035)
        ws.cell(lab.row, yr.column).value = "n/a"
        return lab.row, yr.column_letter

    path, (row, col) = _corrupt(trimmed, tmp_path, "Occ T2", edit)
    err = _error(path, src)
    assert err.sheet == "Occ T2" and err.row == row and err.column == f"{col} (2035)" and err.value == "n/a"


def test_unknown_area_raises(trimmed, tmp_path, src):
    def edit(ws):
        for row in ws.iter_rows():
            if _t(row[0].value) in ("lsip", "lsip name"):
                row[1].value = "Atlantis"
        return _cell(ws, lambda t: t == "lsip name").row

    path, row = _corrupt(trimmed, tmp_path, "Info", edit)
    err = _error(path, src)
    assert err.sheet == "Info" and err.row == row and err.column == "B" and err.value == "Atlantis"


def test_duplicated_row_raises(trimmed, tmp_path, src):
    def edit(ws):
        first = _cell(ws, lambda t: t.startswith("11 corporate managers"))
        second = ws.cell(first.row + 1, first.column)
        second.value = first.value
        return second.row

    path, row = _corrupt(trimmed, tmp_path, "Occ T2", edit)
    err = _error(path, src)
    assert err.sheet == "Occ T2" and err.row == row and err.column == "A" and "duplicated" in str(err)


def test_unknown_occupation_label_raises(trimmed, tmp_path, src):
    def edit(ws):
        c = _cell(ws, lambda t: t == "elementary occupations")
        c.value = "Astronauts"
        return c.row

    path, row = _corrupt(trimmed, tmp_path, "Occ T1", edit)
    err = _error(path, src)
    assert err.sheet == "Occ T1" and err.row == row and err.column == "A" and err.value == "Astronauts"
