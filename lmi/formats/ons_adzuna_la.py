"""ONS "Labour demand indicators by Local Authority data tables, UK" (Adzuna online job adverts), xlsx.

Sheet ``1``: local authority (LAD May 2021 names, no codes) x January of each year, in index "units"
(monthly average count ÷ an undisclosed constant). Sheet ``2``: ITL1 regions. Sheet ``4``: LAs excluded for
quality reasons (absent from sheet 1; staged as status 'missing' rows where English). Headers are found by
anchor cells ('Local authority…', 'Region…', 'Excluded Local Authorities…'); year headers are text.
Welsh, Scottish and Northern Irish areas are out of scope and skipped with a note.
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import StageContext, normalise_name
from lmi.formats.dfe_datahub import devolved_lad_code
from lmi.periods import MONTHS, month
from lmi.schema import OGL, STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset

NAME = "ons_adzuna_la"
DATASET_ID = "ons_adzuna_la_adverts"
MEASURE = "ons_adzuna_adverts_index"
LA_SHEET, REGION_SHEET, EXCLUDED_SHEET = "1", "2", "4"
SOURCE_URL = ("https://github.com/dfe-analytical-services/lsip_dashboard/blob/5570414ee6541f5a4c441e5ad37f0f71e4444294/"
              "Data/Archive/v0.1/7_ONSvacancy/referencetablesupdated.xlsx")
DEVOLVED_REGIONS = {"wales": "Wales", "scotland": "Scotland", "northern ireland": "Northern Ireland"}
EXCLUDED_REASON = "excluded by ONS (sheet 4)"
# ONS also uses bracketed shorthand in newer tables; the generic markers cover the rest.
VALUE_MARKERS = {**markers.MARKERS,
                 "[x]": markers.Marker(markers.SUPPRESSED, "not available (ONS [x])"),
                 "[c]": markers.Marker(markers.SUPPRESSED, "confidential (ONS [c])"),
                 "[low]": markers.Marker(markers.SUPPRESSED, "rounds to zero (ONS [low])")}
# ONS LA names that the geography lookups do not know under the same normalised name. None needed for the
# May 2021 edition ('Bristol, City of' etc. are handled by lmi.formats.base.normalise_name); add here if needed.
LA_ALIASES: dict[str, str] = {}
_NOTE = re.compile(r"\s*\[note[^\]]*\]\s*", re.I)
_YEAR = re.compile(r"^(19|20)\d{2}$")


def _clean(text: object) -> str:
    return _NOTE.sub(" ", str(text or "")).strip()


def _col(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def detect(path: Path) -> bool:
    """An xlsx with sheets '1', '2', '4' whose sheet '1' has a 'Local authority' header and year columns."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        return False
    try:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if not {LA_SHEET, REGION_SHEET, EXCLUDED_SHEET} <= set(wb.sheetnames):
                return False
            head = list(wb[LA_SHEET].iter_rows(min_row=1, max_row=10, values_only=True))
        finally:
            wb.close()
    except Exception:
        return False
    for row in head:
        cells = [str(c).strip() for c in row if c is not None]
        if cells and cells[0].lower().startswith("local authority") and any(_YEAR.match(c) for c in cells[1:]):
            return any("job advert" in str(r[0]).lower() for r in head if r and r[0])
    return False


def read(path: Path) -> dict[str, list[tuple]]:
    """Every sheet as a list of row tuples (values as stored)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return {name: [tuple(r) for r in wb[name].iter_rows(values_only=True)] for name in wb.sheetnames}
    finally:
        wb.close()


def _find_anchor(rows: list[tuple], prefix: str, rel: str, sheet: str) -> int:
    for i, row in enumerate(rows[:30]):
        if row and row[0] is not None and str(row[0]).strip().lower().startswith(prefix.lower()):
            return i
    raise SourceError(rel, "header anchor cell not found in the first 30 rows", sheet=sheet, column="A",
                      expected=f"a cell in column A starting {prefix!r}")


def _table(rows: list[tuple], anchor: int, first_year_col: int, rel: str, sheet: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Year columns [(col index, year)] from the header row, and the data row indexes (until a blank name)."""
    header = rows[anchor]
    years = []
    for j, cell in enumerate(header[first_year_col:], start=first_year_col):
        text = "" if cell is None else str(cell).strip()
        if not text:
            continue
        if not _YEAR.match(text):
            raise SourceError(rel, "header cell is not a year", row=anchor + 1, column=_col(j), value=cell,
                              sheet=sheet, expected="a year such as '2017'")
        years.append((j, int(text)))
    if not years:
        raise SourceError(rel, "no year columns in the header row", row=anchor + 1, sheet=sheet,
                          column=_col(first_year_col), expected="year headers such as '2017'")
    data = []
    for i in range(anchor + 1, len(rows)):
        row = rows[i]
        if not row or row[0] is None or not str(row[0]).strip():
            continue  # blank spacer rows inside or after the table are skipped, never end it silently
        if all(j >= len(row) or row[j] is None or not str(row[j]).strip() for j, _ in years):
            break  # a text row with no values: the notes under the table
        data.append(i)
    return years, data


def _cells(rows, data, years, rel, sheet) -> pd.DataFrame:
    """Long frame of (row index, year, raw value) with parsed value/status."""
    recs = [(i, y, j, rows[i][j] if j < len(rows[i]) else None) for i in data for j, y in years]
    long = pd.DataFrame(recs, columns=["i", "year", "j", "raw"])
    parsed = []
    for j, y in years:   # parse per column so errors name the column
        sub = long[long["j"] == j]
        parsed.append(markers.parse_series(sub["raw"].astype(object), file=rel, column=f"{_col(j)} ({y})",
                                           rows=sub["i"] + 1, markers=VALUE_MARKERS, sheet=sheet))
    return pd.concat([long, pd.concat(parsed)], axis=1)


def _facts(long: pd.DataFrame, codes: dict[int, tuple[str, str]]) -> pd.DataFrame:
    long = long[long["i"].isin(list(codes))]
    per = {y: month(y, 1) for y in long["year"].unique()}
    return pd.DataFrame({
        "measure": MEASURE,
        "area_code": long["i"].map({i: c[0] for i, c in codes.items()}),
        "area_level": long["i"].map({i: c[1] for i, c in codes.items()}),
        "period": long["year"].map({y: p[0] for y, p in per.items()}),
        "period_start": pd.to_datetime(long["year"].map({y: pd.Timestamp(p[1]) for y, p in per.items()})),
        "period_end": pd.to_datetime(long["year"].map({y: pd.Timestamp(p[2]) for y, p in per.items()})),
        "breakdown_type": "total", "breakdown_code": "total", "breakdown_label": "Total",
        "value": long["value"], "status": long["status"], "status_reason": long["status_reason"],
        "ci_lower": np.nan, "ci_upper": np.nan, "numerator": np.nan, "denominator": np.nan,
        "source_row": long["i"] + 1,
    })


def _lad_code(name: str, ctx: StageContext) -> str | None:
    return ctx.geo.code_for_name(LA_ALIASES.get(name, name), "lad")


def stage(raw: dict[str, list[tuple]], path: Path, ctx: StageContext) -> list[StagedDataset]:
    rel = ctx.rel(path)
    for sheet in (LA_SHEET, REGION_SHEET, EXCLUDED_SHEET):
        if sheet not in raw:
            raise SourceError(rel, f"sheet {sheet!r} is missing", expected="sheets '1' (LA), '2' (region), '4' (excluded)")
    notes: list[str] = []

    # --- sheet 1: local authorities ---------------------------------------------------------
    rows = raw[LA_SHEET]
    a = _find_anchor(rows, "Local authority", rel, LA_SHEET)
    hdr = [_clean(c).lower() for c in rows[a]]
    if len(hdr) < 3 or not hdr[1].startswith("region"):
        raise SourceError(rel, "second header cell is not 'Region'", row=a + 1, column="B", sheet=LA_SHEET,
                          value=rows[a][1] if len(rows[a]) > 1 else None, expected="'Region [note 2]'")
    years, data = _table(rows, a, 2, rel, LA_SHEET)
    codes: dict[int, tuple[str, str]] = {}
    devolved: dict[str, int] = {}
    for i in data:
        name = _clean(rows[i][0])
        region = normalise_name(_clean(rows[i][1])) if len(rows[i]) > 1 else ""
        code = _lad_code(name, ctx)
        if code is None:
            dev = devolved_lad_code(name, ctx)
            if dev or region in DEVOLVED_REGIONS:
                country = DEVOLVED_REGIONS.get(region) or {"W": "Wales", "S": "Scotland", "N": "Northern Ireland"}[dev[0]]
                devolved[country] = devolved.get(country, 0) + 1
                continue
            raise SourceError(rel, "unknown local authority name", row=i + 1, column="A", sheet=LA_SHEET,
                              value=rows[i][0], expected="an English LAD name (May 2021) known to the geography "
                                                         "lookups, or a Welsh/Scottish/NI LA (skipped)")
        codes[i] = (code, "lad")
    if devolved:
        notes.append(f"sheet 1: {sum(devolved.values())} Welsh/Scottish/NI local authorities skipped (out of scope: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(devolved.items())) + ")")
    long = _cells(rows, data, years, rel, LA_SHEET)
    la_facts = _facts(long, codes)
    la_facts["_sheet"] = LA_SHEET

    # --- sheet 2: regions -------------------------------------------------------------------
    rrows = raw[REGION_SHEET]
    ra = _find_anchor(rrows, "Region", rel, REGION_SHEET)
    ryears, rdata = _table(rrows, ra, 1, rel, REGION_SHEET)
    rcodes: dict[int, tuple[str, str]] = {}
    rskip = []
    for i in rdata:
        name = _clean(rrows[i][0])
        key = normalise_name(name)
        if key == "unknown" or key in DEVOLVED_REGIONS:
            rskip.append(name)
            continue
        code = ctx.geo.code_for_name(name, "region")
        if code is None:
            raise SourceError(rel, "unknown region name", row=i + 1, column="A", sheet=REGION_SHEET, value=rrows[i][0],
                              expected="an English ITL1 region, Wales, Scotland, Northern Ireland or 'Unknown'")
        rcodes[i] = (code, "region")
    if rskip:
        notes.append(f"sheet 2: {len(rskip)} rows skipped ({', '.join(rskip)}): out of scope or the 'Unknown' "
                     "location pseudo-region")
    reg_facts = _facts(_cells(rrows, rdata, ryears, rel, REGION_SHEET), rcodes)
    reg_facts["_sheet"] = REGION_SHEET

    # --- sheet 4: excluded local authorities -> 'missing' rows --------------------------------
    erows = raw[EXCLUDED_SHEET]
    ea = _find_anchor(erows, "Excluded Local Authorities", rel, EXCLUDED_SHEET)
    present = set(la_facts["area_code"])
    miss, ex_dev = [], []
    for i in range(ea + 1, len(erows)):
        if not erows[i] or erows[i][0] is None or not str(erows[i][0]).strip():
            break
        name = _clean(erows[i][0])
        code = _lad_code(name, ctx)
        if code is None:
            if devolved_lad_code(name, ctx):
                ex_dev.append(name)
                continue
            raise SourceError(rel, "unknown local authority name", row=i + 1, column="A", sheet=EXCLUDED_SHEET,
                              value=erows[i][0], expected="a LAD name (May 2021) known to the geography lookups")
        if code in present:
            raise SourceError(rel, "local authority listed as excluded but also has figures in sheet 1", row=i + 1,
                              column="A", sheet=EXCLUDED_SHEET, value=erows[i][0],
                              expected="excluded LAs absent from sheet 1")
        for _, y in years:
            lab, start, end = month(y, 1)
            miss.append(dict(measure=MEASURE, area_code=code, area_level="lad", period=lab,
                             period_start=pd.Timestamp(start), period_end=pd.Timestamp(end), breakdown_type="total",
                             breakdown_code="total", breakdown_label="Total", value=np.nan, status=markers.MISSING,
                             status_reason=EXCLUDED_REASON, ci_lower=np.nan, ci_upper=np.nan, numerator=np.nan,
                             denominator=np.nan, source_row=i + 1, _sheet=EXCLUDED_SHEET))
    n_ex = len(miss) // max(len(years), 1)
    notes.append(f"sheet 4: {n_ex} English LAs excluded by ONS for quality reasons staged as 'missing' rows"
                 + (f"; {len(ex_dev)} Welsh/Scottish/NI excluded LAs ignored" if ex_dev else ""))

    facts = pd.concat([la_facts, reg_facts, pd.DataFrame(miss)], ignore_index=True)
    dup = facts.duplicated(["area_code", "period"], keep="first")
    if dup.any():
        r = facts[dup].iloc[0]
        raise SourceError(rel, "two rows resolve to the same area and year", row=int(r["source_row"]), column="A",
                          sheet=r["_sheet"], value=r["area_code"], expected="one row per local authority / region")
    facts = facts[list(STAGE_COLUMNS)].reset_index(drop=True)

    cover = " ".join(str(c) for r in raw.get("Cover_sheet", [])[:10] for c in r if c)
    title = next((str(r[0]).strip() for r in raw.get("Cover_sheet", [])[:1] if r and r[0]),
                 "Labour demand indicators by Local Authority data tables, UK")
    rel_date = None
    if m := re.search(r"(\d{1,2}) ([A-Z][a-z]+) (\d{4})", cover):
        try:
            rel_date = date(int(m[3]), MONTHS[m[2].lower()], int(m[1])).isoformat()
        except (KeyError, ValueError):
            rel_date = None
    info = DatasetInfo(
        id=DATASET_ID, title=title, publisher="Office for National Statistics (data from Adzuna)",
        source_url=SOURCE_URL, licence=OGL,
        attribution="Source: Office for National Statistics (online job adverts data from Adzuna) licensed under the "
                    "Open Government Licence v.3.0",
        regularity="annual", release_date=rel_date, topic="Vacancies and job adverts",
        spatial_levels="LAD (May 2021, UK; England kept), ITL1 region", source_file=rel,
        description="Online job adverts (Adzuna) by local authority and region: average over January of each year "
                    "2017-2022, as index 'units'.",
        caveats="Units are the January monthly average count divided by an undisclosed constant: comparable across "
                "areas and years within this publication only, not advert counts. Region totals include adverts "
                "whose local authority is unknown, so LAs do not sum to regions. Excluded LAs (sheet 4) have no "
                "figures. Rounded to 1 decimal place.",
    )
    measure = MeasureInfo(
        id=MEASURE, label="Online job adverts, January average (ONS/Adzuna index units)", dataset=DATASET_ID,
        unit="index units (January monthly average ÷ undisclosed constant)", topic="Vacancies and job adverts",
        aggregation="sum", decimals=1,
        description="ONS/Adzuna online job adverts, average of weekly snapshots in January, divided by a constant ONS "
                    "does not disclose. Being proportional to advert counts, values may be summed across areas "
                    "within this publication; they are not counts and must not be mixed with other advert series.",
    )
    return [StagedDataset(info=info, measures=[measure], facts=facts, notes=notes)]
