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
import shutil
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


INSERT_FACTS = "INSERT INTO facts BY NAME SELECT * FROM _df"
INSERT_MEASURES = "INSERT INTO measures BY NAME SELECT * FROM _df"
INSERT_DATASETS = "INSERT INTO datasets BY NAME SELECT * FROM _df"


def swap_in(db: Path, facts, measures: pd.DataFrame, dataset: pd.DataFrame,
            note: str) -> None:
    """Copy ``db`` to a temporary file with the advert_feed rows replaced, then os.replace it."""
    db = Path(db)
    if not db.is_file():
        raise LmiError(f"database {db} not found: build it first (python -m lmi build) or pass --db PATH")
    tmp = db.with_name(f"{db.name}.adverts-tmp-{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    shutil.copyfile(db, tmp)  # the swap works on a copy; the original is untouched until os.replace
    con = duckdb.connect(str(tmp))  # path passed as a value, never formatted into SQL
    try:
        tables = set(con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").df()["table_name"])
        for t in ("facts", "measures", "datasets", "build_info"):
            if t not in tables:
                raise LmiError(f"database {db} has no table {t!r}: it is not an lmi database")
        # fixed statements: replace this dataset's rows
        con.execute("DELETE FROM facts WHERE dataset = ?", [DATASET_ID])
        con.execute("DELETE FROM measures WHERE dataset = ?", [DATASET_ID])
        con.execute("DELETE FROM datasets WHERE id = ?", [DATASET_ID])
        for sql, df in ((INSERT_FACTS, facts), (INSERT_MEASURES, measures), (INSERT_DATASETS, dataset)):
            frame = df.to_pandas() if hasattr(df, "to_pandas") else df
            table = sql.split()[2]
            keep = [c for c in _table_columns(con, table) if c in frame.columns]
            con.register("_df", frame[keep])
            con.execute(sql)
            con.unregister("_df")
        old_id = con.execute("SELECT value FROM build_info WHERE key = 'build_id'").fetchone()
        base = (old_id[0] if old_id else "unknown").split("+adverts-")[0]
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        new_id = base + "+adverts-" + hashlib.blake2b(f"{note}{stamp}".encode(), digest_size=4).hexdigest()
        n = con.execute("SELECT count(*) FROM facts").fetchone()[0]
        con.execute("UPDATE build_info SET value = ? WHERE key = 'facts_rows'", [str(n)])
        con.execute("DELETE FROM build_info WHERE key IN ('build_id', 'adverts_ingested_at', 'adverts_note')")
        con.execute("INSERT INTO build_info VALUES ('build_id', ?), ('adverts_ingested_at', ?), ('adverts_note', ?)",
                    [new_id, stamp, note])
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        if tmp.exists():
            tmp.unlink()
        raise
    con.close()
    os.replace(tmp, db)
