"""Bad input, property-based (issue 6): mutated copies of every real source format either load or are
rejected with a SourceError naming the file, row/column where they apply, and the expected form.
Never a traceback, never a partial database.

The fast profile (CI) stages single files with the build's own staging step (format read + stage with a
StageContext and the real resolver, then the build's validation); two cases run whole builds. The
full run is ``python benchmarks/fuzz_ingest.py`` (>= 5,000 cases). Mutation engine: lmi/fuzz.py.
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lmi import fuzz
from lmi.errors import LmiError, SourceError
from lmi.formats import format_modules

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FORMATS = sorted(m.NAME for m in format_modules())
SECONDS_PER_FORMAT = float(os.environ.get("LMI_FUZZ_SECONDS", "2.5"))   # fast profile budget per format
ELS_FILE = "claimant_count/ons_els_claimant-count.csv"                     # CSV + JSON companion
MULTI_SHEET_FILE = "vacancies/referencetablesupdated.xlsx"                 # small multi-sheet workbook


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cctx(sources_dir: Path, tmp_path_factory) -> fuzz.CaseContext:
    from lmi.geography.spine import load_resolver

    return fuzz.CaseContext.create(load_resolver(sources_dir), sources_dir, tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def smallest_file(sources_dir: Path) -> dict[str, Path]:
    """The smallest official file each format detects (the fast profile fuzzes that one)."""
    out: dict[str, Path] = {}
    for p in sorted(fuzz.source_files(sources_dir), key=lambda p: p.stat().st_size):
        mod, _ = fuzz.detect(p)
        if mod is not None and mod.NAME not in out:
            out[mod.NAME] = p
    return out


_BASES: dict[str, fuzz.Base] = {}


def _base(path: Path, sources_dir: Path, cctx: fuzz.CaseContext) -> fuzz.Base:
    key = str(path)
    if key not in _BASES:
        # no sheet pruning in the fast profile (it costs several stagings); rows are still shrunk
        _BASES[key] = fuzz.prepare_base(path, sources_dir, cctx, prune_sheets=False)
    return _BASES[key]


def _explain(out: fuzz.Outcome) -> str:
    return f"{out.summary()}\n{out.detail}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_files_load_or_are_rejected_with_a_message(fmt: str, sources_dir: Path, smallest_file, cctx) -> None:
    """Hypothesis draws the mutation kind, its targets and payloads (1-3 stacked) for each format's file."""
    if fmt not in smallest_file:
        pytest.fail(f"format {fmt} detects none of the official files under {sources_dir}")
    base = _base(smallest_file[fmt], sources_dir, cctx)
    assert base.facts is not None and len(base.facts) >= 0  # the unmutated copy staged cleanly (else prepare raised)
    n = int(os.environ.get("LMI_FUZZ_EXAMPLES", "0")) or max(3, min(15, round(SECONDS_PER_FORMAT / max(base.seconds, 0.05))))
    seen: list[str] = []

    @settings(max_examples=n, deadline=None, derandomize=CI, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data) -> None:
        ch = fuzz.DrawChooser(data)
        doc, muts = fuzz.mutate(base.doc, ch, cctx)
        out = fuzz.run_case(doc, muts, cctx, expect=base.facts)
        seen.append(out.status)
        assert out.status not in fuzz.FAILURES, _explain(out)

    check()
    assert seen, "no example ran"


@pytest.mark.parametrize("kind", sorted(fuzz.MUTATIONS))
def test_every_mutation_kind(kind: str, sources_dir: Path, cctx) -> None:
    """Each kind named in the issue, on a CSV with a JSON companion and on a multi-sheet workbook."""
    for rel in (ELS_FILE, MULTI_SHEET_FILE):
        base = _base(sources_dir / rel, sources_dir, cctx)
        for seed in (0, 1):
            doc, muts = fuzz.mutate(base.doc, random.Random(f"{kind}-{seed}"), cctx, kind=kind)
            out = fuzz.run_case(doc, muts, cctx, expect=base.facts)
            assert out.status not in fuzz.FAILURES, _explain(out)


def test_targeted_mutations_are_rejected_with_file_row_column_and_expected(sources_dir: Path, cctx) -> None:
    """Oracles that must hold for the ELS CSV: these edits must be rejected, naming row and column."""
    base = _base(sources_dir / ELS_FILE, sources_dir, cctx)
    rows = base.doc.sheets[0][1]
    header = rows[0]
    obs, code = header.index("observation"), header.index("areacd")
    lad_row = next(i for i, r in enumerate(rows) if i and r[code].startswith("E06") and r[obs].strip())
    cases = {
        "text in a number": (lad_row, obs, "twelve"),
        "unknown LAD code": (lad_row, code, "E06999999"),
        "unexpected marker": (lad_row, obs, "[c]"),
    }
    for what, (i, j, v) in cases.items():
        doc = base.doc.copy()
        doc.sheets[0][1][i][j] = v
        out = fuzz.run_case(doc, [what], cctx)
        assert out.status == "rejected", f"{what}: {_explain(out)}"
        assert out.has_row and out.has_column, f"{what}: {out.message}"
        assert f"row {i + 1}" in out.message and header[j] in out.message, out.message
        assert "expected" in out.message, out.message
    doc = base.doc.copy()
    doc.sheets[0][1].append(list(rows[lad_row]))
    out = fuzz.run_case(doc, ["duplicate row"], cctx)
    assert out.status == "rejected" and out.has_row, _explain(out)
    doc = base.doc.copy()
    for r in doc.sheets[0][1]:
        del r[obs]
    out = fuzz.run_case(doc, ["drop observation"], cctx)
    # the header no longer matches ELS, so the file is no longer this format: not recognised is correct
    assert out.status in ("rejected", "not_recognised"), _explain(out)


# --- whole builds: a bad file fails the build with a message and leaves the previous database untouched

def _mini_sources(sources_dir: Path, dest: Path) -> Path:
    """Symlinks to the geography and lookup references (what every build needs)."""
    for sub in ("geography", "lookups"):
        (dest / sub).mkdir(parents=True)
        for p in sorted((sources_dir / sub).iterdir()):
            if p.is_file():
                (dest / sub / p.name).symlink_to(p.resolve())
    return dest


@pytest.fixture()
def previous_db(tmp_path: Path, snapshot_db: Path) -> Path:
    out = tmp_path / "out" / "lmi.duckdb"
    out.parent.mkdir()
    shutil.copyfile(snapshot_db, out)
    return out


def test_whole_build_with_text_in_a_number_fails_cleanly(sources_dir: Path, tmp_path: Path, previous_db: Path,
                                                          cctx) -> None:
    from lmi.pipeline.build import build

    src = _mini_sources(sources_dir, tmp_path / "src")
    base = _base(sources_dir / ELS_FILE, sources_dir, cctx)
    doc = base.doc.copy()
    rows = doc.sheets[0][1]
    obs, code = rows[0].index("observation"), rows[0].index("areacd")
    i = next(i for i, r in enumerate(rows) if i and r[code].startswith("E0") and r[obs].strip())
    rows[i][obs] = "n/k"
    doc.write(src / "claimant_count")
    before = _sha(previous_db)
    with pytest.raises(SourceError) as err:
        build(src, previous_db)
    e = err.value
    assert e.file.endswith("ons_els_claimant-count.csv") and e.row == i + 1 and e.column == "observation", str(e)
    assert e.expected, str(e)
    assert _sha(previous_db) == before
    assert sorted(p.name for p in previous_db.parent.iterdir()) == ["lmi.duckdb"], "temporary build file left behind"


def test_whole_build_cli_with_unparseable_csv_reports_error_not_traceback(sources_dir: Path, tmp_path: Path,
                                                                          previous_db: Path, cctx) -> None:
    """A CSV the parser cannot tokenise (a row with extra fields inside a quoted-field mess) through the CLI."""
    src = _mini_sources(sources_dir, tmp_path / "src")
    base = _base(sources_dir / ELS_FILE, sources_dir, cctx)
    doc = base.doc.copy()
    doc.sheets[0][1][7] = doc.sheets[0][1][7] + ["extra", "fields", "here"]
    doc.write(src / "claimant_count")
    before = _sha(previous_db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "lmi", "build", "--quiet", "--sources", str(src), "--out", str(previous_db)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "ons_els_claimant-count.csv" in r.stderr and "expected" in r.stderr, r.stderr[-2000:]
    assert _sha(previous_db) == before
    assert sorted(p.name for p in previous_db.parent.iterdir()) == ["lmi.duckdb"], "temporary build file left behind"


def test_error_classification_is_strict(tmp_path: Path) -> None:
    """The classifier itself: what counts as a crash or a poor message (so the suite can fail)."""
    p = tmp_path / "x.csv"
    assert fuzz.classify_error(KeyError("a"), p)[0] == "crashed"
    assert fuzz.classify_error(LmiError("something"), p)[0] == "poor_message"
    assert fuzz.classify_error(SourceError("other.csv", "bad", expected="e"), p)[0] == "poor_message"
    assert fuzz.classify_error(SourceError("d/x.csv", "bad"), p)[0] == "poor_message"
    assert fuzz.classify_error(SourceError("d/x.csv", "bad", row=2, column="a", expected="e"), p)[0] == "rejected"
    assert fuzz.is_neutral(["blank_rows: 1 blank (empty) rows before row 3 of csv"])
    assert not fuzz.is_neutral(["drop_column: drop column 1 of csv"])
