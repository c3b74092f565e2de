"""Nomis Annual Population Survey (APS) multi-block Excel exports (tables T01, T09a, T13a, T19, ...).

Layout (found by anchor cells, never by fixed offsets): title rows ('annual population survey',
'ONS Crown Copyright Reserved [from Nomis on <date>]'), then one block per period: a ``date`` row
(period in column B), a ``confidence`` row, the variable header row (``Area`` then
``T01:22 (Aged 16-64 - All : All People )`` over every third column), the ``number/Flags/conf``
sub-header, area rows labelled ``<type>:<name>`` and footnote text rows. Each variable's ``conf``
is the published 95% confidence-interval half-width.
"""
from __future__ import annotations

import difflib
import re
import warnings
import zipfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from lmi.errors import SourceError
from lmi.formats.base import StageContext, check_unique, normalise_name
from lmi.markers import MISSING, OK, SUPPRESSED, UNRELIABLE, Marker, parse_series
from lmi.periods import MONTHS, month_end, span
from lmi.schema import LEVELS, OGL, STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset

NAME = "nomis_aps"

PUBLISHER = "Office for National Statistics (Annual Population Survey, via Nomis)"
SOURCE_URL = "https://www.nomisweb.co.uk/"
ATTRIBUTION = "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"

# Nomis APS symbols, as explained in the footnotes of every export.
NOMIS_MARKERS: dict[str, Marker] = {
    "!": Marker(SUPPRESSED, "suppressed: estimate and confidence interval not available since the group "
                            "sample size is zero or disclosive (0-2)"),
    "*": Marker(UNRELIABLE, "estimate and confidence interval unreliable since the group sample size is small (3-9)"),
    "~": Marker(SUPPRESSED, "suppressed: estimate is less than 500"),
    "-": Marker(MISSING, "missing: these figures are missing (Nomis '-')"),
    "": Marker(MISSING, "blank in source"),
}
_RANK = {OK: 0, UNRELIABLE: 1, MISSING: 2, SUPPRESSED: 3}

# Table titles as Nomis lists them (the export itself only names the survey); others are derived.
KNOWN_TITLES = {
    "T01": "Economic activity by age",
    "T09a": "Occupation (SOC2010) sub-major group",
    "T13a": "Industry (SIC 2007)",
    "T19": "Qualification by age and gender (NVQ)",
}

SOC2010_SUBMAJOR = {
    "11": "Corporate managers and directors", "12": "Other managers and proprietors",
    "21": "Science, research, engineering and technology professionals", "22": "Health professionals",
    "23": "Teaching and educational professionals", "24": "Business, media and public service professionals",
    "31": "Science, engineering and technology associate professionals",
    "32": "Health and social care associate professionals", "33": "Protective service occupations",
    "34": "Culture, media and sports occupations", "35": "Business and public service associate professionals",
    "41": "Administrative occupations", "42": "Secretarial and related occupations",
    "51": "Skilled agricultural and related trades", "52": "Skilled metal, electrical and electronic trades",
    "53": "Skilled construction and building trades", "54": "Textiles, printing and other skilled trades",
    "61": "Caring personal service occupations", "62": "Leisure, travel and related personal service occupations",
    "71": "Sales occupations", "72": "Customer service occupations", "81": "Process, plant and machine operatives",
    "82": "Transport and mobile machine drivers and operatives", "91": "Elementary trades and related occupations",
    "92": "Elementary administration and service occupations",
}

# Nomis geography-type prefixes of area labels -> how to resolve them.
_GEO_TYPES = {"country": "country", "ladu": "lad", "lauth": "lad", "ualad": "lad", "lad": "lad",
              "lep": "lep", "gor": "region", "region": "region", "rgn": "region", "cauth": "ca",
              "ca": "ca", "user defined geography": "user"}
_OUTSIDE_ENGLAND = {"wales", "scotland", "northern ireland", "great britain", "united kingdom",
                    "england and wales"}
# Combined authorities whose current boundary differs from what the same name meant before a date.
_CA_BOUNDARY_CHANGES = {
    "north east": (date(2024, 5, 7), "the North East CA was enlarged (merged with North of Tyne) on "
                                     "7 May 2024; earlier 'North East' MCA figures cover a smaller area"),
}

_TID = re.compile(r"^\s*(?P<tid>T\d+[A-Za-z]?)\s*:\s*(?P<num>\d+)\s*\((?P<label>.*)\)\s*$", re.S)
_PERIOD = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\.?\s+(\d{4})\s*-\s*([A-Za-z]{3})[a-z]*\.?\s+(\d{4})\s*$")
_AREA = re.compile(r"^\s*(?P<type>[A-Za-z][A-Za-z ]*?)\s*:\s*(?P<name>.+?)\s*$", re.S)
_FROM_DN = re.compile(r"\s+-\s+from\s+dn\d+\s*$", re.I)
_UDG_SUFFIX = re.compile(r"-\s*(?P<suf>LSIP|LSI|LS|L|MCA|MC|M)?\s*$")
_NOMIS_DATE = re.compile(r"from Nomis on (\d{1,2} \w+ \d{4})", re.I)
_FILE_STAMP = re.compile(r"(\d{4})_(\d{2})_(\d{2})_\d{6}")
_SUB = ("number", "flags", "conf")


# ----------------------------------------------------------------------------------------------
# reading

@dataclass
class ApsSheet:
    """The first worksheet of a Nomis APS export, as published."""

    path: Path
    sheet: str
    rows: list[list]              # rows[i] holds spreadsheet row i + 1 (cells from column A)
    created: datetime | None      # workbook core property 'created'


def _text(v: object) -> str:
    return "" if v is None else str(v).strip()


def _col_letter(i: int) -> str:
    """0-based column index -> spreadsheet letters."""
    s, n = "", i + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _col_index(ref: str) -> int:
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + (ord(ch.upper()) - 64)
    return n - 1


def _looks_like_aps(head: list) -> bool:
    texts = [[_text(c) for c in (r or ())] for r in head]
    title = any(t and "annual population survey" in t[0].lower() for t in texts if t)
    date_row = any(len(t) > 1 and t[0].lower() == "date" and t[1] for t in texts)
    header = any(len(t) > 1 and t[0].lower() == "area" and any(_TID.match(x) for x in t[1:] if x) for t in texts)
    return title and date_row and header


def detect(path: Path) -> bool:
    """True for a Nomis APS export: survey title, a 'date' anchor and an 'Area' + 'Tnn:n (...)' header."""
    try:
        p = Path(path)
        if p.suffix.lower() not in (".xlsx", ".xlsm") or not zipfile.is_zipfile(p):
            return False
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
            try:
                ws = wb.worksheets[0]
                ws.reset_dimensions()  # Nomis writes a bogus <dimension ref="A1"/>
                head = list(ws.iter_rows(min_row=1, max_row=40, values_only=True))
            finally:
                wb.close()
        return _looks_like_aps(head)
    except Exception:
        return False


_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RNS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def read(path: Path) -> ApsSheet:
    """Read the first worksheet's cell values (a streaming XML read: openpyxl is too slow for T19)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            wbx = ET.fromstring(z.read("xl/workbook.xml"))
            sheet_el = wbx.find(f"{_NS}sheets/{_NS}sheet")
            sheet_name = sheet_el.get("name")
            rid = sheet_el.get(f"{_RNS}id")
            target = "worksheets/sheet1.xml"
            if "xl/_rels/workbook.xml.rels" in names:
                rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
                for rel in rels:
                    if rel.get("Id") == rid:
                        target = rel.get("Target")
            sheet_path = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
            shared: list[str] = []
            if "xl/sharedStrings.xml" in names:
                for _, el in ET.iterparse(z.open("xl/sharedStrings.xml")):
                    if el.tag == f"{_NS}si":
                        shared.append("".join(t.text or "" for t in el.iter(f"{_NS}t")))
                        el.clear()
            created = None
            if "docProps/core.xml" in names:
                core = ET.fromstring(z.read("docProps/core.xml"))
                for el in core:
                    if el.tag.endswith("}created") and el.text:
                        try:
                            created = datetime.fromisoformat(el.text.strip().replace("Z", "+00:00"))
                        except ValueError:
                            created = None
            rows: dict[int, list] = {}
            next_row = 1
            letters: dict[str, int] = {}
            row_tag, v_tag, is_tag = f"{_NS}row", f"{_NS}v", f"{_NS}is"
            for _, el in ET.iterparse(z.open(sheet_path)):
                if el.tag != row_tag:
                    continue
                r = int(el.get("r") or next_row)
                next_row = r + 1
                cells: list = []
                col = 0
                for c in el:
                    ref = c.get("r")
                    if ref:
                        key = ref.rstrip("0123456789")
                        col = letters.get(key)
                        if col is None:
                            col = letters[key] = _col_index(key)
                    t = c.get("t")
                    val = None
                    for ch in c:
                        if ch.tag == v_tag and ch.text is not None:
                            txt = ch.text
                            if t == "s":
                                val = shared[int(txt)]
                            elif t in ("str", "e", "inlineStr"):
                                val = txt
                            elif t == "b":
                                val = txt == "1"
                            else:
                                val = float(txt) if ("." in txt or "e" in txt or "E" in txt) else int(txt)
                        elif ch.tag == is_tag:
                            val = "".join(x.text or "" for x in ch.iter(f"{_NS}t"))
                    if col >= len(cells):
                        cells.extend([None] * (col + 1 - len(cells)))
                    cells[col] = val
                    col += 1
                rows[r] = cells
                el.clear()
    except (zipfile.BadZipFile, KeyError, ET.ParseError, ValueError, IndexError, OSError) as exc:
        raise SourceError(path, f"cannot read the workbook ({exc})", expected="an .xlsx workbook") from None
    dense = [rows.get(i, []) for i in range(1, max(rows, default=0) + 1)]
    return ApsSheet(path=path, sheet=sheet_name, rows=dense, created=created)


# ----------------------------------------------------------------------------------------------
# layout

@dataclass
class Variable:
    col: int                      # 0-based column of the 'number' sub-column (and of the header cell)
    header: str                   # header cell as published
    tid: str
    num: str
    label: str                    # text inside the brackets, stripped
    sub: dict[str, int]           # 'number'/'flags'/'conf' -> 0-based column


@dataclass
class Block:
    date_row: int                 # 1-based
    period: tuple[str, date, date]
    header_row: int
    sub_row: int
    variables: list[Variable]
    area_rows: list[tuple[int, str]] = field(default_factory=list)   # (1-based row, label)
    notes_text: list[str] = field(default_factory=list)


def _cell(row: list, c: int) -> object:
    return row[c] if c < len(row) else None


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _parse_period(text: str, file: str, row: int, sheet: str) -> tuple[str, date, date]:
    m = _PERIOD.match(text)
    if m:
        m1, y1, m2, y2 = MONTHS.get(m[1].lower()), int(m[2]), MONTHS.get(m[3].lower()), int(m[4])
        if m1 and m2 and (y2, m2) >= (y1, m1):
            return span(date(y1, m1, 1), month_end(y2, m2))
    raise SourceError(file, "period not understood", row=row, column="B", value=text, sheet=sheet,
                      expected="a period like 'Jan 2018-Dec 2018'")


def _area_type(label: str) -> tuple[str, str] | None:
    """('lad'|'lep'|..., name) for a '<type>:<name>' label of a known Nomis geography type."""
    m = _AREA.match(label)
    if not m:
        return None
    kind = re.sub(r"\d+$", "", m["type"].strip().lower())
    if kind not in _GEO_TYPES:
        return None
    return _GEO_TYPES[kind], m["name"]


def _layout(raw: ApsSheet, file: str) -> list[Block]:
    rows, sheet = raw.rows, raw.sheet
    anchors = [i for i, r in enumerate(rows) if _text(_cell(r, 0)).lower() == "date"]
    if not anchors:
        raise SourceError(file, "no period block found", row=1, column="A", sheet=sheet,
                          expected="a row with 'date' in column A and the period in column B")
    blocks: list[Block] = []
    for k, a in enumerate(anchors):
        end = anchors[k + 1] if k + 1 < len(anchors) else len(rows)
        period = _parse_period(_text(_cell(rows[a], 1)), file, a + 1, sheet)
        # the sub-header: first row after the anchor with a 'number' cell
        sub = next((i for i in range(a + 1, end)
                    if any(_text(v).lower() == "number" for v in rows[i][1:])), None)
        if sub is None:
            raise SourceError(file, "period block has no 'number/Flags/conf' sub-header row", row=a + 1,
                              column="B", sheet=sheet, value=_text(_cell(rows[a], 1)),
                              expected="a sub-header row with 'number', 'Flags', 'conf' under each variable")
        for i in range(a + 1, sub):
            t = _text(_cell(rows[i], 0)).lower()
            if t == "confidence":
                conf_text = _text(_cell(rows[i], 1))
                if conf_text and "+/-" not in conf_text:
                    raise SourceError(file, "confidence row does not describe a +/- half-width", row=i + 1,
                                      column="B", value=conf_text, sheet=sheet,
                                      expected="'95% confidence interval (+/-)'")
        head = next((i for i in range(sub - 1, a, -1) if any(not _blank(v) for v in rows[i])), None)
        if head is None or _text(_cell(rows[head], 0)).lower() != "area":
            hr = (head if head is not None else sub - 1) + 1
            raise SourceError(file, "variable header row not found above the sub-header", row=hr, column="A",
                              value=_cell(rows[hr - 1], 0) if hr >= 1 else None, sheet=sheet,
                              expected="'Area' in column A followed by variable headers like 'T01:22 (...)'")
        blocks.append(Block(a + 1, period, head + 1, sub + 1,
                            _variables(rows[head], rows[sub], file, head + 1, sub + 1, sheet)))
        _data_rows(blocks[-1], rows, sub + 1, end, file, sheet)
    tids = {v.tid for b in blocks for v in b.variables}
    if len(tids) != 1:
        b = blocks[0]
        raise SourceError(file, f"variable headers name several tables ({', '.join(sorted(tids))})",
                          row=b.header_row, column="B", sheet=sheet, expected="one Nomis APS table per export")
    return blocks


def _variables(head: list, subh: list, file: str, hrow: int, srow: int, sheet: str) -> list[Variable]:
    starts = [c for c in range(1, max(len(head), 1)) if not _blank(_cell(head, c))]
    if not starts:
        raise SourceError(file, "no variable headers", row=hrow, column="B", sheet=sheet,
                          expected="variable headers like 'T01:22 (Aged 16-64 - All : All People )'")
    width = max(len(subh), len(head))
    out: list[Variable] = []
    for n, c in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else width
        h = _text(head[c])
        m = _TID.match(h)
        if not m:
            raise SourceError(file, "variable header not understood", row=hrow, column=_col_letter(c), value=h,
                              sheet=sheet, expected="a Nomis variable header like 'T01:22 (Aged 16-64 - All : All People )'")
        sub: dict[str, int] = {}
        for j in range(c, stop):
            s = _text(_cell(subh, j)).lower()
            if not s:
                continue
            if s not in _SUB:
                raise SourceError(file, "unknown sub-header", row=srow, column=_col_letter(j), value=_cell(subh, j),
                                  sheet=sheet, expected="'number', 'Flags' or 'conf'")
            if s in sub:
                raise SourceError(file, f"second '{s}' sub-column under one variable header (a variable header "
                                  "cell is missing)", row=hrow, column=_col_letter(j), value=_cell(head, j),
                                  sheet=sheet, expected=f"a variable header above the '{s}' at column {_col_letter(j)}")
            sub[s] = j
        if sub.get("number") != c:
            raise SourceError(file, "sub-header under a variable header is not 'number'", row=srow,
                              column=_col_letter(c), value=_cell(subh, c), sheet=sheet,
                              expected="'number' directly under each variable header")
        out.append(Variable(c, h, m["tid"], m["num"], " ".join(m["label"].split()), sub))
    first = set(out[0].sub)
    for v in out:
        if set(v.sub) != first:
            missing = sorted(first - set(v.sub)) or sorted(set(v.sub) - first)
            raise SourceError(file, f"variable has sub-columns {sorted(v.sub)} unlike the first variable",
                              row=srow, column=_col_letter(v.col), value=v.header, sheet=sheet,
                              expected=f"sub-columns {', '.join(s for s in _SUB if s in first)} (check '{missing[0]}')")
    return out


def _data_rows(block: Block, rows: list, start: int, end: int, file: str, sheet: str) -> None:
    """Sort the rows of a block into area rows and (ignored) footnote/title text rows."""
    last_col = max(max(v.sub.values()) for v in block.variables)
    seen: dict[str, int] = {}
    for i in range(start, end):
        r = rows[i]
        label = _text(_cell(r, 0))
        has_values = any(not _blank(v) for v in r[1:last_col + 1])
        extra = [j for j in range(last_col + 1, len(r)) if not _blank(r[j])]
        if not label and not has_values:
            if extra:
                raise SourceError(file, "value outside the variable columns", row=i + 1, column=_col_letter(extra[0]),
                                  value=r[extra[0]], sheet=sheet, expected="cells only under the variable headers")
            continue
        if _area_type(label) is None:
            if has_values or extra:
                raise SourceError(file, "area label not understood", row=i + 1, column="A", value=_cell(r, 0),
                                  sheet=sheet, expected="a Nomis area label such as 'ladu:Darlington' or 'lep:Solent'")
            block.notes_text.append(label)    # footnote or the next block's title rows
            continue
        if extra:
            raise SourceError(file, "value outside the variable columns", row=i + 1, column=_col_letter(extra[0]),
                              value=r[extra[0]], sheet=sheet, expected="cells only under the variable headers")
        if label in seen:
            raise SourceError(file, f"duplicated area row: repeats row {seen[label]} in the same period block",
                              row=i + 1, column="A", value=label, sheet=sheet, expected="one row per area and period")
        seen[label] = i + 1
        block.area_rows.append((i + 1, label))


# ----------------------------------------------------------------------------------------------
# areas

@lru_cache(maxsize=4)
def _non_english_lad_names(sources_dir: str) -> frozenset[str]:
    """Normalised LAD names with W/S/N codes, from the ward-to-LAD lookup found under the sources folder."""
    for p in sorted(Path(sources_dir).rglob("*.csv")):
        try:
            with open(p, encoding="utf-8-sig") as fh:
                header = [h.strip() for h in fh.readline().split(",")]
        except (OSError, UnicodeDecodeError):
            continue
        if "WD23CD" in header and "LAD23CD" in header and "LAD23NM" in header:
            df = pd.read_csv(p, encoding="utf-8-sig", usecols=["LAD23CD", "LAD23NM"], dtype=str)
            nonen = df[df["LAD23CD"].str.strip().str[:1].isin(["W", "S", "N"])]
            return frozenset(normalise_name(n) for n in nonen["LAD23NM"].dropna())
    return frozenset()


class _Areas:
    """Resolves Nomis area labels to (code, level) once per label; collects skip reasons."""

    def __init__(self, ctx: StageContext, file: str, sheet: str) -> None:
        self.ctx, self.file, self.sheet = ctx, file, sheet
        self.cache: dict[tuple[str, bool], tuple[str, str] | str] = {}
        self.matches: list[str] = []
        self._cands: dict[str, list[tuple[str, str]]] | None = None

    def candidates(self, level: str) -> list[tuple[str, str]]:
        """(normalised name, official name) at a level, if the resolver exposes its area list."""
        if self._cands is None:
            self._cands = {}
            areas = getattr(self.ctx.geo, "areas", None)
            if isinstance(areas, pd.DataFrame) and {"area_name", "area_level"} <= set(areas.columns):
                for nm, lv in zip(areas["area_name"].astype(str), areas["area_level"].astype(str)):
                    nm = nm.strip()
                    self._cands.setdefault(lv, []).append((normalise_name(nm), nm))
                    inner = re.findall(r"\(([^)]*)\)", nm)
                    for alt in inner + [re.sub(r"\s*\([^)]*\)", "", nm)]:
                        if alt.strip() and alt.strip() != nm:
                            self._cands[lv].append((normalise_name(alt), nm))
        return self._cands.get(level, [])

    def resolve(self, label: str, row: int, period_end: date) -> tuple[str, str] | str:
        """(code, level), or a skip reason (str). Raises SourceError for unknown English areas."""
        key = (label, period_end < date(2024, 5, 7))
        if key not in self.cache:
            self.cache[key] = self._resolve(label, row, period_end)
        return self.cache[key]

    def _code(self, name: str, level: str) -> str | None:
        try:
            return self.ctx.geo.code_for_name(name, level)
        except Exception:
            return None

    def _resolve(self, label: str, row: int, period_end: date) -> tuple[str, str] | str:
        kind, name = _area_type(label)  # type: ignore[misc]
        err = dict(row=row, column="A", value=label, sheet=self.sheet)
        if kind == "country":
            if normalise_name(name) in _OUTSIDE_ENGLAND:
                return "country outside England (out of scope)"
            code = self._code(name, "england")
            if code is None:
                raise SourceError(self.file, "unknown country", expected="'country:England'", **err)
            return code, "england"
        if kind == "region":
            if normalise_name(name) in _OUTSIDE_ENGLAND:
                return "Wales/Scotland/Northern Ireland region (out of scope)"
            code = self._code(name, "region")
            if code is None:
                raise SourceError(self.file, "unknown region name", expected="an English region name", **err)
            return code, "region"
        if kind == "lad":
            code = self._code(name, "lad")
            if code is not None:
                if self.ctx.geo.is_english_lad_code(code):
                    return code, "lad"
                return "LAD outside England (Wales/Scotland/Northern Ireland, out of scope)"
            if self._non_english(name):
                return "LAD outside England (Wales/Scotland/Northern Ireland, out of scope)"
            raise SourceError(self.file, "unknown local authority district name", **err,
                              expected="an English LAD name (any vintage) or a Welsh/Scottish/NI LAD name")
        if kind == "lep":
            hit = self._by_name(name, ["lep"])
            return hit if hit else "LEP name not among the current (LEP21) LEP names"
        levels = ["ca"] if kind == "ca" else None
        base = _FROM_DN.sub("", name).strip()
        if levels is None:
            m = _UDG_SUFFIX.search(base)
            suf = (m["suf"] or "") if m else ""
            if m:
                base = base[:m.start()].strip()
            levels = ["lsip"] if suf.startswith("L") else ["ca"] if suf.startswith("M") else ["lsip", "ca"]
        hit = self._by_name(base, levels)
        if not hit:
            return "user-defined LSIP/MCA area not matched to an LSIP or combined authority"
        code, level = hit
        change = _CA_BOUNDARY_CHANGES.get(normalise_name(base)) if level == "ca" else None
        if change and period_end < change[0]:
            return f"combined authority boundary changed: {change[1]}"
        return hit

    def _by_name(self, name: str, levels: list[str]) -> tuple[str, str] | None:
        trials = [name, re.sub(r"\s*\([^)]*\)", "", name).strip()]
        for nm in trials:
            hits = {(c, lv) for lv in levels if (c := self._code(nm, lv))}
            if len(hits) == 1:
                return hits.pop()
            if len(hits) > 1:
                return None
        key = normalise_name(name)
        if len(key) < 8:
            return None
        found = {(off, lv) for lv in levels for norm, off in self.candidates(lv)
                 if norm == key or norm.startswith(key)}
        if len(found) != 1:
            return None
        official, lv = found.pop()
        code = self._code(official, lv)
        if code:
            self.matches.append(f"'{name}' taken as {lv.upper()} '{official}' ({code})")
            return code, lv
        return None

    def _non_english(self, name: str) -> bool:
        names = _non_english_lad_names(str(Path(self.ctx.sources_dir).resolve()))
        key = normalise_name(name)
        if key in names:
            return True
        close = difflib.get_close_matches(key, list(names), n=2, cutoff=0.9)
        if len(close) == 1:
            self.matches.append(f"'{name}' taken as the non-English LAD '{close[0]}'")
            return True
        return False


# ----------------------------------------------------------------------------------------------
# measures

def _slug(text: str) -> str:
    t = text.lower().replace("&", " and ").replace("+", "plus")
    return re.sub(r"[^a-z0-9]+", "_", t).strip("_")


def _parts(label: str) -> list[str]:
    return [p.strip() for p in re.split(r"\s+[-:]\s+", label) if p.strip()]


@dataclass
class _Mapped:
    measure: str
    breakdown_type: str
    breakdown_code: str
    breakdown_label: str


def _map_variables(tid: str, variables: list[Variable], file: str, hrow: int, sheet: str) -> tuple[list[_Mapped], dict[str, MeasureInfo], str]:
    """Measure and breakdown for each variable; the measure records; the dataset topic."""
    ds = f"nomis_aps_{tid.lower()}"
    maps: list[_Mapped] = []
    measures: dict[str, MeasureInfo] = {}

    def bad(v: Variable, what: str) -> SourceError:
        return SourceError(file, f"variable label not understood for table {tid}", row=hrow,
                           column=_col_letter(v.col), value=v.header, sheet=sheet, expected=what)

    if tid == "T09a":
        lookup = {_slug(n): c for c, n in SOC2010_SUBMAJOR.items()}
        mid = "aps_employment_by_occupation_soc2010"
        measures[mid] = MeasureInfo(mid, "Employment by occupation (SOC2010 sub-major group)", ds, "persons",
                                    "Labour market", "sum", description="People in employment (APS, all people), "
                                    "by SOC2010 sub-major group; rolling annual survey estimate.")
        for v in variables:
            m = re.match(r"^(?:.+? - )?(?:(?P<code>\d{2})\s*:?\s+)?(?P<name>.+?)\s*\(SOC\s*2010\)", v.label, re.I)
            if not m:
                raise bad(v, "'<group> - <occupation> (SOC2010) : <group>'")
            code = m["code"] or lookup.get(_slug(m["name"]))
            if code not in SOC2010_SUBMAJOR:
                raise bad(v, "one of the 25 SOC2010 sub-major group names")
            maps.append(_Mapped(mid, "soc2010_submajor", code, m["name"]))
        return maps, measures, "Labour market"
    if tid == "T13a":
        mid = "aps_employment_by_industry"
        measures[mid] = MeasureInfo(mid, "Employment by industry (SIC 2007 groups)", ds, "persons", "Labour market",
                                    "sum", description="People in employment (APS, all people), by the publisher's "
                                    "SIC 2007 industry groups; rolling annual survey estimate.")
        for v in variables:
            m = re.match(r"^(?P<name>.+?)\s*\(SIC\s*2007\)", v.label, re.I)
            if not m:
                raise bad(v, "'<sections> <industry> (SIC 2007) : <group>'")
            maps.append(_Mapped(mid, "sic2007", _slug(m["name"]), m["name"]))
        return maps, measures, "Labour market"
    if tid == "T19":
        mid = "aps_qualification_count"
        measures[mid] = MeasureInfo(mid, "People by highest qualification (NVQ)", ds, "persons", "Qualifications",
                                    "sum", description="Residents by highest qualification held (NVQ framework); "
                                    "breakdown 'qualification' = all people aged 16-64, 'age_sex_qualification' = "
                                    "age band | sex | qualification. Calendar-year APS.")
        sexes = {"all people": "persons", "males": "male", "females": "female", "men": "male", "women": "female"}
        for v in variables:
            m = re.match(r"^(?:(?P<pre>.+?) - )?(?P<sex>All people|Males|Females|Men|Women) aged "
                         r"(?P<age>\d+(?:-\d+|\+)) : (?P<qual>.+)$", v.label, re.I)
            if not m:
                raise bad(v, "'Total - <All people|Males|Females> aged <a-b> : <qualification>'")
            sex, age, qual = sexes[m["sex"].lower()], m["age"], m["qual"].strip()
            if sex == "persons" and age == "16-64":
                maps.append(_Mapped(mid, "qualification", _slug(qual), qual))
            else:
                maps.append(_Mapped(mid, "age_sex_qualification", f"{age}|{sex}|{_slug(qual)}",
                                    f"{m['sex']} aged {age}: {qual}"))
        return maps, measures, "Qualifications"
    # any other table (and T01): one measure per variable, named from what varies between headers
    parts = [_parts(v.label) for v in variables]
    common = set.intersection(*(set(p) for p in parts)) if len(parts) > 1 else set()
    topic = "Qualifications" if any("nvq" in v.label.lower() or "qualification" in v.label.lower()
                                    for v in variables) else "Labour market"
    for v, p in zip(variables, parts):
        varying = [x for x in p if x not in common] or p
        mid = f"aps_{tid.lower()}_{_slug(' '.join(varying))}"
        rate = "%" in v.label or re.search(r"\brate\b", v.label, re.I)
        context = ", ".join(x for x in p if x in common)
        label = " - ".join(varying) + (f" ({context})" if context else "")
        measures[mid] = MeasureInfo(mid, label, ds, "%" if rate else "persons", topic, "none" if rate else "sum",
                                    decimals=1 if rate else 0,
                                    description=f"APS {tid} variable {v.num}: {v.label}; rolling annual survey estimate.")
        maps.append(_Mapped(mid, "total", "total", label))
    return maps, measures, topic


# ----------------------------------------------------------------------------------------------
# staging

def _release_date(raw: ApsSheet) -> str | None:
    if raw.created is not None:
        return raw.created.date().isoformat()
    for r in raw.rows[:10]:
        m = _NOMIS_DATE.search(_text(_cell(r, 0)))
        if m:
            try:
                return datetime.strptime(m[1], "%d %B %Y").date().isoformat()
            except ValueError:
                pass
    m = _FILE_STAMP.search(raw.path.name)
    return f"{m[1]}-{m[2]}-{m[3]}" if m else None


_STATUS_OF = {k: m.status for k, m in NOMIS_MARKERS.items()}
_REASON_OF = {k: m.reason for k, m in NOMIS_MARKERS.items()}


def _fast_parse(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Vectorised (value, status, reason) of raw cells; None when a cell needs the exact parser."""
    s = pd.Series(flat, dtype=object)
    value = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    if np.isinf(value).any():
        return None
    status = np.full(len(flat), OK, dtype=object)
    reason = np.full(len(flat), None, dtype=object)
    other = np.isnan(value)
    if other.any():
        keys = s[other].map(lambda v: "" if v is None else str(v).strip())
        st = keys.map(_STATUS_OF)
        if st.isna().any():
            return None
        status[other] = st.to_numpy(dtype=object)
        reason[other] = keys.map(_REASON_OF).to_numpy(dtype=object)
    return value, status, reason


def _parse_columns(grid: np.ndarray, cols: list[int], names: list[str], rownos: np.ndarray, file: str,
                   sheet: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse several columns (flattened column after column); exact per-column errors on bad cells."""
    fast = _fast_parse(grid[:, cols].T.ravel())
    if fast is not None:
        return fast
    parts = [parse_series(pd.Series(grid[:, c]), file=file, column=nm, rows=rownos, markers=NOMIS_MARKERS,
                          sheet=sheet) for c, nm in zip(cols, names)]
    return (np.concatenate([p["value"].to_numpy(dtype=float) for p in parts]),
            np.concatenate([p["status"].to_numpy(dtype=object) for p in parts]),
            np.concatenate([p["status_reason"].to_numpy(dtype=object) for p in parts]))


def _block_values(b: Block, grid: np.ndarray, rownos: np.ndarray, file: str, sheet: str):
    """value, status, reason, ci_lower, ci_upper for every (variable, row), variable after variable."""
    vs = b.variables
    n = len(rownos)
    ref = [f"{v.tid}:{v.num}" for v in vs]
    value, status, reason = _parse_columns(grid, [v.col for v in vs],
                                           [f"{_col_letter(v.col)} ({r} number)" for v, r in zip(vs, ref)],
                                           rownos, file, sheet)
    value, status, reason = value.copy(), status.copy(), reason.copy()
    lo = np.full(len(value), np.nan)
    hi = np.full(len(value), np.nan)
    if "conf" in vs[0].sub:
        cval, cst, _ = _parse_columns(grid, [v.sub["conf"] for v in vs],
                                      [f"{_col_letter(v.sub['conf'])} ({r} conf)" for v, r in zip(vs, ref)],
                                      rownos, file, sheet)
        unrel = (cst == UNRELIABLE) & (status == OK)
        status[unrel] = UNRELIABLE
        reason[unrel] = NOMIS_MARKERS["*"].reason + " (estimate published, confidence interval not)"
        both = ~np.isnan(value) & ~np.isnan(cval)
        lo[both] = value[both] - cval[both]
        hi[both] = value[both] + cval[both]
    if "flags" in vs[0].sub:
        flags = grid[:, [v.sub["flags"] for v in vs]].T.ravel()
        for i in np.flatnonzero(pd.Series(flags, dtype=object).notna().to_numpy()):
            f = flags[i]
            if _blank(f):
                continue
            mk = NOMIS_MARKERS.get(_text(f))
            if mk is None:
                v = vs[i // n]
                raise SourceError(file, "unknown Flags value", row=int(rownos[i % n]), value=f, sheet=sheet,
                                  column=f"{_col_letter(v.sub['flags'])} ({ref[i // n]} Flags)",
                                  expected=f"blank or one of {', '.join(repr(k) for k in NOMIS_MARKERS if k)}")
            if _RANK.get(mk.status, 0) > _RANK.get(status[i], 0):
                status[i], reason[i] = mk.status, mk.reason
                if mk.status != UNRELIABLE:
                    value[i] = lo[i] = hi[i] = np.nan
    return value, status, reason, lo, hi


def _rate(nv, ns, nr, dv, dsx, dr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In employment / all x 100 with the worse status of the two inputs."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(dv > 0, nv / dv * 100.0, np.nan)
    st = np.empty(len(rate), dtype=object)
    rs = np.empty(len(rate), dtype=object)
    for i in range(len(rate)):
        worst, why, src = (ns[i], nr[i], "in employment") if _RANK[ns[i]] >= _RANK[dsx[i]] \
            else (dsx[i], dr[i], "all people 16-64")
        if worst == OK and np.isnan(rate[i]):
            worst, why, src = MISSING, "denominator is zero", "all people 16-64"
        st[i] = worst
        rs[i] = None if worst == OK else f"{src}: {why}"
    return rate, st, rs


def stage(raw: ApsSheet, path: Path, ctx: StageContext) -> list[StagedDataset]:
    """One StagedDataset per export: counts (+ CI), plus the 16-64 employment rate for T01."""
    file = ctx.rel(path)
    sheet = raw.sheet
    blocks = _layout(raw, file)
    tid = blocks[0].variables[0].tid
    ds = f"nomis_aps_{tid.lower()}"
    areas = _Areas(ctx, file, sheet)
    cols: dict[str, list] = {c: [] for c in STAGE_COLUMNS}
    skipped: dict[str, set[str]] = {}
    skipped_rows: dict[str, int] = {}
    measures: dict[str, MeasureInfo] = {}
    topic = "Labour market"
    rate_parts = 0

    def put(n: int, **kw) -> None:
        for c in STAGE_COLUMNS:
            v = kw[c]
            cols[c].append(v if isinstance(v, np.ndarray) else np.full(n, v, dtype=object))

    for b in blocks:
        maps, ms, topic = _map_variables(tid, b.variables, file, b.header_row, sheet)
        measures.update(ms)
        seen_keys: dict[tuple, int] = {}
        for v, mp in zip(b.variables, maps):
            k = (mp.measure, mp.breakdown_type, mp.breakdown_code)
            if k in seen_keys:
                raise SourceError(file, "two variables map to the same measure and breakdown", row=b.header_row,
                                  column=_col_letter(v.col), value=v.header, sheet=sheet,
                                  expected=f"a variable distinct from column {_col_letter(seen_keys[k])}")
            seen_keys[k] = v.col
        if not b.area_rows:
            continue
        rownos = np.array([r for r, _ in b.area_rows])
        codes, levels, keep = [], [], []
        for r, label in b.area_rows:
            res = areas.resolve(label, r, b.period[2])
            if isinstance(res, str):
                skipped.setdefault(res, set()).add(label)
                skipped_rows[res] = skipped_rows.get(res, 0) + 1
                codes.append(None), levels.append(None), keep.append(False)
            else:
                codes.append(res[0]), levels.append(res[1]), keep.append(True)
        width = max(max(v.sub.values()) for v in b.variables) + 1
        grid = np.array([(raw.rows[r - 1] + [None] * width)[:width] for r in rownos], dtype=object)
        value, status, reason, lo, hi = _block_values(b, grid, rownos, file, sheet)   # validates every row
        keep_a = np.array(keep)
        if not keep_a.any():
            continue
        n, k = len(rownos), len(b.variables)
        sel = np.tile(keep_a, k)
        nk = int(sel.sum())
        label, start, end = b.period

        def rep(xs: list) -> np.ndarray:
            return np.repeat(np.array(xs, dtype=object), int(keep_a.sum()))

        put(nk, measure=rep([m.measure for m in maps]), area_code=np.tile(np.array(codes, dtype=object), k)[sel],
            area_level=np.tile(np.array(levels, dtype=object), k)[sel], period=label,
            period_start=pd.Timestamp(start), period_end=pd.Timestamp(end),
            breakdown_type=rep([m.breakdown_type for m in maps]), breakdown_code=rep([m.breakdown_code for m in maps]),
            breakdown_label=rep([m.breakdown_label for m in maps]), value=value[sel], status=status[sel],
            status_reason=reason[sel], ci_lower=lo[sel], ci_upper=hi[sel], numerator=np.nan, denominator=np.nan,
            source_row=np.tile(rownos, k)[sel])
        pos = {m.measure: i for i, m in enumerate(maps)}
        num_key, den_key = f"aps_{tid.lower()}_in_employment", f"aps_{tid.lower()}_all"
        if tid == "T01" and num_key in pos and den_key in pos:
            rate_parts += 1
            a, d = pos[num_key] * n, pos[den_key] * n
            nv, ns, nr = (x[a:a + n][keep_a] for x in (value, status, reason))
            dv, dsx, dr = (x[d:d + n][keep_a] for x in (value, status, reason))
            rate, st, rs = _rate(nv, ns, nr, dv, dsx, dr)
            put(len(rate), measure="aps_employment_rate_16_64", area_code=np.array(codes, dtype=object)[keep_a],
                area_level=np.array(levels, dtype=object)[keep_a], period=label, period_start=pd.Timestamp(start),
                period_end=pd.Timestamp(end), breakdown_type="total", breakdown_code="total",
                breakdown_label="All people aged 16-64", value=rate, status=st, status_reason=rs,
                ci_lower=np.nan, ci_upper=np.nan, numerator=nv, denominator=dv, source_row=rownos[keep_a])
    if rate_parts:
        measures["aps_employment_rate_16_64"] = MeasureInfo(
            "aps_employment_rate_16_64", "Employment rate, aged 16-64", ds, "%", "Labour market", "ratio",
            description="People aged 16-64 in employment as a percentage of all people aged 16-64 (APS T01), "
                        "computed from the published counts; status is the worse of the two inputs.",
            decimals=1, scale=100.0, higher_is_better=True)

    facts = pd.DataFrame({c: np.concatenate(cols[c]) if cols[c] else np.array([], dtype=object) for c in STAGE_COLUMNS})
    for c in ("value", "ci_lower", "ci_upper", "numerator", "denominator"):
        facts[c] = pd.to_numeric(facts[c], errors="coerce").astype(float)
    for c in ("period_start", "period_end"):
        facts[c] = pd.to_datetime(facts[c])
    facts["source_row"] = facts["source_row"].astype("int64")
    check_unique(facts, ["measure", "area_code", "area_level", "period", "breakdown_type", "breakdown_code"],
                 file=file, sheet=sheet)
    used = set(facts["measure"].unique())
    measures = {k: m for k, m in measures.items() if k in used}

    notes = [f"{n:,} area rows skipped ({len(skipped[r])} distinct areas): {r}" +
             (f" - e.g. {', '.join(sorted(skipped[r])[:6])}" if r.startswith(("LEP", "user", "combined")) else "")
             for r, n in sorted(skipped_rows.items())]
    notes += areas.matches
    n_text = sum(len(b.notes_text) for b in blocks)
    if n_text:
        notes.append(f"{n_text} footnote/title text rows ignored")
    unrel = int((facts["status"] == UNRELIABLE).sum())
    if unrel:
        notes.append(f"{unrel:,} values flagged unreliable (sample 3-9): where Nomis published the estimate with "
                     "conf '*', the estimate is kept and the confidence interval left blank")
    return [StagedDataset(info=_info(raw, blocks, tid, topic, file, facts), measures=list(measures.values()),
                          facts=facts[list(STAGE_COLUMNS)], notes=notes)]


def _info(raw: ApsSheet, blocks: list[Block], tid: str, topic: str, file: str, facts: pd.DataFrame) -> DatasetInfo:
    survey = next((_text(_cell(r, 0)) for r in raw.rows[:blocks[0].date_row - 1] if _text(_cell(r, 0))),
                  "annual population survey")
    title_rows = {_text(_cell(r, 0)) for r in raw.rows[:blocks[0].date_row - 1]}
    variables = blocks[0].variables
    if tid in KNOWN_TITLES:
        table = KNOWN_TITLES[tid]
    else:
        parts = [_parts(v.label) for v in variables]
        common = set.intersection(*(set(p) for p in parts))
        table = ", ".join(x for x in parts[0] if x in common) or variables[0].label
    caveats, seen = [], set()
    for b in blocks:
        for t in b.notes_text:
            if t in title_rows or t in seen or t[:2] in ("! ", "* ", "~ ", "- "):
                continue
            seen.add(t)
            caveats.append(t)
    present = set(facts["area_level"].unique())
    levels = ", ".join({"lad": "LAD", "lep": "LEP", "lsip": "LSIP", "ca": "CA", "region": "region",
                        "england": "England"}[lv] for lv in LEVELS if lv in present)
    periods = [b.period[0] for b in blocks]
    return DatasetInfo(
        id=f"nomis_aps_{tid.lower()}",
        title=f"{survey[:1].upper()}{survey[1:]} {tid}: {table}",
        publisher=PUBLISHER, source_url=SOURCE_URL, licence=OGL, attribution=ATTRIBUTION,
        regularity="quarterly", release_date=_release_date(raw), topic=topic,
        spatial_levels=f"{levels} (Nomis export: England, DfE user-defined LSIP/MCA areas, LEPs, LAD21 names GB)",
        source_file=file,
        description=(f"Nomis APS table {tid} ({table}); {len(blocks)} periods {periods[0]} to {periods[-1]}; "
                     "counts of people with the published 95% confidence-interval half-width (conf) turned into "
                     "ci_lower/ci_upper. The APS is a rolling annual survey updated quarterly."),
        caveats=" ".join(caveats),
    )
