"""Real-browser test: Streamlit server + headless Debian chromium (Playwright) + axe-core.

Loads the app, selects a local authority in the sidebar, sees the map and a time series render,
downloads the CSV and checks it equals `python -m lmi export` for the same selection, and runs axe-core
on each page (fails on serious or critical violations). Needs /usr/bin/chromium, the `playwright`
Python package and node_modules/axe-core/axe.min.js (`npm install --no-save axe-core@4`): when one is
missing the test FAILS under CI=true and is skipped with the reason otherwise.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    if not AXE.is_file():
        return f"{AXE.relative_to(ROOT)} not found (npm install --no-save axe-core@4)"
    return None


@pytest.fixture(scope="module")
def server(snapshot_db):
    reason = _missing()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test prerequisites missing in CI: {reason}")
        pytest.skip(reason)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LMI_DB": str(snapshot_db)}
    log = open(ROOT / ".pytest_cache" / "streamlit-browser-test.log", "w") if (ROOT / ".pytest_cache").is_dir() \
        else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"streamlit did not start (exit code {proc.poll()})")
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log is not subprocess.DEVNULL:
            log.close()


def settle(page) -> None:
    """Wait until the script run has finished (no 'running' status widget) and charts are drawn."""
    page.wait_for_timeout(400)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(300)


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def choose(page, label: str, text: str) -> None:
    """Pick an option in a Streamlit selectbox by typing into it."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.locator("input").click()
    box.locator("input").fill(text)
    page.keyboard.press("Enter")
    settle(page)


def params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query, keep_blank_values=True).items()}


def test_browser_journey_map_time_series_download_and_accessibility(server, snapshot_db, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith((server, "data:", "blob:")) else None)
        page.goto(server + "/")
        page.wait_for_selector("h1", timeout=60_000)
        settle(page)
        assert "area profile" in page.locator("h1").first.inner_text()
        problems = {"profile": axe_violations(page)}

        # select a LAD in the sidebar
        choose(page, "Area level", "Local authority district")
        choose(page, "Area (type a name or code)", "Barnsley")
        page.wait_for_function("() => location.search.includes('area=E08000016')", timeout=30_000)
        assert page.locator("h1").first.inner_text() == "Barnsley: area profile"

        # map: a choropleth of every LAD
        page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Map").click()
        page.wait_for_selector(".js-plotly-plot path.choroplethlocation", state="attached", timeout=60_000)
        settle(page)
        assert page.locator(".js-plotly-plot path.choroplethlocation").count() >= 290
        assert params(page)["area"] == "E08000016" and params(page)["page"] == "map"
        problems["map"] = axe_violations(page)

        # time series: one line per area
        page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Time series").click()
        page.wait_for_selector(".js-plotly-plot .scatterlayer .trace", state="attached", timeout=60_000)
        settle(page)
        assert page.locator(".js-plotly-plot .scatterlayer .trace path.js-line").count() >= 2
        problems["time_series"] = axe_violations(page)

        # download the CSV and compare with the CLI
        page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Data download").click()
        page.wait_for_selector("text=Download CSV", timeout=60_000)
        settle(page)
        sel = params(page)
        with page.expect_download(timeout=60_000) as dl:
            page.get_by_role("button", name="Download CSV").click()
        target = tmp_path / dl.value.suggested_filename
        dl.value.save_as(target)
        assert target.name.startswith("lmi_") and target.suffix == ".csv"
        problems["download"] = axe_violations(page)

        page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Sources").click()
        page.wait_for_selector("text=Licences and attribution", timeout=60_000)
        settle(page)
        problems["sources"] = axe_violations(page)
        browser.close()

    cmd = [sys.executable, "-m", "lmi", "export", "--db", str(snapshot_db), "--measure", sel["measure"],
           "--area", sel["area"]]
    for c in filter(None, sel.get("cmp", "").split(",")):
        cmd += ["--area", c]
    cmd += ["--period", sel["period"]]
    cli = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True).stdout.decode("utf-8")
    got = target.read_bytes().decode("utf-8-sig")
    assert got.splitlines() == cli.splitlines()
    assert len(got.splitlines()) > 1
    assert not outside, f"the page made requests outside the app: {outside[:5]}"
    bad = {k: v for k, v in problems.items() if v}
    assert not bad, f"axe-core serious/critical violations: {bad}"
