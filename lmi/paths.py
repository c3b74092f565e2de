"""Default locations of the snapshot database and the official source folder."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_DB = DATA_DIR / "lmi.duckdb"
CLUSTERS_FILE = DATA_DIR / "career_clusters.yaml"


def default_db() -> Path:
    """The database the app and CLI open: ``$LMI_DB`` if set, else the committed snapshot."""
    env = os.environ.get("LMI_DB")
    return Path(env) if env else DEFAULT_DB


def default_sources() -> Path | None:
    """``$LMI_SOURCES``, else ``../shared/lmi-sources`` beside the checkout, else None."""
    env = os.environ.get("LMI_SOURCES")
    if env:
        return Path(env)
    for candidate in (PROJECT_ROOT.parent / "shared" / "lmi-sources",):
        if candidate.is_dir():
            return candidate
    return None
