"""The same advert pipeline on Dask, for feeds too big for one machine (see docs/adverts.md).

Nothing here re-implements the logic: every step calls the code the local pipeline uses, on one
partition at a time, after Dask has hash-partitioned the rows on that step's key:

- ``clean_partitioned``: each partition of the raw feed goes through ``reader.build_sql`` (typing and
  validation, in DuckDB) and ``clean.Cleaner`` (grid point-in-polygon, place names, SOC coding);
- ``aggregate_dask``: rows are shuffled on (source, advert_id) and each partition runs
  ``aggregate.RULE1_DROP``; survivors are shuffled on LAD and each partition runs ``RULE2_DROP``,
  ``KEPT``, ``NEW``, ``ACTIVE`` (a LAD's adverts are all in one partition, so these are exact); salary
  rows are joined to ``geo_membership``, shuffled on area and each partition runs ``SALARY``.

The result is an :class:`lmi.adverts.aggregate.Aggregates` equal to ``aggregate.run_local``'s, from
which ``facts.build_facts`` makes the same rows. Run with any Dask scheduler: the default threaded one
locally, or a ``dask.distributed.Client`` connected to a cluster (workers need this package installed
and read access to the Parquet paths, e.g. s3:// with s3fs).
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from lmi.adverts import aggregate as A
from lmi.adverts import reader
from lmi.adverts import schema as S
from lmi.adverts.clean import CLEAN_SCHEMA, Cleaner

_REF_CACHE: dict[str, object] = {}


def _sql(pdf: pd.DataFrame, sql: str, **tables: pd.DataFrame) -> pd.DataFrame:
    """Run one of the pipeline's SQL statements on a pandas partition (as relation ``part``)."""
    con = duckdb.connect()
    try:
        con.execute("SET threads=1")
        con.register("part", pdf.reset_index(drop=True))
        for name, df in tables.items():
            con.register(name, df.reset_index(drop=True))
        return con.execute(sql).df()
    finally:
        con.close()


def _reference(db: str):
    if db not in _REF_CACHE:
        from lmi.adverts.ingest import load_reference
        _REF_CACHE[db] = load_reference(Path(db))
    return _REF_CACHE[db]


def _empty_clean() -> pd.DataFrame:
    return CLEAN_SCHEMA.empty_table().to_pandas()


def clean_partition(pdf: pd.DataFrame, db: str, mapping: S.Mapping, file_id: str, name: str,
                    row_offset: int = 0) -> pd.DataFrame:
    """Type, validate and clean one partition of a raw feed (same SQL and Cleaner as ``ingest``)."""
    ref = _reference(db)
    if len(pdf) == 0:
        return _empty_clean()
    con = duckdb.connect()
    try:
        con.execute("SET threads=1")
        con.register("part", pdf.reset_index(drop=True))
        types = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM part").fetchall()}
        feed = reader.Feed(Path(name), name, "relation", mapping,
                           {c: mapping.feed_column(c) for c in S.CANONICAL
                            if c not in mapping.constants and mapping.feed_column(c) in types}, types)
        cleaner = Cleaner(ref.locator, ref.places, ref.coder)
        out = []
        for batch in reader.read_batches(con, feed, ref.coder.units, row_offset=row_offset):
            cleaned, _ = cleaner.clean(batch, file_id)
            out.append(cleaned)
    finally:
        con.close()
    return pa.Table.from_batches(out, schema=CLEAN_SCHEMA).to_pandas()


def clean_partitioned(raw_glob: str, out_dir: str, db: str, mapping: S.Mapping | None = None,
                      file_id: str = "dask") -> None:
    """Clean a partitioned raw feed (Parquet) into ``out_dir`` (one cleaned Parquet file per partition)."""
    import dask.dataframe as dd

    mapping = mapping or S.Mapping()
    ddf = dd.read_parquet(raw_glob)
    sizes = ddf.map_partitions(len).compute()
    offsets = np.r_[0, np.cumsum(sizes)][:-1]
    parts = [ddf.get_partition(i).map_partitions(clean_partition, db, mapping, file_id, raw_glob, int(offsets[i]),
                                                 meta=_empty_clean()) for i in range(ddf.npartitions)]
    dd.concat(parts).to_parquet(out_dir, write_index=False, schema=CLEAN_SCHEMA)


_NONE = pd.DataFrame({"file_key": pd.Series(dtype="int64"), "_row": pd.Series(dtype="int64")})


def _rule1(pdf: pd.DataFrame) -> pd.DataFrame:
    narrow = _sql(pdf, A.NARROW.format(src="part"))
    drop = _sql(pdf, A.RULE1_DROP.format(src="part", narrow="n"), n=narrow)
    return _sql(pdf, A.SURVIVORS.format(src="part", drop="d"), d=drop)


def _rule2_kept(pdf: pd.DataFrame, window_days: int) -> pd.DataFrame:
    narrow = _sql(pdf, A.NARROW.format(src="part"))
    drop = _sql(pdf, A.RULE2_DROP.format(src="part", narrow="n", drop1="d1", window=int(window_days)),
                n=narrow, d1=_NONE)
    return _sql(narrow, A.KEPT.format(src="part", drop1="d1", drop2="d2"), d1=_NONE, d2=drop)


def aggregate_dask(clean_glob: str, membership: pd.DataFrame, window_days: int = A.WINDOW_DAYS,
                   open_days: int = 30, npartitions: int | None = None) -> A.Aggregates:
    """``aggregate.run_local`` on Dask (see module docstring)."""
    import dask
    import dask.dataframe as dd

    ddf = dd.read_parquet(clean_glob)
    n = npartitions or max(ddf.npartitions, 2)
    rows_total = len(ddf)
    meta1 = ddf._meta
    k1 = ddf.shuffle(on=["source", "advert_id"], npartitions=n).map_partitions(_rule1, meta=meta1)
    k1 = k1.persist()
    after_rule1 = len(k1)
    unassigned = k1[k1["lad_code"].isna()].groupby("reason").size().compute()
    placed = k1[~k1["lad_code"].isna()]
    placed_by = placed.groupby("place_method").size().compute()
    n_placed = len(placed)
    meta_kept = pd.DataFrame({"lad_code": pd.Series(dtype=object), "posted_date": pd.Series(dtype="datetime64[us]"),
                              "closing_date": pd.Series(dtype="datetime64[us]"), "soc_unit": pd.Series(dtype=object),
                              "soc_method": pd.Series(dtype=object), "salary_annual": pd.Series(dtype=float)})
    kept = placed.shuffle(on="lad_code", npartitions=n).map_partitions(_rule2_kept, window_days, meta=meta_kept).persist()
    lo, hi = dask.compute(kept["posted_date"].min(), kept["posted_date"].max())
    agg = A.Aggregates()
    agg.stats = {"rows_total": int(rows_total), "after_rule1": int(after_rule1), "placed": int(n_placed),
                 "counted": int(len(kept))}
    agg.unassigned = {str(k): int(v) for k, v in unassigned.items()}
    agg.placed = {str(k): int(v) for k, v in placed_by.items()}
    soc = kept.map_partitions(lambda p: _sql(p, "SELECT CASE WHEN soc_unit IS NULL THEN 'uncoded' ELSE soc_method END AS k, "
                                                "count(*) AS n FROM part GROUP BY 1"),
                              meta=pd.DataFrame({"k": pd.Series(dtype=object), "n": pd.Series(dtype="int64")})).compute()
    agg.soc = {str(k): int(v) for k, v in soc.groupby("k")["n"].sum().items()}
    if pd.isna(lo):
        empty = A.finish(duckdb.connect(), "(SELECT * FROM (VALUES (NULL::VARCHAR, NULL::DATE, NULL::DATE, NULL::VARCHAR, "
                         "NULL::VARCHAR, NULL::DOUBLE)) t(lad_code, posted_date, closing_date, soc_unit, soc_method, "
                         "salary_annual) WHERE false)", membership, open_days)
        agg.new, agg.active, agg.salary = empty.new, empty.active, empty.salary
        return agg
    first = pd.Timestamp(lo).replace(day=1).date().isoformat()
    last = pd.Timestamp(hi).replace(day=1).date().isoformat()
    agg.first_month, agg.last_month = first, last
    meta_counts = pd.DataFrame({"lad_code": pd.Series(dtype=object), "month": pd.Series(dtype="datetime64[us]"),
                                "soc_unit": pd.Series(dtype=object), "n": pd.Series(dtype="int64")})
    agg.new = kept.map_partitions(lambda p: _sql(p, A.NEW.format(src="part")), meta=meta_counts).compute()
    agg.active = kept.map_partitions(lambda p: _sql(p, A.ACTIVE.format(src="part", open_days=int(open_days),
                                                                         first=first, last=last)),
                                     meta=meta_counts).compute()
    meta_sal = pd.DataFrame({"lad_code": pd.Series(dtype=object), "month": pd.Series(dtype="datetime64[us]"),
                             "major": pd.Series(dtype=object), "salary_annual": pd.Series(dtype=float)})
    sal = kept.map_partitions(lambda p: _sql(p, A.SALARY_ROWS.format(src="part")), meta=meta_sal)
    sal = sal.merge(membership[["area_level", "area_code", "lad_code"]].astype(object), on="lad_code")
    meta_med = pd.DataFrame({"area_level": pd.Series(dtype=object), "area_code": pd.Series(dtype=object),
                             "month": pd.Series(dtype="datetime64[us]"), "breakdown_type": pd.Series(dtype=object),
                             "breakdown_code": pd.Series(dtype=object), "median": pd.Series(dtype=float),
                             "n": pd.Series(dtype="int64")})
    # SALARY joins its input to membership; here the join is done by Dask, so each partition is
    # joined to an identity membership of its own rows' areas
    agg.salary = sal.shuffle(on=["area_level", "area_code"], npartitions=n).map_partitions(
        _salary_partition, meta=meta_med).compute()
    return agg


def _salary_partition(p: pd.DataFrame) -> pd.DataFrame:
    if len(p) == 0:
        return pd.DataFrame(columns=["area_level", "area_code", "month", "breakdown_type", "breakdown_code", "median", "n"])
    rows = p[["lad_code", "month", "major", "salary_annual", "area_level", "area_code"]].copy()
    # give every (area) its own pseudo-LAD so the SALARY statement's membership join is the identity
    rows["lad_code"] = rows["area_level"] + "|" + rows["area_code"]
    mem = rows[["area_level", "area_code", "lad_code"]].drop_duplicates()
    return _sql(rows.drop(columns=["area_level", "area_code"]), A.SALARY.format(src="part", membership="m"), m=mem)
