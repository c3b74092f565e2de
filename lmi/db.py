"""One read-only database handle; every query runs on its own cursor with bound parameters."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pandas as pd

from lmi.errors import LmiError
from lmi.paths import default_db


class Database:
    """Read-only access to a built lmi database (DuckDB connections are not thread-safe: a cursor per call)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_db()
        if not self.path.is_file():
            raise LmiError(f"database {self.path} not found: run `python -m lmi build` or pass --db PATH")
        try:
            self._con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise LmiError(f"database {self.path} cannot be opened: {exc}") from exc
        self._lock = threading.Lock()
        self.build_id = self.scalar("SELECT value FROM build_info WHERE key = 'build_id'") or "unknown"

    def query(self, sql: str, params: Sequence[Any] | dict | None = None) -> pd.DataFrame:
        """Run ``sql`` (fixed text with ``?``/``$name`` placeholders) with ``params`` bound; return a DataFrame."""
        with self._lock:
            cur = self._con.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] | dict | None = None) -> Any:
        with self._lock:
            cur = self._con.cursor()
        try:
            row = cur.execute(sql, params or []).fetchone()
            return row[0] if row else None
        finally:
            cur.close()

    def close(self) -> None:
        self._con.close()
