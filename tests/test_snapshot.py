"""The committed snapshot: small, attributed, and reproduced exactly by a build from the official files."""
from __future__ import annotations

import duckdb

from lmi.paths import DEFAULT_DB

KEY = "measure, area_code, period, breakdown_type, breakdown_code"


def test_snapshot_is_small_and_every_dataset_carries_licence_and_attribution(snapshot_db):
    assert snapshot_db.stat().st_size <= 25 * 1024 * 1024
    con = duckdb.connect(str(snapshot_db), read_only=True)
    try:
        rows = con.execute("SELECT id, licence, attribution, source_url FROM datasets").fetchall()
        assert len(rows) >= 20
        for ds, lic, attr, url in rows:
            assert lic and attr and url, ds
        geo = con.execute("SELECT attribution FROM datasets WHERE id = 'ons_geography'").fetchone()[0]
        assert "Source: Office for National Statistics licensed under the Open Government Licence v.3.0" in geo
        assert "Contains OS data © Crown copyright and database right" in geo and "2023" in geo
        si = con.execute("SELECT licence FROM datasets WHERE id = 'skills_imperative_2035'").fetchone()[0]
        assert "Warwick" in si and "Not Open Government Licence" in si
        assert con.execute("SELECT count(*) FROM lad_boundaries").fetchone()[0] == 296
    finally:
        con.close()


def test_build_from_the_official_files_reproduces_the_snapshot(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    try:
        con.execute(f"ATTACH '{DEFAULT_DB}' AS snap (READ_ONLY)")  # path is the project's own constant
        new = con.execute("SELECT count(*) FROM facts").fetchone()[0]
        old = con.execute("SELECT count(*) FROM snap.facts WHERE dataset <> 'advert_feed'").fetchone()[0]
        assert new == old
        diff = con.execute(f"""
            SELECT count(*) FROM facts n FULL JOIN (SELECT * FROM snap.facts WHERE dataset <> 'advert_feed') o
              USING ({KEY})
            WHERE n.measure IS NULL OR o.dataset IS NULL OR n.status <> o.status
               OR NOT ((n.value IS NULL AND o.value IS NULL) OR abs(n.value - o.value) <= 1e-9 * greatest(1, abs(o.value)))
        """).fetchone()[0]
        assert diff == 0
    finally:
        con.close()
