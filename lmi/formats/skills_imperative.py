"""Skills Imperative 2035 'MainTables' workbooks (Warwick IER / Cambridge Econometrics for NFER).

One workbook per area (England, or one LSIP: the ``Info`` sheet names it). Each sheet puts several
tables side by side under multi-row headers, so every table is found by anchor cells (its title,
then its ``Levels`` / ``All qualifications`` label and its year / ``Net Change`` header cells),
never by fixed offsets. Staged (Total blocks only; gender blocks are not staged):

- ``Occ T2`` / ``Occ T1`` levels -> ``si2035_employment`` by SOC 2020 sub-major (+ total) / major group;
- ``RD T1`` (26 occupations) and ``RD T1.1`` (9 groups), all-qualification blocks -> ``si2035_net_change``,
  ``si2035_replacement_demand``, ``si2035_total_requirement`` over the published span (2020-2035);
- ``Qual T1`` levels -> ``si2035_employment_by_qualification`` (RQF levels);
- ``Ind T2`` levels -> ``si2035_employment_by_industry`` (22 industry groups).

Values stay in thousands as published. Cells under 10 (thousand) keep their value but are flagged
'unreliable' (the workbook's own guidance: published cells should represent at least 10,000 people).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lmi import markers
from lmi.errors import SourceError
from lmi.formats.base import StageContext, check_unique, normalise_name
from lmi.periods import year as year_period
from lmi.schema import STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset, empty_stage_frame

NAME = "skills_imperative"
DATASET_ID = "skills_imperative_2035"
SHEETS = ("Info", "Occ T1", "Occ T2", "RD T1", "Qual T1", "Ind T2")
ENGLAND = "E92000001"
UNIT = "thousand jobs"
TOPIC = "Projections"
THRESHOLD = 10.0  # thousand = 10,000 people
UNRELIABLE_REASON = "below the 10,000-person publication guidance of the Skills Imperative workbook"
LICENCE = ("© Warwick Institute for Employment Research / Cambridge Econometrics 2023. Not Open Government "
           "Licence: reproduced from DfE's public redistribution; the workbook asks that published cells "
           "represent at least 10,000 people.")
ATTRIBUTION = ("Skills Imperative 2035: Warwick Institute for Employment Research and Cambridge Econometrics "
               "for NFER (Nuffield Foundation), 2023")
SOURCE_URL = "https://www.nfer.ac.uk/key-topics-expertise/education-to-employment/the-skills-imperative-2035/"

# SOC 2020 major group titles as the workbooks label them (normalised) -> code
MAJOR_GROUPS = {
    "managers directors and senior officials": "1",
    "professional occupations": "2",
    "associate professional occupations": "3",
    "associate professional and technical occupations": "3",
    "administrative and secretarial occupations": "4",
    "skilled trades occupations": "5",
    "caring leisure and other service occupations": "6",
    "sales and customer service occupations": "7",
    "process plant and machine operatives": "8",
    "elementary occupations": "9",
}
_OUT_OF_SCOPE = {"wales", "scotland", "northern ireland", "united kingdom", "uk", "great britain", "gb"}
_NO_MARKERS: dict[str, markers.Marker] = {"": markers.MARKERS[""]}


def _measures() -> list[MeasureInfo]:
    common = dict(dataset=DATASET_ID, unit=UNIT, topic=TOPIC, aggregation="none", decimals=1)
    return [
        MeasureInfo("si2035_employment", "Employment (Skills Imperative 2035 projection)", **common,
                    description="Employment (jobs, thousands) by SOC 2020 occupation, historical estimates and "
                                "projections to 2035."),
        MeasureInfo("si2035_net_change", "Projected net change in employment (expansion demand)", **common,
                    description="Change in employment over the projection span (thousands); negative = decline."),
        MeasureInfo("si2035_replacement_demand", "Projected replacement demand", **common,
                    description="Job openings from people leaving the occupation (retirement, mortality, "
                                "migration, occupational mobility) over the projection span (thousands)."),
        MeasureInfo("si2035_total_requirement", "Projected total requirement (net change + replacement demand)",
                    **common, description="Net change plus replacement demand over the projection span (thousands)."),
        MeasureInfo("si2035_employment_by_qualification",
                    "Employment by highest qualification (Skills Imperative 2035)",
                    **common, description="Employment (thousands) by highest qualification held (RQF level)."),
        MeasureInfo("si2035_employment_by_industry", "Employment by industry group (Skills Imperative 2035)",
                    **common, description="Employment (thousands) by the 22 Skills Imperative industry groups "
                                          "(SIC 2007 based)."),
    ]


# --------------------------------------------------------------------------------------------- helpers
def _norm(value: object) -> str:
    return " ".join(str(value if value is not None else "").replace("\xa0", " ").split()).lower()


def _col(idx: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(idx + 1)


def _as_year(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and float(value).is_integer()):
        y = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{4}\s*", value):
        y = int(value)
    else:
        return None
    return y if 1990 <= y <= 2100 else None


@dataclass
class _Sheet:
    name: str
    rows: list[tuple]
    file: str

    def cell(self, r: int, c: int) -> object:
        row = self.rows[r] if 0 <= r < len(self.rows) else ()
        return row[c] if 0 <= c < len(row) else None

    def text(self, r: int, c: int) -> str:
        return _norm(self.cell(r, c))

    @property
    def ncols(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def error(self, message: str, r: int | None = None, c: int | str | None = None, *, value: object = None,
              expected: str | None = None) -> SourceError:
        col = _col(c) if isinstance(c, int) else c
        return SourceError(self.file, message, row=None if r is None else r + 1, column=col, value=value,
                           expected=expected, sheet=self.name)

    def find(self, pred, rows: range, cols: range) -> tuple[int, int] | None:
        for r in rows:
            for c in cols:
                if pred(self.text(r, c)):
                    return r, c
        return None


def _title(sh: _Sheet, prefix: str) -> tuple[int, int, int]:
    """Locate a table by its title cell; return (row, first col, end col exclusive)."""
    want = prefix.lower() + " "
    hit = sh.find(lambda t: t.startswith(want), range(len(sh.rows)), range(sh.ncols))
    if hit is None:
        raise sh.error(f"table title starting {prefix!r} not found", expected=f"a title cell '{prefix}  ...'")
    r, c = hit
    end = next((k for k in range(c + 1, sh.ncols) if sh.text(r, k)), sh.ncols)
    return r, c, end


def _check_thousands(sh: _Sheet, r0: int, r1: int, c0: int, c1: int, label: str) -> None:
    zone = [sh.text(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1)]
    if "000s" in label or any(t == "thousands" for t in zone):
        return
    raise sh.error("unit of the table not stated as thousands", r0, f"{_col(c0)}:{_col(c1 - 1)}",
                   expected="a 'thousands' unit cell or a 'Levels (000s)' label")


def _data_rows(sh: _Sheet, start: int, c0: int, total: str | None, stop_blank: bool = False) -> list[int]:
    """Rows with a label in column c0 from ``start`` to the total row (inclusive) or first blank label."""
    out = []
    for r in range(start, len(sh.rows)):
        t = sh.text(r, c0)
        if not t:
            if stop_blank and out:
                return out
            continue
        out.append(r)
        if total is not None and t.startswith(total):
            return out
    if total is not None:
        raise sh.error(f"total row {total!r} not found below the table header", start, c0,
                       expected=f"a row labelled '{total}' closing the table")
    return out


def _values(sh: _Sheet, rows: list[int], c: int, header: str) -> pd.DataFrame:
    raw = pd.Series([sh.cell(r, c) for r in rows], dtype=object)
    return markers.parse_series(raw, file=sh.file, column=f"{_col(c)} ({header})", rows=[r + 1 for r in rows],
                                markers=_NO_MARKERS, sheet=sh.name)


# ------------------------------------------------------------------------------------------- tables
def _levels_table(sh: _Sheet, title: str, total: str) -> tuple[list[int], int, dict[int, int]]:
    """A 'Levels' block: returns (data rows incl. total, label column, {column: year})."""
    r0, c0, end = _title(sh, title)
    hit = sh.find(lambda t: t.startswith("levels"), range(r0 + 1, min(r0 + 12, len(sh.rows))), range(c0, c0 + 1))
    if hit is None:
        raise sh.error("anchor cell 'Levels' not found under the table title", r0 + 1, c0,
                       expected="a 'Levels' / 'Levels (000s)' label within 10 rows of the title")
    lr = hit[0]
    years: dict[int, int] = {}
    for r in range(lr, r0, -1):  # year header on the label row or the nearest row above it
        years = {c: y for c in range(c0 + 1, end) if (y := _as_year(sh.cell(r, c))) is not None}
        if years:
            break
    if not years:
        raise sh.error("no year header cells found for the levels block", lr, f"{_col(c0 + 1)}:{_col(end - 1)}",
                       expected="year cells such as 2015, 2020, 2035")
    _check_thousands(sh, r0 + 1, lr, c0, end, sh.text(lr, c0))
    return _data_rows(sh, lr + 1, c0, total), c0, years


def _rd_header(sh: _Sheet, r: int, c0: int, end: int) -> tuple[dict[str, int], tuple[int, int]]:
    cols: dict[str, int] = {}
    yrs = []
    for c in range(c0, end):
        t = sh.text(r, c)
        if (y := _as_year(sh.cell(r, c))) is not None:
            yrs.append(y)
        for key, name in (("net", "net change"), ("rd", "replacement demand level"), ("tr", "total requirement")):
            if t == name:
                cols.setdefault(key, c)
    for key, name in (("net", "Net Change"), ("rd", "Replacement Demand level"), ("tr", "Total Requirement")):
        if key not in cols:
            raise sh.error(f"header cell {name!r} not found", r, f"{_col(c0)}:{_col(end - 1)}",
                           expected=f"a header row with two years, 'Net Change', 'Replacement Demand level', "
                                    "'Total Requirement'")
    if len(yrs) != 2 or yrs[0] >= yrs[1]:
        raise sh.error("projection span not found in the header", r, f"{_col(c0)}:{_col(end - 1)}", value=tuple(yrs),
                       expected="two year cells (start, end), e.g. 2020 and 2035")
    return cols, (yrs[0], yrs[1])


def _rd_tables(sh: _Sheet):
    """RD T1 (26 occupations + total) and RD T1.1 (9 groups): all-qualification blocks."""
    out = []
    r0, c0, end = _title(sh, "replacement demand table 1")
    hit = sh.find(lambda t: t.startswith("all qualifications"), range(r0 + 1, min(r0 + 14, len(sh.rows))),
                  range(c0, c0 + 1))
    if hit is None:
        raise sh.error("anchor cell 'All qualifications' not found under the table title", r0 + 1, c0,
                       expected="an 'All qualifications (Constrained)' header cell")
    hr = hit[0]
    cols, span = _rd_header(sh, hr, c0, end)
    _check_thousands(sh, r0 + 1, hr, c0, end, "")
    out.append(("submajor", c0, _data_rows(sh, hr + 1, c0, "all occupations"), cols, span))

    r1, c1, end1 = _title(sh, "replacement demand table 1.1")
    hdr = sh.find(lambda t: t == "net change", range(r1 + 1, min(r1 + 14, len(sh.rows))), range(c1, end1))
    if hdr is None:
        raise sh.error("header cell 'Net Change' not found under table 1.1", r1 + 1, f"{_col(c1)}:{_col(end1 - 1)}",
                       expected="a header row with two years, 'Net Change', 'Replacement Demand level', "
                                "'Total Requirement'")
    cols1, span1 = _rd_header(sh, hdr[0], c1, end1)
    _check_thousands(sh, r1 + 1, hdr[0], c1, end1, "")
    blk = sh.find(lambda t: t == "all qualifications", range(hdr[0], min(hdr[0] + 4, len(sh.rows))), range(c1, c1 + 1))
    if blk is None:
        raise sh.error("anchor cell 'All qualifications' not found in table 1.1", hdr[0] + 1, c1,
                       expected="an 'All qualifications' block label below the header row")
    out.append(("major", c1, _data_rows(sh, blk[0] + 1, c1, None, stop_blank=True), cols1, span1))
    return out


# ------------------------------------------------------------------------------------------- labels
def _submajor(sh: _Sheet, r: int, c: int) -> tuple[str, str, str]:
    label = str(sh.cell(r, c)).strip()
    if _norm(label).startswith("all occupations"):
        return "total", "total", "All occupations"
    m = re.fullmatch(r"(\d{2})\s+(.+)", label)
    if not m:
        raise sh.error("row label is not a SOC 2020 sub-major group", r, c, value=label,
                       expected="'NN Title', e.g. '11 Corporate managers and directors', or 'All occupations'")
    return "soc2020_submajor", m[1], m[2].strip()


def _major(sh: _Sheet, r: int, c: int) -> tuple[str, str, str]:
    label = str(sh.cell(r, c)).strip()
    code = MAJOR_GROUPS.get(normalise_name(label))
    if code is None:
        raise sh.error("row label is not a SOC 2020 major group title", r, c, value=label,
                       expected="one of the nine SOC 2020 major group titles")
    return "soc2020_major", code, label


def _qualification(sh: _Sheet, r: int, c: int) -> tuple[str, str, str]:
    label = str(sh.cell(r, c)).strip()
    t = _norm(label)
    if t.startswith("all qualifications"):
        return "total", "total", "All qualifications"
    m = re.match(r"rqf\s*([1-8])\b", t)
    if m:
        return "qualification", f"rqf{m[1]}", label
    if t.startswith("no qualification"):
        return "qualification", "none", label
    raise sh.error("row label is not a qualification level", r, c, value=label,
                   expected="'RQFn ...', 'No Qualification' or 'All qualifications'")


def _industry(sh: _Sheet, r: int, c: int) -> tuple[str, str, str]:
    label = " ".join(str(sh.cell(r, c)).split())
    if _norm(label).startswith("all industries"):
        return "total", "total", "All industries"
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    return "sic2007", slug, label


def _labels(sh: _Sheet, rows: list[int], c: int, labeller, btype: str, n: int | None) -> list[tuple[str, str, str]]:
    """Label every data row; raise on a repeated label or (when ``n`` is given) a wrong number of groups."""
    out, seen = [], {}
    for r in rows:
        b = labeller(sh, r, c)
        if (b[0], b[1]) in seen:
            raise sh.error(f"duplicated row: {b[2]!r} already given in row {seen[(b[0], b[1])] + 1}", r, c,
                           value=sh.cell(r, c), expected="each group once per table")
        seen[(b[0], b[1])] = r
        out.append(b)
    k = sum(1 for b in out if b[0] == btype)
    if (n is not None and k != n) or k == 0:
        raise sh.error(f"found {k} {btype} rows", rows[0] if rows else None, c,
                       expected=f"{n if n is not None else 'at least one'} {btype} rows")
    return out


# ------------------------------------------------------------------------------------------- format API
def detect(path: Path) -> bool:
    """True for a Skills Imperative MainTables workbook (sheets Info/Occ T2/RD T1, Info 'MDM version')."""
    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return False
    try:
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if not {"Info", "Occ T2", "RD T1", "Qual T1"} <= set(wb.sheetnames):
                return False
            keys = {_norm(r[0]) for r in wb["Info"].iter_rows(min_row=1, max_row=8, max_col=1, values_only=True)}
        finally:
            wb.close()
    except Exception:
        return False
    return "mdm version" in keys and "scenario" in keys


def read(path: Path) -> dict[str, list[tuple]]:
    """The sheets this format uses, as published: ``{sheet name: [row tuples]}``."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(Path(path), read_only=True, data_only=True)
    try:
        return {s: [tuple(r) for r in wb[s].iter_rows(values_only=True)] for s in SHEETS if s in wb.sheetnames}
    finally:
        wb.close()


def _area(sh: _Sheet, ctx: StageContext) -> tuple[str | None, str | None, str]:
    """(code, level, name) of the workbook's area from the Info sheet; code None when out of scope."""
    info = {sh.text(r, 0): r for r in range(len(sh.rows)) if sh.text(r, 0)}
    for key, level in (("lsip name", "lsip"), ("lsip", "lsip"), ("lep name", "lep"), ("lep", "lep"),
                       ("region name", "region"), ("country name", "country"), ("country", "country")):
        if key not in info:
            continue
        r = info[key]
        name = re.sub(r"^\s*\d+\.\s*", "", str(sh.cell(r, 1) or "")).strip()
        if not name:
            raise sh.error("area name is empty", r, 1, expected="the name of the workbook's area")
        if level == "country":
            norm = normalise_name(name)
            if norm == "england" or (key == "country" and "england" in norm.split()):
                return ENGLAND, "england", "England"
            if norm in _OUT_OF_SCOPE:
                return None, None, name
            raise sh.error("unknown country name", r, 1, value=name,
                           expected="'England' (or Wales/Scotland/Northern Ireland/UK, which are skipped)")
        code = ctx.geo.code_for_name(name, level)
        if code is None:
            raise sh.error(f"unknown {level} name", r, 1, value=name, expected=f"an English {level} name")
        return code, level, name
    raise sh.error("the Info sheet does not name the workbook's area", 0, 0,
                   expected="an 'LSIP', 'LSIP name', 'LEP name' or 'Country name' row")


def _release_date(sh: _Sheet) -> str | None:
    for r in range(len(sh.rows)):
        if sh.text(r, 0) == "date database created":
            v = sh.cell(r, 1)
            if isinstance(v, datetime):
                return v.date().isoformat()
            for fmt in ("%d-%m-%Y %H:%M:%S", "%d-%m-%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y"):
                try:
                    return datetime.strptime(str(v).strip(), fmt).date().isoformat()
                except ValueError:
                    continue
    return None


def info(source_file: str, release: str | None) -> DatasetInfo:
    return DatasetInfo(
        id=DATASET_ID,
        title="Skills Imperative 2035: employment projections, MainTables workbooks (.Main scenario)",
        publisher="Warwick Institute for Employment Research and Cambridge Econometrics for NFER",
        source_url=SOURCE_URL,
        licence=LICENCE,
        attribution=ATTRIBUTION,
        regularity="one-off",
        release_date=release,
        topic=TOPIC,
        spatial_levels="England; LSIP (one workbook per area)",
        source_file=source_file,
        description="Employment by occupation (SOC 2020), qualification and industry for 2015, 2019, 2020, "
                    "2025 and 2035, with net change, replacement demand and total requirement 2020-2035 "
                    "(successor to Working Futures).",
        caveats="Values are thousands of jobs as published. Projections are published for England and for "
                "each LSIP only: never apportion them to local authorities or sum them across areas. "
                "Cells whose absolute value is below 10 (thousand) are flagged 'unreliable' but kept, "
                "following the workbook's guidance that published cells should represent at least 10,000 people.",
    )


def stage(raw: dict[str, list[tuple]], path: Path, ctx: StageContext) -> list[StagedDataset]:
    file = ctx.rel(path)
    for s in SHEETS:
        if s not in raw:
            raise SourceError(file, f"sheet {s!r} is missing",
                              expected=f"a MainTables workbook with sheets {', '.join(SHEETS)}")
    sh = {s: _Sheet(s, raw[s], file) for s in SHEETS}
    ds_info = info(file, _release_date(sh["Info"]))
    code, level, area_name = _area(sh["Info"], ctx)
    if code is None:
        return [StagedDataset(info=ds_info, measures=_measures(), facts=empty_stage_frame(),
                              notes=[f"whole workbook skipped: area {area_name!r} is outside England"])]

    parts: list[pd.DataFrame] = []

    def add(s: _Sheet, rows: list[int], bd: list[tuple[str, str, str]], measure: str, c: int, header: str,
            period: tuple[str, date, date]) -> None:
        vals = _values(s, rows, c, header)
        parts.append(pd.DataFrame({
            "measure": measure, "period": period[0], "period_start": pd.Timestamp(period[1]),
            "period_end": pd.Timestamp(period[2]), "breakdown_type": [b[0] for b in bd],
            "breakdown_code": [b[1] for b in bd], "breakdown_label": [b[2] for b in bd],
            "value": vals["value"].to_numpy(), "status": vals["status"].to_numpy(),
            "status_reason": vals["status_reason"].to_numpy(), "source_row": [r + 1 for r in rows],
        }))

    # employment levels by sub-major (+ total) and major group
    for sheet, title, labeller, btype, n in (
        ("Occ T2", "occupation table 2", _submajor, "soc2020_submajor", 26),
        ("Occ T1", "occupation table 1", _major, "soc2020_major", 9),
    ):
        s = sh[sheet]
        rows, c0, years = _levels_table(s, title, "all occupations")
        if btype == "soc2020_major":  # Occ T1's total duplicates Occ T2's: keep the nine groups only
            rows = rows[:-1]
        bd = _labels(s, rows, c0, labeller, btype, n)
        for c, y in years.items():
            add(s, rows, bd, "si2035_employment", c, str(y), year_period(y))

    # net change / replacement demand / total requirement over the projection span
    s = sh["RD T1"]
    for kind, c0, rows, cols, (y0, y1) in _rd_tables(s):
        if kind == "submajor":
            bd = _labels(s, rows, c0, _submajor, "soc2020_submajor", 26)
        else:
            bd = _labels(s, rows, c0, _major, "soc2020_major", 9)
        period = (f"{y0}-{y1}", date(y0, 1, 1), date(y1, 12, 31))
        for key, measure, header in (("net", "si2035_net_change", "Net Change"),
                                     ("rd", "si2035_replacement_demand", "Replacement Demand level"),
                                     ("tr", "si2035_total_requirement", "Total Requirement")):
            add(s, rows, bd, measure, cols[key], header, period)

    for sheet, title, total, labeller, btype, measure in (
        ("Qual T1", "qualification table 1", "all qualifications", _qualification, "qualification",
         "si2035_employment_by_qualification"),
        ("Ind T2", "industry table 2", "all industries", _industry, "sic2007", "si2035_employment_by_industry"),
    ):
        s = sh[sheet]
        rows, c0, years = _levels_table(s, title, total)
        bd = _labels(s, rows, c0, labeller, btype, None)
        for c, y in years.items():
            add(s, rows, bd, measure, c, str(y), year_period(y))

    facts = pd.concat(parts, ignore_index=True)
    check_unique(facts, ["measure", "period", "breakdown_type", "breakdown_code"], file=file)
    small = (facts["status"] == markers.OK) & (facts["value"].abs() < THRESHOLD)
    facts.loc[small, "status"] = markers.UNRELIABLE
    facts.loc[small, "status_reason"] = UNRELIABLE_REASON
    facts["area_code"] = code
    facts["area_level"] = level
    for c in ("ci_lower", "ci_upper", "numerator", "denominator"):
        facts[c] = np.nan
    facts = facts[list(STAGE_COLUMNS)].reset_index(drop=True)
    notes = [f"area {area_name} ({code}, {level}); {len(facts)} cells staged, {int(small.sum())} below 10 thousand "
             "flagged unreliable; gender blocks not staged"]
    return [StagedDataset(info=ds_info, measures=_measures(), facts=facts, notes=notes)]
