"""``python -m lmi adverts ingest|generate`` (wired into lmi/cli.py by ``add_subparser``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmi.errors import LmiError
from lmi.paths import default_db, default_sources


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Add the ``adverts`` command (subcommands ``ingest`` and ``generate``) to ``subparsers``."""
    p = subparsers.add_parser("adverts", help="advert-level job feed: ingest into the database, or generate a synthetic feed",
                              description="Advert-level vacancy pipeline (docs/adverts.md).")
    sub = p.add_subparsers(dest="adverts_command", required=True)
    i = sub.add_parser("ingest", help="add advert feed files (CSV or Parquet) to the database",
                       description="Place each advert in a LAD, de-duplicate, code SOC 2020 and write the advert_feed "
                                   "rows of the database (recomputed from every file ingested so far).")
    i.add_argument("files", nargs="+", help="feed files in the canonical schema (or adapted by --mapping)")
    i.add_argument("--mapping", help="YAML file mapping the feed's column names to the canonical schema")
    i.add_argument("--db", help=f"database to update (default: {default_db()})")
    i.add_argument("--window-days", type=int, default=30, help="repost/syndication window in days (default 30)")
    i.add_argument("--open-days", type=int, default=30,
                   help="days an advert without a closing date counts as open (default 30)")
    i.add_argument("--tolerance-m", type=float, default=1500.0,
                   help="coastal tolerance in metres for points just outside every LAD (default 1500)")
    i.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit (default 3GB)")
    i.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=run)
    g = sub.add_parser("generate", help="write a synthetic advert feed with a truth file",
                       description="N adverts over the real LADs (population 16-64), with duplicates and unplaceable "
                                   "adverts at known rates; writes FILE and FILE.truth.json.")
    g.add_argument("--rows", type=int, required=True, help="number of rows to write")
    g.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    g.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    g.add_argument("--db", help=f"database with the LAD boundaries (default: {default_db()})")
    g.add_argument("--start", default="2024-01", help="first month YYYY-MM (default 2024-01)")
    g.add_argument("--months", type=int, default=12, help="number of months (default 12)")
    g.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``adverts ingest`` or ``adverts generate``; 0 on success."""
    if args.adverts_command == "ingest":
        from lmi.adverts.ingest import format_report, ingest

        report = ingest(args.files, db=args.db, mapping=args.mapping, window_days=args.window_days,
                        open_days=args.open_days, tolerance_m=args.tolerance_m, progress=not args.quiet,
                        memory_limit=args.memory_limit, threads=args.threads)
        print(format_report(report))
        return 0
    if args.adverts_command == "generate":
        from lmi.adverts.generate import generate

        out = Path(args.out)
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise LmiError(f"--out {out}: the file name must end in .csv or .parquet")
        truth = generate(args.rows, args.seed, out, db=args.db or default_db(), start=args.start,
                         months=args.months, sources_dir=default_sources())
        d = truth["duplicates"]
        print(f"wrote {truth['rows']:,} adverts to {out} in {truth['seconds']} s "
              f"({truth['counted']:,} distinct placed adverts, {d['total']:,} duplicates, "
              f"{truth['unassigned_total']:,} unplaceable); truth in {out}.truth.json")
        print(f"LAD weights: {truth['population_source']}")
        return 0
    raise LmiError(f"unknown adverts command {args.adverts_command!r}")


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m lmi.adverts``), same commands as ``python -m lmi adverts``."""
    parser = argparse.ArgumentParser(prog="python -m lmi.adverts")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subparser(sub)
    args = parser.parse_args(["adverts"] + list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except LmiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
