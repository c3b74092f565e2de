"""Ingest advert feed files: read -> clean -> sidecar Parquet -> de-duplicate and aggregate -> database.

``ingest(files, db)`` is what ``python -m lmi adverts ingest`` runs. See docs/adverts.md.
"""
from __future__ import annotations

import hashlib
import os
import queue
import sys
import threading
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from lmi.adverts import aggregate, geo, reader, store
from lmi.adverts import schema as S
from lmi.adverts.clean import CLEAN_SCHEMA, Cleaner, RunStats
from lmi.adverts.facts import build_facts, dataset_info, measure_infos
from lmi.adverts.soc import SocCoder
from lmi.errors import LmiError
from lmi.paths import default_db, default_sources


@dataclass
class Reference:
    """What the pipeline reads from the database once per run."""

    locator: geo.LadLocator
    places: geo.PlaceIndex
    coder: SocCoder
    soc: pd.DataFrame
    lads: list[str]
    membership: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def load_soc_table(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, str | None]:
    """The soc2020 table from the database; before the lead's build has it, from the sources folder."""
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if "soc2020" in tables:
        return con.execute("SELECT * FROM soc2020").df(), None
    src = default_sources()
    if src is None:
        raise LmiError("the database has no soc2020 table and no sources folder is available to read SOC 2020 from")
    from lmi.adverts.devdb import SOC_XLSX, _soc2020
    try:
        from lmi.formats.ons_soc2020 import load_soc2020
        return load_soc2020(src / SOC_XLSX), f"soc2020 read from {SOC_XLSX} (the database has no soc2020 table)"
    except ImportError:
        return _soc2020(src), f"soc2020 read from {SOC_XLSX} (the database has no soc2020 table)"


_CACHE: dict[tuple, object] = {}


def _cached(key: tuple, make):
    """Per-process cache of the built indexes, keyed by a hash of the tables they are built from."""
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = make()
    return _CACHE[key]


def _digest(df: pd.DataFrame) -> str:
    return str(pd.util.hash_pandas_object(df.astype(str), index=False).sum())


def load_reference(db: Path, tolerance_m: float = geo.TOLERANCE_M, threshold: float | None = None) -> Reference:
    db = Path(db)
    if not db.is_file():
        raise LmiError(f"database {db} not found: build it first (python -m lmi build) or pass --db PATH")
    con = duckdb.connect(str(db), read_only=True)
    try:
        lb = con.execute("SELECT lad_code, lad_name, geometry_wkb FROM lad_boundaries").df()
        lb["geometry_wkb"] = [bytes(b) for b in lb["geometry_wkb"]]
        lads = lb[["lad_code", "lad_name"]]
        wards = con.execute("SELECT ward_name, lad_code FROM ward_lookup").df()
        wards = wards[wards["lad_code"].isin(set(lads["lad_code"]))]
        soc, note = load_soc_table(con)
        membership = con.execute("SELECT area_level, area_code, lad_code FROM geo_membership").df()
    finally:
        con.close()
    geo_key = hashlib.sha1(b"".join(lb.sort_values("lad_code")["geometry_wkb"])).hexdigest()
    locator = _cached(("lad", geo_key, tolerance_m), lambda: geo.LadLocator.from_frame(lb, tolerance_m=tolerance_m))
    places = _cached(("places", _digest(lads), _digest(wards)), lambda: geo.PlaceIndex.from_frames(lads, wards))
    soc_key = _digest(soc[["code", "title", "related_job_titles"]])
    coder = _cached(("soc", soc_key, threshold),
                    lambda: SocCoder(soc) if threshold is None else SocCoder(soc, threshold=threshold))
    ref = Reference(locator, places, coder, soc, list(locator.codes), membership)
    if note:
        ref.notes.append(note)
    return ref


@dataclass
class IngestReport:
    db: Path
    sidecar: Path
    files: list[str]
    run: RunStats
    agg: aggregate.Aggregates
    facts_rows: int
    seconds: dict[str, float]
    window_days: int
    tolerance_m: float
    notes: list[str] = field(default_factory=list)


def _connect(memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
    return aggregate.connect(memory_limit=memory_limit, threads=threads, temp_dir=tempfile.gettempdir())


def clean_file(con: duckdb.DuckDBPyConnection, path: Path, mapping: S.Mapping, ref: Reference, out: Path,
               fid: str, progress: bool = False, batch_rows: int = reader.BATCH_ROWS,
               shown: str | None = None) -> RunStats:
    """Read, validate and clean one feed file into ``out`` (Parquet, CLEAN_SCHEMA).

    Three threads overlap the work: DuckDB reads and types the next batch and pyarrow compresses the
    previous one while Python cleans the current one (DuckDB, numpy, shapely and pyarrow release the GIL).
    """
    from tqdm import tqdm

    feed = reader.open_feed(con, path, mapping, shown=shown)
    total = pq.ParquetFile(path).metadata.num_rows if feed.kind == "parquet" else None
    cleaner = Cleaner(ref.locator, ref.places, ref.coder)
    stats = RunStats()
    bar = tqdm(total=total, unit=" adverts", unit_scale=True, desc=Path(path).name[:30], file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    q_in: queue.Queue = queue.Queue(maxsize=2)
    q_out: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for batch in reader.read_batches(con, feed, ref.coder.units, batch_rows):
                while not stop.is_set():
                    try:
                        q_in.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q_in.put(None)
        except BaseException as exc:          # handed to the main thread
            q_in.put(exc)

    def consume(writer: pq.ParquetWriter) -> None:
        while True:
            item = q_out.get()
            if item is None:
                return
            try:
                writer.write_batch(item, row_group_size=batch_rows)
            except BaseException as exc:
                errors.append(exc)
                stop.set()
                return

    writer = pq.ParquetWriter(out, CLEAN_SCHEMA, compression="lz4")
    t_in = threading.Thread(target=produce, daemon=True)
    t_out = threading.Thread(target=consume, args=(writer,), daemon=True)
    t_in.start()
    t_out.start()
    try:
        while True:
            item = q_in.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            cleaned, st = cleaner.clean(item, fid)
            q_out.put(cleaned)
            stats.add(st)
            bar.update(item.num_rows)
            if errors:
                raise errors[0]
    finally:
        stop.set()
        q_out.put(None)
        t_out.join()
        t_in.join(timeout=5)
        writer.close()
        bar.close()
    if errors:
        raise errors[0]
    return stats


def recompute(con: duckdb.DuckDBPyConnection, db: Path, ref: Reference, window_days: int, open_days: int,
              files: list[str], seconds: dict[str, float]) -> tuple[aggregate.Aggregates, int]:
    """Aggregate every sidecar part and swap the advert_feed rows into the database."""
    side = store.sidecar_dir(db)
    t = time.perf_counter()
    agg = aggregate.run_local(con, store.parts_glob(side), ref.membership, window_days=window_days, open_days=open_days)
    seconds["dedupe+aggregate"] = time.perf_counter() - t
    t = time.perf_counter()
    measures = pd.DataFrame([m.as_row() for m in measure_infos()])
    facts = build_facts(agg, ref.soc, ref.lads, ref.membership)
    latest = None
    if agg.last_month:
        from lmi.periods import month as month_period
        latest = month_period(int(agg.last_month[:4]), int(agg.last_month[5:7]))[0]
    ds = pd.DataFrame([dataset_info(latest, files).as_row()])
    seconds["facts+rollup"] = time.perf_counter() - t
    t = time.perf_counter()
    store.swap_in(db, facts, measures, ds, note=f"{agg.stats.get('counted', 0)} adverts from {len(files)} files")
    seconds["database write"] = time.perf_counter() - t
    return agg, facts.num_rows


def ingest(files: list[str | Path], db: str | Path | None = None, mapping: str | Path | None = None,
           window_days: int = aggregate.WINDOW_DAYS, open_days: int = S.DEFAULT_OPEN_DAYS,
           tolerance_m: float = geo.TOLERANCE_M, progress: bool = True, memory_limit: str = "3GB",
           threads: int = 2, batch_rows: int = reader.BATCH_ROWS, update_db: bool = True) -> IngestReport:
    """Add ``files`` to the advert sidecar of ``db`` and rebuild the advert_feed rows (see module doc).

    With ``update_db=False`` only the sidecar is written (``refresh`` then rebuilds the rows)."""
    db = Path(db) if db else default_db()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    m = S.load_mapping(mapping)
    ref = load_reference(db, tolerance_m=tolerance_m)
    seconds["reference"] = time.perf_counter() - t0
    side = store.ensure_sidecar(db)
    con = _connect(memory_limit, threads)
    run = RunStats()
    staged: list[tuple[Path, Path, str]] = []
    manifest = store.read_manifest(side)
    try:
        t = time.perf_counter()
        for f in files:
            path = Path(f)
            fid = store.file_id(path) if path.is_file() else "missing"
            tmp = side / "parts" / f".{fid}.parquet.tmp"
            staged.append((path, tmp, fid))
            run.add(clean_file(con, path, m, ref, tmp, fid, progress=progress, batch_rows=batch_rows))
            manifest[fid] = {"file": str(path), "bytes": path.stat().st_size,
                             "ingested_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "mapping": str(mapping) if mapping else None}
        seconds["read+clean"] = time.perf_counter() - t
        for _, tmp, fid in staged:
            os.replace(tmp, side / "parts" / f"{fid}.parquet")
        store.write_manifest(side, manifest)
        names = sorted({v["file"] for v in manifest.values()})
        if update_db:
            agg, n_facts = recompute(con, db, ref, window_days, open_days, names, seconds)
        else:
            agg, n_facts = aggregate.Aggregates(), 0
    finally:
        con.close()
        for _, tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()
    seconds["total"] = time.perf_counter() - t0
    return IngestReport(db, side, [str(f) for f in files], run, agg, n_facts, seconds, window_days, tolerance_m, ref.notes)


def refresh(db: str | Path | None = None, window_days: int = aggregate.WINDOW_DAYS,
            open_days: int = S.DEFAULT_OPEN_DAYS, memory_limit: str = "3GB", threads: int = 2) -> IngestReport:
    """Recompute the advert_feed rows of ``db`` from its sidecar alone (e.g. after ``lmi build``)."""
    db = Path(db) if db else default_db()
    side = store.sidecar_dir(db)
    if not store.has_parts(side):
        raise LmiError(f"no ingested adverts beside {db} (expected {side}/parts/*.parquet)")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    ref = load_reference(db)
    seconds["reference"] = time.perf_counter() - t0
    con = _connect(memory_limit, threads)
    try:
        names = sorted({v["file"] for v in store.read_manifest(side).values()})
        agg, n_facts = recompute(con, db, ref, window_days, open_days, names, seconds)
    finally:
        con.close()
    seconds["total"] = time.perf_counter() - t0
    return IngestReport(db, side, [], RunStats(), agg, n_facts, seconds, window_days, ref.locator.tolerance_m, ref.notes)


def format_report(r: IngestReport) -> str:
    """The text ``adverts ingest`` prints."""
    run, agg = r.run, r.agg
    st = agg.stats
    lines = [f"Ingested {len(r.files)} file(s) into {r.db} (cleaned adverts kept in {r.sidecar})", "",
             f"This run: {run.rows:,} rows read"]
    for k, v in run.placed.items():
        lines.append(f"  placed by {k}: {v:,}")
    lines.append("  placed by postcode: 0 (the project has no postcode lookup)")
    lines.append(f"  unassigned: {sum(run.unassigned.values()):,}")
    for k, v in run.unassigned.items():
        if v:
            lines.append(f"    {k}: {v:,}")
    lines.append(f"  SOC 2020 codes: supplied {run.soc['supplied']:,}; assigned from title {run.soc['exact'] + run.soc['tfidf']:,} "
                 f"(exact {run.soc['exact']:,}, scored {run.soc['tfidf']:,}); left uncoded {run.soc['uncoded']:,}")
    sal = run.salary
    lines.append(f"  salaries used: {sal.get('used', 0):,} (annual assumed without a period: {sal.get('assumed annual', 0):,}; "
                 f"ignored: no period {sal.get('no period', 0):,}, implausible {sal.get('implausible', 0):,})")
    lines += ["", f"All adverts ingested so far: {st.get('rows_total', 0):,} rows",
              f"  duplicates removed, same advert_id within a source: {st.get('rows_total', 0) - st.get('after_rule1', 0):,}",
              f"  unassigned (not counted): {st.get('after_rule1', 0) - st.get('placed', 0):,}"]
    for k, v in sorted(agg.unassigned.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {k}: {v:,}")
    lines.append(f"  duplicates removed, same employer + title in the same LAD within {r.window_days} days "
                 f"(reposts, syndication): {st.get('placed', 0) - st.get('counted', 0):,}")
    lines.append(f"  adverts counted: {st.get('counted', 0):,}"
                 + (f" ({agg.first_month[:7]} to {agg.last_month[:7]})" if agg.first_month else ""))
    soc = agg.soc
    lines.append(f"  SOC 2020 of counted adverts: supplied {soc.get('supplied', 0):,}; assigned "
                 f"{soc.get('exact', 0) + soc.get('tfidf', 0):,}; uncoded {soc.get('uncoded', 0):,}")
    lines.append(f"  facts rows written (dataset advert_feed): {r.facts_rows:,}")
    for n in r.notes:
        lines.append(f"note: {n}")
    lines.append("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items()))
    return "\n".join(lines)
