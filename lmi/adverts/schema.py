"""The canonical advert schema, the YAML mapping file that adapts a feed to it, and salary factors."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lmi.errors import SourceError

# canonical columns, in order; all but REQUIRED may be blank or absent
CANONICAL: tuple[str, ...] = (
    "advert_id", "source", "posted_date", "closing_date", "title", "employer", "latitude", "longitude",
    "postcode", "location", "soc2020", "salary_min", "salary_max", "salary_period",
)
REQUIRED: tuple[str, ...] = ("advert_id", "posted_date", "title")
NUMERIC: tuple[str, ...] = ("latitude", "longitude", "salary_min", "salary_max")
DATES: tuple[str, ...] = ("posted_date", "closing_date")
TEXT: tuple[str, ...] = tuple(c for c in CANONICAL if c not in NUMERIC + DATES)

EXPECTED: dict[str, str] = {
    "advert_id": "a non-blank advert identifier",
    "source": "text (the feed or job board), or blank",
    "posted_date": "a date YYYY-MM-DD (or the mapping file's date_format)",
    "closing_date": "a date YYYY-MM-DD (or the mapping file's date_format) not before posted_date, or blank",
    "title": "a non-blank job title",
    "employer": "text, or blank",
    "latitude": "a WGS84 latitude in degrees (-90 to 90), given together with longitude, or blank",
    "longitude": "a WGS84 longitude in degrees (-180 to 180), given together with latitude, or blank",
    "postcode": "text, or blank",
    "location": "a place name such as 'Headingley, Leeds', or blank",
    "soc2020": "a 4-digit SOC 2020 unit group code (e.g. 2136), or blank",
    "salary_min": "a non-negative number (e.g. 25000 or £25,000), or blank",
    "salary_max": "a non-negative number not below salary_min, or blank",
    "salary_period": "one of annual, monthly, weekly, daily, hourly (or yearly, pa, pcm, pw, pd, ph), or blank",
}

# annualisation factors (stated in docs/adverts.md): 37.5 h/week, 5 days/week, 52 weeks/year
HOURS_PER_WEEK = 37.5
DAYS_PER_WEEK = 5
WEEKS_PER_YEAR = 52
SALARY_FACTORS: dict[str, float] = {
    "annual": 1.0,
    "monthly": 12.0,
    "weekly": float(WEEKS_PER_YEAR),
    "daily": float(DAYS_PER_WEEK * WEEKS_PER_YEAR),
    "hourly": HOURS_PER_WEEK * WEEKS_PER_YEAR,
}
PERIOD_ALIASES: dict[str, str] = {
    "annual": "annual", "annually": "annual", "year": "annual", "yearly": "annual", "pa": "annual",
    "per annum": "annual", "annum": "annual", "a": "annual", "y": "annual",
    "month": "monthly", "monthly": "monthly", "pcm": "monthly", "pm": "monthly", "per month": "monthly", "m": "monthly",
    "week": "weekly", "weekly": "weekly", "pw": "weekly", "per week": "weekly", "w": "weekly",
    "day": "daily", "daily": "daily", "pd": "daily", "per day": "daily", "d": "daily",
    "hour": "hourly", "hourly": "hourly", "ph": "hourly", "per hour": "hourly", "h": "hourly",
}
# a salary without a period is taken as annual only when at least this much; else not used
ANNUAL_IF_NO_PERIOD_MIN = 10_000.0
# annual salaries outside this range are treated as implausible and left out of the median
PLAUSIBLE_ANNUAL = (5_000.0, 500_000.0)
# an advert without a closing date is taken to stay open this many days (for active stock)
DEFAULT_OPEN_DAYS = 30


@dataclass
class Mapping:
    """How a feed's columns map onto the canonical schema (see docs/adverts.md)."""

    columns: dict[str, str] = field(default_factory=dict)     # canonical -> feed column
    constants: dict[str, str] = field(default_factory=dict)   # canonical -> fixed value for every row
    date_format: str | None = None                            # strptime format, e.g. '%d/%m/%Y'
    delimiter: str = ","
    encoding: str = "utf-8"
    path: str | None = None

    def feed_column(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)


def _line_of(text: str, key: str) -> int | None:
    for i, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"^\s*{re.escape(key)}\s*:", line):
            return i
    return None


def load_mapping(path: str | Path | None) -> Mapping:
    """Read a YAML mapping file; SourceError (file, line, key) on anything unexpected."""
    if path is None:
        return Mapping()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        doc = yaml.safe_load(text) or {}
    except OSError as exc:
        raise SourceError(path, f"cannot read mapping file: {exc}", expected="a readable YAML file") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SourceError(path, "not valid YAML", row=(mark.line + 1) if mark else None,
                          expected="a YAML mapping such as 'columns: {advert_id: job_id}'") from exc
    if not isinstance(doc, dict):
        raise SourceError(path, "the mapping file must be a YAML mapping", row=1, value=type(doc).__name__,
                          expected="keys columns, constants, date_format, csv")
    allowed = {"columns", "constants", "date_format", "csv"}
    for k in doc:
        if k not in allowed:
            raise SourceError(path, "unknown key", row=_line_of(text, str(k)), column=str(k), value=k,
                              expected=f"one of {', '.join(sorted(allowed))}")
    m = Mapping(path=str(path))
    for section in ("columns", "constants"):
        items = doc.get(section) or {}
        if not isinstance(items, dict):
            raise SourceError(path, f"'{section}' must map canonical column names to values",
                              row=_line_of(text, section), column=section, value=items,
                              expected="e.g. advert_id: job_id")
        for canon, value in items.items():
            if canon not in CANONICAL:
                raise SourceError(path, f"'{section}' names a column that is not in the canonical schema",
                                  row=_line_of(text, str(canon)), column=str(canon), value=canon,
                                  expected="one of " + ", ".join(CANONICAL))
            if value is None or (isinstance(value, str) and not value.strip()):
                raise SourceError(path, "empty value", row=_line_of(text, str(canon)), column=str(canon),
                                  expected="a feed column name" if section == "columns" else "a value")
            getattr(m, section)[canon] = str(value)
    if m.columns.keys() & m.constants.keys():
        both = sorted(m.columns.keys() & m.constants.keys())[0]
        raise SourceError(path, "a column is given both as a feed column and as a constant",
                          row=_line_of(text, both), column=both, expected="one of the two")
    if doc.get("date_format") is not None:
        m.date_format = str(doc["date_format"])
        if "%" not in m.date_format:
            raise SourceError(path, "date_format is not a strptime format", row=_line_of(text, "date_format"),
                              column="date_format", value=m.date_format, expected="e.g. '%d/%m/%Y'")
    csv_opts = doc.get("csv") or {}
    if not isinstance(csv_opts, dict) or set(csv_opts) - {"delimiter", "encoding"}:
        raise SourceError(path, "'csv' accepts delimiter and encoding only", row=_line_of(text, "csv"),
                          column="csv", value=csv_opts, expected="e.g. csv: {delimiter: ';', encoding: latin-1}")
    m.delimiter = str(csv_opts.get("delimiter", ","))
    m.encoding = str(csv_opts.get("encoding", "utf-8"))
    return m
