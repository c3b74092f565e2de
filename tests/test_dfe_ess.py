"""Tests for lmi.formats.dfe_ess (DfE Employer Skills Survey 2019 LEA and LEP summary tables)."""
from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from lmi.errors import SourceError
from lmi.formats import dfe_ess
from lmi.formats.base import StageContext, normalise_name
from lmi.schema import STAGE_COLUMNS

LEA_FILE = "skills_survey/ESS_2019_LEA_Summary_Tables_Controlled_v01.00.xlsx"
LEP_FILE = "skills_survey/ESS_2019_LEP_Summary_Tables_Controlled_v01.00.xlsx"


# --- a fake resolver for the synthetic workbook (no sources folder needed) -------------------

class FakeGeo:
    def __init__(self, names: dict[tuple[str, str], str]):
        self.names = {(lvl, normalise_name(n)): c for (lvl, n), c in names.items()}

    def level_of(self, code: str) -> str | None:
        return next((lvl for (lvl, _), c in self.names.items() if c == code), None)

    def code_for_name(self, name: str, level: str) -> str | None:
        return self.names.get((level, normalise_name(name)))

    def is_english_lad_code(self, code: str) -> bool:
        return code[:3] in ("E06", "E07", "E08", "E09")


FAKE = FakeGeo({("lad", "Camden"): "E09000007", ("lad", "Bristol, City of"): "E06000023",
                ("county", "Kent"): "E10000016", ("lad", "Bournemouth"): "E06000028"})

SUMMARY_ROWS = [  # label, England, Camden, Bristol, Kent, Bournemouth
    ("Unweighted row", 70217, 662, 900, 2000, 300),
    ("Total (establishments)", 1683072, 19206, 15000, 60000, 6000),
    ("Total number of staff", 25480720, 359909, 250000, 700000, "**"),
    ("Vacancies", None, None, None, None, None),
    ("Establishments with any vacancies", 0.17, 0.22, 0.2, 0.15, "**"),
    ("Have at least one vacancy that is hard to fill", 0.08, 0.08, 0.07, 0.06, "**"),
    ("Have a skills shortage vacancy (prompted or unprompted)", 0.06, 0.06, 0.05, 0.05, "**"),
    ("Number of vacancies", 811703, 11544, 9000, 20000, 3012),
    ("Number of skill-shortage vacancies", 199088, 3035, 2000, 5000, "**"),
    ("Number of vacancies as a % of all employment", 0.03, 0.03, 0.04, 0.03, "**"),
    ("% of all vacancies which are SSVs", 0.25, 0.26, 0.22, 0.25, "**"),
    ("Skills gaps", None, None, None, None, None),
    ("% of establishments with any staff not fully proficient", 0.13, 0.1, 0.12, 0.13, "**"),
    ("Number of skills gaps ", 1167961, 11374, 10000, 30000, "**"),
    ("Number of skills gaps as a % of employment", 0.05, 0.03, 0.04, 0.04, "**"),
    ("Training", None, None, None, None, None),
    ("% of establishments training staff over the last 12 months", 0.61, 0.62, 0.6, 0.6, "**"),
    ("% of establishments providing off-the-job training in the last 12 months", 0.43, 0.46, 0.4, 0.4, "**"),
    ("% of establishments providing on-the-job training in the last 12 months", 0.49, 0.5, 0.5, 0.5, "**"),
    ("% of training establishments providing online training or e-learning in the last 12 months",
     0.56, 0.5, 0.5, 0.5, "**"),
    ("Total number trained (including modelled data)", 15238042, 203927, 150000, 400000, "**"),
    ("Number trained as % of total staff", 0.6, 0.57, 0.6, 0.57, "**"),
    ("Total Days Training", 88442026, 1003817, 800000, 2000000, "**"),
    ("Training days per trainee", 5.8, 4.9, 5.3, 5.0, "**"),
    ("Training days per staff", 3.5, 2.8, 3.2, 2.9, "**"),
]


def _synthetic(path: Path) -> Path:
    """A small workbook in the ESS LEA layout: summary sheet + one per-area sheet with significance rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contents"
    s = wb.create_sheet("ALL_LEAS")
    for r, v in ((1, "30-September-2020"), (2, "Employer Skills Survey (ESS) 2019"), (3, "Back to contents"),
                 (4, "ALL_LEAS"), (6, "Summary of vacancy situation (employer base)"), (7, "Base: All")):
        s.cell(r, 1, v)
    s.cell(8, 3, "LEA")
    for j, n in enumerate(["England Total", "Camden", "Bristol", "Kent", "Bournemouth"], start=2):
        s.cell(9, j, n)
    for i, row in enumerate(SUMMARY_ROWS, start=10):
        for j, v in enumerate(row, start=1):
            s.cell(i, j, v)
    s.cell(10 + len(SUMMARY_ROWS), 1, "Tables produced by IFF")
    a = wb.create_sheet("CAMDEN")
    a.cell(1, 1, "30-September-2020")
    a.cell(2, 1, "Employer Skills Survey (ESS) 2019")
    for j, g in ((2, "ENGLAND"), (3, "LEP"), (4, "LEA"), (5, "Establishment size")):
        a.cell(8, j, g)
    for j, n in enumerate(["England Total", "London Total", "Camden Total", "2 to 4", "5 to 24"], start=2):
        a.cell(9, j, n)
    a.cell(10, 1, "Significance Level: 95%")
    a.cell(10, 5, "*a")
    a.cell(10, 6, "b")
    r = 11
    for row in SUMMARY_ROWS:
        a.cell(r, 1, row[0])
        if row[1] is not None:  # value row (England, London, Camden, two size bands) + significance row
            for j, v in enumerate([row[1], row[1], row[2], row[2], "**"], start=2):
                a.cell(r, j, v)
            r += 1
            a.cell(r, 5, "abg")
            a.cell(r, 6, "*a")
        r += 1
    a.cell(r, 1, "Columns Tested: a,b")
    a.cell(r + 1, 1, "Tables produced by IFF")
    wb.save(path)
    return path


def _synthetic_row(tmp_path: Path, sheet: str, label: str) -> int:
    p = _synthetic(tmp_path / "probe.xlsx")
    return _row_of(openpyxl.load_workbook(p)[sheet], label)


def _stage_synthetic(tmp_path: Path, mutate=None) -> pd.DataFrame:
    p = _synthetic(tmp_path / "ess_synthetic.xlsx")
    if mutate:
        wb = openpyxl.load_workbook(p)
        mutate(wb)
        wb.save(p)
    ctx = StageContext(tmp_path, FAKE)
    [ds] = dfe_ess.stage(dfe_ess.read(p), p, ctx)
    return ds


def test_synthetic_layout_stages_totals_breakdowns_and_skips_significance_rows(tmp_path):
    ds = _stage_synthetic(tmp_path)
    f = ds.facts
    assert list(f.columns) == list(STAGE_COLUMNS)
    tot = f[f.breakdown_type == "total"].set_index(["measure", "area_code"])
    assert set(tot.index.get_level_values(1)) == {"E92000001", "E09000007", "E06000023", "E10000016", "E06000028"}
    assert tot.loc[("ess_vacancies", "E06000023"), "value"] == 9000          # 'Bristol' alias
    assert tot.loc[("ess_vacancies", "E10000016"), "area_level"] == "county"  # Kent is a county
    d = tot.loc[("ess_ssv_density", "E09000007")]
    assert d["value"] == pytest.approx(26.0) and d["numerator"] == 3035 and d["denominator"] == 11544
    s = tot.loc[("ess_employment", "E06000028")]
    assert math.isnan(s["value"]) and s["status"] == "suppressed"
    # Bournemouth's vacancy count is published while its employment is suppressed
    assert tot.loc[("ess_vacancies_pct_employment", "E06000028"), "numerator"] == 3012
    assert math.isnan(tot.loc[("ess_vacancies_pct_employment", "E06000028"), "denominator"])
    size = f[f.breakdown_type == "establishment_size"]
    assert set(size.breakdown_code) == {"2-4", "5-24"}
    assert size.groupby("breakdown_code").size().eq(len(dfe_ess._measures(dfe_ess.KINDS["lea"]))).all()
    assert not f.duplicated(["measure", "area_code", "breakdown_type", "breakdown_code"]).any()


def _row_of(ws, label: str) -> int:
    return next(c.row for c in ws["A"] if c.value == label)


def test_synthetic_unlabelled_data_row_is_an_error(tmp_path):
    def mutate(wb):  # a number where the significance-letter row under 'Number of vacancies' sits
        ws = wb["CAMDEN"]
        ws.cell(_row_of(ws, "Number of vacancies") + 1, 5, 123)
    with pytest.raises(SourceError) as e:
        _stage_synthetic(tmp_path, mutate)
    msg = str(e.value)
    assert "ess_synthetic.xlsx" in msg and "sheet 'CAMDEN'" in msg and "column 'A'" in msg
    row = _synthetic_row(tmp_path, "CAMDEN", "Number of vacancies") + 1
    assert e.value.row == row and f"row {row}," in msg


def test_synthetic_per_area_total_must_match_summary(tmp_path):
    def mutate(wb):
        ws = wb["CAMDEN"]
        ws.cell(_row_of(ws, "Number of vacancies"), 4, 99999)  # Camden Total
    with pytest.raises(SourceError) as e:
        _stage_synthetic(tmp_path, mutate)
    row = _synthetic_row(tmp_path, "CAMDEN", "Number of vacancies")
    assert e.value.row == row and e.value.column == "D" and "sheet 'CAMDEN'" in str(e.value)


def test_detect_rejects_other_files(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    gj = tmp_path / "x.geojson"
    gj.write_text('{"type": "FeatureCollection", "features": []}')
    other = tmp_path / "other.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "ALL_LEAS"  # right sheet name, wrong title rows
    wb.active["A1"] = "LAD23CD"
    wb.save(other)
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"not a zip")
    assert not any(dfe_ess.detect(p) for p in (csv, gj, other, bad))
    assert dfe_ess.detect(_synthetic(tmp_path / "ess.xlsx"))


# --- the official workbooks -----------------------------------------------------------------


@pytest.fixture(scope="module")
def lea(sources_dir, ctx):
    p = sources_dir / LEA_FILE
    [ds] = dfe_ess.stage(dfe_ess.read(p), p, ctx)
    return ds


@pytest.fixture(scope="module")
def lep(sources_dir, ctx):
    p = sources_dir / LEP_FILE
    [ds] = dfe_ess.stage(dfe_ess.read(p), p, ctx)
    return ds


@functools.lru_cache(maxsize=16)
def _sheet_rows(path: Path, sheet: str) -> list[tuple]:
    """Independent openpyxl read of one sheet's values (cached: the workbooks are read-only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True)
        rows = [tuple(r) for r in wb[sheet].iter_rows(values_only=True)]
        wb.close()
    return rows


def _official(path: Path, sheet: str, label: str, column: str) -> tuple[object, int]:
    """Independent read: the cell at (row whose column A is ``label``, column headed ``column`` in row 9)."""
    rows = _sheet_rows(path, sheet)
    j = [str(c).strip() if c is not None else "" for c in rows[8]].index(column)
    i = next(i for i, r in enumerate(rows) if r[0] is not None and str(r[0]).strip() == label.strip())
    return rows[i][j], i + 1


def _fact(ds, measure, area, btype="total", bcode="total") -> pd.Series:
    f = ds.facts
    hit = f[(f.measure == measure) & (f.area_code == area) & (f.breakdown_type == btype) & (f.breakdown_code == bcode)]
    assert len(hit) == 1, (measure, area, btype, bcode)
    return hit.iloc[0]


def test_detect_official_files(sources_dir):
    assert dfe_ess.detect(sources_dir / LEA_FILE)
    assert dfe_ess.detect(sources_dir / LEP_FILE)
    others = [p for p in sources_dir.rglob("*") if p.is_file() and "skills_survey" not in p.parts]
    assert others and not any(dfe_ess.detect(p) for p in others if p.suffix in (".xlsx", ".csv", ".geojson", ".json"))


@pytest.mark.parametrize("label, column, measure, area, kind", [
    ("Number of vacancies", "City of London", "ess_vacancies", "E09000001", "count"),
    ("Number of vacancies", "England Total", "ess_vacancies", "E92000001", "count"),
    ("% of all vacancies which are SSVs", "Kent", "ess_ssv_density", "E10000016", "pct"),
    ("Number of skills gaps ", "Bristol", "ess_skills_gaps", "E06000023", "count"),
    ("Number of skills gaps as a % of employment", "Bournemouth", "ess_skills_gaps_pct_staff", "E06000028", "pct"),
    ("Training days per trainee", "Durham", "ess_training_days_per_trainee", "E06000047", "number"),
    ("Total number of staff", "Isles of Scilly", "ess_employment", "E06000053", "suppressed"),
    ("Establishments with any vacancies", "Dorset", "ess_vacancy_pct_estab", "E10000009", "pct"),
])
def test_lea_summary_cells_match_official(sources_dir, lea, label, column, measure, area, kind):
    raw, row = _official(sources_dir / LEA_FILE, "ALL_LEAS", label, column)
    got = _fact(lea, measure, area)
    assert got["source_row"] == row
    if kind == "suppressed":
        assert raw == "**" and got["status"] == "suppressed" and math.isnan(got["value"])
    else:
        assert isinstance(raw, (int, float)) and got["status"] == "ok"
        assert got["value"] == pytest.approx(raw * 100 if kind == "pct" else raw)


def test_lea_ratio_carries_numerator_and_denominator(sources_dir, lea):
    path = sources_dir / LEA_FILE
    ssv, _ = _official(path, "ALL_LEAS", "Number of skill-shortage vacancies", "Lancashire")
    vac, _ = _official(path, "ALL_LEAS", "Number of vacancies", "Lancashire")
    got = _fact(lea, "ess_ssv_density", "E10000017")
    assert (got["numerator"], got["denominator"]) == (ssv, vac)
    assert got["value"] == pytest.approx(ssv / vac * 100, abs=0.5)  # published rounded to whole %


def test_lea_breakdown_cells_match_official(sources_dir, lea):
    path = sources_dir / LEA_FILE
    raw, _ = _official(path, "CAMDEN", "Establishments with any vacancies", "Wholesale & Retail")
    assert _fact(lea, "ess_vacancy_pct_estab", "E09000007", "sector", "s13_wholesale_and_retail")["value"] == \
        pytest.approx(raw * 100)
    raw, _ = _official(path, "CAMDEN", "Number of skills gaps as a % of employment", "Information & Communications")
    got = _fact(lea, "ess_skills_gaps_pct_staff", "E09000007", "sector", "s13_information_and_communications")
    assert raw == "*%" and got["status"] == "suppressed" and math.isnan(got["value"])
    raw, _ = _official(path, "CAMDEN", "Number of vacancies", "250+")
    got = _fact(lea, "ess_vacancies", "E09000007", "establishment_size", "250+")
    assert raw == "**" and got["status"] == "suppressed"
    raw, _ = _official(path, "KENT", "Number of vacancies", "5 to 24")
    assert _fact(lea, "ess_vacancies", "E10000016", "establishment_size", "5-24")["value"] == raw


def test_lea_geography(lea):
    t = lea.facts[(lea.facts.breakdown_type == "total") & (lea.facts.measure == "ess_vacancies")]
    assert len(t) == 153
    assert t.area_level.value_counts().to_dict() == {"lad": 125, "county": 27, "england": 1}
    assert set(t[t.area_level == "county"].area_code.str[:3]) == {"E10"}
    assert {"E06000028", "E06000029"} <= set(t.area_code)  # pre-merger Bournemouth and Poole
    assert lea.info.id == "dfe_ess_2019_lea" and lea.info.release_date == "2020-09-30"
    ids = {m.id for m in lea.measures}
    assert {"ess_vacancies", "ess_ssv", "ess_ssv_density", "ess_skills_gaps_pct_staff"} <= ids
    assert set(lea.facts.measure) <= ids


@pytest.mark.parametrize("sheet, label, column, measure, area, btype, bcode, kind", [
    ("ALL_LEPS", "Number of vacancies", "Black Country", "ess_lep_vacancies", "E37000001", "total", "total", "count"),
    ("ALL_LEPS", "Number of skill-shortage vacancies", "Buckinghamshire Thames Valley", "ess_lep_ssv",
     "E37000043", "total", "total", "count"),
    ("ALL_LEPS", "MA_PD22: Whether have any apprentices currently", "London", "ess_lep_apprentices_pct_estab",
     "E37000051", "total", "total", "pct"),
    ("ALL_LEPS", "% of all vacancies which are SSVs", "North Eastern", "ess_lep_ssv_density", "E37000025",
     "total", "total", "pct"),
    ("ALL_LEPS", "Total number of staff", "England Total", "ess_lep_employment", "E92000001", "total", "total",
     "count"),
    ("BLACK_COUNTRY", "Total number of staff", "Primary Sector & Utilities", "ess_lep_employment", "E37000001",
     "sector", "s13_primary_sector_and_utilities", "suppressed"),
    ("BLACK_COUNTRY", "Number of vacancies", "West Midlands Total", "ess_lep_vacancies", "E12000005",
     "total", "total", "count"),
    ("BLACK_COUNTRY", "Number of vacancies", "Manufacturing", "ess_lep_vacancies", "E37000001",
     "sector", "s13_manufacturing", "count"),
])
def test_lep_cells_match_official(sources_dir, lep, sheet, label, column, measure, area, btype, bcode, kind):
    raw, _ = _official(sources_dir / LEP_FILE, sheet, label, column)
    got = _fact(lep, measure, area, btype, bcode)
    if kind == "suppressed":
        assert raw == "**" and got["status"] == "suppressed" and math.isnan(got["value"])
    else:
        assert got["value"] == pytest.approx(raw * 100 if kind == "pct" else raw)


def test_lep_unmatched_leps_skipped_with_note(lep):
    t = lep.facts[(lep.facts.breakdown_type == "total") & (lep.facts.measure == "ess_lep_vacancies")]
    assert t.area_level.value_counts().to_dict() == {"lep": 36, "region": 9, "england": 1}
    note = next(n for n in lep.notes if "skipped" in n and "LEP21" in n)
    for name in ("Northamptonshire", "Humber", "York, North Yorkshire and East Riding"):
        assert name in note
    assert {m.id for m in lep.measures}.isdisjoint({"ess_vacancies", "ess_ssv"})  # ids unique across datasets


# --- corrupted copies of the official summary sheets -----------------------------------------

def _copy(sources_dir: Path, rel: str, tmp_path: Path, mutate) -> Path:
    """A values-only copy of the summary sheet (and Contents), with ``mutate(ws)`` applied."""
    src = sources_dir / rel
    sheet = "ALL_LEAS" if "LEA" in rel else "ALL_LEPS"
    wb = openpyxl.Workbook()
    wb.active.title = "Contents"
    ws = wb.create_sheet(sheet)
    for row in _sheet_rows(src, sheet):
        ws.append(list(row))
    mutate(ws)
    out = tmp_path / Path(rel).name
    wb.save(out)
    return out


def _col_of(ws, name: str) -> int:
    return next(c.column for c in ws[9] if c.value == name)


def _blank_label(ws):
    ws["C8"] = None


def _blank_england(ws):
    ws["B9"] = None


def _text_in_number(ws):
    ws.cell(17, 4, "n/a")


def _unknown_area(ws):
    ws.cell(9, 5, "Nowhereshire")


def _duplicate_column(ws):
    new = ws.max_column + 1
    for r in range(1, ws.max_row + 1):
        ws.cell(r, new, ws.cell(r, 4).value)


@pytest.mark.parametrize("rel", [LEA_FILE, LEP_FILE])
@pytest.mark.parametrize("mutate, row, column", [
    (_blank_label, 8, "C"),
    (_blank_england, 9, "B"),
    (_text_in_number, 17, "D ("),
    (_unknown_area, 9, "E"),
    (_duplicate_column, 9, None),
])
def test_corrupted_copy_raises_source_error(sources_dir, ctx, tmp_path, rel, mutate, row, column):
    (tmp_path / "intact").mkdir()
    intact = _copy(sources_dir, rel, tmp_path / "intact", lambda ws: None)
    [ds] = dfe_ess.stage(dfe_ess.read(intact), intact, ctx)  # the intact copy stages fine
    assert len(ds.facts) > 0
    bad = _copy(sources_dir, rel, tmp_path, mutate)
    with pytest.raises(SourceError) as e:
        dfe_ess.stage(dfe_ess.read(bad), bad, ctx)
    msg = str(e.value)
    sheet = "ALL_LEAS" if "LEA" in rel else "ALL_LEPS"
    if column is None:  # the copied column lands after the last area column
        ws = openpyxl.load_workbook(bad, read_only=True)[sheet]
        column = get_column_letter(len(next(ws.iter_rows(min_row=9, max_row=9, values_only=True))))
    assert Path(rel).name in msg and f"sheet {sheet!r}" in msg
    assert f"row {row}," in msg and f"column '{column}" in msg
