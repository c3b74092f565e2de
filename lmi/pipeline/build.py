"""`python -m lmi build`: official files -> staging -> geography -> rollups -> data/lmi.duckdb.

The database is built into a temporary file beside the target and swapped in (``os.replace``)
only when every check has passed, so a failed or interrupted build leaves the previous database
byte-identical.
"""
from __future__ import annotations

import hashlib
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from lmi import __version__, markers
from lmi.errors import BuildCheckError, LmiError, SourceError
from lmi.formats import format_modules
from lmi.formats.base import StageContext
from lmi.geography import reference
from lmi.geography.boundaries import area_boundary_table, lad_boundary_table
from lmi.geography.spine import Spine, build_spine
from lmi.pipeline import checks, derived
from lmi.pipeline.recast import recast_to_current
from lmi.pipeline.rollup import rollup
from lmi.schema import ALL_LEVELS, FACT_COLUMNS, OGL, STAGE_COLUMNS, DatasetInfo, MeasureInfo, StagedDataset

warnings.filterwarnings("ignore", module="openpyxl")

Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    out: Path
    seconds: float = 0.0
    size_bytes: int = 0
    rows_by_dataset: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)        # relative path -> format / reference kind
    unrecognised: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _sources_files(sources: Path) -> list[Path]:
    return sorted(p for p in sources.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in (".csv", ".xlsx", ".json", ".geojson", ".topojson"))


def discover(sources: Path) -> tuple[dict[Path, object], dict[str, Path], list[Path]]:
    """Classify every file: a publisher format module, a geography reference kind, or unrecognised."""
    files = _sources_files(sources)
    mods = format_modules()
    formats: dict[Path, object] = {}
    unrecognised = []
    for path in files:
        for mod in mods:
            try:
                hit = mod.detect(path)
            except Exception:
                hit = False
            if hit:
                formats[path] = mod
                break
    rest = [p for p in files if p not in formats]
    refs = reference.find_references(sources, rest)
    ref_paths = set(refs.values())
    for p in rest:
        if p in ref_paths:
            continue
        # JSON metadata beside an ELS CSV belongs to that CSV
        if p.suffix.lower() == ".json" and p.with_suffix(".csv") in formats:
            continue
        kind = reference.identify(p)
        if kind is None:
            unrecognised.append(p)
    return formats, refs, unrecognised


def _validate_stage(ds: StagedDataset, ctx: StageContext, spine: Spine) -> pd.DataFrame:
    """Check a format's staged output against the contract; return it with dataset and unit filled in."""
    f = ds.facts
    file = ds.info.source_file
    if f is None or f.empty:
        return pd.DataFrame(columns=FACT_COLUMNS)
    missing = [c for c in STAGE_COLUMNS if c not in f.columns]
    if missing:
        raise BuildCheckError(f"{file}: staged output lacks columns {missing}")
    ids = {m.id: m for m in ds.measures}
    unknown = set(f["measure"].unique()) - set(ids)
    if unknown:
        raise BuildCheckError(f"{file}: staged rows use undeclared measures {sorted(unknown)}")
    bad_level = ~f["area_level"].isin(ALL_LEVELS)
    if bad_level.any():
        r = f[bad_level].iloc[0]
        raise SourceError(file, "area level outside the spine", row=int(r["source_row"]), column="area_level",
                          value=r["area_level"], expected=", ".join(ALL_LEVELS))
    codes = f["area_code"].astype(str)
    retired = codes.isin(spine.retired_areas) & f["area_level"].ne("lad")
    if retired.any():
        for code in sorted(codes[retired].unique()):
            ds.notes.append(f"{int((codes[retired] == code).sum())} rows skipped: {spine.retired_areas[code]}")
        f = f[~retired]
        codes = codes[~retired]
    known = codes.map(spine.level_of)
    unknown_area = known.isna() | (known.ne(f["area_level"]) & ~(f["area_level"].eq("ca") & known.eq("ca")))
    if unknown_area.any():
        r = f[unknown_area].iloc[0]
        raise SourceError(file, "area code not in the geography spine or its lineage", row=int(r["source_row"]),
                          column="area_code", value=r["area_code"], expected=f"a known {r['area_level']} code")
    bad_status = ~f["status"].isin(markers.STATUSES)
    if bad_status.any():
        r = f[bad_status].iloc[0]
        raise BuildCheckError(f"{file}, row {int(r['source_row'])}: status {r['status']!r} not in {markers.STATUSES}")
    ok_without_value = f["status"].eq(markers.OK) & f["value"].isna()
    if ok_without_value.any():
        r = f[ok_without_value].iloc[0]
        raise BuildCheckError(f"{file}, row {int(r['source_row'])}: status ok but no value")
    key = ["measure", "area_code", "period", "breakdown_type", "breakdown_code"]
    dup = f.duplicated(key)
    if dup.any():
        r = f[dup].iloc[0]
        raise SourceError(file, "duplicated key after staging", row=int(r["source_row"]), column=", ".join(key),
                          value=tuple(r[k] for k in key), expected="one value per measure × area × period × breakdown")
    out = f.copy()
    out["dataset"] = ds.info.id
    out["unit"] = out["measure"].map({k: m.unit for k, m in ids.items()})
    out["derivation"] = "published"
    out["n_contributing"] = np.nan
    out["n_missing"] = np.nan
    for c in ("value", "ci_lower", "ci_upper", "numerator", "denominator"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        inf = np.isinf(out[c].to_numpy())
        if inf.any():
            r = out[inf].iloc[0]
            raise SourceError(file, "value is not finite after conversion (too large)", row=int(r["source_row"]),
                              column=c, value=r[c], expected="a finite number")
    out["period_start"] = pd.to_datetime(out["period_start"])
    out["period_end"] = pd.to_datetime(out["period_end"])
    return out


def stage_all(sources: Path, spine: Spine, formats: dict[Path, object], progress: Progress | None = None,
              offset: int = 0, total: int = 0) -> tuple[list[StagedDataset], list[pd.DataFrame]]:
    ctx = StageContext(sources_dir=sources, geo=spine)
    staged: list[StagedDataset] = []
    frames = []
    for i, (path, mod) in enumerate(formats.items()):
        if progress:
            progress(f"staging {ctx.rel(path)}", offset + i, total)
        try:
            raw = mod.read(path)
            datasets = list(mod.stage(raw, path, ctx))
        except LmiError:
            raise
        except Exception as exc:  # a format let a parser/decoder error escape: report it as a SourceError
            detail = " ".join(str(exc).split())[:300]
            raise SourceError(ctx.rel(path), f"could not be read as {mod.NAME}: {type(exc).__name__}: {detail}",
                              expected=f"the layout of {mod.NAME}") from exc
        for ds in datasets:
            frames.append(_validate_stage(ds, ctx, spine))
            staged.append(ds)
    return staged, frames


def build(sources: Path, out: Path, progress: Progress | None = None) -> BuildReport:
    """Build the database at ``out`` from the official files under ``sources``."""
    t0 = time.perf_counter()
    sources = Path(sources)
    out = Path(out)
    if not sources.is_dir():
        raise SourceError(sources, "sources folder not found", expected="a folder of official source files")
    report = BuildReport(out=out)
    formats, refs, unrecognised = discover(sources)
    total = len(formats) + 6
    step = 0

    def tick(label: str) -> None:
        nonlocal step
        if progress:
            progress(label, step, total)
        step += 1

    tick("geography spine")
    spine = build_spine(sources, _sources_files(sources))
    staged, frames = stage_all(sources, spine, formats, progress, offset=1, total=total)
    step = 1 + len(formats)

    # catalogue
    datasets: dict[str, DatasetInfo] = {}
    measures: dict[str, MeasureInfo] = {}
    for ds in staged:
        if ds.info.id in datasets:
            # one publication split over several files (e.g. one workbook per area): one catalogue entry
            prev = datasets[ds.info.id]
            if ds.info.source_file not in prev.source_file.split("; "):
                prev.source_file = f"{prev.source_file}; {ds.info.source_file}"
        else:
            datasets[ds.info.id] = ds.info
        for m in ds.measures:
            if m.id in measures and measures[m.id].dataset == m.dataset:
                continue
            if m.id in measures:
                raise BuildCheckError(f"measure id {m.id!r} declared by both {measures[m.id].dataset} and {m.dataset}")
            measures[m.id] = m
        report.notes.extend(f"{ds.info.source_file}: {n}" for n in ds.notes)
    facts = pd.concat([f for f in frames if len(f)], ignore_index=True)
    tick("derived measures")
    extra_m, extra_f = derived.derive(facts, measures)
    for m in extra_m:
        measures[m.id] = m
    if len(extra_f):
        facts = pd.concat([facts, extra_f], ignore_index=True)
    measures_df = pd.DataFrame([m.as_row() for m in measures.values()])

    tick("recasting retired LAD codes")
    facts = recast_to_current(facts, measures_df, spine.current_code)
    tick("rolling up to LEP, LSIP, CA, region, England")
    facts = pd.concat([facts, rollup(facts, measures_df, spine.membership)], ignore_index=True)
    above = derived.per_resident_above_lad(facts, measures)
    if len(above):
        key = ["measure", "area_code", "period", "breakdown_type", "breakdown_code"]
        drop = facts[key].merge(above[key], on=key, how="left", indicator=True)["_merge"].eq("both").to_numpy()
        facts = pd.concat([facts[~drop], above], ignore_index=True)
    facts = facts[list(FACT_COLUMNS)].sort_values(
        ["measure", "area_level", "area_code", "breakdown_type", "breakdown_code", "period_start"]).reset_index(drop=True)

    # catalogue: latest period per dataset from the facts
    latest = facts.dropna(subset=["value"]).sort_values("period_end").groupby("dataset")["period"].last()
    for ds_id, info in datasets.items():
        info.latest_period = latest.get(ds_id)
    datasets["ons_geography"] = geography_dataset(refs, sources)
    datasets_df = pd.DataFrame([d.as_row() for d in datasets.values()])
    for key, path in refs.items():
        report.files[str(path.relative_to(sources))] = f"reference:{key}"
    for path, mod in formats.items():
        report.files[str(path.relative_to(sources))] = mod.NAME
    report.unrecognised = [str(p.relative_to(sources)) for p in unrecognised]

    tick("boundaries and hex cartogram")
    lad_gdf = reference.read_geojson(refs["lad23_boundaries"])
    lad_gdf = lad_gdf[lad_gdf["LAD23CD"].isin(spine.lad["lad_code"])].rename(
        columns={"LAD23CD": "lad_code", "LAD23NM": "lad_name"}).sort_values("lad_code").reset_index(drop=True)
    lad_b = lad_boundary_table(lad_gdf)
    area_b = area_boundary_table(lad_gdf, spine.membership, spine.areas)
    tables = {"soc2020": None}
    for ds in staged:
        for name, tbl in ds.tables.items():
            tables[name] = tbl
    tables = {k: v for k, v in tables.items() if v is not None}
    refs_df = pd.DataFrame([(str(p.relative_to(sources)), reference.KIND_BY_KEY[k].title, k)
                            for k, p in refs.items()], columns=["source_file", "title", "kind"])

    tick("writing and checking the database")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(out)
    tmp = out.with_name(f".{out.name}.building-{os.getpid()}")
    for p in (tmp, Path(str(tmp) + ".wal")):
        if p.exists():
            p.unlink()
    try:
        _write(tmp, spine, facts, measures_df, datasets_df, lad_b, area_b, tables, refs_df)
        checks.run_all(tmp, spine)
        report.rows_by_dataset = facts.groupby("dataset").size().to_dict()
        os.replace(tmp, out)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    report.seconds = time.perf_counter() - t0
    report.size_bytes = out.stat().st_size
    if progress:
        progress("done", total, total)
    return report


BOUNDARY_YEARS = {"lad23_boundaries": 2023, "lad22_boundaries": 2022, "lep_boundaries": 2021, "lsip_boundaries": 2023,
                  "ca_boundaries": 2024, "country_boundaries": 2024, "region_boundaries": 2016, "uk_topojson": 2016}


def geography_dataset(refs: dict[str, Path], sources: Path) -> DatasetInfo:
    """Catalogue entry for the boundaries and lookups the spine and maps are built from."""
    years = sorted({BOUNDARY_YEARS[k] for k in refs if k in BOUNDARY_YEARS})
    return DatasetInfo(
        id="ons_geography", title="ONS Open Geography boundaries (LAD May 2023 BUC, LEP 2021 BUC, ...) and lookups "
                                  "(LAD to LSIP 2023, LAD to CA 2025, ward to LAD 2023, LAD 2011 to 2021, DfE hierarchy)",
        publisher="Office for National Statistics (Open Geography Portal); Department for Education",
        source_url="https://geoportal.statistics.gov.uk/", licence=OGL,
        attribution="Source: Office for National Statistics licensed under the Open Government Licence v.3.0. "
                    "Contains OS data © Crown copyright and database right " + ", ".join(str(y) for y in years),
        regularity="annual", release_date="2023-05-01", topic="Population",
        spatial_levels="LAD, LEP, LSIP, combined authority, region, England",
        source_file="; ".join(sorted(str(p.relative_to(sources)) for p in refs.values())),
        description="LAD polygons are the ultra-generalised (500 m) clipped BUC boundaries, coordinates rounded to "
                    "4 decimal places for the map; higher-level outlines are dissolved from their member LADs.",
        latest_period="2023",
    )


def _remove_stale_temp_files(out: Path) -> None:
    """Delete temporary databases left by builds that were killed (their process no longer exists)."""
    for tmp in out.parent.glob(f".{out.name}.building-*"):
        pid = tmp.name.rsplit("-", 1)[-1].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:
            pass


def _write(path: Path, spine: Spine, facts, measures_df, datasets_df, lad_b, area_b, tables, refs_df) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute("SET threads=2")
        register = {
            "geo_lad": spine.lad, "geo_lad_lep": spine.lad_lep, "geo_areas": spine.areas,
            "geo_membership": spine.membership, "geo_lineage": spine.lineage, "geo_code_alias": spine.aliases,
            "ward_lookup": spine.wards, "measures": measures_df, "datasets": datasets_df,
            "lad_boundaries": lad_b, "area_boundaries": area_b, "reference_files": refs_df, **tables,
        }
        for name, df in register.items():
            con.from_df(df).create(name)  # names come from the fixed dict above; no SQL text is assembled
        f = facts.copy()
        f["period_start"] = f["period_start"].dt.date
        f["period_end"] = f["period_end"].dt.date
        con.register("_facts", f)
        con.execute("""
            CREATE TABLE facts AS SELECT
              dataset::VARCHAR dataset, measure::VARCHAR measure, area_code::VARCHAR area_code,
              area_level::VARCHAR area_level, period::VARCHAR period, period_start::DATE period_start,
              period_end::DATE period_end, breakdown_type::VARCHAR breakdown_type,
              breakdown_code::VARCHAR breakdown_code, breakdown_label::VARCHAR breakdown_label,
              value::DOUBLE value, unit::VARCHAR unit, status::VARCHAR status,
              status_reason::VARCHAR status_reason, ci_lower::DOUBLE ci_lower, ci_upper::DOUBLE ci_upper,
              numerator::DOUBLE numerator, denominator::DOUBLE denominator, derivation::VARCHAR derivation,
              n_contributing::INTEGER n_contributing, n_missing::INTEGER n_missing
            FROM _facts ORDER BY measure, area_level, area_code, breakdown_type, breakdown_code, period_start""")
        con.unregister("_facts")
        digest = hashlib.sha256(pd.util.hash_pandas_object(facts[["measure", "area_code", "period", "value"]],
                                                           index=False).values.tobytes()).hexdigest()[:16]
        info = pd.DataFrame({"key": ["build_id", "built_at", "lmi_version", "facts_rows"],
                             "value": [digest, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                       __version__, str(len(facts))]})
        con.register("_info", info)
        con.execute("CREATE TABLE build_info AS SELECT * FROM _info")
        con.unregister("_info")
        con.execute("CHECKPOINT")
    finally:
        con.close()
