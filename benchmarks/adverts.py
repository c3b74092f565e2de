"""Benchmark the advert pipeline on generated feeds against a straightforward baseline.

    python benchmarks/adverts.py                       # 1M, 10M and 30M adverts
    python benchmarks/adverts.py --sizes 1M,10M --baseline-max 10M

For each size: generate a feed (not timed as part of the pipeline), then run each stage in its own
subprocess and report wall time, CPU time, adverts/s and the stage's peak RSS (ru_maxrss of that
subprocess):
  clean      read + type/validate (DuckDB) + locate + place names + SOC + write the sidecar Parquet
  aggregate  de-duplicate + aggregate (DuckDB) + facts + rollups + atomic database swap
  core       the same job as the baseline with the pipeline's code: DuckDB read of coordinates and
             dates + grid point-in-polygon (+ coastal tolerance) + count by LAD x month (numpy)
  baseline   pandas.read_parquet + geopandas.sjoin(points within LAD polygons) + groupby(LAD, month)
Two ratios are printed: baseline / core (like for like) and baseline / whole pipeline (clean +
aggregate). The baseline does far less than the pipeline (no validation, de-duplication, place names,
SOC coding, salaries, rollups or database write), so the second ratio is below 1. The baseline is skipped above --baseline-max (it needs ~1 GB per million
points as shapely objects) and says so. Targets on a 2-core machine: 10M end to end <= 60 s, peak
RSS <= 4 GiB, >= 10x the baseline, linear growth. The machine load average is printed: on a shared
machine wall times include other processes' work, CPU times do not.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0, c0 = time.perf_counter(), time.process_time()
stage, args = sys.argv[1], json.loads(sys.argv[2])
out = {{}}
if stage == "generate":
    from lmi.adverts.generate import generate
    truth = generate(args["rows"], args["seed"], args["feed"], args["db"], row_group=1_000_000)
    out["counted"] = truth["counted"]
elif stage == "clean":
    from lmi.adverts.ingest import ingest
    r = ingest([args["feed"]], db=args["db"], progress=False, update_db=False)
    out["rows"] = r.run.rows
    out["distinct_titles"] = r.run.distinct_titles
elif stage == "aggregate":
    from lmi.adverts.ingest import refresh
    r = refresh(args["db"])
    out["counted"] = r.agg.stats["counted"]
    out["facts_rows"] = r.facts_rows
    out["seconds"] = r.seconds
elif stage == "core":
    # like-for-like with the baseline: read coordinates and dates, point in polygon, count by LAD x month
    # (plus the coastal tolerance the baseline lacks), with the pipeline's grid index
    import duckdb, numpy as np
    from lmi.adverts.geo import LadLocator
    con = duckdb.connect(args["db"], read_only=True)
    loc = LadLocator.from_db(con)
    con.close()
    con = duckdb.connect()
    con.execute("SET threads=2")
    q = ("SELECT longitude, latitude, CAST(year(posted_date) * 12 + month(posted_date) AS INTEGER) AS m "
         "FROM read_parquet('" + args["feed"] + "') WHERE latitude IS NOT NULL")
    counts = None
    placed = 0
    for b in con.sql(q).to_arrow_reader(1_000_000):
        lon = b.column("longitude").to_numpy(); lat = b.column("latitude").to_numpy()
        m = b.column("m").to_numpy()
        idx, _ = loc.locate(lon, lat)
        ok = idx >= 0
        c = np.bincount(idx[ok] * 600 + (m[ok] - 24000), minlength=len(loc.codes) * 600)
        counts = c if counts is None else counts + c
        placed += int(ok.sum())
    out["placed"] = placed
    out["groups"] = int((counts > 0).sum())
elif stage == "baseline":
    import duckdb, geopandas as gpd, pandas as pd, shapely
    con = duckdb.connect(args["db"], read_only=True)
    lads = con.execute("SELECT lad_code, geometry_wkb FROM lad_boundaries").df()
    con.close()
    lads = gpd.GeoDataFrame({{"lad_code": lads["lad_code"]}},
                            geometry=shapely.from_wkb([bytes(b) for b in lads["geometry_wkb"]]), crs="EPSG:4326")
    df = pd.read_parquet(args["feed"], columns=["posted_date", "latitude", "longitude"])
    df = df.dropna(subset=["latitude", "longitude"])
    pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["longitude"], df["latitude"]), crs="EPSG:4326")
    j = gpd.sjoin(pts, lads, predicate="within", how="inner")
    counts = j.groupby(["lad_code", pd.to_datetime(j["posted_date"]).dt.to_period("M")]).size()
    out["placed"] = int(len(j))
    out["groups"] = int(len(counts))
out["wall"] = time.perf_counter() - t0
out["cpu"] = time.process_time() - c0
out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out))
"""


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if text[-1] in "KM" else text) * mult)


def run_stage(stage: str, args: dict, timeout: float) -> dict:
    code = CHILD.format(root=str(ROOT))
    t = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", code, stage, json.dumps(args)], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "wall": time.perf_counter() - t}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail) or f"exit {p.returncode}", "wall": time.perf_counter() - t}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1M,10M,30M", help="comma-separated sizes (default 1M,10M,30M)")
    ap.add_argument("--baseline-max", default="10M", help="largest size the baseline is run at (default 10M)")
    ap.add_argument("--db", default=str(ROOT / "data" / "lmi.duckdb"), help="database with the LAD boundaries")
    ap.add_argument("--workdir", default="/tmp/lmi-adverts-bench", help="where feeds and database copies go")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=3600, help="per-stage timeout in seconds")
    ap.add_argument("--keep", action="store_true", help="keep generated feeds between runs (reuse if present)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    a = ap.parse_args(argv)
    sizes = [parse_size(s) for s in a.sizes.split(",") if s.strip()]
    base_max = parse_size(a.baseline_max)
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"advert pipeline benchmark: sizes {', '.join(f'{n:,}' for n in sizes)}; cpus {os.cpu_count()}; "
          f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    header = f"{'adverts':>11} {'stage':<10} {'wall s':>8} {'cpu s':>8} {'adverts/s':>12} {'peak RSS MiB':>13}  note"
    print(header)
    for n in sizes:
        feed = work / f"feed_{n}.parquet"
        if not (a.keep and feed.exists() and Path(str(feed) + ".truth.json").exists()):
            g = run_stage("generate", {"rows": n, "seed": a.seed, "feed": str(feed), "db": a.db}, a.timeout)
            print(f"{n:>11,} {'generate':<10} {g.get('wall', 0):>8.1f} {g.get('cpu', 0):>8.1f} "
                  f"{n / max(g.get('wall', 1e-9), 1e-9):>12,.0f} {g.get('rss_mib', 0):>13,.0f}  "
                  f"{g.get('error', 'not part of the pipeline')}", flush=True)
        db = work / f"bench_{n}.duckdb"
        shutil.copyfile(a.db, db)
        shutil.rmtree(str(db) + ".adverts", ignore_errors=True)
        row = {"adverts": n}
        for stage in ("clean", "aggregate"):
            r = run_stage(stage, {"feed": str(feed), "db": str(db)}, a.timeout)
            row[stage] = r
            note = r.get("error") or (f"{r.get('facts_rows', 0):,} facts rows; {r.get('counted', 0):,} adverts counted"
                                      if stage == "aggregate" else f"{r.get('distinct_titles', 0):,} distinct titles classified")
            print(f"{n:>11,} {stage:<10} {r.get('wall', 0):>8.1f} {r.get('cpu', 0):>8.1f} "
                  f"{n / max(r.get('wall', 1e-9), 1e-9):>12,.0f} {r.get('rss_mib', 0):>13,.0f}  {note}", flush=True)
        ours = row["clean"].get("wall", float("nan")) + row["aggregate"].get("wall", float("nan"))
        ours_cpu = row["clean"].get("cpu", float("nan")) + row["aggregate"].get("cpu", float("nan"))
        peak = max(row["clean"].get("rss_mib", 0), row["aggregate"].get("rss_mib", 0))
        row["end_to_end"] = {"wall": ours, "cpu": ours_cpu, "rss_mib": peak}
        print(f"{n:>11,} {'ours total':<10} {ours:>8.1f} {ours_cpu:>8.1f} {n / ours:>12,.0f} {peak:>13,.0f}", flush=True)
        c = run_stage("core", {"feed": str(feed), "db": str(db)}, a.timeout)
        row["core"] = c
        print(f"{n:>11,} {'core':<10} {c.get('wall', 0):>8.1f} {c.get('cpu', 0):>8.1f} "
              f"{n / max(c.get('wall', 1e-9), 1e-9):>12,.0f} {c.get('rss_mib', 0):>13,.0f}  "
              f"{c.get('error') or 'read + grid point-in-polygon + tolerance + count by LAD x month'}", flush=True)
        if n <= base_max:
            b = run_stage("baseline", {"feed": str(feed), "db": str(db)}, a.timeout)
            row["baseline"] = b
            ok = "error" not in b
            ratio = b["wall"] / ours if ok else float("nan")
            core_ratio = b["wall"] / c["wall"] if ok and "error" not in c else float("nan")
            row["ratio_end_to_end"], row["ratio_core"] = ratio, core_ratio
            note = b.get("error") or (f"baseline/ours: like-for-like core {core_ratio:.1f}x, "
                                      f"whole pipeline {ratio:.2f}x (wall)")
            print(f"{n:>11,} {'baseline':<10} {b.get('wall', 0):>8.1f} {b.get('cpu', 0):>8.1f} "
                  f"{n / max(b.get('wall', 1e-9), 1e-9):>12,.0f} {b.get('rss_mib', 0):>13,.0f}  {note}", flush=True)
        else:
            row["baseline"] = None
            print(f"{n:>11,} {'baseline':<10} {'-':>8} {'-':>8} {'-':>12} {'-':>13}  not run: above --baseline-max "
                  f"{base_max:,} (shapely points for every advert need ~1 GB per million)", flush=True)
        results.append(row)
        if not a.keep:
            for p in (feed, Path(str(feed) + ".truth.json")):
                p.unlink(missing_ok=True)
        db.unlink(missing_ok=True)
        shutil.rmtree(str(db) + ".adverts", ignore_errors=True)
    if len(results) > 1:
        per = [r["end_to_end"]["wall"] / r["adverts"] * 1e6 for r in results]
        print("growth: " + ", ".join(f"{r['adverts']:,}: {p:.2f} s per million (wall), "
                                     f"{r['end_to_end']['cpu'] / r['adverts'] * 1e6:.2f} (cpu)"
                                     for r, p in zip(results, per)))
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
