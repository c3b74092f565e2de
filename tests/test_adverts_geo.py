"""Advert location -> LAD: grid index vs exact polygons, borders, island, coast, offshore, place names."""
from __future__ import annotations

import duckdb
import numpy as np
import pytest
import shapely

from lmi.adverts import geo
from lmi.adverts.devdb import database_for_tests
from lmi.paths import default_sources


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    src = default_sources()
    path = database_for_tests(tmp_path_factory.mktemp("advgeo") / "lmi.duckdb", src)
    if path is None:
        pytest.skip("no database with LAD boundaries: data/lmi.duckdb absent and ../shared/lmi-sources not present")
    return path


@pytest.fixture(scope="module")
def locator(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return geo.LadLocator.from_db(con)
    finally:
        con.close()


@pytest.fixture(scope="module")
def places(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return geo.PlaceIndex.from_db(con)
    finally:
        con.close()


def _one(locator, lon, lat):
    idx, method = locator.locate(np.array([lon]), np.array([lat]))
    return (locator.codes[idx[0]] if idx[0] >= 0 else None), int(method[0])


def test_grid_equals_exact_polygon_test_on_random_points(locator):
    rng = np.random.default_rng(0)
    lon = rng.uniform(-6.5, 1.9, 200_000)
    lat = rng.uniform(49.8, 55.9, 200_000)
    fast = locator.contains_index(lon, lat)
    exact = locator._exact(lon, lat)
    assert (fast == exact).all()
    assert (fast >= 0).sum() > 50_000          # a good share of the box is England
    # and against shapely directly (independent of the tree code): a sample of inside points
    inside = np.nonzero(fast >= 0)[0][:2000]
    for i in inside[:300]:
        assert shapely.contains_xy(locator.geoms[fast[i]], lon[i], lat[i]) or \
            shapely.intersects(locator.geoms[fast[i]], shapely.Point(lon[i], lat[i]))


def test_grid_has_few_boundary_cells(locator):
    assert locator.stats["boundary_cells"] < 0.1 * locator.stats["cells"]


@pytest.mark.parametrize("name,lon,lat,code", [
    ("Leeds city centre", -1.5491, 53.7997, "E08000035"),
    ("Manchester Piccadilly", -2.2309, 53.4774, "E08000003"),
    ("Salford Quays (near Manchester/Trafford border)", -2.2870, 53.4720, "E08000006"),
    ("Old Trafford football ground (Trafford side of the border)", -2.2913, 53.4631, "E08000009"),
    ("Newport, Isle of Wight", -1.2985, 50.7010, "E06000046"),
    ("Cowes, Isle of Wight", -1.2985, 50.7620, "E06000046"),
    ("Westminster, Parliament Square", -0.1276, 51.5007, "E09000033"),
    ("Birmingham New Street", -1.8990, 52.4778, "E08000025"),
])
def test_inland_and_island_points(locator, name, lon, lat, code):
    got, method = _one(locator, lon, lat)
    assert got == code, name
    assert method == geo.BY_POINT


def test_points_either_side_of_a_lad_border_go_to_the_polygon_that_holds_them(locator):
    # walk across the Leeds / Bradford border: every point goes to the polygon covering it
    lats = np.full(400, 53.80)
    lons = np.linspace(-1.80, -1.62, 400)
    idx, method = locator.locate(lons, lats)
    codes = set(locator.codes[idx])
    assert {"E08000032", "E08000035"} <= codes         # Bradford, Leeds
    for i in range(0, 400, 7):
        assert shapely.intersects(locator.geoms[idx[i]], shapely.Point(lons[i], lats[i]))
    assert (method == geo.BY_POINT).all()


def test_brighton_palace_pier_head_is_outside_buc_and_recovered_by_tolerance(locator):
    # pier head ~525 m south of the Madeira Drive entrance; BUC is clipped to the coastline
    lon, lat = -0.1353, 50.8150
    assert locator.contains_index(np.array([lon]), np.array([lat]))[0] == -1
    near, dist = locator.nearest_within(np.array([lon]), np.array([lat]))
    assert locator.codes[near[0]] == "E06000043" and dist[0] < 400
    assert _one(locator, lon, lat) == ("E06000043", geo.BY_TOLERANCE)


def test_southend_pier_end_is_beyond_the_tolerance(locator):
    # the pier runs 2.16 km into the Thames estuary: its end is ~1.65 km from the BUC polygon
    lon, lat = 0.7170, 51.5160
    assert locator.contains_index(np.array([lon]), np.array([lat]))[0] == -1
    assert _one(locator, lon, lat) == (None, geo.UNASSIGNED)
    # half way along the pier is within 1.5 km and goes to Southend-on-Sea
    assert _one(locator, 0.7168, 51.5250) == ("E06000033", geo.BY_TOLERANCE)


def test_ryde_pier_head_isle_of_wight_by_tolerance(locator):
    assert _one(locator, -1.1600, 50.7400) == ("E06000046", geo.BY_TOLERANCE)


@pytest.mark.parametrize("lon,lat", [(2.05, 52.75), (-1.30, 50.40), (1.95, 51.10), (0.0, 0.0)])
def test_points_20km_offshore_are_unassigned(locator, lon, lat):
    assert _one(locator, lon, lat) == (None, geo.UNASSIGNED)


def test_tolerance_is_measured_in_metres(locator):
    # a point due south of Brighton: unassigned at 100 m tolerance, placed at 1.5 km
    tight = geo.LadLocator(locator.codes, locator.names, locator.geoms, tolerance_m=100.0)
    lon, lat = np.array([-0.1353]), np.array([50.8150])
    assert tight.locate(lon, lat)[0][0] == -1
    assert locator.locate(lon, lat)[0][0] >= 0


def test_place_names(places):
    assert places.resolve("Leeds") == ("E08000035", None)
    assert places.resolve("Kingston upon Hull, City of") == ("E06000010", None)
    assert places.resolve("Headingley & Hyde Park, Leeds")[0] == "E08000035"
    assert places.resolve("Isle of Wight") == ("E06000046", None)
    assert places.resolve("Abbey") == (None, geo.REASON_AMBIGUOUS)
    assert places.resolve("Cardiff") == (None, geo.REASON_UNKNOWN_PLACE)
    assert places.resolve("  ") == (None, geo.REASON_NO_LOCATION)


def test_ambiguous_ward_resolved_by_its_lad(places):
    # 'Abbey' is a ward in several LADs; with the LAD named it is no longer ambiguous
    code, reason = places.resolve("Abbey, Barking and Dagenham")
    assert code == "E09000002" and reason is None
