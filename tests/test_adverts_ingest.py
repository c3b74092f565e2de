"""Advert ingest end to end: truth recovery on a synthetic feed, de-duplication, active stock,
salaries, facts/measures/datasets, re-ingest, atomic swap and SourceError on bad input."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lmi.adverts import geo, store
from lmi.adverts.devdb import database_for_tests
from lmi.adverts.generate import generate
from lmi.adverts.ingest import ingest
from lmi.adverts.schema import CANONICAL
from lmi.errors import SourceError
from lmi.paths import default_sources
from lmi.schema import FACT_COLUMNS


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    path = database_for_tests(tmp_path_factory.mktemp("advbase") / "lmi.duckdb", default_sources())
    if path is None:
        pytest.skip("no database with LAD boundaries: data/lmi.duckdb absent and ../shared/lmi-sources not present")
    return path


def _copy(base_db: Path, tmp_path: Path) -> Path:
    db = tmp_path / "lmi.duckdb"
    shutil.copyfile(base_db, db)
    return db


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write(path: Path, rows: list[dict], columns=CANONICAL) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns))
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})
    return path


def _advert(i, **kw) -> dict:
    row = {"advert_id": f"a{i}", "source": "board", "posted_date": "2024-01-10", "title": "Chef",
           "employer": f"Employer {i} Ltd", "latitude": "53.7997", "longitude": "-1.5491"}      # Leeds
    row.update(kw)
    return row


def _facts(db: Path, where: str = "") -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT * FROM facts WHERE dataset = 'advert_feed' {where}").df()
    finally:
        con.close()


# ---------------------------------------------------------------- synthetic feed, exact truth
@pytest.fixture(scope="module")
def synthetic(base_db, tmp_path_factory):
    d = tmp_path_factory.mktemp("advsyn")
    feed = d / "feed.parquet"
    truth = generate(30_000, 11, feed, base_db, sources_dir=default_sources())
    db = d / "lmi.duckdb"
    shutil.copyfile(base_db, db)
    report = ingest([feed], db=db, progress=False)
    return feed, truth, db, report


def test_truth_recovered_exactly(synthetic):
    feed, truth, db, report = synthetic
    f = _facts(db, "AND measure = 'feed_new_adverts' AND area_level = 'lad' AND breakdown_type = 'total'")
    got = {(r.area_code, r.period_start.strftime("%Y-%m")): int(r.value) for r in f.itertuples() if r.value > 0}
    want = {(lad, m): n for lad, months in truth["per_lad_month"].items() for m, n in months.items()}
    assert got == want
    st = report.agg.stats
    assert st["rows_total"] - st["after_rule1"] == truth["duplicates"]["exact_advert_id"]
    assert st["placed"] - st["counted"] == truth["duplicates"]["repost_or_syndication"]
    assert st["counted"] == truth["counted"]
    assert report.agg.unassigned == {k: v for k, v in truth["unassigned"].items() if v}
    # every advert is counted, removed as a duplicate or in an unassigned bucket
    assert st["counted"] + (st["rows_total"] - st["after_rule1"]) + (st["placed"] - st["counted"]) \
        + sum(report.agg.unassigned.values()) == truth["rows"]


def test_report_text_names_every_bucket(synthetic):
    from lmi.adverts.ingest import format_report

    text = format_report(synthetic[3])
    for phrase in ("rows read", "placed by coordinates", "placed by place name", "postcode lookup not available",
                   "ambiguous place name", "outside England / offshore beyond tolerance", "same advert_id within a source",
                   "same employer + title in the same LAD within 30 days", "SOC 2020 codes: supplied",
                   "left uncoded", "adverts counted"):
        assert phrase in text, phrase


def test_facts_measures_datasets(synthetic):
    _, _, db, _ = synthetic
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = [r[0] for r in con.execute("SELECT * FROM facts LIMIT 0").description]
        assert cols == list(FACT_COLUMNS)
        m = con.execute("SELECT id, aggregation, unit, topic FROM measures WHERE dataset = 'advert_feed' ORDER BY id").fetchall()
        assert m == [("feed_active_adverts", "sum", "adverts", "Vacancies and job adverts"),
                     ("feed_median_salary", "none", "£ per year", "Vacancies and job adverts"),
                     ("feed_new_adverts", "sum", "adverts", "Vacancies and job adverts")]
        ds = con.execute("SELECT topic, latest_period FROM datasets WHERE id = 'advert_feed'").fetchall()
        assert ds == [("Vacancies and job adverts", "Dec 2024")]
        types = {r[0] for r in con.execute("SELECT DISTINCT breakdown_type FROM facts WHERE measure = 'feed_new_adverts'").fetchall()}
        assert types == {"total", "soc2020_major", "soc2020_submajor", "soc2020_minor", "soc2020_unit"}
        assert con.execute("SELECT count(*) FROM facts WHERE measure = 'feed_new_adverts' AND breakdown_code = 'unknown'").fetchone()[0] > 0
        # England = sum of LADs, for every month and breakdown
        diff = con.execute("""
            SELECT count(*) FROM (
              SELECT measure, period, breakdown_type, breakdown_code, sum(value) AS s FROM facts
              WHERE dataset = 'advert_feed' AND area_level = 'lad' AND measure <> 'feed_median_salary' GROUP BY ALL) l
            FULL JOIN (SELECT measure, period, breakdown_type, breakdown_code, value AS e FROM facts
              WHERE dataset = 'advert_feed' AND area_level = 'england') e USING (measure, period, breakdown_type, breakdown_code)
            WHERE l.s IS DISTINCT FROM e.e AND e.measure <> 'feed_median_salary'""").fetchone()[0]
        assert diff == 0
        levels = {r[0] for r in con.execute("SELECT DISTINCT area_level FROM facts WHERE measure = 'feed_new_adverts'").fetchall()}
        assert {"lad", "lep", "lsip", "region", "england"} <= levels
        # each SOC level adds up to the total
        bad = con.execute("""
            SELECT count(*) FROM (SELECT area_code, period, breakdown_type, sum(value) s FROM facts
              WHERE measure = 'feed_new_adverts' AND area_level = 'lad' GROUP BY ALL) x
            JOIN (SELECT area_code, period, value t FROM facts WHERE measure = 'feed_new_adverts' AND area_level = 'lad'
              AND breakdown_type = 'total') y USING (area_code, period) WHERE x.s <> y.t""").fetchone()[0]
        assert bad == 0
        med = con.execute("SELECT min(value), max(value) FROM facts WHERE measure = 'feed_median_salary' "
                          "AND area_level = 'england' AND breakdown_type = 'total'").fetchone()
        assert 15_000 < med[0] <= med[1] < 60_000
    finally:
        con.close()


def test_rollup_matches_the_pipeline_rollup(synthetic):
    """The pipeline's rollup (used for total and major group) and the SQL sum (used for the sparse SOC
    breakdowns) give identical rows where both apply."""
    from lmi.adverts.facts import build_facts, rollup_with_lead
    from lmi.adverts.ingest import load_reference

    _, _, db, report = synthetic
    ref = load_reference(db)
    sql_only = build_facts(report.agg, ref.soc, ref.lads, ref.membership, use_pipeline_rollup=False).to_pandas()
    sel = sql_only["measure"].eq("feed_new_adverts") & sql_only["breakdown_type"].isin(["total", "soc2020_major"])
    lad = sql_only[sel & sql_only["area_level"].eq("lad")]
    mine = sql_only[sel & sql_only["area_level"].isin(["lep", "lsip", "ca", "region", "england"])]
    lead = rollup_with_lead(lad, ref.membership)
    lead = lead[lead["area_level"].isin(["lep", "lsip", "ca", "region", "england"])]
    key = ["area_code", "period", "breakdown_code"]
    a = mine.set_index(key).sort_index()
    b = lead.set_index(key).sort_index()
    assert a.index.equals(b.index)
    assert (a["value"].to_numpy() == b["value"].astype(float).to_numpy()).all()
    assert (a["status"] == b["status"]).all() and (a["derivation"] == b["derivation"]).all()
    assert (a["n_contributing"].astype(int) == b["n_contributing"].astype(int)).all()
    assert (a["n_missing"].astype(int) == b["n_missing"].astype(int)).all()
    # and the database holds the pipeline's rows for these breakdowns
    stored = _facts(db, "AND measure = 'feed_new_adverts' AND area_level = 'england' AND breakdown_type = 'total'")
    assert stored["derivation"].eq("summed").all() and stored["status"].eq("ok").all()


def test_reingest_same_file_does_not_double_count(synthetic, tmp_path):
    feed, truth, db, _ = synthetic
    db2 = tmp_path / "again.duckdb"
    shutil.copyfile(db, db2)
    shutil.copytree(store.sidecar_dir(db), store.sidecar_dir(db2))
    before = _facts(db2).sort_values(["measure", "area_code", "period", "breakdown_type", "breakdown_code"]).reset_index(drop=True)
    report = ingest([feed], db=db2, progress=False)
    after = _facts(db2).sort_values(["measure", "area_code", "period", "breakdown_type", "breakdown_code"]).reset_index(drop=True)
    assert report.agg.stats["counted"] == truth["counted"]
    assert len(list((store.sidecar_dir(db2) / "parts").glob("*.parquet"))) == 1
    pd.testing.assert_frame_equal(before, after)
    assert (store.sidecar_dir(db2) / ".gitignore").read_text().strip().endswith("*")


def test_csv_and_parquet_give_the_same_counts(synthetic, base_db, tmp_path):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    feed, truth, _, _ = synthetic
    csv_feed = tmp_path / "feed.csv"
    pacsv.write_csv(pq.read_table(feed), csv_feed)
    db = _copy(base_db, tmp_path)
    report = ingest([csv_feed], db=db, progress=False)
    assert report.agg.stats["counted"] == truth["counted"]
    assert report.agg.unassigned == {k: v for k, v in truth["unassigned"].items() if v}


# ---------------------------------------------------------------- hand-made feeds
def test_dedupe_rules_and_window(base_db, tmp_path):
    rows = [
        _advert(1), _advert(1),                                        # exact duplicate id, same source
        _advert(1, source="other"),                                   # same id, other source: not rule 1 ...
        _advert(2, employer="Employer 1 Ltd", posted_date="2024-01-20"),  # ... rule 2 (repost 10 days later)
        _advert(3, employer="Employer 1 Limited", posted_date="2024-02-15", title="CHEF"),  # chain: 26 days after a2
        _advert(4, employer="Employer 1 Ltd", posted_date="2024-04-01"),  # > 30 days after: new advert
        _advert(5, employer="Employer 1 Ltd", latitude="53.4774", longitude="-2.2309"),  # same but Manchester
        _advert(6, employer="Employer 6", title="Sous Chef"),             # different title
        _advert(7, employer=""), _advert(8, employer=""),                 # no employer: never merged
    ]
    feed = _write(tmp_path / "d.csv", rows)
    db = _copy(base_db, tmp_path)
    st = ingest([feed], db=db, progress=False).agg.stats
    assert st["rows_total"] - st["after_rule1"] == 1
    assert st["placed"] - st["counted"] == 3                  # a1(other), a2, a3 merged into a1
    assert st["counted"] == 6
    st5 = ingest([feed], db=db, progress=False, window_days=5).agg.stats
    assert st5["counted"] == 9 - 1                             # only the exact duplicate goes (a1-other is 0 days)
    assert st5["placed"] - st5["counted"] == 1


def test_active_stock_and_salary(base_db, tmp_path):
    rows = [
        _advert(1, posted_date="2024-01-10", closing_date="2024-03-05", salary_min="12.50", salary_period="hourly"),
        _advert(2, posted_date="2024-01-20", salary_min="30000", salary_max="34000", salary_period="per annum"),
        _advert(3, posted_date="2024-02-29", closing_date="2024-02-29", salary_min="£2,000", salary_period="monthly"),
        _advert(4, posted_date="2024-03-31", closing_date="2024-04-30", salary_min="500", salary_period="weekly"),
        _advert(5, posted_date="2024-03-01", salary_min="150", salary_period="daily"),
        _advert(6, posted_date="2024-03-02", salary_min="28000"),      # no period, >= 10,000: annual
        _advert(7, posted_date="2024-03-03", salary_min="9.5"),        # no period, small: not used
    ]
    db = _copy(base_db, tmp_path)
    report = ingest([_write(tmp_path / "a.csv", rows)], db=db, progress=False)
    assert report.run.salary["assumed annual"] == 1 and report.run.salary["no period"] == 1
    f = _facts(db, "AND area_code = 'E08000035' AND breakdown_type = 'total'")
    act = dict(zip(f[f.measure == "feed_active_adverts"].period, f[f.measure == "feed_active_adverts"].value))
    # Jan 31: a1, a2 (open to 19 Feb) -> 2; Feb 29: a1, a3 (closes that day) -> 2; Mar 31: a4, a5 (to 31 Mar), a6, a7 -> 4
    assert act == {"Jan 2024": 2, "Feb 2024": 2, "Mar 2024": 4}
    new = dict(zip(f[f.measure == "feed_new_adverts"].period, f[f.measure == "feed_new_adverts"].value))
    assert new == {"Jan 2024": 2, "Feb 2024": 1, "Mar 2024": 4}
    med = dict(zip(f[f.measure == "feed_median_salary"].period, f[f.measure == "feed_median_salary"].value))
    # Jan: 12.5 x 1950 = 24,375 and 32,000 -> 28,187.5; Feb: 2,000 x 12; Mar: 26,000, 39,000, 28,000 -> 28,000
    assert med == {"Jan 2024": 28187.5, "Feb 2024": 24000.0, "Mar 2024": 28000.0}
    st = f[f.measure == "feed_median_salary"].status.unique().tolist()
    assert st == ["unreliable"]                                   # fewer than 5 salaries each month


def test_place_and_unassigned_buckets(base_db, tmp_path):
    rows = [
        _advert(1, latitude="", longitude="", location="Leeds"),
        _advert(2, latitude="", longitude="", location="Abbey"),
        _advert(3, latitude="", longitude="", postcode="LS1 4AP"),
        _advert(4, latitude="", longitude=""),
        _advert(5, latitude="50.8150", longitude="-0.1353"),              # Brighton pier head
        _advert(6, latitude="52.75", longitude="2.05"),                   # North Sea
        _advert(7, latitude="", longitude="", location="Glasgow"),
    ]
    db = _copy(base_db, tmp_path)
    r = ingest([_write(tmp_path / "p.csv", rows)], db=db, progress=False)
    assert r.run.placed["place name"] == 1 and r.run.placed["coordinates"] == 0
    assert r.run.placed["coordinates (coastal tolerance)"] == 1
    assert r.agg.unassigned == {geo.REASON_AMBIGUOUS: 1, geo.REASON_POSTCODE: 1, geo.REASON_NO_LOCATION: 1,
                                geo.REASON_OFFSHORE: 1, geo.REASON_UNKNOWN_PLACE: 1}


def test_mapping_file(base_db, tmp_path):
    feed = tmp_path / "f.csv"
    feed.write_text("Job Ref;Job Title;Date Posted;Lat;Lng;Company\nX1;Chef;10/01/2024;53.7997;-1.5491;Acme\n"
                    "X2;Welder;11/01/2024;53.7997;-1.5491;Acme\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  advert_id: Job Ref\n  title: Job Title\n  posted_date: Date Posted\n"
                       "  latitude: Lat\n  longitude: Lng\n  employer: Company\nconstants:\n  source: acme_feed\n"
                       "date_format: '%d/%m/%Y'\ncsv:\n  delimiter: ';'\n")
    db = _copy(base_db, tmp_path)
    r = ingest([feed], db=db, mapping=mapping, progress=False)
    assert r.agg.stats["counted"] == 2 and r.agg.first_month == "2024-01-01"
    assert r.agg.soc == {"exact": 2}


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("change,column,row,needle", [
    ({"posted_date": "31/01/2024"}, "posted_date", 3, "31/01/2024"),
    ({"latitude": "north"}, "latitude", 3, "north"),
    ({"longitude": ""}, "latitude", 3, None),
    ({"latitude": "95", "longitude": "1"}, "latitude", 3, "95"),
    ({"soc2020": "9999"}, "soc2020", 3, "9999"),
    ({"soc2020": "21"}, "soc2020", 3, "21"),
    ({"salary_min": "lots"}, "salary_min", 3, "lots"),
    ({"salary_min": "100", "salary_period": "fortnightly"}, "salary_period", 3, "fortnightly"),
    ({"salary_min": "30000", "salary_max": "20000"}, "salary_max", 3, None),
    ({"closing_date": "2024-01-01"}, "closing_date", 3, "2024-01-01"),
    ({"title": ""}, "title", 3, None),
    ({"title": "   "}, "title", 3, None),
    ({"advert_id": ""}, "advert_id", 3, None),
])
def test_bad_values_raise_source_error(base_db, tmp_path, change, column, row, needle):
    db = _copy(base_db, tmp_path)
    before = _sha(db)
    feed = _write(tmp_path / "bad.csv", [_advert(1), _advert(2, **change), _advert(3)])
    with pytest.raises(SourceError) as e:
        ingest([feed], db=db, progress=False)
    err = e.value
    assert err.row == row and err.column == column and "bad.csv" in err.file and err.expected
    if needle:
        assert needle in str(err)
    assert _sha(db) == before                                      # database untouched
    assert not list((store.sidecar_dir(db) / "parts").glob("*.parquet"))


def test_missing_column_and_mapping_errors(base_db, tmp_path):
    db = _copy(base_db, tmp_path)
    feed = _write(tmp_path / "nocol.csv", [{"advert_id": "a", "title": "Chef"}], columns=["advert_id", "title"])
    with pytest.raises(SourceError) as e:
        ingest([feed], db=db, progress=False)
    assert e.value.row == 1 and e.value.column == "posted_date"
    m = tmp_path / "m.yaml"
    m.write_text("columns:\n  advert_id: ref\n  job_title: title\n")
    with pytest.raises(SourceError) as e:
        ingest([feed], db=db, mapping=m, progress=False)
    assert e.value.column == "job_title" and e.value.row == 3 and "m.yaml" in e.value.file
    m.write_text("columns:\n  posted_date: created\n")
    with pytest.raises(SourceError) as e:
        ingest([feed], db=db, mapping=m, progress=False)
    assert e.value.column == "created" and e.value.row == 1
    m.write_text("columns:\n  posted_date: title\n  title: advert_id\n")
    bad = _write(tmp_path / "m2.csv", [{"advert_id": "a", "title": "not a date"}], columns=["advert_id", "title"])
    with pytest.raises(SourceError) as e:
        ingest([bad], db=db, mapping=m, progress=False)
    assert e.value.column == "title" and e.value.row == 2            # the feed's own column name


def test_failure_after_cleaning_keeps_old_database(base_db, tmp_path, monkeypatch):
    db = _copy(base_db, tmp_path)
    ingest([_write(tmp_path / "ok.csv", [_advert(1)])], db=db, progress=False)
    before = _sha(db)
    from lmi.adverts import ingest as ingest_mod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_mod, "build_facts", boom)
    with pytest.raises(RuntimeError):
        ingest([_write(tmp_path / "more.csv", [_advert(2)])], db=db, progress=False)
    assert _sha(db) == before
    assert not list(tmp_path.glob("*.adverts-tmp-*"))


def test_truth_file_written(synthetic):
    feed = synthetic[0]
    truth = json.loads(Path(str(feed) + ".truth.json").read_text())
    assert truth["rows"] == 30_000 and truth["duplicates"]["total"] > 0 and truth["unassigned_total"] > 0
    assert truth["population_source"].startswith(("database facts", "ons_mye"))


def test_cli_generate_and_ingest(base_db, tmp_path, capsys):
    from lmi.adverts.cli import main

    db = _copy(base_db, tmp_path)
    out = tmp_path / "cli.csv"
    assert main(["generate", "--rows", "3000", "--seed", "4", "--out", str(out), "--db", str(db)]) == 0
    truth = json.loads(Path(str(out) + ".truth.json").read_text())
    assert main(["ingest", str(out), "--db", str(db), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"adverts counted: {truth['counted']:,}" in text
    bad = _write(tmp_path / "bad.csv", [_advert(1, latitude="north")])
    assert main(["ingest", str(bad), "--db", str(db), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "bad.csv" in err and "row 2" in err and "'latitude'" in err and "expected" in err


def test_lmi_cli_wiring():
    cli = pytest.importorskip("lmi.cli")
    parser = cli.make_parser()
    args = parser.parse_args(["adverts", "generate", "--rows", "10", "--out", "x.parquet"])
    assert args.adverts_command == "generate" and args.rows == 10
