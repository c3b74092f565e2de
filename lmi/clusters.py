"""Career clusters: load and validate ``data/career_clusters.yaml`` against the official SOC 2020 structure.

The YAML names SOC 2020 unit groups only. Their minor, sub-major and major groups (codes and titles)
are derived here from the official ONS structure: either the SOC 2020 Volume 1 workbook read directly
(:meth:`SocStructure.from_workbook`) or the ``soc2020`` table of a built lmi database
(:meth:`SocStructure.from_db`). Problems raise :class:`lmi.errors.SourceError` naming the YAML file,
line and key path.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

from lmi.errors import QueryError, SourceError
from lmi.paths import CLUSTERS_FILE, PROJECT_ROOT, default_sources

LEVEL_BY_LEN = {1: "major", 2: "submajor", 3: "minor", 4: "unit"}
ROUTES = (
    "apprenticeship", "degree_apprenticeship", "degree", "postgraduate", "vocational_qualification",
    "t_level", "professional_qualification", "licence", "experience", "promotion", "none",
)
# The themes the issue requires (cluster ids in the shipped file).
REQUIRED_CLUSTERS = (
    "health_social_care", "digital_technology", "construction_built_environment",
    "engineering_manufacturing", "logistics_transport", "hospitality_tourism", "retail_customer_service",
    "business_finance_professional", "education_childcare", "public_services_administration",
    "creative_media", "green_energy_environment", "land_based",
)
MIN_CLUSTERS, MAX_CLUSTERS = 10, 14
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_UNIT = re.compile(r"^[1-9]\d{3}$")
_SOURCES_COMMENT = re.compile(r"^\s*#\s*Sources:\s*\S")


# ----------------------------------------------------------------------------------------- SOC 2020

@dataclass(frozen=True)
class SocGroup:
    code: str
    level: str          # 'major' | 'submajor' | 'minor' | 'unit'
    title: str
    parent: str | None  # code of the enclosing group (None for major groups)


@dataclass
class SocStructure:
    """The SOC 2020 hierarchy: every group with its parent, as read from an official source."""

    groups: dict[str, SocGroup]
    source: str

    def is_unit(self, code: object) -> bool:
        g = self.groups.get(code) if isinstance(code, str) else None
        return g is not None and g.level == "unit"

    def title(self, code: str) -> str:
        return self.groups[code].title

    def ancestor(self, code: str, level: str) -> str:
        """The enclosing group of ``code`` at ``level`` ('minor', 'submajor' or 'major')."""
        g = self.groups[code]
        while g.level != level:
            if g.parent is None:
                raise KeyError(f"{code} has no {level} group")
            g = self.groups[g.parent]
        return g.code

    def units(self) -> list[str]:
        return sorted(c for c, g in self.groups.items() if g.level == "unit")

    def units_in(self, code: str) -> list[str]:
        """Unit groups that sit under ``code`` (a major, sub-major or minor group)."""
        level = self.groups[code].level
        return [u for u in self.units() if self.ancestor(u, level) == code]

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[tuple], source: str, sheet: str | None = None) -> "SocStructure":
        """Build from ``(code, title)`` or ``(code, title, file_row)`` rows in the publisher's order.

        The parent of each group is the most recent group one level up, as the workbook lays it out;
        each derived parent is checked against the code prefix so a mis-ordered file is caught.
        """
        groups: dict[str, SocGroup] = {}
        current: dict[str, str] = {}
        order = ("major", "submajor", "minor", "unit")
        for rec in rows:
            code, title = rec[0], rec[1]
            where = dict(row=rec[2] if len(rec) > 2 else None, sheet=sheet)
            level = LEVEL_BY_LEN.get(len(code))
            if level is None or not code.isdigit():
                raise SourceError(source, "SOC code is not 1-4 digits", value=code, **where,
                                  expected="a SOC 2020 major/sub-major/minor/unit group code")
            idx = order.index(level)
            parent = current.get(order[idx - 1]) if idx else None
            if idx and (parent is None or not code.startswith(parent)):
                raise SourceError(source, f"SOC group {code} does not sit under the preceding "
                                  f"{order[idx - 1]} group {parent}", value=code, **where,
                                  expected="groups listed in hierarchical order")
            if code in groups:
                raise SourceError(source, "SOC code listed twice", value=code, expected="unique codes", **where)
            groups[code] = SocGroup(code, level, " ".join(str(title).split()), parent)
            current[level] = code
            for deeper in order[idx + 1:]:
                current.pop(deeper, None)
        if not any(g.level == "unit" for g in groups.values()):
            raise SourceError(source, "no SOC 2020 unit groups found", expected="the SOC 2020 structure")
        return cls(groups, source)

    @classmethod
    def from_workbook(cls, path: Path, rel: str | None = None) -> "SocStructure":
        """Read ONS 'SOC 2020 Volume 1' (sheet 'SOC2020 descriptions') directly."""
        name = rel or str(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # openpyxl: "no default style"
                raw = pd.read_excel(path, sheet_name="SOC2020 descriptions", dtype=str, header=0)
        except ValueError as exc:
            raise SourceError(name, f"cannot read sheet 'SOC2020 descriptions': {exc}",
                              expected="the ONS SOC 2020 Volume 1 workbook") from None
        cols = {" ".join(str(c).split()).lower(): c for c in raw.columns}

        def col(*needles: str, exclude: str | None = None) -> str:
            for norm, orig in cols.items():
                if all(n in norm for n in needles) and not (exclude and exclude in norm):
                    return orig
            raise SourceError(name, "column not found", sheet="SOC2020 descriptions", row=1,
                              column=" ".join(needles), expected=f"a header containing {needles!r}")

        code_cols = [col("major group", exclude="sub-major"), col("sub-major group"),
                     col("minor group"), col("unit group")]
        title_col = col("group title")
        rows: list[tuple[str, str]] = []
        code_frame = raw[code_cols].to_numpy()
        titles = raw[title_col].tolist()
        for i, (cells, title) in enumerate(zip(code_frame, titles), start=2):
            codes = [str(c).strip() for c in cells if isinstance(c, str) and c.strip() not in ("", "<blank>")]
            if not codes:
                continue
            if len(codes) != 1:
                raise SourceError(name, "row has more than one SOC code", sheet="SOC2020 descriptions",
                                  row=i, value=codes, expected="exactly one code per row")
            if not isinstance(title, str) or not title.strip():
                raise SourceError(name, "SOC group has no title", sheet="SOC2020 descriptions", row=i,
                                  column=str(title_col), value=title, expected="a group title")
            rows.append((codes[0], title, i))
        return cls.from_rows(rows, name, sheet="SOC2020 descriptions")

    @classmethod
    def from_db(cls, con: Any) -> "SocStructure":
        """Read the ``soc2020`` table of a built lmi database (duckdb connection)."""
        sql = "SELECT code, title FROM soc2020"
        df = con.query(sql) if hasattr(con, "scalar") else con.execute(sql).df()  # lmi.db.Database or duckdb
        df["code"] = df["code"].astype(str).str.strip()
        df = df[df["code"].str.fullmatch(r"\d{1,4}")]
        # hierarchical order == lexicographic order with parents before children
        df = df.sort_values("code", key=lambda s: s.str.ljust(4, "0") + s.str.len().astype(str))
        return cls.from_rows(zip(df["code"], df["title"]), "database table soc2020")


def find_soc_workbook(sources_dir: Path | None = None) -> Path:
    """Locate the SOC 2020 Volume 1 workbook under ``<sources>/occupations`` by its sheet names."""
    from openpyxl import load_workbook

    base = sources_dir or default_sources()
    if base is None:
        raise FileNotFoundError("official sources folder not found (set LMI_SOURCES)")
    for path in sorted(Path(base).glob("**/*.xlsx")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                wb = load_workbook(path, read_only=True)
            names = wb.sheetnames
            wb.close()
        except Exception:  # noqa: BLE001 - any unreadable workbook is simply not the one we want
            continue
        if "SOC2020 descriptions" in names:
            return path
    raise FileNotFoundError(f"no SOC 2020 Volume 1 workbook under {base}")


def load_soc_structure(sources_dir: Path | None = None, con: Any = None) -> SocStructure:
    """SOC 2020 structure from a database connection when given (table soc2020), else the workbook."""
    if con is not None:
        try:
            return SocStructure.from_db(con)
        except Exception:  # noqa: BLE001 - fall back to the official workbook
            pass
    path = find_soc_workbook(sources_dir)
    base = sources_dir or default_sources()
    rel = str(path.relative_to(base)) if base and path.is_relative_to(base) else str(path)
    return SocStructure.from_workbook(path, rel)


# ----------------------------------------------------------------------------------------- model

@dataclass(frozen=True)
class EntryRoute:
    route: str
    name: str
    level: int | None = None


@dataclass(frozen=True)
class Occupation:
    soc: str
    title: str
    minor: str
    minor_title: str
    submajor: str
    submajor_title: str
    major: str
    next: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    number: int                     # 1-based position in the pathway
    name: str
    rqf_level: int
    entry_routes: tuple[EntryRoute, ...]
    occupations: tuple[Occupation, ...]

    @property
    def codes(self) -> list[str]:
        return [o.soc for o in self.occupations]

    @property
    def submajors(self) -> list[str]:
        return sorted({o.submajor for o in self.occupations})


@dataclass(frozen=True)
class Cluster:
    id: str
    name: str
    description: str
    steps: tuple[Step, ...]
    sources: str                    # text of the cluster's '# Sources:' comment

    @property
    def codes(self) -> list[str]:
        return [c for s in self.steps for c in s.codes]

    def step_of(self, soc: str) -> Step:
        for s in self.steps:
            if soc in s.codes:
                return s
        raise KeyError(soc)

    def submajor_steps(self) -> dict[str, list[int]]:
        """Sub-major group -> numbers of the steps with a unit group in it."""
        out: dict[str, list[int]] = {}
        for s in self.steps:
            for sm in s.submajors:
                out.setdefault(sm, []).append(s.number)
        return out


@dataclass
class CareerModel:
    clusters: list[Cluster]
    file: str
    soc: SocStructure = field(repr=False)

    def get(self, key: str) -> Cluster:
        """A cluster by id or name (case-insensitive)."""
        k = key.strip().lower()
        for c in self.clusters:
            if k in (c.id, c.name.lower()):
                return c
        raise QueryError(f"unknown career cluster {key!r}; known: {', '.join(c.id for c in self.clusters)}")


# ----------------------------------------------------------------------------------------- loading

class _Lines:
    """Maps key paths of the YAML document to 1-based line numbers."""

    def __init__(self, text: str):
        self.root = yaml.compose(text)

    def line(self, path: tuple) -> int | None:
        node = self.root
        best = node.start_mark.line + 1 if node is not None else None
        for key in path:
            if isinstance(node, yaml.MappingNode):
                hit = [(k, v) for k, v in node.value if k.value == key]
                if not hit:
                    return best
                best = hit[0][0].start_mark.line + 1
                node = hit[0][1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                best = node.start_mark.line + 1
            else:
                return best
        return best


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Checker:
    def __init__(self, file: str, text: str):
        self.file, self.text = file, text
        self.lines = _Lines(text)
        self.problems: list[SourceError] = []

    def fail(self, path: tuple, message: str, value: object = None, expected: str | None = None) -> None:
        self.problems.append(SourceError(self.file, message, row=self.lines.line(path),
                                         column=_dotted(path) or None, value=value, expected=expected))


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def check_clusters(path: Path = CLUSTERS_FILE, soc: SocStructure | None = None,
                   *, text: str | None = None) -> tuple[list[Cluster], list[SourceError]]:
    """Validate the clusters file; return the clusters built and every problem found."""
    file = _rel(Path(path))
    text = Path(path).read_text(encoding="utf-8") if text is None else text
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SourceError(file, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                          row=mark.line + 1 if mark else None, expected="a YAML document") from None
    ck = _Checker(file, text)
    if not isinstance(doc, dict) or not isinstance(doc.get("clusters"), list):
        ck.fail(("clusters",), "missing list 'clusters'", expected="a top-level key 'clusters' with a list")
        return [], ck.problems
    soc = soc or load_soc_structure()
    raw_clusters = doc["clusters"]
    if not MIN_CLUSTERS <= len(raw_clusters) <= MAX_CLUSTERS:
        ck.fail(("clusters",), f"{len(raw_clusters)} clusters", value=len(raw_clusters),
                expected=f"{MIN_CLUSTERS}-{MAX_CLUSTERS} clusters")
    cluster_lines = [ck.lines.line(("clusters", i)) or 0 for i in range(len(raw_clusters))]
    text_lines = text.splitlines()
    clusters: list[Cluster] = []
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    for ci, rc in enumerate(raw_clusters):
        base = ("clusters", ci)
        if not isinstance(rc, dict):
            ck.fail(base, "cluster is not a mapping", value=rc, expected="a mapping with id, name, steps")
            continue
        cid, name = rc.get("id"), rc.get("name")
        if not isinstance(cid, str) or not _ID.match(cid):
            ck.fail(base + ("id",), "bad cluster id", value=cid, expected="a snake_case id")
            cid = str(cid)
        elif cid in seen_ids:
            ck.fail(base + ("id",), "duplicated cluster id", value=cid, expected="unique ids")
        if not isinstance(name, str) or not name.strip():
            ck.fail(base + ("name",), "missing cluster name", value=name, expected="a non-empty name")
            name = str(name)
        elif name.lower() in seen_names:
            ck.fail(base + ("name",), "duplicated cluster name", value=name, expected="unique names")
        seen_ids.add(cid)
        seen_names.add(str(name).lower())
        # the '# Sources:' comment must sit inside this cluster's block
        start = cluster_lines[ci]
        end = cluster_lines[ci + 1] - 1 if ci + 1 < len(cluster_lines) else len(text_lines)
        block = text_lines[max(start - 1, 0):end]
        src_idx = next((i for i, ln in enumerate(block) if _SOURCES_COMMENT.match(ln)), None)
        sources = ""
        if src_idx is None:
            ck.fail(base + ("id",), "cluster has no '# Sources:' comment citing where its pathway logic "
                    "comes from", value=cid, expected="a comment line '# Sources: ...' in the cluster block")
        else:
            parts = []
            for ln in block[src_idx:]:
                if not ln.strip().startswith("#"):
                    break
                parts.append(ln.strip().lstrip("#").strip())
            sources = " ".join(parts)[len("Sources:"):].strip()
        steps = _check_steps(ck, base, rc.get("steps"), soc)
        clusters.append(Cluster(cid, str(name).strip(), " ".join(str(rc.get("description", "")).split()),
                                tuple(steps), sources))
    ids = {c.id for c in clusters}
    for req in REQUIRED_CLUSTERS:
        if req not in ids:
            ck.fail(("clusters",), f"required cluster {req!r} missing", value=sorted(ids),
                    expected=f"a cluster with id {req!r}")
    return clusters, ck.problems


def _check_steps(ck: _Checker, base: tuple, raw_steps: object, soc: SocStructure) -> list[Step]:
    if not isinstance(raw_steps, list) or len(raw_steps) < 2:
        ck.fail(base + ("steps",), "a pathway needs at least two steps", value=raw_steps,
                expected="a list of >= 2 steps from entry to professional")
        return []
    steps: list[Step] = []
    where: dict[str, int] = {}          # code -> step index
    links: list[tuple[tuple, int, str, str]] = []  # (path, from_step, from_code, to_code)
    prev_rqf = 0
    for si, rs in enumerate(raw_steps):
        sp = base + ("steps", si)
        if not isinstance(rs, dict):
            ck.fail(sp, "step is not a mapping", value=rs, expected="a mapping")
            continue
        name = rs.get("name")
        if not isinstance(name, str) or not name.strip():
            ck.fail(sp + ("name",), "missing step name", value=name, expected="a non-empty name")
        rqf = rs.get("rqf_level")
        if isinstance(rqf, bool) or not isinstance(rqf, int) or not 1 <= rqf <= 8:
            ck.fail(sp + ("rqf_level",), "step has no valid qualification level", value=rqf,
                    expected="an RQF level, integer 1-8")
            rqf = prev_rqf or 1
        elif rqf < prev_rqf:
            ck.fail(sp + ("rqf_level",), f"RQF level goes down from {prev_rqf}", value=rqf,
                    expected=f"a level >= {prev_rqf} (steps run from entry to professional)")
        prev_rqf = max(prev_rqf, rqf)
        routes = _check_routes(ck, sp, rs.get("entry_routes"))
        occs: list[Occupation] = []
        raw_occ = rs.get("occupations")
        if not isinstance(raw_occ, list) or not raw_occ:
            ck.fail(sp + ("occupations",), "step lists no occupations", value=raw_occ,
                    expected="a list of {soc: 'NNNN', next: [...]}")
            raw_occ = []
        for oi, ro in enumerate(raw_occ):
            op = sp + ("occupations", oi)
            if not isinstance(ro, dict) or "soc" not in ro:
                ck.fail(op, "occupation entry has no 'soc'", value=ro, expected="{soc: 'NNNN'}")
                continue
            code = ro["soc"]
            if not isinstance(code, str) or not _UNIT.match(code):
                ck.fail(op + ("soc",), "SOC code is not a quoted 4-digit string", value=code,
                        expected="a SOC 2020 unit group code as a quoted string, e.g. \"6135\"")
                continue
            if not soc.is_unit(code):
                ck.fail(op + ("soc",), "not a SOC 2020 unit group", value=code,
                        expected=f"a unit group in the official SOC 2020 structure ({soc.source})")
                continue
            if code in where:
                ck.fail(op + ("soc",), f"occupation already in step {where[code] + 1} of this cluster",
                        value=code, expected="each occupation once per cluster")
                continue
            where[code] = si
            nxt = ro.get("next", [])
            if nxt is None:
                nxt = []
            if not isinstance(nxt, list):
                ck.fail(op + ("next",), "'next' is not a list", value=nxt, expected="a list of SOC codes")
                nxt = []
            for ni, n in enumerate(nxt):
                links.append((op + ("next", ni), si, code, n))
            extra = set(ro) - {"soc", "next"}
            if extra:
                ck.fail(op, "unknown keys", value=sorted(extra), expected="only 'soc' and 'next'")
            mi, sm = soc.ancestor(code, "minor"), soc.ancestor(code, "submajor")
            occs.append(Occupation(code, soc.title(code), mi, soc.title(mi), sm, soc.title(sm),
                                   soc.ancestor(code, "major"),
                                   tuple(n for n in nxt if isinstance(n, str))))
        steps.append(Step(si + 1, str(name).strip(), int(rqf), tuple(routes), tuple(occs)))
    for path, si, frm, to in links:
        if not isinstance(to, str) or not _UNIT.match(to):
            ck.fail(path, "next-step code is not a quoted 4-digit string", value=to,
                    expected="a SOC 2020 unit group code as a quoted string")
        elif not soc.is_unit(to):
            ck.fail(path, "next-step code is not a SOC 2020 unit group", value=to,
                    expected="a unit group in the official SOC 2020 structure")
        elif to == frm:
            ck.fail(path, "occupation lists itself as its next step", value=to, expected="another occupation")
        elif to not in where:
            ck.fail(path, "next-step occupation is not in this cluster", value=to,
                    expected="an occupation listed in the same or a later step of this cluster")
        elif where[to] < si:
            ck.fail(path, f"next-step occupation is in an earlier step ({where[to] + 1})", value=to,
                    expected=f"an occupation in step {si + 1} or later")
    return steps


def _check_routes(ck: _Checker, sp: tuple, raw: object) -> list[EntryRoute]:
    if not isinstance(raw, list) or not raw:
        ck.fail(sp + ("entry_routes",), "step has no entry routes", value=raw,
                expected="a list of {route, name, level}")
        return []
    out = []
    for ri, rr in enumerate(raw):
        rp = sp + ("entry_routes", ri)
        if not isinstance(rr, dict):
            ck.fail(rp, "entry route is not a mapping", value=rr, expected="{route, name, level}")
            continue
        route, name, level = rr.get("route"), rr.get("name"), rr.get("level")
        if route not in ROUTES:
            ck.fail(rp + ("route",), "unknown entry route type", value=route, expected=f"one of {ROUTES}")
        if not isinstance(name, str) or not name.strip():
            ck.fail(rp + ("name",), "entry route has no name", value=name, expected="a description")
        if level is not None and (isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 8):
            ck.fail(rp + ("level",), "bad RQF level", value=level, expected="an integer 1-8")
            level = None
        extra = set(rr) - {"route", "name", "level"}
        if extra:
            ck.fail(rp, "unknown keys", value=sorted(extra), expected="only route, name, level")
        out.append(EntryRoute(str(route), str(name), level))
    return out


def load_clusters(path: Path = CLUSTERS_FILE, soc: SocStructure | None = None,
                  *, sources_dir: Path | None = None, con: Any = None) -> CareerModel:
    """Load and validate the career-cluster model; raise SourceError on the first problem.

    ``soc`` defaults to the structure from ``con`` (a built database) or the official workbook.
    """
    soc = soc or load_soc_structure(sources_dir, con)
    clusters, problems = check_clusters(Path(path), soc)
    if problems:
        first = problems[0]
        if len(problems) > 1:
            first.detail += f" [and {len(problems) - 1} more problem(s) in this file]"
            first.args = (first.render(),)
        raise first
    return CareerModel(clusters, _rel(Path(path)), soc)


def model_table(model: CareerModel) -> pd.DataFrame:
    """One row per cluster x step x occupation, with derived SOC groups (for display and export)."""
    rows = []
    for c in model.clusters:
        for s in c.steps:
            for o in s.occupations:
                rows.append({
                    "cluster": c.id, "cluster_name": c.name, "step": s.number, "step_name": s.name,
                    "rqf_level": s.rqf_level, "soc": o.soc, "title": o.title, "minor": o.minor,
                    "minor_title": o.minor_title, "submajor": o.submajor, "submajor_title": o.submajor_title,
                    "major": o.major, "next": ", ".join(o.next),
                    "entry_routes": "; ".join(
                        f"{r.route}{f' L{r.level}' if r.level else ''}: {r.name}" for r in s.entry_routes),
                })
    return pd.DataFrame(rows)
