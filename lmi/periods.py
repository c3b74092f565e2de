"""Period parsing shared by formats: every period gets a label, a start and an end date."""
from __future__ import annotations

import calendar
import re
from datetime import date

import pandas as pd

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_name) if m})


def month_end(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


def year(y: int) -> tuple[str, date, date]:
    """Calendar year."""
    return str(y), date(y, 1, 1), date(y, 12, 31)


def month(y: int, m: int) -> tuple[str, date, date]:
    """A calendar month, labelled like 'Jul 2025'."""
    return f"{calendar.month_abbr[m]} {y}", date(y, m, 1), month_end(y, m)


def mid_year(y: int) -> tuple[str, date, date]:
    """A mid-year population estimate (reference date 30 June)."""
    return f"mid-{y}", date(y, 6, 30), date(y, 6, 30)


def academic_year(start_year: int) -> tuple[str, date, date]:
    """Academic year Aug–Jul labelled '2019/20'."""
    return f"{start_year}/{str(start_year + 1)[-2:]}", date(start_year, 8, 1), date(start_year + 1, 7, 31)


def span(start: date, end: date) -> tuple[str, date, date]:
    """Arbitrary month span, labelled 'Apr 2020-Mar 2021' (or 'Jan-Dec 2022' within one calendar year)."""
    if start.year == end.year and start.month == 1 and end.month == 12:
        return f"Jan-Dec {start.year}", start, end
    return f"{calendar.month_abbr[start.month]} {start.year}-{calendar.month_abbr[end.month]} {end.year}", start, end


_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T[0-9:]+)?/P(\d+)([YMD])$")


def iso_interval(text: str) -> tuple[str, date, date]:
    """ISO-8601 'start/duration' as used by ONS Explore Local Statistics, e.g. '2024-08-01/P1Y'."""
    m = _ISO.match(str(text).strip())
    if not m:
        raise ValueError(f"not an ISO-8601 start/duration period: {text!r}")
    y, mo, d, n, unit = int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[5]
    start = date(y, mo, d)
    if unit == "Y":
        end = (pd.Timestamp(start) + pd.DateOffset(years=n) - pd.Timedelta(days=1)).date()
    elif unit == "M":
        end = (pd.Timestamp(start) + pd.DateOffset(months=n) - pd.Timedelta(days=1)).date()
    else:
        end = (pd.Timestamp(start) + pd.Timedelta(days=n - 1)).date()
    if unit == "Y" and n == 1 and mo == 1 and d == 1:
        label = str(y)
    elif unit == "Y" and n == 1 and mo == 8 and d == 1:
        label = academic_year(y)[0]
    elif unit == "Y" and n == 1:
        label = span(start, end)[0]
    elif unit == "M" and n == 1:
        label = month(y, mo)[0]
    else:
        label = f"{start.isoformat()}/{end.isoformat()}"
    return label, start, end
