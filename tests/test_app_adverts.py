"""After `python -m lmi adverts ingest` on a generated feed, the dashboard shows the ingested adverts."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lmi import queries
from lmi.db import Database

ROOT = Path(__file__).resolve().parent.parent
PRESTON = "E07000123"


@pytest.fixture(scope="module")
def ingested(snapshot_db, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("feed")
    db = base / "lmi.duckdb"
    shutil.copy(snapshot_db, db)
    feed = base / "feed.parquet"
    run = lambda *a: subprocess.run([sys.executable, "-m", "lmi", "adverts", *a], capture_output=True, text=True,
                                    cwd=ROOT)
    gen = run("generate", "--rows", "20000", "--seed", "7", "--out", str(feed), "--db", str(db))
    assert gen.returncode == 0, gen.stderr
    res = run("ingest", str(feed), "--db", str(db))
    assert res.returncode == 0, res.stderr
    assert "duplicates removed" in res.stdout.lower() or "duplicate" in res.stdout.lower()
    return db


def test_dashboard_time_series_shows_ingested_adverts(ingested, monkeypatch):
    monkeypatch.setenv("LMI_DB", str(ingested))
    db = Database(ingested)
    assert "feed_new_adverts" in set(queries.measures(db)["id"])
    want = queries.time_series(db, "feed_new_adverts", [PRESTON], ("total", "total")).dropna(subset=["value"])
    assert len(want) >= 6 and want["value"].sum() > 0
    truth = json.loads((ingested.parent / "feed.parquet.truth.json").read_text())
    assert truth  # the generator's known truth exists beside the feed (checked in detail by test_adverts_ingest)

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.query_params.update({"area": PRESTON, "measure": "feed_new_adverts", "cmp": "E92000001"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/time_series.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(e for e in at.expander if e.label.startswith("Data table")).dataframe[0].value
    got = table[table["Code"] == PRESTON].set_index("Period")["Value"].dropna()
    assert got.loc[want["period"]].tolist() == pytest.approx(want["value"].tolist())
