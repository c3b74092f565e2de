"""Shared fixtures: the official sources folder (skips clearly when absent) and one built database."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from lmi.paths import DEFAULT_DB, default_sources

warnings.filterwarnings("ignore", module="openpyxl")
SKIP_REASON = "official sources folder ../shared/lmi-sources not present (set LMI_SOURCES to run these tests)"


@pytest.fixture(scope="session")
def sources_dir() -> Path:
    src = default_sources()
    if src is None or not Path(src).is_dir():
        pytest.skip(SKIP_REASON)
    return Path(src)


@pytest.fixture(scope="session")
def ctx(sources_dir: Path):
    """A staging context over the official sources with the real geography resolver."""
    from lmi.formats.base import StageContext
    from lmi.geography.spine import load_resolver

    return StageContext(sources_dir, load_resolver(sources_dir))


@pytest.fixture(scope="session")
def built_db(sources_dir: Path, tmp_path_factory) -> Path:
    """A database built from the official files by the code under test (once per session)."""
    from lmi.pipeline.build import build

    out = tmp_path_factory.mktemp("built") / "lmi.duckdb"
    build(sources_dir, out)
    return out


@pytest.fixture(scope="session")
def snapshot_db() -> Path:
    """The committed snapshot (the embedded default data)."""
    assert DEFAULT_DB.is_file(), "the committed snapshot data/lmi.duckdb is missing"
    return DEFAULT_DB
