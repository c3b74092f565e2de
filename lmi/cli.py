"""Command-line interface: build, datasets, measures, export (+ adverts, clusters when present)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmi.errors import LmiError
from lmi.paths import default_db, default_sources
from lmi.schema import LEVELS


def _progress_bar():
    from tqdm import tqdm

    bar = {"b": None}

    def update(label: str, done: int, total: int) -> None:
        if bar["b"] is None:
            bar["b"] = tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True)
        b = bar["b"]
        b.total = total
        b.n = done
        b.set_description(label[:60])
        b.refresh()
        if done >= total:
            b.close()

    return update


def cmd_build(args: argparse.Namespace) -> int:
    from lmi.pipeline.build import build

    sources = Path(args.sources) if args.sources else default_sources()
    if sources is None:
        print("error: no sources folder: pass --sources DIR (../shared/lmi-sources is not present)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_db()
    report = build(sources, out, progress=None if args.quiet else _progress_bar())
    print(f"built {report.out} in {report.seconds:.1f} s ({report.size_bytes / 1e6:.1f} MB)")
    print(f"{'dataset':60s} {'rows':>9s}")
    for ds, n in sorted(report.rows_by_dataset.items()):
        print(f"{ds:60s} {n:9d}")
    print(f"{'total':60s} {sum(report.rows_by_dataset.values()):9d}")
    if report.unrecognised:
        print("files not recognised (not loaded): " + ", ".join(report.unrecognised))
    if args.verbose:
        for n in report.notes:
            print("note:", n)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from lmi import queries
    from lmi.db import Database

    db = Database(args.db)
    df = queries.catalogue(db)
    cols = ["id", "publisher", "regularity", "latest_period", "release_date", "topic", "licence"]
    print(df[cols].to_string(index=False))
    return 0


def cmd_measures(args: argparse.Namespace) -> int:
    from lmi import queries
    from lmi.db import Database

    db = Database(args.db)
    df = queries.measure_summary(db)
    print(df.to_string(index=False))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lmi import export, queries
    from lmi.db import Database

    db = Database(args.db)
    rows = queries.export_rows(db, measures=args.measure or None, level=args.level, areas=args.area or None,
                               period=args.period)
    out = Path(args.out) if args.out else None
    if args.format == "xlsx":
        if out is None:
            print("error: --out FILE is required for xlsx", file=sys.stderr)
            return 2
        out.write_bytes(export.to_xlsx(rows, export.metadata_for(db, rows)))
    else:
        data = export.to_csv(rows)
        if out is None:
            sys.stdout.buffer.write(data.decode("utf-8-sig").encode("utf-8"))
        else:
            out.write_bytes(data)
    if out is not None:
        print(f"wrote {len(rows)} rows to {out}", file=sys.stderr)
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lmi", description="lmi: labour-market intelligence for local skills planning")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build the database from the official source files",
                       description="Read every official file under --sources, validate, harmonise geography, roll up, "
                                   "and write the DuckDB database (built in a temporary file, swapped in when all checks pass).")
    b.add_argument("--sources", help="folder of official files (default: ../shared/lmi-sources if present)")
    b.add_argument("--out", help=f"database to write (default: {default_db()})")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--verbose", action="store_true", help="print staging notes (skipped rows and why)")
    b.set_defaults(func=cmd_build)

    for name, func, text in (("datasets", cmd_datasets, "list the dataset catalogue"),
                             ("measures", cmd_measures, "list measure ids with dataset, unit, levels and periods")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("--db", default=None, help="database (default: data/lmi.duckdb)")
        s.set_defaults(func=func)

    e = sub.add_parser("export", help="export figures as CSV or XLSX (the dashboard's download columns)",
                       description="One row per value with codes, names, source, release date and licence.")
    e.add_argument("--measure", action="append", help="measure id (repeatable; default: all measures)")
    e.add_argument("--level", choices=LEVELS, help="area level")
    e.add_argument("--area", action="append", help="area code (repeatable)")
    e.add_argument("--period", help="period label, e.g. 2023 or 'Jul 2025'")
    e.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    e.add_argument("--out", help="file to write (default: stdout for csv)")
    e.add_argument("--db", default=None, help="database (default: data/lmi.duckdb)")
    e.set_defaults(func=cmd_export)

    for modname in ("lmi.adverts.cli", "lmi.clusters_cli"):
        try:
            mod = __import__(modname, fromlist=["add_subparser"])
        except ImportError:
            continue
        mod.add_subparser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LmiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
