"""Server-side rerun time of each dashboard page on the embedded data (AppTest wall time per rerun).

    python benchmarks/pages.py [--runs 30] [--area E08000016]

Prints the median and 95th percentile over ``--runs`` reruns per page (after one warm-up run that
fills the caches); target p95 <= 150 ms. Exit status 1 if a page raised an exception.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGES = ("pages/area_profile.py", "pages/map.py", "pages/time_series.py", "pages/download.py", "pages/sources.py")
TARGET_MS = 150.0


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main(argv: list[str] | None = None) -> int:
    from streamlit.testing.v1 import AppTest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--area", default="E08000016", help="area code to profile (default Barnsley)")
    args = ap.parse_args(argv)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.query_params["area"] = args.area
    at.run()
    failed = False
    print(f"{'page':28s} {'median ms':>10s} {'p95 ms':>8s} {'max ms':>8s}  (n={args.runs}, target p95 <= {TARGET_MS:.0f})")
    for page in PAGES:
        at.switch_page(page).run()  # warm-up: caches filled
        times = []
        for _ in range(max(1, args.runs)):
            t0 = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - t0) * 1000)
        if len(at.exception):
            failed = True
            print(f"{page}: exception: {at.exception[0].value}", file=sys.stderr)
        flag = "" if p95(times) <= TARGET_MS else "  over target"
        print(f"{page:28s} {statistics.median(times):10.1f} {p95(times):8.1f} {max(times):8.1f}{flag}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
