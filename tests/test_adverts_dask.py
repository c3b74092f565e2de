"""The advert pipeline on Dask (local scheduler) gives the same result as on DuckDB, and the grid
point-in-polygon agrees with a dask-geopandas spatial join."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from lmi.adverts import store
from lmi.adverts.devdb import database_for_tests
from lmi.adverts.generate import generate
from lmi.adverts.ingest import ingest, load_reference
from lmi.paths import default_sources

dd = pytest.importorskip("dask.dataframe", reason="dask is not installed (pip install 'dask[dataframe]')")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    d = tmp_path_factory.mktemp("advdask")
    db = database_for_tests(d / "lmi.duckdb", default_sources())
    if db is None:
        pytest.skip("no database with LAD boundaries: data/lmi.duckdb absent and ../shared/lmi-sources not present")
    feed = d / "feed.parquet"
    generate(12_000, 5, feed, db, sources_dir=default_sources())
    report = ingest([feed], db=db, progress=False)
    return d, db, feed, report


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if c == "month":
            out[c] = pd.to_datetime(out[c])
        elif c in ("n",):
            out[c] = out[c].astype("int64")
        elif c == "median":
            out[c] = out[c].astype(float)
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def test_dask_aggregates_identical_to_duckdb(ingested):
    from lmi.adverts.distributed import aggregate_dask

    _, db, _, report = ingested
    ref = load_reference(db)
    dsk = aggregate_dask(store.parts_glob(store.sidecar_dir(db)), ref.membership, npartitions=3)
    loc = report.agg
    assert dsk.stats == loc.stats
    assert dsk.unassigned == loc.unassigned and dsk.placed == loc.placed and dsk.soc == loc.soc
    assert (dsk.first_month, dsk.last_month) == (loc.first_month, loc.last_month)
    a, b = loc.sorted_frames(), dsk.sorted_frames()
    for name in ("new", "active", "salary"):
        pd.testing.assert_frame_equal(_norm(a[name]), _norm(b[name]), check_dtype=False, obj=name)
    # and the same facts rows
    from lmi.adverts.facts import build_facts

    fa = build_facts(loc, ref.soc, ref.lads, ref.membership).to_pandas()
    fb = build_facts(dsk, ref.soc, ref.lads, ref.membership).to_pandas()
    key = ["measure", "area_code", "period", "breakdown_type", "breakdown_code"]
    pd.testing.assert_frame_equal(fa.sort_values(key).reset_index(drop=True), fb.sort_values(key).reset_index(drop=True))


def test_dask_cleaning_identical_to_local(ingested, tmp_path):
    from lmi.adverts.distributed import clean_partitioned

    _, db, feed, _ = ingested
    raw = tmp_path / "raw"
    raw.mkdir()
    t = pq.read_table(feed)
    for i, start in enumerate(range(0, t.num_rows, 4000)):
        pq.write_table(t.slice(start, 4000), raw / f"part-{i}.parquet")
    local_part = next((store.sidecar_dir(db) / "parts").glob("*.parquet"))
    out = tmp_path / "clean"
    clean_partitioned(str(raw / "*.parquet"), str(out), str(db), file_id=local_part.stem)
    x = pq.read_table(out).to_pandas().sort_values("_row").reset_index(drop=True)
    y = pq.read_table(local_part).to_pandas().sort_values("_row").reset_index(drop=True)
    pd.testing.assert_frame_equal(_norm(x), _norm(y), check_dtype=False)


def test_grid_agrees_with_dask_geopandas_sjoin(ingested):
    dgpd = pytest.importorskip("dask_geopandas", reason="dask-geopandas is not installed")
    import geopandas as gpd
    import shapely

    _, db, feed, _ = ingested
    pts = pq.read_table(feed, columns=["latitude", "longitude"]).to_pandas().dropna().reset_index(drop=True)
    ref = load_reference(db)
    ours = ref.locator.contains_index(pts["longitude"].to_numpy(), pts["latitude"].to_numpy())
    lads = gpd.GeoDataFrame({"lad_code": ref.locator.codes}, geometry=list(ref.locator.geoms), crs="EPSG:4326")
    g = gpd.GeoDataFrame(pts, geometry=gpd.points_from_xy(pts["longitude"], pts["latitude"]), crs="EPSG:4326")
    dg = dgpd.from_geopandas(g, npartitions=3)
    joined = dgpd.sjoin(dg, lads, predicate="within").compute()
    pos = {c: i for i, c in enumerate(ref.locator.codes)}
    assert not joined.index.duplicated().any()
    theirs = pd.Series(-1, index=pts.index)
    theirs.loc[joined.index] = joined["lad_code"].map(pos).to_numpy()
    inside = ours >= 0
    assert inside.sum() > 10_000
    assert (theirs.to_numpy() == ours).all()
    assert shapely.__version__ >= "2"
