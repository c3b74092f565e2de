"""The sidecar of cleaned adverts beside the database, and the atomic database swap.

``<db>.adverts/`` holds ``parts/<file_id>.parquet`` (one per ingested feed file, ``file_id`` = a hash
of the file's bytes, so re-ingesting the same file replaces its part instead of adding to it),
``manifest.json`` and a ``.gitignore`` that ignores the whole folder. The ``advert_feed`` rows of the
database are always recomputed from every part. The new database is written to a temporary file
beside the old one and moved over it with ``os.replace`` only when complete.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from lmi.adverts.facts import DATASET_ID
from lmi.errors import LmiError


def sidecar_dir(db: Path) -> Path:
    return Path(str(db) + ".adverts")


def ensure_sidecar(db: Path) -> Path:
    d = sidecar_dir(db)
    (d / "parts").mkdir(parents=True, exist_ok=True)
    gi = d / ".gitignore"
    if not gi.exists():
        gi.write_text("# cleaned advert-level data: kept out of git (see docs/adverts.md)\n*\n")
    return d


def file_id(path: Path, chunk: int = 1 << 22) -> str:
    """Content hash of a feed file (blake2b, 16 hex digits)."""
    h = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def read_manifest(d: Path) -> dict:
    p = d / "manifest.json"
    if p.exists():
        return json.loads(p.read_text())
    return {}


def write_manifest(d: Path, manifest: dict) -> None:
    tmp = d / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, d / "manifest.json")


def parts_glob(d: Path) -> str:
    return str(d / "parts" / "*.parquet")


def has_parts(d: Path) -> bool:
    return any((d / "parts").glob("*.parquet"))


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return list(con.table(table).columns)  # relation API: no SQL text


def swap_in(db: Path, facts, measures: pd.DataFrame, dataset: pd.DataFrame,
            note: str) -> None:
    """Copy ``db`` to a temporary file with the advert_feed rows replaced, then os.replace it."""
    db = Path(db)
    if not db.is_file():
        raise LmiError(f"database {db} not found: build it first (python -m lmi build) or pass --db PATH")
    tmp = db.with_name(f"{db.name}.adverts-tmp-{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{db}' AS old (READ_ONLY)")
        con.execute(f"ATTACH '{tmp}' AS new")
        con.execute("COPY FROM DATABASE old TO new (SCHEMA)")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'old' AND schema_name = 'main'").fetchall()]
        for t in ("facts", "measures", "datasets", "build_info"):
            if t not in tables:
                raise LmiError(f"database {db} has no table {t!r}: it is not an lmi database")
        filters = {"facts": "dataset <> ?", "measures": "dataset <> ?", "datasets": "id <> ?"}
        for t in tables:
            if t in filters:
                con.execute(f"INSERT INTO new.main.{t} SELECT * FROM old.main.{t} WHERE {filters[t]}", [DATASET_ID])
            else:
                con.execute(f"INSERT INTO new.main.{t} SELECT * FROM old.main.{t}")
        for t, df in (("facts", facts), ("measures", measures), ("datasets", dataset)):
            names = df.column_names if hasattr(df, "column_names") else list(df.columns)
            keep = [c for c in _table_columns(con, f"new.main.{t}") if c in names]
            con.register("_df", df)
            con.execute(f"INSERT INTO new.main.{t} ({', '.join(keep)}) SELECT {', '.join(keep)} FROM _df")
            con.unregister("_df")
        old_id = con.execute("SELECT value FROM old.main.build_info WHERE key = 'build_id'").fetchone()
        base = (old_id[0] if old_id else "unknown").split("+adverts-")[0]
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        new_id = base + "+adverts-" + hashlib.blake2b(f"{note}{stamp}".encode(), digest_size=4).hexdigest()
        if con.execute("SELECT count(*) FROM new.main.build_info WHERE key = 'facts_rows'").fetchone()[0]:
            n = con.execute("SELECT count(*) FROM new.main.facts").fetchone()[0]
            con.execute("UPDATE new.main.build_info SET value = ? WHERE key = 'facts_rows'", [str(n)])
        con.execute("DELETE FROM new.main.build_info WHERE key IN ('build_id', 'adverts_ingested_at', 'adverts_note')")
        con.execute("INSERT INTO new.main.build_info VALUES ('build_id', ?), ('adverts_ingested_at', ?), ('adverts_note', ?)",
                    [new_id, stamp, note])
        con.execute("DETACH new")
        con.execute("DETACH old")
    except BaseException:
        con.close()
        if tmp.exists():
            tmp.unlink()
        raise
    con.close()
    os.replace(tmp, db)
