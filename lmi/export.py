"""CSV and XLSX downloads: the export columns, formula neutralisation, metadata, safe file names."""
from __future__ import annotations

import io
import re
from datetime import date

import pandas as pd

from lmi.db import Database

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """OWASP CSV-injection guard: a text cell starting with = + - @ tab or CR gets a leading apostrophe.

    Numbers are returned unchanged, so they stay numbers in the file.
    """
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def to_csv(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV with BOM (opens correctly in Excel), neutralised; CRLF line ends (RFC 4180), so any
    field holding a CR or LF is quoted and cannot split a row."""
    return neutralise_frame(df).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def metadata_for(db: Database, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset in ``rows``: title, publisher, licence, attribution, release date, URL."""
    ids = sorted(rows["dataset"].dropna().unique().tolist()) if len(rows) else []
    meta = db.query("SELECT id AS dataset, title, publisher, source_url, licence, attribution, release_date, "
                    "regularity, latest_period, caveats FROM datasets WHERE list_contains(?, id) ORDER BY id", [ids])
    build = db.query("SELECT key, value FROM build_info")
    info = {r.key: r.value for r in build.itertuples()}
    meta["lmi_build_id"] = info.get("build_id")
    meta["lmi_built_at"] = info.get("built_at")
    return meta


def to_xlsx(df: pd.DataFrame, metadata: pd.DataFrame) -> bytes:
    """XLSX with a 'data' sheet and a 'metadata' sheet (sources, licences, attribution)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        neutralise_frame(df).to_excel(xw, sheet_name="data", index=False)
        neutralise_frame(metadata).to_excel(xw, sheet_name="metadata", index=False)
    return buf.getvalue()


def safe_filename(*parts: str, ext: str = "csv", when: date | None = None) -> str:
    """A file name that says what and when: lmi_<parts>_<yyyy-mm-dd>.<ext>, only [A-Za-z0-9._-]."""
    bits = ["lmi", *[re.sub(r"[^A-Za-z0-9]+", "-", str(p)).strip("-")[:40] for p in parts if p],
            (when or date.today()).isoformat()]
    name = "_".join(b for b in bits if b)
    return f"{name}.{re.sub(r'[^a-z0-9]', '', ext.lower()) or 'csv'}"
