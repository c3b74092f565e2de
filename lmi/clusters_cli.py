"""`python -m lmi clusters`: show the career-cluster pathways and, with --area, local demand per step."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from lmi.paths import CLUSTERS_FILE, default_db

SOURCES_LINE = (
    "Levels: job adverts by LAD/LSIP/CA and APS employment are published by SOC 2020 sub-major group; England job "
    "adverts and the advert feed by unit group; Skills Imperative 2035 by sub-major, England and Lancashire LSIP only."
)


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "clusters", help="career-cluster pathways and local demand per step",
        description="Without --area: list the validated career clusters (or one cluster's pathway). With --area: "
                    "local demand for each step (job adverts, employment, projections) with shares of the area's "
                    "total and location quotients against England. " + SOURCES_LINE)
    p.add_argument("--cluster", help="cluster id or name, e.g. health_social_care (default: all clusters)")
    p.add_argument("--area", help="area code, e.g. E07000123 (Preston) or E37000019 (Lancashire LEP)")
    p.add_argument("--period", help="period label for measures that have it, e.g. 'Jul 2025' (default: latest)")
    p.add_argument("--db", default=None, help=f"database (default: {default_db()})")
    p.add_argument("--file", default=None, help=f"clusters file (default: {CLUSTERS_FILE})")
    p.set_defaults(func=run)
    return p


def _fmt(x: object, kind: str = "num") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if kind == "pct":
        return f"{100 * float(x):.1f}%"
    if kind == "lq":
        return f"{float(x):.2f}"
    v = float(x)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}"


def _print_pathway(cluster) -> None:
    print(f"{cluster.name} ({cluster.id}): {len(cluster.steps)} steps")
    for s in cluster.steps:
        print(f"  {s.number}. {s.name} [RQF {s.rqf_level}]")
        print("     entry: " + "; ".join(f"{r.name}" + (f" (L{r.level})" if r.level else "") for r in s.entry_routes))
        for o in s.occupations:
            nxt = f" -> {', '.join(o.next)}" if o.next else ""
            print(f"     {o.soc} {o.title} [sub-major {o.submajor}, minor {o.minor}]{nxt}")


def _print_demand(d) -> None:
    c = d.cluster
    print(f"\n=== {c.name} ({c.id}) - {d.area_name} ({d.area_code}, {d.area_level}) ===")
    if not d.steps.empty:
        print("\nBy step (unit-group sums, or ESTIMATES where marked):")
        t = pd.DataFrame({
            "step": d.steps["step"], "RQF": d.steps["rqf_level"], "measure": d.steps["measure_label"],
            "basis": d.steps["basis"], "period": d.steps["period"], "value": d.steps["value"].map(_fmt),
            "share": d.steps["share"].map(lambda v: _fmt(v, "pct")),
            "England share": d.steps["england_share"].map(lambda v: _fmt(v, "pct")),
            "LQ": d.steps["lq"].map(lambda v: _fmt(v, "lq")), "status": d.steps["status"]})
        print(t.to_string(index=False))
        for s in c.steps:
            print(f"  step {s.number}: {s.name} - {', '.join(s.codes)}")
    if not d.submajors.empty:
        print("\nBy SOC 2020 sub-major group (as published; one figure per sub-major, not split by step):")
        t = pd.DataFrame({
            "measure": d.submajors["measure_label"], "sub-major": d.submajors["submajor"],
            "steps": d.submajors["steps"], "period": d.submajors["period"],
            "value": d.submajors["value"].map(_fmt), "share": d.submajors["share"].map(lambda v: _fmt(v, "pct")),
            "England share": d.submajors["england_share"].map(lambda v: _fmt(v, "pct")),
            "LQ": d.submajors["lq"].map(lambda v: _fmt(v, "lq")), "status": d.submajors["status"],
            "derivation": d.submajors["derivation"]})
        print(t.to_string(index=False))
        flagged = d.submajors[d.submajors["status"] != "ok"]
        for r in flagged.itertuples():
            print(f"  ! {r.measure_label}, sub-major {r.submajor}: {r.note.split('; published for')[0]}")
    occ = d.occupations.dropna(subset=["feed_median_salary"])
    if not occ.empty:
        print("\nMedian advertised salary by unit group (advert feed):")
        print(occ[["step", "soc", "title", "feed_median_salary"]].to_string(index=False))
    if d.notes:
        print("\nNotes:")
        for n in d.notes:
            print(f"  - {n}")


def run(args: argparse.Namespace) -> int:
    from lmi.clusters import load_clusters

    file = Path(args.file) if getattr(args, "file", None) else CLUSTERS_FILE
    db = None
    if args.area or args.db:
        from lmi.db import Database

        db = Database(args.db)
    model = load_clusters(file, con=db)
    clusters = [model.get(args.cluster)] if args.cluster else model.clusters
    if not args.area:
        if args.cluster:
            _print_pathway(clusters[0])
        else:
            print(f"{len(model.clusters)} career clusters in {model.file} (validated against {model.soc.source}):")
            for c in model.clusters:
                n = sum(len(s.occupations) for s in c.steps)
                print(f"  {c.id:32s} {c.name:45s} {len(c.steps)} steps, {n} unit groups")
        return 0
    from lmi.cluster_demand import cluster_demand

    print(SOURCES_LINE)
    for c in clusters:
        _print_demand(cluster_demand(db, c, args.area, model.soc, period=args.period))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmi")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subparser(sub)
    args = parser.parse_args(["clusters", *(argv if argv is not None else sys.argv[1:])])
    return run(args)
