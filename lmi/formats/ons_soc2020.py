"""ONS SOC 2020 Volume 1: structure and descriptions of unit groups (Excel edition).

The ``SOC2020 descriptions`` sheet holds one row per group at every level; the level is given by
which of the four code columns (major / sub-major / minor / unit) is filled, the others holding the
literal ``'<blank>'``. Header cells contain line breaks, so columns are located by normalised text.
Staging yields no facts, only the reference table ``soc2020`` (one row per group).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

from lmi.errors import SourceError
from lmi.formats.base import StageContext
from lmi.schema import OGL, DatasetInfo, StagedDataset, empty_stage_frame

NAME = "ons_soc2020"
SHEET = "SOC2020 descriptions"
DATASET_ID = "ons_soc2020_structure"
SOURCE_URL = ("https://www.ons.gov.uk/methodology/classificationsandstandards/standardoccupationalclassificationsoc/"
              "soc2020/soc2020volume1structureanddescriptionsofunitgroups")

LEVELS = ("major", "submajor", "minor", "unit")
EXPECTED_COUNTS = {"major": 9, "submajor": 26, "minor": 104, "unit": 412}
COLUMNS = ("code", "level", "title", "parent_code", "major", "submajor", "minor", "description",
           "entry_routes", "tasks", "related_job_titles", "skill_level")

# Skill level of each major group, from the SOC 2020 Volume 1 text (table "SOC 2020 major groups and
# associated skill levels"); the workbook itself does not state it.
MAJOR_SKILL_LEVEL = {"1": 4, "2": 4, "3": 3, "4": 2, "5": 3, "6": 2, "7": 2, "8": 2, "9": 1}

# field -> normalised header text (see _norm_header) as published; 'contains' fallbacks for text columns
_HEADERS: dict[str, tuple[str, ...]] = {
    "major": ("major group",),
    "submajor": ("sub-major group", "sub major group"),
    "minor": ("minor group",),
    "unit": ("unit group",),
    "title": ("group title",),
    "description": ("group description",),
    "entry_routes": ("typical entry routes and associated qualifications",
                     "entry routes and associated qualifications"),
    "tasks": ("tasks",),
    "related_job_titles": ("related job titles",),
}
_REQUIRED = ("major", "submajor", "minor", "unit", "title", "description")
_BLANK = {"", "<blank>"}


def _norm_header(value: object) -> str:
    text = re.sub(r"\s+", " ", str(value or "")).strip().lower()
    text = re.sub(r"\bsoc\s*2020\b", " ", text)
    return " ".join(text.split())


def _col_letter(idx: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(idx + 1)


def detect(path: Path) -> bool:
    """True for an xlsx whose 'SOC2020 descriptions' sheet has SOC 2020 group header cells."""
    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return False
    try:
        import openpyxl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if SHEET not in wb.sheetnames:
                return False
            first = next(wb[SHEET].iter_rows(min_row=1, max_row=1, values_only=True), ())
        finally:
            wb.close()
    except Exception:
        return False
    heads = {_norm_header(c) for c in first}
    raw = " ".join(str(c) for c in first if c is not None).lower()
    return "unit group" in heads and "group title" in heads and "2020" in raw


def read(path: Path) -> dict[str, list[tuple]]:
    """The descriptions sheet as published: ``{'SOC2020 descriptions': [row tuples]}``."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(Path(path), read_only=True, data_only=True)
    try:
        if SHEET not in wb.sheetnames:
            raise SourceError(path, f"sheet {SHEET!r} is missing", expected=f"a workbook with a {SHEET!r} sheet")
        rows = [tuple(r) for r in wb[SHEET].iter_rows(values_only=True)]
    finally:
        wb.close()
    return {SHEET: rows}


def _locate_columns(rows: list[tuple], file: str) -> tuple[int, dict[str, int]]:
    """Find the header row (first 10 rows) and the column index of every field."""
    for r, row in enumerate(rows[:10]):
        heads = [_norm_header(c) for c in row]
        if "unit group" not in heads:
            continue
        cols: dict[str, int] = {}
        for field, names in _HEADERS.items():
            for i, h in enumerate(heads):
                loose = field in ("entry_routes", "related_job_titles", "tasks")
                if h in names or (loose and any(n in h for n in names)):
                    cols.setdefault(field, i)
        for field in _REQUIRED:
            if field not in cols:
                raise SourceError(file, "required column is missing", row=r + 1, column=_HEADERS[field][0],
                                  expected="a header row with SOC 2020 major / sub-major / minor / unit group, "
                                           "group title and group description columns", sheet=SHEET)
        return r, cols
    raise SourceError(file, "header row not found in the first 10 rows", row=1, column="SOC 2020 Unit Group",
                      expected="a header cell 'SOC 2020 Unit Group'", sheet=SHEET)


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _BLANK else text


def _parse(rows: list[tuple], file: str) -> pd.DataFrame:
    hdr, cols = _locate_columns(rows, file)
    code_cols = {lvl: cols[lvl] for lvl in LEVELS}
    records = []
    for r in range(hdr + 1, len(rows)):
        row = rows[r]
        if all(_text(c) is None for c in row):
            continue
        cell = lambda f: row[cols[f]] if f in cols and cols[f] < len(row) else None  # noqa: E731
        filled = [(lvl, _text(cell(lvl))) for lvl in LEVELS if _text(cell(lvl)) is not None]
        if len(filled) != 1:
            raise SourceError(file, "a group row must fill exactly one of the four code columns", row=r + 1,
                              column=", ".join(_col_letter(code_cols[l]) for l in LEVELS),
                              value=tuple(cell(l) for l in LEVELS),
                              expected="one code and '<blank>' in the other three code columns", sheet=SHEET)
        level, raw = filled[0]
        code = raw
        if re.fullmatch(r"\d+\.0", code):
            code = code[:-2]  # integer stored as float
        depth = LEVELS.index(level) + 1
        if not re.fullmatch(rf"\d{{{depth}}}", code):
            raise SourceError(file, f"malformed {level} group code", row=r + 1, column=_col_letter(code_cols[level]),
                              value=cell(level), expected=f"a {depth}-digit code", sheet=SHEET)
        title = _text(cell("title"))
        if title is None:
            raise SourceError(file, "group title is empty", row=r + 1, column=_col_letter(cols["title"]),
                              value=cell("title"), expected="the group's title", sheet=SHEET)
        records.append({
            "code": code, "level": level, "title": title,
            "description": _text(cell("description")), "entry_routes": _text(cell("entry_routes")),
            "tasks": _text(cell("tasks")), "related_job_titles": _text(cell("related_job_titles")),
            "source_row": r + 1, "_code_col": _col_letter(code_cols[level]),
        })
    df = pd.DataFrame.from_records(records)
    if df.empty:
        raise SourceError(file, "no group rows found", row=hdr + 2, expected="SOC 2020 group rows", sheet=SHEET)
    dup = df.duplicated("code", keep="first")
    if dup.any():
        first = df[dup].iloc[0]
        earlier = int(df.loc[(df["code"] == first["code"]) & ~dup, "source_row"].iloc[0])
        raise SourceError(file, f"duplicated group code (first seen in row {earlier})", row=int(first["source_row"]),
                          column=first["_code_col"], value=first["code"], expected="each SOC code once", sheet=SHEET)
    return df


def _build(df: pd.DataFrame, file: str) -> pd.DataFrame:
    known = dict(zip(df["code"], df["level"]))
    parents = []
    for code, level, row, col in zip(df["code"], df["level"], df["source_row"], df["_code_col"]):
        if level == "major":
            parents.append(None)
            continue
        parent = code[:-1]
        want = LEVELS[LEVELS.index(level) - 1]
        if known.get(parent) != want:
            raise SourceError(file, f"{level} group's parent {want} group {parent} is absent", row=int(row), column=col,
                              value=code, expected=f"a {want} group row with code {parent}", sheet=SHEET)
        parents.append(parent)
    out = df.copy()
    out["parent_code"] = parents
    out["major"] = out["code"].str[:1]
    out["submajor"] = out["code"].where(out["code"].str.len() >= 2).str[:2]
    out["minor"] = out["code"].where(out["code"].str.len() >= 3).str[:3]
    out["skill_level"] = out["major"].map(MAJOR_SKILL_LEVEL).astype("Int64")
    counts = out["level"].value_counts().to_dict()
    for level, n in EXPECTED_COUNTS.items():
        if counts.get(level, 0) != n:
            raise SourceError(file, f"found {counts.get(level, 0)} {level} groups", sheet=SHEET,
                              expected=f"{n} {level} groups (SOC 2020: 9 major, 26 sub-major, 104 minor, 412 unit)")
    for c in ("major", "submajor", "minor", "parent_code"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out[list(COLUMNS)].reset_index(drop=True)


def load_soc2020(path: Path) -> pd.DataFrame:
    """The SOC 2020 hierarchy as a DataFrame with :data:`COLUMNS` (one row per group, all levels)."""
    path = Path(path)
    raw = read(path)
    return _build(_parse(raw[SHEET], str(path)), str(path))


def info(source_file: str) -> DatasetInfo:
    return DatasetInfo(
        id=DATASET_ID,
        title="SOC 2020 Volume 1: structure and descriptions of unit groups",
        publisher="Office for National Statistics",
        source_url=SOURCE_URL,
        licence=OGL,
        attribution="Source: Office for National Statistics licensed under the Open Government Licence v3.0",
        regularity="irregular",
        release_date="2025-04-16",
        topic="Occupations",
        spatial_levels="not spatial (classification)",
        source_file=source_file,
        description="Standard Occupational Classification 2020: 9 major, 26 sub-major, 104 minor and 412 unit "
                    "groups with titles, descriptions, typical entry routes, tasks and related job titles.",
        caveats="Skill levels (1-4) are the major-group levels stated in the SOC 2020 Volume 1 text, "
                "not in the workbook; unit groups inherit their major group's level.",
    )


def stage(raw: dict[str, list[tuple]], path: Path, ctx: StageContext) -> list[StagedDataset]:
    """No facts; the reference table ``soc2020`` and the catalogue entry."""
    file = ctx.rel(path)
    if SHEET not in raw:
        raise SourceError(file, f"sheet {SHEET!r} is missing", expected=f"a workbook with a {SHEET!r} sheet")
    table = _build(_parse(raw[SHEET], file), file)
    notes = [f"{n} {lvl} groups" for lvl, n in table["level"].value_counts().reindex(LEVELS).items()]
    return [StagedDataset(info=info(file), measures=[], facts=empty_stage_frame(), notes=notes,
                          tables={"soc2020": table})]
