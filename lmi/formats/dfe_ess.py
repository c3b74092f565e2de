"""DfE Employer Skills Survey 2019 summary tables (IFF Research): LEA and LEP workbooks.

Layout (both workbooks): a summary sheet ``ALL_LEAS`` / ``ALL_LEPS`` with title rows, a
geography-label row (``'LEA'`` / ``'LEP'``), an area-name row starting ``'England Total'`` and
measure rows grouped by section rows (``'Vacancies'``, ``'Skills gaps'``, ``'Training'``; the LEP
sheet adds base blocks for ``'Apprenticeships'`` and ``'Entry to Work'``). One sheet per area
then breaks that area down by sector, establishment size and type, with significance-letter rows
(``'abg'``, ``'*a'``) under value rows. Every block is located by anchor cells, never by offsets.
Proportions are stored as decimals (0.17 = 17%) and staged as percentages.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import periods
from lmi.errors import SourceError
from lmi.formats.base import StageContext, check_unique, normalise_name
from lmi.markers import MISSING, OK, SUPPRESSED, Marker, parse_cell
from lmi.schema import OGL, STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset

NAME = "dfe_ess"

TOPIC = "Skills survey"
PUBLISHER = "Department for Education (Employer Skills Survey 2019, IFF Research)"
SOURCE_URL = "https://www.gov.uk/government/publications/employer-skills-survey-2019-summary-report"
RELEASE_DATE = "2020-09-30"  # tables dated 30-September-2020 (row 1 of every sheet)
ATTRIBUTION = ("Source: Department for Education, Employer Skills Survey 2019, licensed under the "
               "Open Government Licence v.3.0")
ENGLAND_CODE = "E92000001"
ENGLAND_LABEL = "England Total"
PERIOD = periods.year(2019)  # fieldwork 2019

# ESS cell markers: '**' = base too small to report; '*' / '*%' = under 0.5% but above zero.
ESS_MARKERS: dict[str, Marker] = {
    "**": Marker(SUPPRESSED, "suppressed by the publisher: unweighted base too small to report ('**')"),
    "*": Marker(SUPPRESSED, "less than 0.5% but greater than zero ('*'); exact value not published"),
    "*%": Marker(SUPPRESSED, "less than 0.5% but greater than zero ('*%'); exact value not published"),
    "": Marker(MISSING, "blank in source"),
}

# --- geography -----------------------------------------------------------------------------
# The 27 two-tier (shire) counties that were LEAs in ESS 2019. They are kept at level 'county'
# (E10 codes) and never apportioned to districts. 'Dorset' is the pre-April-2019 county
# (E10000009, incl. Christchurch): ESS 2019 still lists Bournemouth and Poole as separate LEAs.
# 'Buckinghamshire', 'North Yorkshire' and 'Somerset' became unitary later (2020/2023) but were
# counties in 2019, so they are looked up at level 'county' too.
COUNTY_LEAS_2019: frozenset[str] = frozenset({
    "Buckinghamshire", "Cambridgeshire", "Cumbria", "Derbyshire", "Devon", "Dorset", "East Sussex",
    "Essex", "Gloucestershire", "Hampshire", "Hertfordshire", "Kent", "Lancashire", "Leicestershire",
    "Lincolnshire", "Norfolk", "North Yorkshire", "Northamptonshire", "Nottinghamshire", "Oxfordshire",
    "Somerset", "Staffordshire", "Suffolk", "Surrey", "Warwickshire", "West Sussex", "Worcestershire",
})

# ESS short forms of single-tier LEA names -> the ONS LAD name.
LEA_LAD_ALIASES: dict[str, str] = {
    "Bristol": "Bristol, City of",
    "Durham": "County Durham",
    "Kingston upon Hull": "Kingston upon Hull, City of",
    "Southend on Sea": "Southend-on-Sea",
    "Herefordshire": "Herefordshire, County of",
    "St Helens": "St. Helens",
}

# 2019 LEP names -> LEP21 names, for partnerships that were renamed but kept their area.
LEP_ALIASES: dict[str, str] = {
    # renamed 2020 (Buckinghamshire LEP); same area, the county of Buckinghamshire
    "Buckinghamshire Thames Valley": "Buckinghamshire",
    # LEP21 spells it 'Greater Cambridge and Greater Peterborough' (E37000059)
    "Greater Cambridge Greater Peterborough": "Greater Cambridge and Greater Peterborough",
    # ESS calls the North East LEP 'North Eastern'; its sheet is 'North East LEP'
    "North Eastern": "North East",
}

# 2019 LEPs with no LEP21 equivalent: skipped with a note (never apportioned).
LEP_WITHOUT_LEP21: dict[str, str] = {
    "Northamptonshire": "merged into South East Midlands LEP; LEP21 has no Northamptonshire LEP",
    "Humber": ("split in the 2020-21 overlap review: its successor Hull and East Yorkshire (E37000061) "
               "excludes North and North East Lincolnshire, so it is a different area"),
    "York, North Yorkshire and East Riding": ("its successor York and North Yorkshire (E37000058) excludes "
                                              "the East Riding, so it is a different area"),
}

# Focal-area headings of the per-area sheets that differ from the ALL_LEPS column names.
SHEET_AREA_ALIASES: dict[str, str] = {
    "North East LEP": "North Eastern",
    "Cornwall and the Isles of Scilly": "Cornwall and Isles of Scilly",
    "Greater Cambridge & Greater Peterborough": "Greater Cambridge Greater Peterborough",
    "York and North Yorkshire": "York, North Yorkshire and East Riding",
}


@dataclass(frozen=True)
class Kind:
    key: str
    sheet: str            # summary sheet name
    geo_label: str        # geography label above the area names (and focal group of area sheets)
    dataset: str
    prefix: str           # measure id prefix
    label_suffix: str
    blocks: tuple[str, ...]
    spatial: str


KINDS: dict[str, Kind] = {
    "lea": Kind("lea", "ALL_LEAS", "LEA", "dfe_ess_2019_lea", "ess_", "",
                ("Vacancies",), "LEA (upper-tier LA, 2019) and England"),
    # The LEP tables get their own ids: their 2019 LEPs overlap (LEP sums exceed England by ~7%)
    # and must not clash with LEA-based roll-ups of the 'ess_' measures.
    "lep": Kind("lep", "ALL_LEPS", "LEP", "dfe_ess_2019_lep", "ess_lep_", " (LEP tables)",
                ("Vacancies", "Apprenticeships", "Entry to Work"), "LEP (2019) and England"),
}
SECTIONS = ("Vacancies", "Skills gaps", "Training", "Apprenticeships", "Entry to Work")
BASE_LABELS = ("unweighted row", "total (establishments)", "total number of staff", "total")


@dataclass(frozen=True)
class Spec:
    key: str              # id without prefix
    label: str
    unit: str
    kind: str             # 'count' | 'pct' (decimal proportion -> %) | 'number'
    aggregation: str
    numerator: str | None = None
    denominator: str | None = None
    decimals: int = 0
    hidden: bool = False
    description: str = ""


# key: (block section, normalised label) for base rows; normalised label (or item code) otherwise.
SPECS: dict[object, Spec] = {
    ("Vacancies", "unweighted row"): Spec("unweighted_base", "Establishments interviewed (unweighted base)", "interviews", "count", "sum"),
    ("Vacancies", "total (establishments)"): Spec("establishments", "Establishments", "establishments", "count", "sum"),
    ("Vacancies", "total number of staff"): Spec("employment", "Employment (total number of staff)", "persons", "count", "sum"),
    "establishments with any vacancies": Spec("vacancy_pct_estab", "Establishments with any vacancies", "%", "pct", "none"),
    "have at least one vacancy that is hard to fill": Spec("htf_pct_estab", "Establishments with a hard-to-fill vacancy", "%", "pct", "none"),
    "have a skills shortage vacancy (prompted or unprompted)": Spec("ssv_pct_estab", "Establishments with a skill-shortage vacancy", "%", "pct", "none"),
    "number of vacancies": Spec("vacancies", "Vacancies", "vacancies", "count", "sum"),
    "number of skill-shortage vacancies": Spec("ssv", "Skill-shortage vacancies (SSVs)", "vacancies", "count", "sum"),
    "number of vacancies as a % of all employment": Spec("vacancies_pct_employment", "Vacancies as % of employment", "%", "pct", "ratio", "vacancies", "employment"),
    "% of all vacancies which are ssvs": Spec("ssv_density", "SSV density (SSVs as % of vacancies)", "%", "pct", "ratio", "ssv", "vacancies"),
    "% of establishments with any staff not fully proficient": Spec("skills_gaps_pct_estab", "Establishments with any staff not fully proficient", "%", "pct", "none"),
    "number of skills gaps": Spec("skills_gaps", "Staff with skills gaps", "persons", "count", "sum"),
    "number of skills gaps as a % of employment": Spec("skills_gaps_pct_staff", "Staff with skills gaps as % of employment", "%", "pct", "ratio", "skills_gaps", "employment"),
    "% of establishments training staff over the last 12 months": Spec("training_pct_estab", "Establishments training staff in the last 12 months", "%", "pct", "none"),
    "% of establishments providing off-the-job training in the last 12 months": Spec("offjob_training_pct_estab", "Establishments providing off-the-job training", "%", "pct", "none"),
    "% of establishments providing on-the-job training in the last 12 months": Spec("onjob_training_pct_estab", "Establishments providing on-the-job training", "%", "pct", "none"),
    "% of training establishments providing online training or e-learning in the last 12 months": Spec("online_training_pct_trainers", "Training establishments providing online training or e-learning", "%", "pct", "none"),
    "total number trained (including modelled data)": Spec("staff_trained", "Staff trained in the last 12 months", "persons", "count", "sum"),
    "number trained as % of total staff": Spec("trained_pct_staff", "Staff trained as % of employment", "%", "pct", "ratio", "staff_trained", "employment"),
    "total days training": Spec("training_days", "Training days", "days", "count", "sum"),
    "training days per trainee": Spec("training_days_per_trainee", "Training days per trainee", "days per trainee", "number", "ratio", "training_days", "staff_trained", 1),
    "training days per staff": Spec("training_days_per_staff", "Training days per member of staff", "days per member of staff", "number", "ratio", "training_days", "employment", 1),
    ("Apprenticeships", "unweighted row"): Spec("appr_base_unweighted", "Apprenticeship module: establishments interviewed (unweighted base)", "interviews", "count", "sum", hidden=True),
    ("Apprenticeships", "total"): Spec("appr_base_weighted", "Apprenticeship module: weighted base (establishments)", "establishments", "count", "sum", hidden=True),
    "ma_pd22": Spec("apprentices_pct_estab", "Establishments with any apprentices currently", "%", "pct", "none"),
    "ma_pd23": Spec("offer_appr_pct_estab", "Establishments currently offering apprenticeships", "%", "pct", "none"),
    "ma_pd22/23": Spec("have_or_offer_appr_pct_estab", "Establishments that have or offer apprenticeships", "%", "pct", "none"),
    "ma_pd28": Spec("appr_aware_pct_estab", "Establishments with good knowledge of, or having/offering, apprenticeships", "%", "pct", "none"),
    ("Entry to Work", "unweighted row"): Spec("recruit_base_unweighted", "Entry-to-work module: establishments interviewed (unweighted base)", "interviews", "count", "sum", hidden=True),
    ("Entry to Work", "total"): Spec("recruit_base_weighted", "Entry-to-work module: weighted base (establishments)", "establishments", "count", "sum", hidden=True),
    "md_pc4aa": Spec("recruit_own_website_pct_estab", "Recruited via adverts on own website", "%", "pct", "none"),
    "md_pc4ab": Spec("recruit_social_media_pct_estab", "Recruited via adverts on social media", "%", "pct", "none"),
    "md_pc4ac": Spec("recruit_paid_adverts_pct_estab", "Paid someone to place adverts on website or social media", "%", "pct", "none"),
    "md_pc4ad": Spec("recruit_paid_service_pct_estab", "Used another paid-for recruitment service", "%", "pct", "none"),
    "md_pc4ae": Spec("recruit_gov_service_pct_estab", "Used a government recruitment service or scheme", "%", "pct", "none"),
    "md_pc4af": Spec("recruit_education_pct_estab", "Used school, college or university job fairs or careers services", "%", "pct", "none"),
    "md_pc4ag": Spec("recruit_word_of_mouth_pct_estab", "Relied on word of mouth or personal recommendations", "%", "pct", "none"),
    "md_pc5_1": Spec("req_academic_quals_pct_estab", "Academic qualifications a critical/significant recruitment factor", "%", "pct", "none"),
    "md_pc5_2": Spec("req_maths_english_pct_estab", "Maths and English GCSE a critical/significant recruitment factor", "%", "pct", "none"),
    "md_pc5_3": Spec("req_vocational_qual_pct_estab", "Relevant vocational qualification a critical/significant recruitment factor", "%", "pct", "none"),
    "md_pc5_4": Spec("req_work_experience_pct_estab", "Relevant work experience a critical/significant recruitment factor", "%", "pct", "none"),
    "md_pc5_5": Spec("req_degree_pct_estab", "Degree a critical/significant recruitment factor", "%", "pct", "none"),
}
SPEC_BLOCK: dict[str, str] = {}
for _k, _s in SPECS.items():
    _lbl = _k[1] if isinstance(_k, tuple) else _k
    SPEC_BLOCK[_s.key] = _k[0] if isinstance(_k, tuple) else (
        "Apprenticeships" if _lbl.startswith("ma_") else "Entry to Work" if _lbl.startswith("md_") else "Vacancies")

BREAKDOWN_GROUPS: dict[str, tuple[str, str, str]] = {  # group heading -> (breakdown_type, code prefix, label suffix)
    "Sector (13 sector grouping)": ("sector", "s13_", " (13-sector grouping)"),
    "Sector (6 sector grouping)": ("sector", "s6_", " (6-sector grouping)"),
    "Establishment size": ("establishment_size", "", " employees"),
}
CONTEXT_GROUPS = ("ENGLAND", "REGION", "LEP", "LEA")
SKIPPED_GROUPS = ("Establishment type",)  # no breakdown_type for it in the schema vocabulary

_SIG = re.compile(r"^\*?[a-z]+$")          # significance letters: 'abg', '*a', 'dgim'
_ITEM = re.compile(r"^(m[ad]_p[a-z0-9_/]+):")  # LEP item codes: 'MA_PD22:', 'MD_PC4AA:'
_SCAN_ROWS = 30


@dataclass
class EssWorkbook:
    """The workbook as published: every sheet's cell values (row tuples), plus the detected kind."""

    kind: str
    summary_sheet: str
    sheets: dict[str, list[tuple]] = field(default_factory=dict)


# --- detect / read ---------------------------------------------------------------------------

def _open(path: Path):
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path, read_only=True, data_only=True)


def _kind_of(wb) -> str | None:
    for kind in KINDS.values():
        if kind.sheet in wb.sheetnames:
            head = [r for r in wb[kind.sheet].iter_rows(min_row=1, max_row=6, max_col=3, values_only=True)]
            cells = [str(r[0]).strip() for r in head if r and r[0] is not None]
            if any(c.startswith("Employer Skills Survey") for c in cells) and kind.sheet in cells:
                return kind.key
    return None


def detect(path: Path) -> bool:
    """True for an ESS summary-table workbook (sheet ALL_LEAS/ALL_LEPS with the ESS title rows)."""
    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return False
    try:
        wb = _open(path)
        try:
            return _kind_of(wb) is not None
        finally:
            wb.close()
    except Exception:
        return False


def read(path: Path) -> EssWorkbook:
    """Every sheet's values as published (no transforms)."""
    path = Path(path)
    try:
        wb = _open(path)
    except Exception as exc:  # not a readable workbook
        raise SourceError(path, f"cannot open workbook ({exc.__class__.__name__})",
                          expected="an ESS 2019 summary-table .xlsx") from None
    try:
        kind = _kind_of(wb)
        if kind is None:
            raise SourceError(path, "no ALL_LEAS/ALL_LEPS sheet with ESS title rows",
                              expected="an ESS 2019 summary-table workbook")
        sheets = {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()
    return EssWorkbook(kind=kind, summary_sheet=KINDS[kind].sheet, sheets=sheets)


# --- sheet parsing ---------------------------------------------------------------------------

def _col(i: int) -> str:
    """0-based column index -> spreadsheet letter."""
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def _text(v: object) -> str:
    return "" if v is None else " ".join(str(v).split())


@dataclass
class _Table:
    sheet: str
    name_row: int                       # 1-based
    cols: list[tuple[int, str, str]]    # (0-based column, group heading, area/breakdown name)
    rows: list[tuple[int, Spec, tuple]]  # (1-based row, spec, raw cells aligned with cols)


def _parse_sheet(rows: list[tuple], sheet: str, file: str, kind: Kind, summary: bool) -> _Table:
    label_row = None
    for i, r in enumerate(rows[:_SCAN_ROWS]):
        first = next((_text(c) for c in r[1:] if _text(c)), "")
        if first in ((kind.geo_label,) if summary else ("ENGLAND",)):
            label_row = i
            break
    if label_row is None:
        at = next((i for i, r in enumerate(rows[:_SCAN_ROWS]) if len(r) > 1 and _text(r[1]) == ENGLAND_LABEL), None)
        want = kind.geo_label if summary else "ENGLAND"
        raise SourceError(file, "geography label row not found above the area names", sheet=sheet,
                          row=None if at is None else at, column="C" if summary else "B",
                          value=None if at is None or at == 0 else _text(rows[at - 1][2 if summary else 1]) or None,
                          expected=f"a row whose first cell is {want!r} directly above the row starting 'England Total'"
                                   f" (searched rows 1-{_SCAN_ROWS})")
    ni = label_row + 1
    names = rows[ni] if ni < len(rows) else ()
    if len(names) < 2 or _text(names[1]) != ENGLAND_LABEL:
        raise SourceError(file, "area-name row does not start with the England total", sheet=sheet, row=ni + 1,
                          column="B", value=_text(names[1]) if len(names) > 1 else None,
                          expected=f"{ENGLAND_LABEL!r} in column B below the geography label row")
    last = max((j for j in range(1, len(names)) if _text(names[j])), default=1)
    groups = rows[label_row]
    cols: list[tuple[int, str, str]] = []
    group = "ENGLAND"
    seen: dict[str, int] = {}
    for j in range(1, last + 1):
        if j < len(groups) and _text(groups[j]):
            group = _text(groups[j])
        name = _text(names[j])
        if not name:
            raise SourceError(file, "blank area/column name inside the area-name row", sheet=sheet, row=ni + 1,
                              column=_col(j), expected="a name in every column up to the last one")
        key = f"{group}|{name}"
        # per-area sheets repeat context totals (e.g. 'Humber Total' twice); they are not staged
        if key in seen and (summary or group not in CONTEXT_GROUPS):
            raise SourceError(file, "duplicated column: this name already heads an earlier column", sheet=sheet,
                              row=ni + 1, column=_col(j), value=name,
                              expected=f"each name once (first in column {_col(seen[key])})")
        seen[key] = j
        cols.append((j, "ENGLAND" if j == 1 else group, name))

    # classify the rows below the names
    classified: list[tuple[int, str, str, tuple]] = []  # (row1, kind, label, cells)
    for i in range(ni + 1, len(rows)):
        r = rows[i]
        label = _text(r[0]) if r else ""
        cells = tuple(r[j] if j < len(r) else None for j, _, _ in cols)
        filled = [c for c in cells if c is not None and _text(c) != ""]
        if label.startswith("Tables produced by"):
            break
        if not label:
            if filled and not all(isinstance(c, str) and _SIG.match(c.strip()) for c in filled):
                bad = next(j for (j, _, _), c in zip(cols, cells) if c is not None and _text(c) != "")
                raise SourceError(file, "row without a label holds data", sheet=sheet, row=i + 1, column="A",
                                  value=r[bad], expected="a measure label in column A (or a significance-letter row)")
            continue  # blank or significance-letter row
        if label.startswith(("Significance Level", "Columns Tested")):
            continue
        if label in SECTIONS and not filled:
            classified.append((i + 1, "section", label, cells))
            continue
        classified.append((i + 1, "data", label, cells))

    out: list[tuple[int, Spec, tuple]] = []
    used: dict[str, int] = {}
    for n, (row1, what, label, cells) in enumerate(classified):
        if what == "section":
            continue
        low = label.lower()
        if low in BASE_LABELS:
            block = next((lb for _, w, lb, _ in classified[n + 1:] if w == "section"), None)
            spec = SPECS.get((block, low))
        else:
            m = _ITEM.match(low)
            spec = SPECS.get(m.group(1) if m else low)
        if spec is None:
            raise SourceError(file, "unrecognised measure row", sheet=sheet, row=row1, column="A", value=label,
                              expected="one of the ESS 2019 summary-table measure labels (see dfe_ess.SPECS)")
        if spec.key in used:
            raise SourceError(file, "duplicated measure row", sheet=sheet, row=row1, column="A", value=label,
                              expected=f"each measure once (first at row {used[spec.key]})")
        used[spec.key] = row1
        out.append((row1, spec, cells))
    required = [s for s in SPECS.values() if SPEC_BLOCK[s.key] in kind.blocks]
    missing = [s for s in required if s.key not in used]
    if summary and missing:
        raise SourceError(file, f"measure row missing: {missing[0].label}", sheet=sheet, column="A",
                          expected=f"rows for all {len(required)} ESS measures of the {kind.sheet} sheet")
    return _Table(sheet, ni + 1, cols, out)


@dataclass
class _Parsed:
    value: np.ndarray    # (rows, columns) floats as published (proportions still decimals)
    status: np.ndarray
    reason: np.ndarray


def _parse_values(tab: _Table, file: str, col_pos: list[int]) -> _Parsed:
    """Parse the cells of the chosen columns (positions in tab.cols); markers via lmi.markers."""
    n_r, n_c = len(tab.rows), len(col_pos)
    value = np.full((n_r, n_c), np.nan)
    status = np.full((n_r, n_c), OK, dtype=object)
    reason = np.full((n_r, n_c), None, dtype=object)
    for i, (row1, _, cells) in enumerate(tab.rows):
        for k, p in enumerate(col_pos):
            raw = cells[p]
            if type(raw) in (int, float) and math.isfinite(raw):  # fast path (bool excluded)
                value[i, k] = raw
                continue
            try:
                v, st, why = parse_cell(raw, ESS_MARKERS)
            except ValueError:
                j, _, name = tab.cols[p]
                raise SourceError(file, "cell is neither a number nor a known status marker", sheet=tab.sheet,
                                  row=row1, column=f"{_col(j)} ({name})", value=raw,
                                  expected="a number or one of the markers " + ", ".join(repr(m) for m in ESS_MARKERS if m)
                                  ) from None
            value[i, k] = np.nan if v is None else v
            status[i, k] = st
            reason[i, k] = why
    return _Parsed(value, status, reason)


def _facts(tab: _Table, parsed: _Parsed, kind: Kind, meta: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """Long facts for parsed columns; meta per column = (area_code, level, btype, bcode, blabel)."""
    specs = [s for _, s, _ in tab.rows]
    n_r, n_c = len(specs), len(meta)
    raw = parsed.value
    value = raw.copy()
    pct = np.array([s.kind == "pct" for s in specs], dtype=bool)
    value[pct, :] = np.round(raw[pct, :] * 100.0, 6)
    num = np.full_like(raw, np.nan)
    den = np.full_like(raw, np.nan)
    at = {s.key: i for i, s in enumerate(specs)}
    for i, s in enumerate(specs):
        if s.aggregation == "ratio":
            if s.numerator in at:
                num[i, :] = raw[at[s.numerator], :]
            if s.denominator in at:
                den[i, :] = raw[at[s.denominator], :]
    label, start, end = PERIOD

    def per_col(k: int) -> np.ndarray:
        return np.repeat(np.array([m[k] for m in meta], dtype=object), n_r)

    return pd.DataFrame({
        "measure": np.tile(np.array([kind.prefix + s.key for s in specs], dtype=object), n_c),
        "area_code": per_col(0), "area_level": per_col(1), "period": label,
        "period_start": pd.Timestamp(start), "period_end": pd.Timestamp(end),
        "breakdown_type": per_col(2), "breakdown_code": per_col(3), "breakdown_label": per_col(4),
        "value": value.ravel(order="F"), "status": parsed.status.ravel(order="F"),
        "status_reason": parsed.reason.ravel(order="F"), "ci_lower": np.nan, "ci_upper": np.nan,
        "numerator": num.ravel(order="F"), "denominator": den.ravel(order="F"),
        "source_row": np.tile(np.array([r for r, _, _ in tab.rows], dtype=int), n_c),
    })


# --- areas -----------------------------------------------------------------------------------

def _resolve_area(name: str, kind: Kind, ctx: StageContext, file: str, sheet: str, row: int,
                  column: str) -> tuple[str, str] | None:
    """(code, level) for an area column; None when the area is legitimately skipped."""
    if name == ENGLAND_LABEL:
        return ENGLAND_CODE, "england"
    if kind.key == "lep":
        if name in LEP_WITHOUT_LEP21:
            return None
        code, level = ctx.geo.code_for_name(LEP_ALIASES.get(name, name), "lep"), "lep"
        expected = "a 2019 LEP name known to the LEP21 lookup (or listed in dfe_ess.LEP_ALIASES)"
    elif name in COUNTY_LEAS_2019:
        code, level = ctx.geo.code_for_name(name, "county"), "county"
        expected = "a 2019 two-tier county known to the county lookup (E10 code)"
    else:
        code, level = ctx.geo.code_for_name(LEA_LAD_ALIASES.get(name, name), "lad"), "lad"
        expected = "an English LEA/LAD name (any vintage; ESS short forms in dfe_ess.LEA_LAD_ALIASES)"
    if code is None:
        raise SourceError(file, "unknown area name", sheet=sheet, row=row, column=column, value=name,
                          expected=expected)
    return code, level


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower().replace("&", " and ")).strip("_")


def _focal_name(heading: str, all_names: set[str]) -> str | None:
    base = heading[:-len(" Total")] if heading.endswith(" Total") else heading
    if base in all_names:
        return base
    if base in SHEET_AREA_ALIASES:
        return SHEET_AREA_ALIASES[base]
    # compare without spaces too: one sheet is headed 'StocktononTees Total'
    norm = {normalise_name(n).replace(" ", ""): n for n in all_names}
    return norm.get(normalise_name(base).replace(" ", ""))


# --- stage -----------------------------------------------------------------------------------

def _measures(kind: Kind) -> list[MeasureInfo]:
    out = []
    for s in SPECS.values():
        if SPEC_BLOCK[s.key] not in kind.blocks:
            continue
        out.append(MeasureInfo(
            id=kind.prefix + s.key, label=f"ESS 2019: {s.label}{kind.label_suffix}", dataset=kind.dataset,
            unit=s.unit, topic=TOPIC, aggregation=s.aggregation,  # type: ignore[arg-type]
            description=s.description or (f"{s.label}. ESS 2019 summary tables; percentages published rounded "
                                          "to whole per cent." if s.kind == "pct" else f"{s.label}. ESS 2019 summary tables."),
            decimals=s.decimals, scale=100.0 if (s.kind == "pct" and s.aggregation == "ratio") else 1.0,
            hidden=s.hidden,
        ))
    return out


def _info(raw: EssWorkbook, kind: Kind, rel: str) -> DatasetInfo:
    rows = raw.sheets[raw.summary_sheet]
    head = [_text(r[0]) for r in rows[:8] if r]
    survey = next((h for h in head if h.startswith("Employer Skills Survey")), "Employer Skills Survey (ESS) 2019")
    table = next((h for h in head if h.startswith("Summary of")), "")
    release = RELEASE_DATE
    try:
        release = datetime.strptime(head[0], "%d-%B-%Y").date().isoformat()
    except (ValueError, IndexError):
        pass
    title = f"{survey}: {kind.geo_label} summary tables" + (f" – {table}" if table else "")
    caveats = ("Survey estimates (ESS 2019 fieldwork). Percentages are published rounded to whole per cent; "
               "'**' marks bases too small to report. Counts are weighted estimates and local figures need not "
               "sum to England.")
    if kind.key == "lea":
        caveats += (" Geography is the 152 upper-tier LEAs before the April 2019 Dorset merger: Bournemouth and "
                    "Poole carry their retired LAD codes and Dorset is the former county (E10000009); two-tier "
                    "counties stay at county level and are never apportioned to districts.")
    else:
        caveats += (" Geography is the 2019 LEP set, in which LEPs overlapped (LEP figures sum to ~107% of "
                    "England). Figures are attached to the LEP21 code of the same partnership even where its "
                    "boundary changed in the 2020-21 overlap review (e.g. Sheffield City Region, Leeds City "
                    "Region); Northamptonshire, Humber and York, North Yorkshire and East Riding have no LEP21 "
                    "equivalent and are skipped. Region totals come from the per-LEP sheets.")
    return DatasetInfo(
        id=kind.dataset, title=title, publisher=PUBLISHER, source_url=SOURCE_URL, licence=OGL,
        attribution=ATTRIBUTION, regularity="biennial", release_date=release, topic=TOPIC,
        spatial_levels=kind.spatial, source_file=rel,
        description=("Employer Skills Survey 2019 summary tables: establishments, employment, vacancies, "
                     "hard-to-fill and skill-shortage vacancies, skills gaps and training"
                     + (", apprenticeships and recruitment" if kind.key == "lep" else "")
                     + ", with sector and establishment-size breakdowns from the per-area sheets."),
        caveats=caveats,
    )


def stage(raw: EssWorkbook, path: Path, ctx: StageContext) -> list[StagedDataset]:
    """Stage the ALL_* summary sheet plus the per-area sector/size breakdowns."""
    file = ctx.rel(path)
    kind = KINDS[raw.kind]
    notes: list[str] = []
    frames: list[pd.DataFrame] = []

    # 1. summary sheet: one column per area
    summ = _parse_sheet(raw.sheets[raw.summary_sheet], raw.summary_sheet, file, kind, summary=True)
    parsed = _parse_values(summ, file, list(range(len(summ.cols))))
    codes: dict[str, str] = {}
    keep: list[int] = []
    meta: list[tuple[str, str, str, str, str]] = []
    by_name: dict[str, tuple[str, str]] = {}
    skipped = []
    for p, (j, _, name) in enumerate(summ.cols):
        hit = _resolve_area(name, kind, ctx, file, summ.sheet, summ.name_row, _col(j))
        if hit is None:
            skipped.append(name)
            continue
        code, level = hit
        if code in codes:
            raise SourceError(file, f"two area columns resolve to the same code {code}", sheet=summ.sheet,
                              row=summ.name_row, column=_col(j), value=name,
                              expected=f"one column per area (already used by {codes[code]!r})")
        codes[code] = name
        by_name[name] = (code, level)
        keep.append(p)
        meta.append((code, level, "total", "total", "Total"))
    frames.append(_facts(summ, _Parsed(parsed.value[:, keep], parsed.status[:, keep], parsed.reason[:, keep]),
                         kind, meta))
    if skipped:
        n_rows = len(skipped) * len(summ.rows)
        notes.append(f"{len(skipped)} 2019 LEP column(s) skipped ({n_rows} rows), no LEP21 equivalent: "
                     + "; ".join(f"{n} ({LEP_WITHOUT_LEP21[n]})" for n in skipped))
    summ_col = {n: p for p, (_, _, n) in enumerate(summ.cols)}
    summ_row = {s.key: i for i, (_, s, _) in enumerate(summ.rows)}

    # 2. per-area sheets: breakdowns of the sheet's own area (+ region totals in the LEP workbook)
    regions: dict[str, tuple[str, np.ndarray]] = {}
    n_sheets = n_type = 0
    skipped_sheets: list[str] = []
    for sheet, rows in raw.sheets.items():
        if sheet in ("Contents", raw.summary_sheet):
            continue
        tab = _parse_sheet(rows, sheet, file, kind, summary=False)
        # the sheet's own area is the last total column, just before the first breakdown group
        first_bd = next((p for p, (_, g, _) in enumerate(tab.cols) if g not in CONTEXT_GROUPS), len(tab.cols))
        fp = first_bd - 1
        if first_bd < 2 or tab.cols[fp][1] != kind.geo_label:
            q = tab.cols[max(fp, 0)]
            raise SourceError(file, f"no {kind.geo_label!r} total column before the breakdown columns", sheet=sheet,
                              row=tab.name_row - 1, column=_col(q[0]), value=q[1],
                              expected=f"the sheet's own {kind.geo_label} total under the heading {kind.geo_label!r}")
        fj, _, heading = tab.cols[fp]
        name = _focal_name(heading, set(summ_col))
        if name is None:
            raise SourceError(file, "sheet's area is not a column of the summary sheet", sheet=sheet,
                              row=tab.name_row, column=_col(fj), value=heading,
                              expected=f"'<area> Total' for an area named in {raw.summary_sheet}")
        bad = next(((j, g) for j, g, _ in tab.cols
                    if g not in CONTEXT_GROUPS and g not in BREAKDOWN_GROUPS and g not in SKIPPED_GROUPS), None)
        if bad:
            raise SourceError(file, "unknown column group heading", sheet=sheet, row=tab.name_row - 1,
                              column=_col(bad[0]), value=bad[1],
                              expected="one of " + ", ".join(CONTEXT_GROUPS + tuple(BREAKDOWN_GROUPS) + SKIPPED_GROUPS))
        n_type += sum(1 for _, g, _ in tab.cols if g in SKIPPED_GROUPS)
        bd = [p for p, (_, g, _) in enumerate(tab.cols) if g in BREAKDOWN_GROUPS]
        rg = [p for p, (_, g, _) in enumerate(tab.cols) if g == "REGION"] if kind.key == "lep" else []
        pv = _parse_values(tab, file, [fp] + bd + rg)
        # the sheet's own total must repeat the summary sheet's column: proves the sheet is matched right
        ref = parsed.value[:, summ_col[name]]
        for i, (row1, s, _) in enumerate(tab.rows):
            if s.key in summ_row:
                a, b = pv.value[i, 0], ref[summ_row[s.key]]
                if not (a == b or (np.isnan(a) and np.isnan(b))):
                    raise SourceError(file, f"area total disagrees with {raw.summary_sheet} for {name}", sheet=sheet,
                                      row=row1, column=_col(fj), value=tab.rows[i][2][fp],
                                      expected=f"{b:g} as in the summary sheet")
        if name not in by_name:
            skipped_sheets.append(sheet)
            continue
        code, level = by_name[name]
        n_sheets += 1
        meta = []
        for p in bd:
            j, g, col_name = tab.cols[p]
            btype, prefix, suffix = BREAKDOWN_GROUPS[g]
            bcode = prefix + (_slug(col_name) if btype == "sector" else col_name.replace(" to ", "-"))
            meta.append((code, level, btype, bcode, col_name + suffix))
        sel = list(range(1, 1 + len(bd)))
        frames.append(_facts(tab, _Parsed(pv.value[:, sel], pv.status[:, sel], pv.reason[:, sel]), kind, meta))
        for k, p in enumerate(rg, start=1 + len(bd)):
            j, _, col_name = tab.cols[p]
            rname = col_name[:-len(" Total")] if col_name.endswith(" Total") else col_name
            rcode = ctx.geo.code_for_name(rname, "region")
            if rcode is None:
                raise SourceError(file, "unknown region name", sheet=sheet, row=tab.name_row, column=_col(j),
                                  value=col_name, expected="'<English region> Total'")
            col_v = pv.value[:, k]
            if rcode in regions:
                prev_sheet, prev = regions[rcode]
                if len(prev) != len(col_v) or not np.allclose(prev, col_v, equal_nan=True):
                    raise SourceError(file, f"region total differs from sheet {prev_sheet!r}", sheet=sheet,
                                      row=tab.name_row, column=_col(j), value=col_name,
                                      expected="the same region figures on every per-LEP sheet")
                continue
            regions[rcode] = (sheet, col_v)
            frames.append(_facts(tab, _Parsed(pv.value[:, [k]], pv.status[:, [k]], pv.reason[:, [k]]), kind,
                                 [(rcode, "region", "total", "total", "Total")]))
    notes.append(f"sector (13- and 6-sector) and establishment-size breakdowns staged from {n_sheets} per-area sheets")
    if n_type:
        notes.append(f"{n_type} 'Establishment type' columns not staged (no breakdown type for it in the schema)")
    if skipped_sheets:
        notes.append(f"{len(skipped_sheets)} per-area sheet(s) skipped with their area: {', '.join(skipped_sheets)}")
    if regions:
        notes.append(f"{len(regions)} region totals taken from the per-LEP sheets")

    facts = pd.concat(frames, ignore_index=True)[list(STAGE_COLUMNS)]
    check_unique(facts, ["measure", "area_code", "breakdown_type", "breakdown_code"], file=file)
    return [StagedDataset(info=_info(raw, kind, file), measures=_measures(kind), facts=facts, notes=notes)]
