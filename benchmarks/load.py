"""Many users: concurrent real browser sessions against `streamlit run dashboard.py` on 127.0.0.1.

    python benchmarks/load.py [--sessions 30] [--duration 120] [--db data/lmi.duckdb]

Starts the dashboard on a free port on 127.0.0.1 (or uses --url, which must be a 127.0.0.1/localhost
URL), launches headless chromium (/usr/bin/chromium) through Playwright and runs ``--sessions``
browser contexts at once for ``--duration`` seconds. Each session opens the app on a random local
authority, then loops: change the area in the sidebar, change the period, switch page (profile, map,
time series), and download the CSV or XLSX. Prints errors, p50/p95 time from an action to a rendered
chart (a Plotly chart drawn and the script run finished), download times, and the server's resident
memory (psutil, server process and its children) at start, peak and end. Bounded: sessions and time
are capped, every wait has a timeout, requests to any other host are blocked.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
MAX_SESSIONS = 60
MAX_DURATION = 900
ACTION_TIMEOUT_MS = 120_000
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg'
RUNNING = '[data-testid="stStatusWidget"]'
NAV = '[data-testid="stSidebarNav"] a'
CHART_PAGES = ("Area profile", "Map", "Time series")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_only(url: str) -> str:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"refusing to load-test {url}: only 127.0.0.1 is allowed")
    return url.rstrip("/")


class RssSampler(threading.Thread):
    """Samples once a second the resident memory (MB) and CPU of the server process and its children, and
    the CPU of the load generator itself (this process's children: the Playwright driver and chromium)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.me = psutil.Process(os.getpid())
        self.samples: list[tuple[float, float, float]] = []   # (t, rss MB, cpu %)
        self.client_cpu: list[float] = []
        self.host_cpu: list[float] = []
        self.stop = threading.Event()
        self._seen: dict[int, object] = {}

    def client(self) -> float:
        import psutil

        cpu = 0.0
        for p in self.me.children(recursive=True):
            if p.pid == self.proc.pid or p.pid in {c.pid for c in self.proc.children(recursive=True)}:
                continue
            q = self._seen.setdefault(p.pid, p)
            try:
                cpu += q.cpu_percent(None)
            except psutil.NoSuchProcess:
                pass
        return cpu

    def rss(self) -> tuple[float, float]:
        import psutil

        total, cpu = 0, 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
                cpu += p.cpu_percent(None)
            except psutil.NoSuchProcess:
                pass
        return total / 1e6, cpu

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                import psutil

                mb, cpu = self.rss()
                self.samples.append((time.monotonic(), mb, cpu))
                self.client_cpu.append(self.client())
                self.host_cpu.append(psutil.cpu_percent(None) * (psutil.cpu_count() or 1))
            except Exception:  # noqa: BLE001 - the server may be exiting
                pass
            self.stop.wait(1.0)


def start_server(db: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "LMI_DB": str(db)}
    fh = open(log, "w")
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)


def wait_healthy(base: str, proc: subprocess.Popen | None, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/_stcore/health", timeout=2)
            return
        except OSError:
            if (proc is not None and proc.poll() is not None) or time.time() > deadline:
                raise SystemExit(f"streamlit did not start at {base}")
            time.sleep(0.3)


def lad_choices(db: Path) -> list[tuple[str, str]]:
    from lmi import queries
    from lmi.db import Database

    d = Database(db)
    try:
        df = queries.areas(d, "lad")
        return list(zip(df["area_code"], df["area_name"]))
    finally:
        d.close()


class Stats:
    def __init__(self) -> None:
        self.chart_ms: list[float] = []
        self.download_ms: list[float] = []
        self.actions = Counter()
        self.errors = Counter()
        self.error_examples: dict[str, str] = {}
        self.download_bytes = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, detail[:300])


async def settle(page, need_chart: bool) -> None:
    """Wait for the script run to finish (no status widget) and, when asked, for a drawn Plotly chart."""
    await page.wait_for_timeout(250)
    # finished: no 'running' status widget and no element still marked stale from the previous run
    await page.wait_for_function(f"() => !document.querySelector('{RUNNING}') && "
                                 "!document.querySelector('[data-stale=\"true\"]')", polling=200,
                                 timeout=ACTION_TIMEOUT_MS)
    if need_chart:
        await page.wait_for_selector(CHART, state="attached", timeout=ACTION_TIMEOUT_MS)
    if await page.locator('[data-testid="stException"]').count():
        raise RuntimeError("exception shown: " + (await page.locator('[data-testid="stException"]').first.inner_text())[:200])


async def choose(page, label: str, text: str | None) -> None:
    """Pick an option in a sidebar selectbox: by typing ``text``, or the next option when None."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    await box.locator("input").click(timeout=ACTION_TIMEOUT_MS)
    if text is None:
        await page.keyboard.press("ArrowDown")
    else:
        await box.locator("input").fill(text)
    await page.keyboard.press("Enter")


async def current_page(page) -> str:
    url = page.url
    for slug, name in (("map", "Map"), ("time_series", "Time series"), ("download", "Data download")):
        if f"page={slug}" in url:
            return name
    return "Area profile"


async def session(i: int, browser, base: str, lads: list[tuple[str, str]], stop_at: float, stats: Stats,
                  rng: random.Random, dl_dir: Path) -> None:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)

    async def gate(route):
        url = route.request.url
        if url.startswith((base, "data:", "blob:")):
            await route.continue_()
        else:
            stats.error("blocked outside request", url)
            await route.abort()

    await ctx.route("**/*", gate)
    page = await ctx.new_page()

    def bad_response(resp) -> None:
        if resp.status >= 400:
            stats.error(f"http {resp.status}", f"session {i}: {resp.request.method} {urlparse(resp.url).path}")

    page.on("response", bad_response)
    code, _ = rng.choice(lads)
    try:
        t0 = time.monotonic()
        await page.goto(base + "/?" + urlencode({"level": "lad", "area": code}), timeout=ACTION_TIMEOUT_MS)
        await settle(page, need_chart=True)
        stats.chart_ms.append((time.monotonic() - t0) * 1000)
        stats.actions["open"] += 1
    except Exception as exc:  # noqa: BLE001
        stats.error("open", f"session {i}: {type(exc).__name__}: {exc}")
    while time.monotonic() < stop_at:
        action = rng.choices(["area", "period", "page", "download"], weights=[4, 2, 3, 1])[0]
        t0 = time.monotonic()
        try:
            if action == "area":
                if await current_page(page) == "Data download":
                    await page.locator(NAV).filter(has_text=rng.choice(CHART_PAGES)).click(timeout=ACTION_TIMEOUT_MS)
                    await settle(page, need_chart=True)
                    t0 = time.monotonic()
                _, name = rng.choice(lads)
                await choose(page, "Area (type a name or code)", name)
                await settle(page, need_chart=True)
                stats.chart_ms.append((time.monotonic() - t0) * 1000)
            elif action == "period":
                if await current_page(page) == "Data download":
                    continue
                await choose(page, "Period", None)
                await settle(page, need_chart=True)
                stats.chart_ms.append((time.monotonic() - t0) * 1000)
            elif action == "page":
                target = rng.choice([p for p in CHART_PAGES])
                await page.locator(NAV).filter(has_text=target).click(timeout=ACTION_TIMEOUT_MS)
                await settle(page, need_chart=True)
                stats.chart_ms.append((time.monotonic() - t0) * 1000)
            else:
                await page.locator(NAV).filter(has_text="Data download").click(timeout=ACTION_TIMEOUT_MS)
                await page.wait_for_selector('[data-testid="stDownloadButton"]', timeout=ACTION_TIMEOUT_MS)
                await settle(page, need_chart=False)
                t1 = time.monotonic()
                buttons = page.locator('[data-testid="stDownloadButton"] button')
                n = await buttons.count()
                k = rng.randrange(max(1, n))
                action = "download " + ("csv" if k == 0 else "xlsx")
                async with page.expect_download(timeout=ACTION_TIMEOUT_MS) as info:
                    await buttons.nth(k).click(timeout=ACTION_TIMEOUT_MS)
                dl = await info.value
                target = dl_dir / f"s{i}-{dl.suggested_filename}"
                await dl.save_as(target)
                size = target.stat().st_size
                target.unlink()
                if size == 0 or not dl.suggested_filename.startswith("lmi_"):
                    raise RuntimeError(f"bad download {dl.suggested_filename} ({size} bytes)")
                stats.download_bytes += size
                stats.download_ms.append((time.monotonic() - t1) * 1000)
            stats.actions[action] += 1
        except Exception as exc:  # noqa: BLE001 - counted; the session carries on
            stats.error(action, f"session {i}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            try:
                await page.goto(base + "/?" + urlencode({"level": "lad", "area": rng.choice(lads)[0]}),
                                timeout=ACTION_TIMEOUT_MS)
                await settle(page, need_chart=True)
            except Exception as exc2:  # noqa: BLE001
                stats.error("recover", f"session {i}: {type(exc2).__name__}: {exc2}")
                await asyncio.sleep(1)
    await ctx.close()


async def run(args, base: str, lads: list[tuple[str, str]], stats: Stats) -> float:
    from playwright.async_api import async_playwright

    rng = random.Random(args.seed)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        t_start = time.monotonic()
        stop_at = t_start + args.duration
        with tempfile.TemporaryDirectory(prefix="lmi-load-") as tmp:
            tasks = []
            for i in range(args.sessions):
                tasks.append(asyncio.create_task(session(i, browser, base, lads, stop_at, stats,
                                                         random.Random(rng.random()), Path(tmp))))
                await asyncio.sleep(args.ramp / max(1, args.sessions))
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                       timeout=args.duration + args.ramp + 240)
            except asyncio.TimeoutError:
                stats.error("harness", "sessions did not stop in time; cancelled")
                for t in tasks:
                    t.cancel()
        await browser.close()
        return time.monotonic() - t_start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--duration", type=float, default=120, help="seconds of load after the ramp-up starts")
    ap.add_argument("--ramp", type=float, default=15, help="seconds over which sessions start")
    ap.add_argument("--db", default=None, help="database (default $LMI_DB or data/lmi.duckdb)")
    ap.add_argument("--url", default=None, help="an already running dashboard on 127.0.0.1 (else one is started)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS or not 1 <= args.duration <= MAX_DURATION:
        raise SystemExit(f"--sessions must be 1..{MAX_SESSIONS} and --duration 1..{MAX_DURATION} s")
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"{CHROMIUM} not found (apt-get install chromium)")
    from lmi.paths import default_db

    db = Path(args.db) if args.db else default_db()
    lads = lad_choices(db)
    proc = None
    log = Path(tempfile.gettempdir()) / "lmi-load-streamlit.log"
    if args.url:
        base = local_only(args.url)
        wait_healthy(base, None)
        sampler = None
        print("note: --url given, so server memory is not sampled", file=sys.stderr)
    else:
        base = local_only(f"http://127.0.0.1:{free_port()}")
        proc = start_server(db, int(urlparse(base).port), log)
    try:
        wait_healthy(base, proc)
        sampler = RssSampler(proc.pid) if proc else None
        if sampler:
            sampler.start()
        stats = Stats()
        print(f"load: {args.sessions} browser sessions for {args.duration:.0f} s against {base} "
              f"(ramp {args.ramp:.0f} s, db {db})", file=sys.stderr)
        elapsed = asyncio.run(run(args, base, lads, stats))
    finally:
        if sampler:
            sampler.stop.set()
            sampler.join(timeout=5)
        if proc:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    report(args, elapsed, stats, sampler)
    return 1 if sum(stats.errors.values()) else 0


def report(args, elapsed: float, stats: Stats, sampler: RssSampler | None) -> None:
    n = sum(stats.actions.values())
    print(f"\nload.py: {args.sessions} concurrent chromium sessions, {elapsed:.0f} s, {n} actions "
          f"({', '.join(f'{k} {v}' for k, v in sorted(stats.actions.items()))})")
    print(f"  errors: {sum(stats.errors.values())}" + (" (" + ", ".join(f"{k} {v}" for k, v in stats.errors.items()) + ")"
                                                      if stats.errors else ""))
    for k, v in stats.error_examples.items():
        print(f"    e.g. {k}: {v}")
    if stats.chart_ms:
        print(f"  time to a rendered chart: p50 {pct(stats.chart_ms, .5) / 1000:.2f} s, p95 {pct(stats.chart_ms, .95) / 1000:.2f} s, "
              f"max {max(stats.chart_ms) / 1000:.2f} s (n={len(stats.chart_ms)})")
    if stats.download_ms:
        print(f"  downloads: {len(stats.download_ms)}, p50 {pct(stats.download_ms, .5) / 1000:.2f} s, "
              f"p95 {pct(stats.download_ms, .95) / 1000:.2f} s, {stats.download_bytes / 1e6:.1f} MB in total")
    if sampler and sampler.samples:
        rss = [s[1] for s in sampler.samples]
        cpu = [s[2] for s in sampler.samples]
        print(f"  server RSS (MB, incl. children): start {rss[0]:.0f}, peak {max(rss):.0f}, end {rss[-1]:.0f}; "
              f"server CPU mean {statistics.mean(cpu):.0f}%, peak {max(cpu):.0f}% (100% = one core)")
        import psutil

        print(f"  load generator (chromium + driver) CPU mean {statistics.mean(sampler.client_cpu[1:] or [0]):.0f}%; "
              f"whole host mean {statistics.mean(sampler.host_cpu[1:] or [0]):.0f}% of {psutil.cpu_count()} cores x 100%")
    print(f"  throughput: {n / max(elapsed, 1):.2f} actions/s")


if __name__ == "__main__":
    sys.exit(main())
