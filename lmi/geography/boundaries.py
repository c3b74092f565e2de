"""LAD boundaries for the map: official BUC polygons, a light map copy, centroids and a hex cartogram."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping


def _rounded_geojson(geom, ndigits: int = 4) -> str:
    """GeoJSON geometry text with coordinates rounded (≈10 m at 4 dp) to keep the snapshot small."""
    geom = shapely.set_precision(geom, 10 ** -ndigits)
    return json.dumps(mapping(geom), separators=(",", ":"))


def hex_layout(x: np.ndarray, y: np.ndarray, slack: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Place each point on its own cell of an odd-r hex grid near its position (equal-area cartogram).

    Points are scaled so the grid has about ``slack`` × n cells over the bounding box, then assigned
    greedily, most crowded first, to the nearest free cell.
    """
    n = len(x)
    w, h = x.max() - x.min(), y.max() - y.min()
    cells = slack * n
    size = math.sqrt(w * h / cells / 0.866)
    gx = (x - x.min()) / size
    gy = (y - y.min()) / (size * 0.866)
    taken: set[tuple[int, int]] = set()
    col = np.zeros(n, dtype=int)
    row = np.zeros(n, dtype=int)
    # crowdedness = distance to the 5th nearest neighbour (small = crowded): place crowded points first
    d = np.sqrt((gx[:, None] - gx[None, :]) ** 2 + (gy[:, None] - gy[None, :]) ** 2)
    crowd = np.sort(d, axis=1)[:, min(5, n - 1)]
    for i in np.argsort(crowd):
        r0, c0 = int(round(gy[i])), int(round(gx[i] - 0.5 * (round(gy[i]) % 2)))
        best = None
        for radius in range(0, 40):
            cand = [(r, c) for r in range(r0 - radius, r0 + radius + 1) for c in range(c0 - radius, c0 + radius + 1)
                    if (r, c) not in taken]
            if cand:
                def dist(rc):
                    r, c = rc
                    cx = c + 0.5 * (r % 2)
                    return (cx - gx[i]) ** 2 + (r - gy[i]) ** 2
                best = min(cand, key=dist)
                if radius >= 1:
                    break
        taken.add(best)
        row[i], col[i] = best
    return col, row


def lad_boundary_table(lads) -> pd.DataFrame:
    """One row per LAD: WKB polygon (WGS84), map GeoJSON, centroid (of the BNG polygon) and hex cell."""
    bng = lads.to_crs(27700)
    cent = bng.geometry.representative_point()
    cent_ll = cent.to_crs(4326) if hasattr(cent, "to_crs") else cent
    col, row = hex_layout(cent.x.to_numpy(), cent.y.to_numpy())
    return pd.DataFrame({
        "lad_code": lads["lad_code"].values,
        "lad_name": lads["lad_name"].values,
        "geometry_wkb": [shapely.to_wkb(g) for g in lads.geometry.values],
        "map_geojson": [_rounded_geojson(g) for g in lads.geometry.values],
        "centroid_lon": cent_ll.x.values, "centroid_lat": cent_ll.y.values,
        "hex_col": col, "hex_row": row,
    })


def area_boundary_table(lads, membership: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Dissolved outlines of every higher-level area (from its member LADs), simplified for the map."""
    geo = lads.set_index("lad_code").geometry
    out = []
    for (level, code), grp in membership[membership["area_level"].isin(["lep", "lsip", "ca", "region"])].groupby(
            ["area_level", "area_code"]):
        geom = shapely.union_all(geo.loc[grp["lad_code"]].values).simplify(0.002, preserve_topology=True)
        minx, miny, maxx, maxy = geom.bounds
        out.append((level, code, _rounded_geojson(geom), minx, miny, maxx, maxy))
    df = pd.DataFrame(out, columns=["area_level", "area_code", "map_geojson", "min_lon", "min_lat", "max_lon", "max_lat"])
    return df.merge(areas[["area_code", "area_name"]], on="area_code", how="left")
