"""Hostile input (issue 6): SQL fragments, path segments, very long strings, unknown codes and wrong types
reach no SQL text — values travel only as bound parameters — through lmi.queries and through the
dashboard (URL query parameters and forged widget/session values, via AppTest); no data value is rendered
as raw HTML; downloads neutralise formula-like cells and sanitise file names.
"""
from __future__ import annotations

import ast
import inspect
import io
import os
import re
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from lmi import export, queries
from lmi.db import Database
from lmi.errors import QueryError

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MARK = "ZQX"  # every hostile string carries this marker, so its presence in SQL text is unambiguous
HOSTILE: tuple[str, ...] = (
    f"{MARK}' OR '1'='1",
    f"{MARK}'; DROP TABLE facts; --",
    f'{MARK}" OR 1=1 --',
    f"E06000001' UNION SELECT value FROM build_info --{MARK}",
    f"../../{MARK}/etc/passwd",
    f"..\\..\\{MARK}\\win.ini",
    f"%2e%2e%2f{MARK}",
    f"<script>alert('{MARK}')</script>",
    f"{MARK}" + "A" * 100_000,
    f"{MARK}\x00null",
    f"{MARK} 😀 日本 \u202e",
    f"E99{MARK}99",
    f"{MARK}$1 ? :name",
)
WRONG_TYPES: tuple[object, ...] = (123, -1.5, True, {MARK: 1}, b"ZQX-bytes", object())


# --- recording every SQL string --------------------------------------------------------------------
@pytest.fixture()
def sql_log(monkeypatch) -> list[tuple[str, object]]:
    """Wrap Database.query/scalar (the only way lmi runs SQL) to record (sql, params)."""
    log: list[tuple[str, object]] = []
    orig_query, orig_scalar = Database.query, Database.scalar

    def query(self, sql, params=None):
        log.append((sql, params))
        return orig_query(self, sql, params)

    def scalar(self, sql, params=None):
        log.append((sql, params))
        return orig_scalar(self, sql, params)

    monkeypatch.setattr(Database, "query", query)
    monkeypatch.setattr(Database, "scalar", scalar)
    return log


def _assert_no_payload_in_sql(log: list[tuple[str, object]]) -> None:
    bad = [sql for sql, _ in log if MARK.lower() in sql.lower() or "drop table" in sql.lower()]
    assert not bad, f"a hostile value reached SQL text: {bad[0][:300]!r}"


@pytest.fixture(scope="module")
def db(snapshot_db: Path) -> Database:
    d = Database(snapshot_db)
    yield d
    d.close()


@pytest.fixture(scope="module")
def valid(db: Database) -> dict[str, object]:
    """A valid value for every parameter name of lmi.queries (so each hostile argument is reached)."""
    m = "els_employment_rate"
    assert queries.measure(db, m)
    period = queries.latest_period(db, m)
    return {
        "db": db, "measure_id": m, "measures": [m], "period": period, "level": "lad",
        "area_code": "E08000016", "code": "E08000016", "comparator": "E92000001",
        "area_codes": ["E08000016", "E92000001"], "areas": ["E08000016"], "breakdown": None,
        "breakdown_type": "total", "include_hidden": False, "today": date(2025, 1, 1),
    }


def _hostile_args(name: str, kind: str) -> list[object]:
    """Hostile values for one parameter: 'strings' (SQL fragments, paths, long, unknown codes, control
    characters — in the shape the parameter expects) or 'types' (wrong types and wrong shapes)."""
    if name == "db":
        return []
    if kind == "strings":
        if name in ("area_codes", "measures", "areas"):
            return [[h] for h in HOSTILE] + [["E92000001", HOSTILE[1]], ["E99999999"], []]
        if name == "breakdown":
            return [(h, h) for h in HOSTILE] + [("total", HOSTILE[1]), (HOSTILE[1], "total")]
        if name in ("include_hidden", "today"):
            return []
        return list(HOSTILE) + ["", "E06999999", "e92000001", " E92000001 ", "lad\x00", "Jan-Dec 2022' --"]
    if name in ("area_codes", "measures", "areas"):
        return [HOSTILE[0], [123, None], 123, {MARK: 1}]
    if name == "breakdown":
        return [(HOSTILE[0],), HOSTILE[0], 123, ("total", 123)]
    if name == "include_hidden":
        return [HOSTILE[0], None]
    if name == "today":
        return [HOSTILE[0], 123]
    return list(WRONG_TYPES)


def _empty(result: object) -> bool:
    if result is None:
        return True
    if isinstance(result, pd.DataFrame):
        return result.empty
    if isinstance(result, (list, tuple, dict, str)):
        return len(result) == 0
    return False


PUBLIC = sorted(n for n, f in inspect.getmembers(queries, inspect.isfunction)
                if f.__module__ == queries.__name__ and not n.startswith("_"))


# functions that need a different valid measure to get past their own checks
VALID_OVERRIDES = {"breakdown_sum_series": {"measure_id": "datahub_aps_employment", "breakdown_type": "soc2020_submajor"},
                   "area_boundaries": {"level": "region"}, "area_bbox": {"area_code": "E12000003"}}


def _call_all(name: str, kind: str, valid: dict) -> tuple[int, list[str]]:
    """Call queries.<name> with each hostile value in each parameter (others valid); list what went wrong."""
    func = getattr(queries, name)
    params = list(inspect.signature(func).parameters)
    valid = {**valid, **VALID_OVERRIDES.get(name, {})}
    missing = [p for p in params if p not in valid]
    assert not missing, f"queries.{name}: add a valid value for parameter(s) {missing} to this test"
    baseline = func(**{q: valid[q] for q in params})  # the valid call answers, so hostile values get as deep
    assert not _empty(baseline), f"queries.{name} gives nothing for the test's valid arguments; fix VALID_OVERRIDES"
    problems: list[str] = []
    calls = 0
    if not any(_hostile_args(p, kind) for p in params):  # nothing of this kind to inject: run it once
        func(**{q: valid[q] for q in params})
        return 1, problems
    for p in params:
        for bad in _hostile_args(p, kind):
            kwargs = {q: valid[q] for q in params}
            kwargs[p] = bad
            calls += 1
            shown = repr(bad)[:40]
            try:
                result = func(**kwargs)
            except QueryError:
                continue
            except duckdb.Error as exc:
                problems.append(f"{p}={shown}: duckdb.{type(exc).__name__}: {str(exc).splitlines()[0][:110]}")
                continue
            except Exception as exc:  # noqa: BLE001 - any other exception is a finding
                problems.append(f"{p}={shown}: {type(exc).__name__}: {str(exc)[:110]}")
                continue
            if not _empty(result) and MARK in (result.to_string() if isinstance(result, pd.DataFrame) else str(result)):
                problems.append(f"{p}={shown}: the hostile value came back in the result")
    return calls, problems


@pytest.mark.parametrize("name", PUBLIC)
def test_query_functions_keep_hostile_strings_out_of_sql(name: str, valid: dict, sql_log: list) -> None:
    """SQL fragments, path segments, very long strings, unknown codes, control characters: each parameter
    in turn (the others valid). They travel only as bound parameters (never in SQL text), and the call
    raises QueryError or returns an empty result — never a duckdb error or another exception."""
    calls, problems = _call_all(name, "strings", valid)
    _assert_no_payload_in_sql(sql_log)
    assert calls, f"queries.{name} was never called"
    assert not problems, f"queries.{name}:\n  " + "\n  ".join(problems[:15])


@pytest.mark.parametrize("name", PUBLIC)
def test_query_functions_reject_wrong_types_with_query_error(name: str, valid: dict, sql_log: list) -> None:
    """Wrong types and shapes (123, True, a dict, an object, a 1-tuple breakdown, an int for a list):
    QueryError or an empty result, never a duckdb conversion error or a TypeError/ValueError."""
    calls, problems = _call_all(name, "types", valid)
    _assert_no_payload_in_sql(sql_log)
    assert calls, f"queries.{name} was never called"
    assert not problems, f"queries.{name}:\n  " + "\n  ".join(problems[:15])


def test_sql_log_fixture_detects_string_building(db: Database, sql_log: list) -> None:
    """The recorder sees SQL text, so a query built by string formatting would be caught."""
    db.query(f"SELECT '{MARK}' AS x")
    with pytest.raises(AssertionError):
        _assert_no_payload_in_sql(sql_log)


# --- the dashboard: URL parameters and forged widget values ---------------------------------------
def _dashboard_or_fail() -> Path:
    path = ROOT / "dashboard.py"
    if not path.is_file():
        if CI:
            pytest.fail("dashboard.py is missing: the hostile-URL AppTest cannot run")
        pytest.skip("dashboard.py not written yet (this test fails instead of skipping when CI=true)")
    return path


URL_PARAMS = ("page", "level", "area", "cmp", "measure", "period", "bd", "present", "hex", "base", "roll",
              "dlareas", "dlperiods", "x_cluster", "x_view", "q", "code", "lad", "soc")
HOSTILE_URLS = [
    {k: HOSTILE[i % len(HOSTILE)] for i, k in enumerate(URL_PARAMS)},
    {k: HOSTILE[(i + 3) % len(HOSTILE)] for i, k in enumerate(URL_PARAMS)},
    {"area": "E06999999", "cmp": f"E92000001,{HOSTILE[1]},E06999999", "measure": "els_employment_rate",
     "period": HOSTILE[0], "bd": f"total:{HOSTILE[1]}", "base": HOSTILE[4]},
    {"area": ["E92000001", HOSTILE[0]], "measure": ["els_employment_rate", HOSTILE[1]], "level": ["lad", "x" * 5000]},
    {"page": "download", "measure": "els_employment_rate", "dlareas": HOSTILE[1], "dlperiods": HOSTILE[0],
     "x_" + "a" * 30: HOSTILE[2]},
    {"page": "map", "area": "E08000016", "hex": HOSTILE[0], "period": "2023' --"},
    {"page": "time_series", "area": "E08000038", "base": HOSTILE[3], "roll": HOSTILE[6]},
    {"page": "career_clusters", "x_cluster": HOSTILE[1]},
]


@pytest.fixture()
def fresh_app(snapshot_db: Path, monkeypatch):
    """AppTest on the snapshot with Streamlit's caches cleared, so every query really runs (and is recorded)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    path = _dashboard_or_fail()
    monkeypatch.setenv("LMI_DB", str(snapshot_db))
    st.cache_data.clear()
    st.cache_resource.clear()
    return lambda: AppTest.from_file(str(path), default_timeout=120)


def _rendered_text(at) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "warning", "error", "info", "success", "title", "header", "subheader", "text"):
        for el in getattr(at, kind, []):
            out.append(str(getattr(el, "value", "")))
    return out


@pytest.mark.parametrize("params", HOSTILE_URLS, ids=lambda p: ",".join(sorted(p))[:40])
def test_dashboard_hostile_query_params_reach_no_sql(params: dict, fresh_app, sql_log: list) -> None:
    at = fresh_app()
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "the page rendered no title"
    assert sql_log, "the app ran no queries (the recorder is not seeing them)"
    _assert_no_payload_in_sql(sql_log)
    for text in _rendered_text(at):
        assert "<script" not in text.lower() and MARK + "A" * 100 not in text, f"hostile value echoed: {text[:200]!r}"
    # the URL the app writes back holds only validated values
    for k, v in dict(at.query_params).items():
        assert MARK not in str(v), f"hostile value kept in the URL: {k}={str(v)[:80]!r}"


def test_dashboard_forged_session_view_reaches_no_sql(fresh_app, sql_log: list) -> None:
    """Widgets send option indexes, never free text, so hostile widget values can only come from forged
    server-side state: put hostile values in every field of the session's view (what the widgets' on_change
    callbacks write); the next run must repair them without an error and without them reaching SQL."""
    from lmi.state import ViewState

    at = fresh_app()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    pages = ["area_profile", "map", "time_series", "download", "sources", "career_clusters"]
    pages = [p for p in pages if (ROOT / "pages" / f"{p}.py").is_file()]
    assert len(pages) >= 5, pages
    for i, page in enumerate(pages):
        h = HOSTILE[i % len(HOSTILE)]
        at.switch_page(f"pages/{page}.py")
        at.session_state["lmi_view"] = ViewState(
            page=page, level=h, area=h, comparators=(h, "E92000001", HOSTILE[1]), measure=h, period=h,
            breakdown=(h, h), base=h, dl_areas=h, dl_periods=h, extras=(("x_cluster", h), ("x_view", h)))
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.title, f"{page}: nothing rendered"
        v = at.session_state["lmi_view"]
        assert MARK not in repr((v.level, v.area, v.comparators, v.measure, v.period, v.breakdown, v.base)), v
    _assert_no_payload_in_sql(sql_log)


# --- no data value rendered as raw HTML -----------------------------------------------------------
UI_FILES = sorted((ROOT / "pages").glob("*.py")) + [ROOT / "dashboard.py", ROOT / "lmi" / "ui.py"]


def _module_string_constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node.value.value
    return out


def _raw_html_calls(path: Path) -> list[tuple[int, str, bool]]:
    """(line, call, argument is a constant CSS string) for every call that renders raw HTML."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    consts = _module_string_constants(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        unsafe = any(k.arg == "unsafe_allow_html" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                     for k in node.keywords)
        if not (unsafe or name in ("html",)):
            continue
        arg = node.args[0] if node.args else None
        text = None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            text = arg.value
        elif isinstance(arg, ast.Name) and arg.id in consts:
            text = consts[arg.id]
        css_only = text is not None and re.fullmatch(r"\s*<style>[^<]*</style>\s*", text) is not None
        found.append((node.lineno, ast.unparse(node)[:80], css_only))
    return found


def test_no_data_value_is_rendered_as_raw_html() -> None:
    files = [p for p in UI_FILES if p.is_file()]
    if not any(p.name == "dashboard.py" for p in files):
        _dashboard_or_fail()
    assert (ROOT / "pages").is_dir() and files, "no dashboard pages found"
    bad = [f"{p.relative_to(ROOT)}:{line}: {call}" for p in files for line, call, ok in _raw_html_calls(p) if not ok]
    assert not bad, "raw HTML from something other than a constant CSS string:\n  " + "\n  ".join(bad)


def test_raw_html_scanner_flags_data_values(tmp_path: Path) -> None:
    p = tmp_path / "page.py"
    p.write_text('import streamlit as st\nCSS = "<style>h1 {color: red}</style>"\nname = input()\n'
                 'st.html(CSS)\nst.markdown(f"<b>{name}</b>", unsafe_allow_html=True)\nst.html("<div>" + name)\n')
    flags = [ok for _, _, ok in _raw_html_calls(p)]
    assert flags == [True, False, False]


def test_ui_code_runs_no_sql_of_its_own() -> None:
    """Pages and the shared UI go through lmi.queries (bound parameters), never duckdb directly."""
    for p in [x for x in UI_FILES + [ROOT / "lmi" / "state.py"] if x.is_file()]:
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import duckdb|from duckdb)", text, re.M), f"{p.name} imports duckdb"
        assert ".execute(" not in text, f"{p.name} executes SQL directly"


# --- downloads: formula neutralisation, numbers stay numbers, safe file names ------------------------
DANGEROUS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\tTAB", "\rCR", "=HYPERLINK(\"http://x\",\"y\")",
             "-cmd|' /C calc'!A0"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "area_name": DANGEROUS + ["Barnsley", "Kingston upon Hull, City of"],
        "value": [1.5, -2.25, 0.0, -0.0, 1e6, -1e-3, 42.0, -7.0, 3.0, float("nan")],
        "count": [1, -2, 3, -4, 5, -6, 7, -8, 9, 10],
    })


def test_csv_download_neutralises_formula_cells_and_keeps_numbers() -> None:
    raw = export.to_csv(_frame())
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", keep_default_na=False, dtype=str)
    for cell in back["area_name"][: len(DANGEROUS)]:
        assert cell.startswith("'"), f"formula-like cell not neutralised: {cell!r}"
    assert list(back["area_name"][-2:]) == ["Barnsley", "Kingston upon Hull, City of"]
    # numbers, including negative ones, are written as plain numbers (no apostrophe)
    assert back["value"][1] == "-2.25" and back["count"][1] == "-2" and back["value"][5] == "-0.001"


def test_xlsx_download_neutralises_formula_cells_and_numbers_stay_numeric() -> None:
    meta = pd.DataFrame({"dataset": ["=cmd"], "title": ["@title"], "licence": ["OGL"]})
    wb = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(_frame(), meta)))
    ws = wb["data"]
    header = [c.value for c in ws[1]]
    col = {h: i for i, h in enumerate(header)}
    rows = list(ws.iter_rows(min_row=2))
    for r in rows[: len(DANGEROUS)]:
        c = r[col["area_name"]]
        assert c.data_type == "s" and c.value.startswith("'"), (c.value, c.data_type)
    for r in rows:
        for name in ("value", "count"):
            c = r[col[name]]
            if c.value is not None:
                assert c.data_type == "n" and isinstance(c.value, (int, float)), (name, c.value, c.data_type)
    negatives = [r[col["count"]].value for r in rows if isinstance(r[col["count"]].value, (int, float)) and r[col["count"]].value < 0]
    assert negatives == [-2, -4, -6, -8]
    assert rows[1][col["value"]].value == -2.25
    m = wb["metadata"]
    assert all(not str(c.value).startswith(("=", "@")) for row in m.iter_rows() for c in row if c.value is not None)
    # no cell anywhere is a formula
    assert not any(c.data_type == "f" for s in wb.worksheets for row in s.iter_rows() for c in row)


def test_neutralise_values() -> None:
    for s in DANGEROUS:
        assert export.neutralise(s) == "'" + s
    for v in (-1, -1.5, 0, 2.0, None, "Barnsley", "", "a=b"):
        assert export.neutralise(v) == v


@pytest.mark.parametrize("part", ["../../etc/passwd", "a\x00b", "<script>alert(1)</script>", "..", "/", "\\..\\x",
                                  "CON", "x" * 500, "naïve café", "a/b\\c:d*e?f\"g<h>i|j", "", "\n\r\t"])
def test_safe_filename(part: str) -> None:
    name = export.safe_filename(part, "E08000016", ext="csv", when=date(2025, 7, 1))
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name
    assert ".." not in name and "/" not in name and "\\" not in name and "\x00" not in name
    assert name.startswith("lmi_") and name.endswith("_2025-07-01.csv"), name
    assert len(name) <= 120
    hostile_ext = export.safe_filename("x", ext="../../exe\x00", when=date(2025, 7, 1))
    assert re.fullmatch(r"[A-Za-z0-9._-]+", hostile_ext) and hostile_ext.count(".") == 1, hostile_ext
