"""Synthetic advert feed with a known truth, for tests and benchmarks (``adverts generate``).

Vectorised numpy; rows are written in Parquet row groups (or CSV by extension). What it makes:

- base adverts spread over the real LADs in proportion to the population aged 16-64 (measure
  ``pop_16_64`` at level 'lad', latest period, from the database facts; without it, the ONS
  mid-year estimates file in the sources folder; else evenly), over ``months`` months with a
  seasonal profile, each at a point sampled uniformly inside its LAD's polygon (shapely
  ``contains_xy`` on the BUC polygon, independent of the pipeline's grid index), or, for a share,
  with a place name only (LAD name, 'Ward, LAD' or a ward name found in one LAD only);
- titles drawn from the SOC 2020 related job titles (with seniority and shift variants), weighted
  by major group; ~30% carry the SOC code they were drawn from; salaries in several periods;
- duplicates at known rates: exact re-deliveries (same source and advert_id), reposts (same source,
  new id, 1-30 days later) and syndication (another source, new id, 0-3 days later, title case changed);
- unassigned rows at known rates: offshore points (North Sea, Channel, Irish Sea; all > 20 km from
  land), postcode only, an ambiguous ward name, a place outside England, no location at all.

Each base advert has an (employer, title) pair no other base advert has, so de-duplication can be
checked exactly. The truth file ``<out>.truth.json`` holds counts per LAD and month after
de-duplication, duplicate counts by rule and unassigned counts by reason.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely

from lmi.adverts import geo
from lmi.adverts import schema as S
from lmi.adverts.soc import split_related
from lmi.formats.base import normalise_name

SOURCES = np.array(["jobboard_a", "jobboard_b", "agency_feed", "council_portal"], dtype=object)
SOURCE_WEIGHTS = np.array([0.45, 0.3, 0.15, 0.1])
SEASON = np.array([1.15, 1.10, 1.05, 1.0, 1.0, 0.95, 0.95, 0.9, 1.05, 1.0, 0.95, 0.75])  # Jan..Dec
MAJOR_WEIGHTS = {"1": 0.03, "2": 0.22, "3": 0.15, "4": 0.10, "5": 0.10, "6": 0.16, "7": 0.08, "8": 0.07, "9": 0.09}
MAJOR_SALARY = {"1": 60000, "2": 45000, "3": 34000, "4": 25000, "5": 30000, "6": 22000, "7": 22000, "8": 26000, "9": 21000}
PREFIXES = ["", "", "", "Senior ", "Junior ", "Trainee ", "Lead "]
SUFFIXES = ["", "", "", " - Part Time", " - Nights", " (Temporary)", " - Immediate Start"]
OFFSHORE_BOXES = [(2.6, 52.3, 3.2, 53.8), (-2.6, 49.95, -1.6, 50.2), (-5.2, 53.5, -4.6, 53.8)]
OUTSIDE_PLACES = ["Cardiff", "Swansea", "Glasgow", "Edinburgh", "Belfast", "Remote"]
EMPLOYER_WORDS = ["Northgate", "Riverside", "Oakwood", "Summit", "Harbour", "Meadow", "Beacon", "Kingsway",
                  "Greenfield", "Castle", "Pioneer", "Granite", "Willow", "Lighthouse", "Orchard", "Phoenix"]
EMPLOYER_KINDS = ["Care Services", "Engineering", "Logistics", "Retail", "Hospitality", "Healthcare", "Solutions",
                  "Construction", "Foods", "Recruitment", "Academy Trust", "Partners", "Manufacturing", "Digital"]


@dataclass
class Rates:
    """Shares of all rows (unassigned kinds) and of placed rows (duplicates, place names)."""

    exact_dup: float = 0.01
    repost: float = 0.05
    syndication: float = 0.07
    place_name: float = 0.08
    offshore: float = 0.003
    postcode_only: float = 0.008
    ambiguous_place: float = 0.003
    outside_place: float = 0.002
    no_location: float = 0.002
    soc_supplied: float = 0.3
    salary: float = 0.6
    closing: float = 0.7
    window_days: int = 30


def lad_weights(con: duckdb.DuckDBPyConnection, codes: np.ndarray, sources_dir: Path | None) -> tuple[np.ndarray, str]:
    """Population 16-64 by LAD: DB facts first, else the MYE tidy file, else uniform."""
    try:
        df = con.execute("""
            SELECT area_code, value FROM facts
            WHERE measure = 'pop_16_64' AND area_level = 'lad' AND breakdown_type = 'total' AND value IS NOT NULL
              AND period_start = (SELECT max(period_start) FROM facts WHERE measure = 'pop_16_64' AND area_level = 'lad')
        """).df()
        label = con.execute("SELECT max(period) FROM facts WHERE measure = 'pop_16_64' AND area_level = 'lad' "
                            "AND period_start = (SELECT max(period_start) FROM facts WHERE measure = 'pop_16_64' "
                            "AND area_level = 'lad')").fetchone()[0]
    except duckdb.Error:
        df, label = pd.DataFrame(columns=["area_code", "value"]), None
    w = pd.Series(codes).map(df.groupby("area_code")["value"].sum()).to_numpy(dtype=float)
    if np.isfinite(w).sum() >= 0.95 * len(codes):
        w = np.where(np.isfinite(w), w, np.nanmedian(w))
        return w / w.sum(), f"database facts: pop_16_64, {label}"
    if sources_dir is not None:
        p = Path(sources_dir) / "population" / "ons_mye_population_tidy_2011-2024.csv"
        if p.exists():
            pop = pd.read_csv(p, dtype={"area_code": str})
            pop = pop[(pop["source"] == "strategy-unit") & (pop["sex"] == "Persons") & (pop["age_band"] == "16-64")]
            yr = pop["year"].max()
            s = pop[pop["year"] == yr].groupby("area_code")["population"].sum()
            w = pd.Series(codes).map(s).to_numpy(dtype=float)
            w = np.where(np.isfinite(w), w, np.nanmedian(w))
            return w / w.sum(), f"{p.name}: 16-64, {yr}"
    return np.full(len(codes), 1.0 / len(codes)), "uniform (no population source found)"


def title_vocab(soc: pd.DataFrame) -> pd.DataFrame:
    """Titles built from the SOC related job titles with variants; one per normalised title."""
    units = soc[soc["code"].astype(str).str.fullmatch(r"\d{4}")]
    rows = []
    for code, rel in zip(units["code"].astype(str), units["related_job_titles"]):
        for t in split_related(rel):
            base = t.split(" (")[0].strip()
            for p in PREFIXES[2:]:
                for s in SUFFIXES[2:]:
                    rows.append((p + base + s, code))
    v = pd.DataFrame(rows, columns=["title", "unit"])
    v["key"] = v["title"].str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    v = v.drop_duplicates("key").reset_index(drop=True)
    w = v["unit"].str[0].map(MAJOR_WEIGHTS).to_numpy()
    cnt = v.groupby(v["unit"].str[0])["title"].transform("size").to_numpy()
    # variants with no prefix/suffix are the most common in real feeds
    plain = ~v["title"].str.contains(r"^(?:Senior|Junior|Trainee|Lead) | - |\(", regex=True)
    w = w / cnt * np.where(plain, 3.0, 1.0)
    v["weight"] = w / w.sum()
    return v


def place_vocab(con: duckdb.DuckDBPyConnection, codes: np.ndarray, rng: np.random.Generator) -> dict:
    """Location strings: by LAD (LAD name, 'Ward, LAD', unique ward), ambiguous wards, outside England."""
    lads = con.execute("SELECT lad_code, lad_name FROM lad_boundaries").df()
    wards = con.execute("SELECT ward_name, lad_code FROM ward_lookup").df()
    wards = wards[wards["lad_code"].isin(set(codes)) & ~wards["ward_name"].str.contains(",")]
    wards = wards.assign(k=wards["ward_name"].map(normalise_name))
    lad_keys = {normalise_name(n) for n in lads["lad_name"]}
    n_lads = wards.groupby("k")["lad_code"].nunique()
    unique = wards[wards["k"].map(n_lads).eq(1) & ~wards["k"].isin(lad_keys)].drop_duplicates("k")
    ambiguous = sorted(set(wards.loc[wards["k"].map(n_lads).gt(1) & ~wards["k"].isin(lad_keys), "ward_name"]))
    name = dict(zip(lads["lad_code"], lads["lad_name"]))
    strings: list[str] = []
    per_lad: list[tuple[int, int]] = []
    for code in codes:
        start = len(strings)
        strings.append(name[code])
        mine = wards[wards["lad_code"] == code]["ward_name"].tolist()
        for wname in rng.choice(mine, size=min(5, len(mine)), replace=False) if mine else []:
            strings.append(f"{wname}, {name[code]}")
        uniq = unique[unique["lad_code"] == code]["ward_name"].tolist()
        for wname in rng.choice(uniq, size=min(5, len(uniq)), replace=False) if uniq else []:
            strings.append(str(wname))
        per_lad.append((start, len(strings) - start))
    amb_start = len(strings)
    strings += ambiguous
    out_start = len(strings)
    strings += OUTSIDE_PLACES
    return {"strings": strings, "start": np.array([p[0] for p in per_lad]), "count": np.array([p[1] for p in per_lad]),
            "ambiguous": np.arange(amb_start, out_start),
            "outside": np.arange(out_start, len(strings))}


def sample_points(geoms: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``counts[i]`` points uniform inside polygon i; returns lon, lat, lad index (grouped by LAD)."""
    total = int(counts.sum())
    lon = np.empty(total)
    lat = np.empty(total)
    lad = np.repeat(np.arange(len(counts)), counts)
    pos = np.r_[0, np.cumsum(counts)]
    for i in np.nonzero(counts)[0]:
        g = geoms[i]
        shapely.prepare(g)
        x0, y0, x1, y1 = shapely.bounds(g)
        frac = max(shapely.area(g) / ((x1 - x0) * (y1 - y0)), 0.01)
        need, got = int(counts[i]), 0
        while got < need:
            m = int((need - got) / frac * 1.2) + 16
            # rounded to the 6 decimals written to the feed before testing, so a point near a border
            # cannot cross it when written
            x = np.round(rng.uniform(x0, x1, m), 6)
            y = np.round(rng.uniform(y0, y1, m), 6)
            ok = shapely.contains_xy(g, x, y)
            k = min(int(ok.sum()), need - got)
            lon[pos[i] + got:pos[i] + got + k] = x[ok][:k]
            lat[pos[i] + got:pos[i] + got + k] = y[ok][:k]
            got += k
    return lon, lat, lad


def _postcodes(rng: np.random.Generator, n: int = 500) -> list[str]:
    letters = np.array(list("ABCDEFGHJKLMNPRSTUWYZ"))
    a = rng.choice(letters, (n, 4))
    d = rng.integers(1, 30, n)
    e = rng.integers(1, 10, n)
    return [f"{x[0]}{x[1]}{dd} {ee}{x[2]}{x[3]}" for x, dd, ee in zip(a, d, e)]


def generate(rows: int, seed: int, out: str | Path, db: str | Path, start: str = "2024-01", months: int = 12,
             rates: Rates | None = None, sources_dir: Path | None = None, row_group: int = 1_000_000,
             progress: bool = False) -> dict:
    """Write ``rows`` synthetic adverts to ``out`` (.parquet or .csv) and ``<out>.truth.json``; return the truth."""
    t0 = time.perf_counter()
    rates = rates or Rates()
    rng = np.random.default_rng(seed)
    out = Path(out)
    con = duckdb.connect(str(db), read_only=True)
    try:
        lb = con.execute("SELECT lad_code, lad_name, geometry_wkb FROM lad_boundaries ORDER BY lad_code").df()
        codes = lb["lad_code"].to_numpy(str)
        geoms = np.array([geo._polygonal(g) for g in shapely.from_wkb([bytes(b) for b in lb["geometry_wkb"]])], dtype=object)
        weights, pop_source = lad_weights(con, codes, sources_dir)
        from lmi.adverts.ingest import load_soc_table
        soc, _ = load_soc_table(con)
        places = place_vocab(con, codes, rng)
    finally:
        con.close()
    titles = title_vocab(soc)
    N = int(rows)
    n_un = {geo.REASON_OFFSHORE: round(N * rates.offshore), geo.REASON_POSTCODE: round(N * rates.postcode_only),
            geo.REASON_AMBIGUOUS: round(N * rates.ambiguous_place), geo.REASON_UNKNOWN_PLACE: round(N * rates.outside_place),
            geo.REASON_NO_LOCATION: round(N * rates.no_location)}
    n_placed = N - sum(n_un.values())
    n_exact, n_rep, n_syn = (round(n_placed * r) for r in (rates.exact_dup, rates.repost, rates.syndication))
    B = n_placed - n_exact - n_rep - n_syn
    n_solo = sum(n_un.values())           # unassigned rows: never duplicated
    T = len(titles)

    # ---- base adverts (placed) and unassigned adverts share the same column generators
    def draw_common(n: int) -> dict:
        y0, m0 = int(start[:4]), int(start[5:7])
        mon = np.arange(months)
        cal = (m0 - 1 + mon) % 12
        p = SEASON[cal] / SEASON[cal].sum()
        mi = rng.choice(months, size=n, p=p)
        first = np.array([np.datetime64(f"{y0 + (m0 - 1 + k) // 12:04d}-{(m0 - 1 + k) % 12 + 1:02d}-01") for k in mon])
        ndays = np.array([(pd.Timestamp(str(d)) + pd.offsets.MonthEnd(0)).day for d in first])
        posted = first[mi] + rng.integers(0, ndays[mi]).astype("timedelta64[D]")
        t = rng.choice(T, size=n, p=titles["weight"].to_numpy()).astype(np.int32)
        return {"month": mi.astype(np.int16), "posted": posted,
                "title": t, "source": rng.choice(len(SOURCES), size=n, p=SOURCE_WEIGHTS).astype(np.int8)}

    base = draw_common(B)
    base["lad"] = rng.choice(len(codes), size=B, p=weights).astype(np.int16)
    # employers: 4 base adverts per employer; an employer's titles are distinct
    emp = (rng.permutation(B) // 4).astype(np.int32)
    t = base["title"]
    for _ in range(50):
        key = emp.astype(np.int64) * T + t
        _, first_idx, inv, cnt = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        clash = (cnt[inv] > 1) & (np.arange(B) != first_idx[inv])
        if not clash.any():
            break
        t[clash] = rng.choice(T, size=int(clash.sum()), p=titles["weight"].to_numpy())
    base["employer"] = emp
    by_place = rng.random(B) < rates.place_name
    base["loc"] = np.full(B, -1, dtype=np.int32)
    idx = np.nonzero(by_place)[0]
    choice = rng.random(len(idx))
    lad_of = base["lad"][idx]
    # 60% the LAD name (first string of the LAD's block), else any string of the block
    pick = np.floor(rng.random(len(idx)) * places["count"][lad_of]).astype(np.int64)
    base["loc"][idx] = places["start"][lad_of] + np.where(choice < 0.6, 0, pick)
    counts = np.bincount(base["lad"][~by_place], minlength=len(codes))
    lon_s, lat_s, lad_s = sample_points(geoms, counts, rng)
    base["lon"] = np.full(B, np.nan)
    base["lat"] = np.full(B, np.nan)
    pts = np.nonzero(~by_place)[0]
    order = pts[np.argsort(base["lad"][pts], kind="stable")]
    base["lon"][order], base["lat"][order] = lon_s, lat_s
    base["soc"] = rng.random(B) < rates.soc_supplied
    base["postcode"] = np.where(rng.random(B) < 0.5, rng.integers(0, 500, B), -1).astype(np.int16)
    base["id"] = np.arange(B, dtype=np.int64)
    # truth: the base adverts by LAD and month (duplicates are added below, unassigned rows apart)
    truth_df = pd.DataFrame({"lad": codes[base["lad"]], "month": pd.to_datetime(base["posted"]).to_period("M").astype(str)}
                            ).value_counts().sort_index()
    n_by_place = int(by_place.sum())
    base["upper"] = np.zeros(B, dtype=bool)

    def take(d: dict, ix: np.ndarray) -> dict:
        return {k: v[ix] for k, v in d.items()}

    rep = take(base, rng.integers(0, B, n_rep))
    rep["posted"] = rep["posted"] + rng.integers(1, rates.window_days + 1, n_rep).astype("timedelta64[D]")
    rep["id"] = B + np.arange(n_rep, dtype=np.int64)
    syn = take(base, rng.integers(0, B, n_syn))
    syn["source"] = (syn["source"] + rng.integers(1, len(SOURCES), n_syn)) % len(SOURCES)
    syn["posted"] = syn["posted"] + rng.integers(0, 4, n_syn).astype("timedelta64[D]")
    syn["id"] = B + n_rep + np.arange(n_syn, dtype=np.int64)
    syn["upper"] = rng.random(n_syn) < 0.5
    placed = {k: np.concatenate([base[k], rep[k], syn[k]]) for k in base}
    keys = list(base)
    del base, rep, syn, emp, t
    exact = take(placed, rng.integers(0, len(placed["id"]), n_exact))
    # ---- unassigned rows
    solo = draw_common(n_solo)
    solo.update(lad=np.full(n_solo, -1, dtype=np.int16),
                employer=(rng.integers(0, 1_000_000, n_solo) + (B // 4 + 1)).astype(np.int32),
                loc=np.full(n_solo, -1, dtype=np.int32), lon=np.full(n_solo, np.nan), lat=np.full(n_solo, np.nan),
                soc=rng.random(n_solo) < rates.soc_supplied, postcode=np.full(n_solo, -1, dtype=np.int16),
                id=B + n_rep + n_syn + np.arange(n_solo, dtype=np.int64), upper=np.zeros(n_solo, dtype=bool))
    s = 0
    for reason, n in n_un.items():
        sl = slice(s, s + n)
        if reason == geo.REASON_OFFSHORE:
            box = np.array(OFFSHORE_BOXES)[rng.integers(0, len(OFFSHORE_BOXES), n)]
            solo["lon"][sl] = np.round(rng.uniform(box[:, 0], box[:, 2]), 6)
            solo["lat"][sl] = np.round(rng.uniform(box[:, 1], box[:, 3]), 6)
        elif reason == geo.REASON_POSTCODE:
            solo["postcode"][sl] = rng.integers(0, 500, n)
        elif reason == geo.REASON_AMBIGUOUS:
            solo["loc"][sl] = rng.choice(places["ambiguous"], n)
        elif reason == geo.REASON_UNKNOWN_PLACE:
            solo["loc"][sl] = rng.choice(places["outside"], n)
        s += n
    allrows = {}
    for k in keys:
        allrows[k] = np.concatenate([placed.pop(k), exact.pop(k), solo.pop(k)])
    n_all = len(allrows["id"])
    assert n_all == N, (n_all, N)
    perm = rng.permutation(N)
    for k in keys:
        allrows[k] = allrows[k][perm]
    del perm
    # ---- per-row salary and closing date
    unit = titles["unit"].to_numpy()
    major_pay = np.array([MAJOR_SALARY[u[0]] for u in unit], dtype=float)
    annual = major_pay[allrows["title"]] * rng.lognormal(0, 0.25, N)
    periods = np.array(["annual", "hourly", "daily", "monthly", "weekly", ""], dtype=object)
    per = rng.choice(len(periods), size=N, p=[0.55, 0.25, 0.05, 0.05, 0.05, 0.05])
    factor = np.array([S.SALARY_FACTORS.get(p, 1.0) for p in periods])[per]
    smin = np.round(annual / factor, 2)
    has_sal = rng.random(N) < rates.salary
    smax = np.where(rng.random(N) < 0.5, np.round(smin * rng.uniform(1.0, 1.2, N), 2), np.nan)
    closing = allrows["posted"] + rng.integers(7, 61, N).astype("timedelta64[D]")
    has_close = rng.random(N) < rates.closing
    # ---- write
    title_strings = pa.array(titles["title"].tolist() + titles["title"].str.upper().tolist(), type=pa.string())
    unit_strings = pa.array(list(unit), type=pa.string())
    loc_strings = pa.array(places["strings"], type=pa.string())
    pc_strings = pa.array(_postcodes(np.random.default_rng(seed + 1)), type=pa.string())
    src_strings = pa.array(list(SOURCES), type=pa.string())
    words = pa.array([f"{a} {b}" for a in EMPLOYER_WORDS for b in EMPLOYER_KINDS], type=pa.string())
    suffix = pa.array(["Ltd", "Limited", "plc", "LLP", "Group", "& Co"], type=pa.string())
    writer = None
    csv_mode = out.suffix.lower() == ".csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    for a in range(0, N, row_group):
        b = min(N, a + row_group)
        r = {k: v[a:b] for k, v in allrows.items()}
        n = b - a
        src = pc.take(src_strings, pa.array(r["source"]))
        ids = pc.binary_join_element_wise(src, pc.cast(pa.array(r["id"]), pa.string()), "-")
        emp_i = r["employer"].astype(np.int64)
        employer = pc.binary_join_element_wise(pc.take(words, pa.array(emp_i % len(words))),
                                               pc.cast(pa.array(emp_i), pa.string()),
                                               pc.take(suffix, pa.array((emp_i // 7) % len(suffix))), " ")
        tix = r["title"] + np.where(r["upper"], T, 0)
        sal_ok = has_sal[a:b]
        cols = {
            "advert_id": ids, "source": src,
            "posted_date": pa.array(r["posted"].astype("datetime64[D]")),
            "closing_date": pa.array(closing[a:b].astype("datetime64[D]"), mask=~has_close[a:b]),
            "title": pc.take(title_strings, pa.array(tix)),
            "employer": employer,
            "latitude": pa.array(r["lat"], mask=np.isnan(r["lat"])),
            "longitude": pa.array(r["lon"], mask=np.isnan(r["lon"])),
            "postcode": pc.take(pc_strings, pa.array(np.where(r["postcode"] < 0, 0, r["postcode"]), mask=r["postcode"] < 0)),
            "location": pc.take(loc_strings, pa.array(np.where(r["loc"] < 0, 0, r["loc"]), mask=r["loc"] < 0)),
            "soc2020": pc.take(unit_strings, pa.array(r["title"], mask=~r["soc"])),
            "salary_min": pa.array(smin[a:b], mask=~sal_ok),
            "salary_max": pa.array(smax[a:b], mask=~sal_ok | np.isnan(smax[a:b])),
            "salary_period": pc.take(pa.array(list(periods), type=pa.string()),
                                     pa.array(per[a:b], mask=~sal_ok | (per[a:b] == len(periods) - 1))),
        }
        table = pa.table(cols)
        if csv_mode:
            with open(out, "ab" if a else "wb") as fh:
                pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=(a == 0)))
        else:
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=row_group)
    if writer is not None:
        writer.close()
    # ---- truth
    per_lad: dict[str, dict[str, int]] = {}
    for (lad, mon), v in truth_df.items():
        per_lad.setdefault(lad, {})[mon] = int(v)
    truth = {
        "rows": N, "seed": seed, "start": start, "months": months, "population_source": pop_source,
        "counted": int(B), "placed_by_place_name_base": n_by_place,
        "duplicates": {"exact_advert_id": int(n_exact), "repost_or_syndication": int(n_rep + n_syn),
                       "reposts": int(n_rep), "syndicated": int(n_syn), "total": int(n_exact + n_rep + n_syn)},
        "unassigned": {k: int(v) for k, v in n_un.items()}, "unassigned_total": int(sum(n_un.values())),
        "per_lad_month": per_lad, "rates": asdict(rates), "seconds": round(time.perf_counter() - t0, 2),
        "distinct_titles": int(T),
    }
    Path(str(out) + ".truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
    return truth
