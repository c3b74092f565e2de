"""The build: atomic swap, errors naming file/row/column, and new ELS indicator files picked up."""
from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lmi.errors import SourceError
from lmi.pipeline.build import build

CORE = ["geography", "lookups"]
SMALL = ["population/ons_mye_population_tidy_2011-2024.csv",
         "claimant_count/ons_els_claimant-count.csv", "claimant_count/ons_els_claimant-count.json",
         "education/ons_els_further-education-and-skills-participation.csv",
         "education/ons_els_further-education-and-skills-participation.json",
         "population/ons_els_employment-rate-raw_APS_16-64_numerator_denominator.csv"]


def small_sources(src: Path, dest: Path, skip: tuple[str, ...] = ()) -> Path:
    """A sources folder of symlinks: geography, lookups and a few formats (fast builds)."""
    for folder in CORE:
        for f in (src / folder).iterdir():
            (dest / folder).mkdir(parents=True, exist_ok=True)
            (dest / folder / f.name).symlink_to(f)
    for rel in SMALL:
        if rel in skip:
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).symlink_to(src / rel)
    return dest


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def good(sources_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("good")
    srcs = small_sources(sources_dir, base / "src")
    db = base / "lmi.duckdb"
    build(srcs, db)
    return srcs, db


def _corrupt_csv(path: Path, dest: Path, how: str) -> int:
    """Write a corrupted copy of an ELS-style CSV; return the 1-based file row of the damage (or 1)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    col = next(header.index(c) for c in ("observation", "population", "employment_rate_denominator") if c in header)
    target = next(i for i, r in enumerate(rows) if i and r[0].startswith("E07") and r[col])
    if how == "missing_column":
        rows = [r[:col] + r[col + 1:] for r in rows]
        target = 0
    elif how == "text_in_number":
        rows[target][col] = "abc"
    elif how == "unknown_area":
        rows[target][0] = "E07999999"
    elif how == "duplicate_key":
        rows.insert(target + 1, list(rows[target]))
        target += 1
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    dest.write_text(buf.getvalue(), encoding="utf-8")
    return target + 1


@pytest.mark.parametrize("rel", ["claimant_count/ons_els_claimant-count.csv",
                                 "population/ons_mye_population_tidy_2011-2024.csv",
                                 "population/ons_els_employment-rate-raw_APS_16-64_numerator_denominator.csv"])
@pytest.mark.parametrize("how", ["missing_column", "text_in_number", "unknown_area", "duplicate_key"])
def test_corrupted_copy_fails_naming_file_row_column_and_keeps_the_old_database(good, sources_dir, tmp_path, rel, how):
    srcs, db = good
    before = sha(db)
    bad = small_sources(sources_dir, tmp_path / "src", skip=(rel,))
    (bad / rel).parent.mkdir(parents=True, exist_ok=True)
    row = _corrupt_csv(sources_dir / rel, bad / rel, how)
    with pytest.raises(SourceError) as err:
        build(bad, db)
    e = err.value
    assert Path(rel).name in e.file
    assert e.column, str(e)
    assert e.expected, str(e)
    if how != "missing_column":
        assert e.row == row, str(e)
    assert sha(db) == before
    assert not list(db.parent.glob(".lmi.duckdb.building-*"))


def test_new_els_indicator_file_is_picked_up_by_the_next_build(sources_dir, tmp_path):
    held = ("education/ons_els_further-education-and-skills-participation.csv",
            "education/ons_els_further-education-and-skills-participation.json")
    srcs = small_sources(sources_dir, tmp_path / "src", skip=held)
    db = tmp_path / "lmi.duckdb"
    build(srcs, db)
    measure = "els_further_education_and_skills_participation"
    run = lambda *a: subprocess.run([sys.executable, "-m", "lmi", *a, "--db", str(db)], capture_output=True,
                                    text=True, check=True).stdout
    assert measure not in run("measures")
    # drop the file (with its metadata) anywhere under the sources folder: no code or config change
    drop = srcs / "new_downloads"
    drop.mkdir()
    for rel in held:
        shutil.copy(sources_dir / rel, drop / Path(rel).name)
    build(srcs, db)
    assert measure in run("measures")
    out = run("export", "--measure", measure, "--level", "lad", "--area", "E07000123", "--period", "2023/24")
    rows = list(csv.DictReader(io.StringIO(out)))
    with open(sources_dir / held[0], encoding="utf-8-sig") as fh:
        official = next(r for r in csv.DictReader(fh) if r["areacd"] == "E07000123" and r["period"].startswith("2023-08"))
    assert len(rows) == 1 and float(rows[0]["value"]) == float(official["observation"])
    assert rows[0]["licence"].startswith("Open Government Licence")
    assert rows[0]["source_url"].startswith("https://")


def test_build_cli_reports_time_rows_and_size(good, tmp_path):
    srcs, _ = good
    out = tmp_path / "cli.duckdb"
    res = subprocess.run([sys.executable, "-m", "lmi", "build", "--sources", str(srcs), "--out", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "built" in res.stdout and " s (" in res.stdout and "MB" in res.stdout
    assert "ons_els_claimant_count" in res.stdout and "total" in res.stdout
    assert "staging" in res.stderr  # progress bar


def test_export_columns_and_iso_dates(good):
    _, db = good
    res = subprocess.run([sys.executable, "-m", "lmi", "export", "--measure", "els_claimant_count", "--level", "region",
                          "--period", "2024", "--db", str(db)], capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0].keys()) == ["area_code", "area_name", "area_level", "measure", "measure_label", "period",
                                    "period_start", "period_end", "breakdown", "value", "unit", "status", "ci_lower",
                                    "ci_upper", "dataset", "source_url", "release_date", "licence"]
    assert len(rows) == 9 and rows[0]["period_start"] == "2024-01-01" and rows[0]["period_end"] == "2024-12-31"


def test_every_command_has_help():
    for cmd in ("build", "datasets", "measures", "export"):
        res = subprocess.run([sys.executable, "-m", "lmi", cmd, "--help"], capture_output=True, text=True)
        assert res.returncode == 0 and "usage" in res.stdout.lower()
