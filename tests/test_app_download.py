"""AppTest: the download page neutralises spreadsheet formulas in a crafted database (CSV and XLSX)."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from lmi import export, queries
from lmi.db import Database

ROOT = Path(__file__).resolve().parent.parent
BARNSLEY = "E08000016"
CRAFTED = {
    "area_name": '=HYPERLINK("http://example.invalid/x","Barnsley")',
    "status_reason": "+cmd|' /C calc'!A0",
    "licence": "@SUM(1+1)*cmd|' /C calc'!A0",
    "title": "-2+3",
    "tab": "\t=1+1",
}


@pytest.fixture()
def crafted_db(tmp_path, snapshot_db, monkeypatch) -> Path:
    path = tmp_path / "crafted.duckdb"
    shutil.copyfile(snapshot_db, path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE geo_areas SET area_name = ? WHERE area_code = ? AND area_level = 'lad'",
                [CRAFTED["area_name"], BARNSLEY])
    con.execute("UPDATE facts SET status = 'suppressed', status_reason = ? WHERE area_code = ? "
                "AND measure = 'els_claimant_count' AND period = '2024'", [CRAFTED["status_reason"], BARNSLEY])
    con.execute("UPDATE datasets SET licence = ?, title = ? WHERE id = "
                "(SELECT dataset FROM measures WHERE id = 'els_claimant_count')", [CRAFTED["licence"], CRAFTED["title"]])
    con.execute("UPDATE measures SET label = ? WHERE id = 'els_claimant_count'", [CRAFTED["tab"]])
    con.execute("UPDATE build_info SET value = 'crafted-' || value WHERE key = 'build_id'")
    con.close()
    monkeypatch.setenv("LMI_DB", str(path))
    return path


def test_download_neutralises_formulas_in_crafted_values(crafted_db, monkeypatch):
    from streamlit.runtime.media_file_manager import MediaFileManager

    files: dict[str, object] = {}
    orig = MediaFileManager.add_deferred

    def add_deferred(self, fn, mimetype, coordinates, file_name=None, **kw):
        files[file_name] = fn
        return orig(self, fn, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.query_params.update({"area": BARNSLEY, "measure": "els_claimant_count", "period": "2024", "cmp": ""})
    at.run()
    at.switch_page("pages/download.py").run()
    assert not at.exception, [e.value for e in at.exception]
    preview = at.dataframe[0].value
    assert preview["area_name"].tolist() == [CRAFTED["area_name"]]      # preview shows the raw text

    raw = next(v for n, v in files.items() if n.endswith(".csv"))()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1
    row = rows[0]
    assert row["area_name"] == "'" + CRAFTED["area_name"]
    assert row["status"] == "suppressed (" + CRAFTED["status_reason"] + ")"  # does not start with a trigger
    assert row["licence"] == "'" + CRAFTED["licence"]
    assert row["measure_label"] == "'" + CRAFTED["tab"]
    for cell in row.values():
        assert not cell.startswith(export.DANGEROUS_PREFIXES), cell
    # identical to what the CLI would write for the same selection
    want = export.to_csv(queries.export_rows(Database(crafted_db), measures=["els_claimant_count"], areas=[BARNSLEY],
                                             period="2024"))
    assert raw == want

    book = openpyxl.load_workbook(io.BytesIO(next(v for n, v in files.items() if n.endswith(".xlsx"))()))
    data = book["data"]
    header = [c.value for c in data[1]]
    values = dict(zip(header, [c.value for c in data[2]]))
    assert values["area_name"] == "'" + CRAFTED["area_name"] and data.cell(2, header.index("area_name") + 1).data_type == "s"
    meta = book["metadata"]
    mh = [c.value for c in meta[1]]
    mrow = dict(zip(mh, [c.value for c in meta[2]]))
    assert mrow["title"] == "'" + CRAFTED["title"] and mrow["licence"] == "'" + CRAFTED["licence"]
    for ws in (data, meta):
        for r in ws.iter_rows(min_row=2, values_only=True):
            for v in r:
                assert not (isinstance(v, str) and v.startswith(export.DANGEROUS_PREFIXES)), v
