"""Nomis APS multi-block exports (T01, T09a, T13a, T19): staged figures checked against independent
openpyxl reads of the official workbooks, corrupted copies, detection and a synthetic table."""
from __future__ import annotations

import math
import re
import time
import warnings
from pathlib import Path

import openpyxl
import pytest

from lmi.errors import SourceError
from lmi.formats import nomis_aps as fmt
from lmi.formats.base import StageContext, normalise_name

FILES = {
    "T01": "employment/APS_T01_economic_activity_16-64_nomis_2023_04_24_143523.xlsx",
    "T09a": "employment/APS_T09a_employment_by_occupation_SOC2010_nomis_2023_04_24_143000.xlsx",
    "T13a": "employment/APS_T13a_employment_by_industry_nomis_2023_04_24_144748.xlsx",
    "T19": "qualifications/APS_T19_qualifications_by_age_sex_nomis_2023_04_24_144248.xlsx",
}
MARKER_STATUS = {"!": "suppressed", "~": "suppressed", "-": "missing", "*": "unreliable"}

# (table, period as published, area label, variable id, measure, breakdown_code, area_code, area_level)
CELLS = [
    ("T01", "Jan 2018-Dec 2018", "ladu:Darlington", "T01:28", "aps_t01_in_employment", "total", "E06000005", "lad"),
    ("T01", "Jan 2022-Dec 2022", "country:England", "T01:22", "aps_t01_all", "total", "E92000001", "england"),
    ("T01", "Jan 2020-Dec 2020", "lep:Solent", "T01:37", "aps_t01_unemployed", "total", "E37000055", "lep"),
    ("T01", "Jan 2018-Dec 2018", "ladu:Allerdale", "T01:37", "aps_t01_unemployed", "total", "E07000026", "lad"),  # '!'
    ("T01", "Jan 2018-Dec 2018", "ladu:Barrow-in-Furness", "T01:34", "aps_t01_self_employed", "total", "E07000027", "lad"),  # conf '*'
    ("T01", "Jan 2021-Dec 2021", "User Defined Geography:Greater Manchester-MCA - from dn81838", "T01:25",
     "aps_t01_economically_active", "total", "E47000001", "ca"),
    ("T09a", "Jan 2017-Dec 2017", "country:England", "T09a:1", "aps_employment_by_occupation_soc2010", "11", "E92000001", "england"),
    ("T09a", "Jan 2017-Dec 2017", "ladu:Hartlepool", "T09a:40", "aps_employment_by_occupation_soc2010", "51", "E06000001", "lad"),  # '!'
    ("T09a", "Jan 2017-Dec 2017", "ladu:Darlington", "T09a:25", "aps_employment_by_occupation_soc2010", "33", "E06000005", "lad"),  # '~'
    ("T09a", "Jan 2017-Dec 2017", "User Defined Geography:Buckinghamshire-LSIP - from dn81838", "T09a:22",
     "aps_employment_by_occupation_soc2010", "32", "E69000002", "lsip"),  # conf '*'
    ("T09a", "Jan 2021-Dec 2021", "ladu:Leeds", "T09a:73", "aps_employment_by_occupation_soc2010", "92", "E08000035", "lad"),
    ("T09a", "Jan 2019-Dec 2019", "lep:Solent", "T09a:16", "aps_employment_by_occupation_soc2010", "24", "E37000055", "lep"),
    ("T13a", "Jan 2018-Dec 2018", "country:England", "T13a:7", "aps_employment_by_industry", "c_manufacturing", "E92000001", "england"),
    ("T13a", "Jan 2018-Dec 2018", "ladu:Hartlepool", "T13a:1", "aps_employment_by_industry", "a_agricuture_and_fishing", "E06000001", "lad"),  # '~'
    ("T13a", "Jan 2018-Dec 2018", "ladu:Middlesbrough", "T13a:1", "aps_employment_by_industry", "a_agricuture_and_fishing", "E06000002", "lad"),  # '!'
    ("T13a", "Jan 2018-Dec 2018", "User Defined Geography:Buckinghamshire-LSIP - from dn81838", "T13a:1",
     "aps_employment_by_industry", "a_agricuture_and_fishing", "E69000002", "lsip"),  # conf '*'
    ("T13a", "Jan 2022-Dec 2022", "ladu:Manchester", "T13a:22", "aps_employment_by_industry",
     "o_q_public_admin_education_and_health", "E08000003", "lad"),
    ("T19", "Jan 2017-Dec 2017", "country:England", "T19:6", "aps_qualification_count", "nvq4plus", "E92000001", "england"),
    ("T19", "Jan 2017-Dec 2017", "User Defined Geography:Brighton and Hove, East Sussex, Wes - from dn81838", "T19:25",
     "aps_qualification_count", "16-19|persons|trade_apprenticeships", "E69000001", "lsip"),  # '!'
    ("T19", "Jan 2017-Dec 2017", "User Defined Geography:Brighton and Hove, East Sussex, Wes - from dn81838", "T19:27",
     "aps_qualification_count", "16-19|persons|nvq4plus", "E69000001", "lsip"),  # conf '*'
    ("T19", "Jan 2017-Dec 2017", "User Defined Geography:Essex, Southend-on-Sea and Thurrock - from dn81838", "T19:28",
     "aps_qualification_count", "16-19|persons|other_qualifications", "E69000010", "lsip"),  # '~'
    ("T19", "Jan 2021-Dec 2021", "ladu:Darlington", "T19:20", "aps_qualification_count", "16-64|female|nvq4plus", "E06000005", "lad"),
    ("T19", "Jan 2019-Dec 2019", "ladu:Cornwall", "T19:1", "aps_qualification_count", "none", "E06000052", "lad"),
]

_workbooks: dict[str, list[list]] = {}
_staged: dict[str, object] = {}


def _rows(path: Path) -> list[list]:
    """Independent read of the sheet with openpyxl (Nomis writes a bogus dimension, hence the reset)."""
    key = str(path)
    if key not in _workbooks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
            ws = wb["Data"]
            ws.reset_dimensions()
            _workbooks[key] = [list(r) for r in ws.iter_rows(values_only=True)]
            wb.close()
    return _workbooks[key]


def _locate(rows: list[list], period: str, area: str, var: str) -> tuple[int, object, object]:
    """(1-based row, number cell, conf cell) found by scanning: date row, then 'Area' header, then column A."""
    start = next(i for i, r in enumerate(rows) if r and r[0] == "date" and r[1] == period)
    head = next(i for i in range(start, len(rows)) if rows[i] and rows[i][0] == "Area")
    col = next(j for j, h in enumerate(rows[head]) if isinstance(h, str) and h.startswith(var + " "))
    sub = rows[head + 1]
    assert sub[col] == "number" and sub[col + 2] == "conf"
    for i in range(head + 2, len(rows)):
        if rows[i] and rows[i][0] == "date":
            break
        if rows[i] and rows[i][0] == area:
            r = rows[i] + [None] * 3
            return i + 1, r[col], r[col + 2]
    raise AssertionError(f"{area} not found in block {period}")



def _stage(ctx: StageContext, table: str):
    if table not in _staged:
        path = ctx.sources_dir / FILES[table]
        _staged[table] = fmt.stage(fmt.read(path), path, ctx)
    return _staged[table]


@pytest.mark.parametrize("table,period,area,var,measure,bcode,code,level", CELLS,
                         ids=[f"{c[0]}-{c[2].split(':')[1][:20]}-{c[3]}" for c in CELLS])
def test_cells_match_workbook(ctx, table, period, area, var, measure, bcode, code, level):
    path = ctx.sources_dir / FILES[table]
    row, number, conf = _locate(_rows(path), period, area, var)
    facts = _stage(ctx, table)[0].facts
    m = re.match(r"(\w{3}) (\d{4})-(\w{3}) (\d{4})", period)
    label = f"Jan-Dec {m[2]}" if (m[1], m[3], m[2]) == ("Jan", "Dec", m[4]) else period
    hit = facts[(facts["measure"] == measure) & (facts["area_code"] == code) & (facts["period"] == label)
                & (facts["breakdown_code"] == bcode)]
    assert len(hit) == 1, (measure, code, label, bcode)
    f = hit.iloc[0]
    assert f["area_level"] == level
    assert int(f["source_row"]) == row
    if isinstance(number, str):
        assert math.isnan(f["value"]) and f["status"] == MARKER_STATUS[number]
        assert f["status_reason"]
        assert math.isnan(f["ci_lower"]) and math.isnan(f["ci_upper"])
    else:
        assert f["value"] == pytest.approx(float(number))
        if conf == "*":
            assert f["status"] == "unreliable" and math.isnan(f["ci_lower"])
        else:
            assert f["status"] == "ok"
            assert f["ci_lower"] == pytest.approx(number - conf) and f["ci_upper"] == pytest.approx(number + conf)


def test_each_table_checks_markers(ctx):
    """Every table's checked cells include a '!' or '~' cell and a conf '*' cell (read independently)."""
    for table in FILES:
        rows = _rows(ctx.sources_dir / FILES[table])
        found = [_locate(rows, c[1], c[2], c[3]) for c in CELLS if c[0] == table]
        assert len(found) >= 5
        assert any(n in ("!", "~") for _, n, _ in found)
        assert any(c == "*" and not isinstance(n, str) for _, n, c in found)


def test_employment_rate_from_counts(ctx):
    path = ctx.sources_dir / FILES["T01"]
    rows = _rows(path)
    _, emp, _ = _locate(rows, "Jan 2019-Dec 2019", "ladu:Darlington", "T01:28")
    _, allp, _ = _locate(rows, "Jan 2019-Dec 2019", "ladu:Darlington", "T01:22")
    facts = _stage(ctx, "T01")[0].facts
    r = facts[(facts["measure"] == "aps_employment_rate_16_64") & (facts["area_code"] == "E06000005")
              & (facts["period"] == "Jan-Dec 2019")].iloc[0]
    assert r["value"] == pytest.approx(emp / allp * 100)
    assert r["numerator"] == emp and r["denominator"] == allp and r["status"] == "ok"
    # City of London: the in-employment estimate is published with conf '*' -> the rate is unreliable
    _, emp_c, conf_c = _locate(rows, "Jan 2018-Dec 2018", "ladu:City of London", "T01:28")
    c = facts[(facts["measure"] == "aps_employment_rate_16_64") & (facts["area_code"] == "E09000001")
              & (facts["period"] == "Jan-Dec 2018")].iloc[0]
    assert conf_c == "*" and c["status"] == "unreliable" and c["numerator"] == emp_c
    m = {x.id: x for x in _stage(ctx, "T01")[0].measures}["aps_employment_rate_16_64"]
    assert m.aggregation == "ratio" and m.scale == 100 and m.unit == "%"


def test_dataset_info_and_scope(ctx):
    ids = {}
    for table in FILES:
        (d,) = _stage(ctx, table)
        ids[table] = d.info.id
        assert d.info.publisher == fmt.PUBLISHER and d.info.licence.startswith("Open Government Licence")
        assert d.info.release_date == "2023-04-24" and d.info.regularity == "quarterly"
        assert d.info.topic == ("Qualifications" if table == "T19" else "Labour market")
        assert table in d.info.title and d.info.source_file == FILES[table]
        f = d.facts
        assert set(f["area_level"]) == {"lad", "lep", "lsip", "ca", "england"}
        assert not f["area_code"].str.match(r"^[WSN]").any()
        assert f["period"].nunique() == 5
        assert any("LAD outside England" in n and n.startswith("270 ") for n in d.notes)
        assert (f["status"] == "suppressed").sum() > 0 and f.loc[f["status"] == "suppressed", "value"].isna().all()
        assert not f.duplicated(["measure", "area_code", "period", "breakdown_type", "breakdown_code"]).any()
        # footnotes never became areas
        assert f["area_code"].notna().all()
    assert ids == {"T01": "nomis_aps_t01", "T09a": "nomis_aps_t09a", "T13a": "nomis_aps_t13a", "T19": "nomis_aps_t19"}
    t19 = _stage(ctx, "T19")[0].facts
    assert set(t19["breakdown_type"]) == {"qualification", "age_sex_qualification"}
    assert t19["breakdown_code"].nunique() == 63
    t09 = _stage(ctx, "T09a")[0].facts
    assert sorted(t09["breakdown_code"].unique()) == sorted(fmt.SOC2010_SUBMAJOR)


def test_stage_t19_under_5_seconds(ctx):
    path = ctx.sources_dir / FILES["T19"]
    t = time.perf_counter()
    fmt.stage(fmt.read(path), path, ctx)
    elapsed = time.perf_counter() - t
    print(f"T19 read+stage {elapsed:.2f}s")
    assert elapsed < 5


def test_detect(sources_dir):
    for rel in FILES.values():
        assert fmt.detect(sources_dir / rel)
    others = [p for p in sources_dir.rglob("*") if p.is_file() and p.suffix in (".xlsx", ".csv", ".geojson", ".json")
              and not p.name.startswith("APS_T")]
    assert others
    for p in others:
        assert fmt.detect(p) is False, p
    assert fmt.detect(sources_dir / "no-such-file.xlsx") is False


# ---------------------------------------------------------------------------------------------
# corrupted copies of T01

@pytest.fixture(scope="module")
def t01_book(sources_dir) -> Path:
    return sources_dir / FILES["T01"]


def _corrupt(t01_book: Path, tmp_path: Path, edit) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(t01_book)
    edit(wb["Data"])
    out = tmp_path / "APS_T01_corrupted.xlsx"
    wb.save(out)
    return out


def _row_of(ws, label: str, after: int = 1) -> int:
    return next(r for r in range(after, ws.max_row + 1) if ws.cell(r, 1).value == label)


def _col_of(ws, var: str, header_row: int) -> int:
    return next(c for c in range(1, ws.max_column + 1) if str(ws.cell(header_row, c).value or "").startswith(var + " "))


def _expect_error(path: Path, ctx: StageContext, row: int, column: str) -> SourceError:
    with pytest.raises(SourceError) as ei:
        fmt.stage(fmt.read(path), path, ctx)
    msg = str(ei.value)
    assert path.name in msg and f"row {row}" in msg and f"column '{column}" in msg, msg
    return ei.value


def test_corrupt_deleted_variable_header(t01_book, tmp_path, ctx):
    def edit(ws):
        h = _row_of(ws, "Area", _row_of(ws, "date") + 300)   # second block's header row
        c = _col_of(ws, "T01:28", h)
        ws.cell(h, c).value = None
        edit.where = (h, openpyxl.utils.get_column_letter(c))
    path = _corrupt(t01_book, tmp_path, edit)
    _expect_error(path, ctx, *edit.where)


def test_corrupt_deleted_area_and_conf_headers(t01_book, tmp_path, ctx):
    def no_area(ws):
        h = _row_of(ws, "Area")
        ws.cell(h, 1).value = None
        no_area.where = (h, "A")
    path = _corrupt(t01_book, tmp_path, no_area)
    _expect_error(path, ctx, *no_area.where)

    def no_conf(ws):
        h = _row_of(ws, "Area")
        c = _col_of(ws, "T01:31", h) + 2
        assert ws.cell(h + 1, c).value == "conf"
        ws.cell(h + 1, c).value = None
        no_conf.where = (h + 1, openpyxl.utils.get_column_letter(c - 2))
    path = _corrupt(t01_book, tmp_path, no_conf)
    _expect_error(path, ctx, *no_conf.where)


def test_corrupt_text_in_number(t01_book, tmp_path, ctx):
    def edit(ws):
        r = _row_of(ws, "ladu:Darlington")
        c = _col_of(ws, "T01:28", _row_of(ws, "Area"))
        ws.cell(r, c).value = "abc"
        edit.where = (r, openpyxl.utils.get_column_letter(c))
    path = _corrupt(t01_book, tmp_path, edit)
    err = _expect_error(path, ctx, *edit.where)
    assert err.value == "abc"


def test_corrupt_unknown_area(t01_book, tmp_path, ctx):
    def edit(ws):
        r = _row_of(ws, "ladu:Darlington", 500)
        ws.cell(r, 1).value = "ladu:Nowhereshire"
        edit.where = (r, "A")
    path = _corrupt(t01_book, tmp_path, edit)
    err = _expect_error(path, ctx, *edit.where)
    assert "Nowhereshire" in str(err)


def test_corrupt_duplicated_rows(t01_book, tmp_path, ctx):
    def dup(ws):
        r = _row_of(ws, "ladu:Darlington")
        ws.insert_rows(r + 1)
        for c in range(1, ws.max_column + 1):
            ws.cell(r + 1, c).value = ws.cell(r, c).value
        dup.where = (r + 1, "A")
    path = _corrupt(t01_book, tmp_path, dup)
    _expect_error(path, ctx, *dup.where)

    def alias(ws):   # a differently written label of the same LAD -> same key
        r = _row_of(ws, "ladu:Hartlepool")
        ws.cell(r, 1).value = "ladu:DARLINGTON"
        alias.where = (max(r, _row_of(ws, "ladu:Darlington")), "measure")
    path = _corrupt(t01_book, tmp_path, alias)
    _expect_error(path, ctx, *alias.where)


def test_footnotes_recognised_by_content(t01_book, tmp_path, ctx):
    def edit(ws):
        r = _row_of(ws, "ladu:Darlington")
        ws.insert_rows(r + 1)
        ws.cell(r + 1, 1).value = "Note: a footnote placed inside the block"
    path = _corrupt(t01_book, tmp_path, edit)
    (d,) = fmt.stage(fmt.read(path), path, ctx)
    base = _stage(ctx, "T01")[0].facts
    assert len(d.facts) == len(base)
    assert d.facts["value"].sum() == pytest.approx(base["value"].sum())

    def with_value(ws):
        r = _row_of(ws, "ladu:Darlington")
        ws.insert_rows(r + 1)
        ws.cell(r + 1, 1).value = "Note: not an area"
        ws.cell(r + 1, 2).value = 5
        with_value.where = (r + 1, "A")
    path = _corrupt(t01_book, tmp_path, with_value)
    _expect_error(path, ctx, *with_value.where)


# ---------------------------------------------------------------------------------------------
# a synthetic export of another table in the same layout (no official files needed)

class FakeGeo:
    LADS = {"darlington": "E06000005", "hartlepool": "E06000001"}

    def level_of(self, code):
        return "lad" if code in self.LADS.values() else None

    def code_for_name(self, name, level):
        if level == "england" and normalise_name(name) == "england":
            return "E92000001"
        return self.LADS.get(normalise_name(name)) if level == "lad" else None

    def is_english_lad_code(self, code):
        return code in self.LADS.values()


def _synthetic(path: Path, areas: list[tuple]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    hdr = ["Area", "T02:5 (Aged 16-64 - Employment rate : All People )", None, None,
           "T02:8 (Aged 16-64 - Unemployment rate : All People )"]
    rows = [["annual population survey"], ["ONS Crown Copyright Reserved [from Nomis on 3 May 2024]"], []]
    for period in ("Apr 2022-Mar 2023", "Apr 2023-Mar 2024"):
        rows += [["date", period], ["confidence", "95% confidence interval (+/-)"], [], hdr,
                 [None, "number", "Flags", "conf", "number", "Flags", "conf"]]
        rows += [list(a) for a in areas]
        rows += [[], ["! Estimate and confidence interval not available since the group sample size is zero or disclosive (0-2)."],
                 ["Some caveat text."], [], []]
    for r in rows:
        ws.append(r)
    wb.save(path)


def test_synthetic_other_table(tmp_path):
    (tmp_path / "lk").mkdir()
    (tmp_path / "lk" / "wards.csv").write_text("WD23CD,WD23NM,LAD23CD,LAD23NM\nW05000001,X,W06000015,Cardiff\n")
    ctx = StageContext(tmp_path, FakeGeo())
    path = tmp_path / "aps.xlsx"
    _synthetic(path, [("country:England", 75.5, None, 0.3, 3.9, None, 0.2),
                      ("ladu:Darlington", 74.1, None, 4.0, "!", None, "!"),
                      ("ladu:Hartlepool", 70.0, None, "*", "-", None, "-"),
                      ("ladu:Cardiff", 70.2, None, 4.4, 3.0, None, 1.0)])
    assert fmt.detect(path)
    (d,) = fmt.stage(fmt.read(path), path, ctx)
    assert d.info.id == "nomis_aps_t02" and "T02" in d.info.title and d.info.caveats == "Some caveat text."
    assert {m.id for m in d.measures} == {"aps_t02_employment_rate", "aps_t02_unemployment_rate"}
    assert {m.unit for m in d.measures} == {"%"}
    f = d.facts
    assert sorted(f["period"].unique()) == ["Apr 2022-Mar 2023", "Apr 2023-Mar 2024"]
    assert str(f["period_end"].max().date()) == "2024-03-31"
    dar = f[(f["area_code"] == "E06000005") & (f["measure"] == "aps_t02_employment_rate")].iloc[0]
    assert dar["ci_lower"] == pytest.approx(70.1) and dar["ci_upper"] == pytest.approx(78.1)
    assert f[(f["area_code"] == "E06000005") & (f["measure"] == "aps_t02_unemployment_rate")]["status"].eq("suppressed").all()
    h = f[(f["area_code"] == "E06000001") & (f["measure"] == "aps_t02_employment_rate")].iloc[0]
    assert h["value"] == 70.0 and h["status"] == "unreliable"
    assert len(f) == 2 * 2 * 3   # Cardiff skipped
    assert any(n.startswith("2 area rows skipped") and "outside England" in n for n in d.notes)

    _synthetic(path, [("ladu:Darlington", 74.1, None, 4.0, 3.0, None, 1.0), ("ladu:Nowhereshire", 1, None, 1, 1, None, 1)])
    with pytest.raises(SourceError, match=r"row 10, column 'A'.*Nowhereshire"):
        fmt.stage(fmt.read(path), path, ctx)

    _synthetic(path, [("ladu:Darlington", 74.1, None, 4.0, 3.0, None, 1.0)])
    wb = openpyxl.load_workbook(path)
    wb["Data"]["A4"].value = "date"
    wb["Data"]["B4"].value = "sometime in 2023"
    wb.save(path)
    with pytest.raises(SourceError, match=r"row 4, column 'B'.*sometime"):
        fmt.stage(fmt.read(path), path, ctx)


def test_detect_rejects_other_workbooks(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["Area", "T01:1 (x)"])
    wb.save(tmp_path / "other.xlsx")
    (tmp_path / "fake.xlsx").write_text("not a zip")
    (tmp_path / "a.csv").write_text("date,Area\n1,2\n")
    assert not fmt.detect(tmp_path / "other.xlsx")
    assert not fmt.detect(tmp_path / "fake.xlsx")
    assert not fmt.detect(tmp_path / "a.csv")
