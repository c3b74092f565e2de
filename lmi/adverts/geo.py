"""Place adverts in LADs: a grid index over the LAD boundaries, coastal tolerance, place names.

Point-in-polygon uses a regular lon/lat grid built once from the boundaries: a cell that no LAD
boundary touches lies wholly inside one LAD (or wholly outside England) and resolves by array
lookup; only points in cells that a boundary crosses get an exact shapely test (STRtree,
'intersects', lowest LAD index wins on a shared edge). Points inside no polygon are given to the
nearest LAD when within ``tolerance_m`` metres, measured in British National Grid (EPSG:27700),
because the generalised (BUC) boundaries are clipped to the coastline and piers, beaches and
harbours fall just outside them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy import ndimage

from lmi.formats.base import normalise_name

TOLERANCE_M = 1500.0
# place-method codes stored with each advert
BY_POINT, BY_TOLERANCE, BY_PLACE, UNASSIGNED = 0, 1, 2, -1
REASON_OFFSHORE = "outside England / offshore beyond tolerance"
REASON_POSTCODE = "postcode lookup not available"
REASON_AMBIGUOUS = "ambiguous place name"
REASON_UNKNOWN_PLACE = "unknown place name"
REASON_NO_LOCATION = "no location given"
REASONS = (REASON_OFFSHORE, REASON_POSTCODE, REASON_AMBIGUOUS, REASON_UNKNOWN_PLACE, REASON_NO_LOCATION)

_TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """A valid polygonal geometry (make_valid may return a collection with lines)."""
    if shapely.is_valid(geom):
        return geom
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts)


def _segments(geoms: np.ndarray) -> np.ndarray:
    """All boundary segments as an (n, 4) array x1, y1, x2, y2."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, idx = shapely.get_coordinates(rings, return_index=True)
    same = idx[1:] == idx[:-1]
    return np.column_stack([coords[:-1][same], coords[1:][same]])


@dataclass
class LadLocator:
    """Vectorised point -> LAD index over ``codes`` (see module docstring)."""

    codes: np.ndarray                 # LAD codes, index = LAD number used in the grid
    names: np.ndarray
    geoms: np.ndarray                 # WGS84 polygons
    cell: tuple[float, float] = (0.005, 0.003)   # lon, lat degrees (~340 m x 330 m at 52N)
    tolerance_m: float = TOLERANCE_M
    grid: np.ndarray = field(init=False, repr=False)
    origin: tuple[float, float] = field(init=False)
    stats: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.geoms = np.array([_polygonal(g) for g in self.geoms], dtype=object)
        self.tree = shapely.STRtree(self.geoms)
        self._bng = None
        self._bng_tree = None
        self._build_grid()

    @classmethod
    def from_frame(cls, df: pd.DataFrame, **kw) -> "LadLocator":
        """From rows of lad_boundaries (lad_code, lad_name, geometry_wkb), sorted by code."""
        df = df.sort_values("lad_code").reset_index(drop=True)
        geoms = shapely.from_wkb([bytes(b) for b in df["geometry_wkb"]])
        return cls(df["lad_code"].to_numpy(str), df["lad_name"].to_numpy(str), geoms, **kw)

    @classmethod
    def from_db(cls, con, **kw) -> "LadLocator":
        df = con.execute("SELECT lad_code, lad_name, geometry_wkb FROM lad_boundaries").df()
        return cls.from_frame(df, **kw)

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for c, g in zip(self.codes, self.geoms):
            h.update(c.encode())
            h.update(shapely.to_wkb(g))
        return h.hexdigest()[:16]

    # -- grid --------------------------------------------------------------------------------
    def _build_grid(self) -> None:
        dx, dy = self.cell
        x0, y0, x1, y1 = shapely.total_bounds(self.geoms)
        x0, y0 = x0 - dx, y0 - dy
        nx, ny = int(np.ceil((x1 - x0) / dx)) + 2, int(np.ceil((y1 - y0) / dy)) + 2
        self.origin = (x0, y0)
        seg = _segments(self.geoms)
        ix0 = np.floor((np.minimum(seg[:, 0], seg[:, 2]) - x0) / dx).astype(np.int64)
        ix1 = np.floor((np.maximum(seg[:, 0], seg[:, 2]) - x0) / dx).astype(np.int64)
        iy0 = np.floor((np.minimum(seg[:, 1], seg[:, 3]) - y0) / dy).astype(np.int64)
        iy1 = np.floor((np.maximum(seg[:, 1], seg[:, 3]) - y0) / dy).astype(np.int64)
        wx, wy = ix1 - ix0 + 1, iy1 - iy0 + 1
        n = wx * wy
        s = np.repeat(np.arange(len(seg)), n)
        k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        cx, cy = ix0[s] + k % wx[s], iy0[s] + k // wx[s]
        boxes = shapely.box(x0 + cx * dx, y0 + cy * dy, x0 + (cx + 1) * dx, y0 + (cy + 1) * dy)
        lines = shapely.linestrings(np.stack([seg[s, :2], seg[s, 2:]], axis=1))
        hit = shapely.intersects(boxes, lines)
        boundary = np.zeros((ny, nx), dtype=bool)
        boundary[cy[hit], cx[hit]] = True
        labels, n_comp = ndimage.label(~boundary)
        # one representative cell per component -> exact test of its centre
        flat = labels.ravel()
        first = np.full(n_comp + 1, -1, dtype=np.int64)
        order = np.nonzero(flat)[0]
        first[flat[order[::-1]]] = order[::-1]
        rep = first[1:]
        ry, rx = np.divmod(rep, nx)
        comp_lad = self._exact(x0 + (rx + 0.5) * dx, y0 + (ry + 0.5) * dy)
        grid = np.where(labels > 0, np.concatenate([[-2], comp_lad])[labels], -2).astype(np.int16)
        self.grid = grid
        self.stats = {"cells": int(grid.size), "boundary_cells": int(boundary.sum()),
                      "components": int(n_comp)}

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """LAD index containing each point (boundary inclusive, lowest index wins), -1 if none."""
        out = np.full(len(x), -1, dtype=np.int64)
        if len(x) == 0:
            return out
        pi, li = self.tree.query(shapely.points(x, y), predicate="intersects")
        if len(pi):
            order = np.lexsort((li, pi))
            pi, li = pi[order], li[order]
            keep = np.r_[True, pi[1:] != pi[:-1]]
            out[pi[keep]] = li[keep]
        return out

    def contains_index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """LAD index whose polygon covers each point, -1 if none (no tolerance)."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        dx, dy = self.cell
        ix = np.floor((lon - self.origin[0]) / dx)
        iy = np.floor((lat - self.origin[1]) / dy)
        ny, nx = self.grid.shape
        ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        out = np.full(len(lon), -1, dtype=np.int64)
        out[ok] = self.grid[iy[ok].astype(np.int64), ix[ok].astype(np.int64)]
        need = np.nonzero(out == -2)[0]
        if len(need):
            out[need] = self._exact(lon[need], lat[need])
        return out

    def _bng_geoms(self):
        if self._bng is None:
            self._bng = shapely.transform(self.geoms, lambda xy: np.column_stack(_TO_BNG.transform(xy[:, 0], xy[:, 1])))
            self._bng_tree = shapely.STRtree(self._bng)
        return self._bng, self._bng_tree

    def nearest_within(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest LAD index within the tolerance (-1 beyond) and the distance in metres."""
        out = np.full(len(lon), -1, dtype=np.int64)
        dist = np.full(len(lon), np.nan)
        if len(lon) == 0:
            return out, dist
        _, tree = self._bng_geoms()
        ex, ny_ = _TO_BNG.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        finite = np.isfinite(ex) & np.isfinite(ny_)
        idx = np.nonzero(finite)[0]
        (pi, li), d = tree.query_nearest(shapely.points(ex[idx], ny_[idx]), max_distance=self.tolerance_m,
                                         return_distance=True, all_matches=False)
        out[idx[pi]] = li
        dist[idx[pi]] = d
        return out, dist

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(LAD index or -1, method BY_POINT / BY_TOLERANCE / UNASSIGNED) for each point."""
        idx = self.contains_index(lon, lat)
        method = np.where(idx >= 0, BY_POINT, UNASSIGNED).astype(np.int8)
        miss = np.nonzero(idx < 0)[0]
        if len(miss):
            near, _ = self.nearest_within(np.asarray(lon)[miss], np.asarray(lat)[miss])
            found = near >= 0
            idx[miss[found]] = near[found]
            method[miss[found]] = BY_TOLERANCE
        return idx, method


@dataclass
class PlaceIndex:
    """Place name -> LAD from LAD names and ward names (ward_lookup)."""

    lad_by_name: dict[str, str]
    lads_by_ward: dict[str, frozenset[str]]

    @classmethod
    def from_frames(cls, lads: pd.DataFrame, wards: pd.DataFrame) -> "PlaceIndex":
        lad_by_name = {normalise_name(n): c for c, n in zip(lads["lad_code"], lads["lad_name"])}
        w = pd.DataFrame({"k": [normalise_name(n) for n in wards["ward_name"]], "lad": wards["lad_code"]})
        lads_by_ward = {k: frozenset(g) for k, g in w.groupby("k")["lad"]}
        return cls(lad_by_name, lads_by_ward)

    @classmethod
    def from_db(cls, con) -> "PlaceIndex":
        lads = con.execute("SELECT lad_code, lad_name FROM lad_boundaries").df()
        wards = con.execute("SELECT ward_name, lad_code FROM ward_lookup").df()
        wards = wards[wards["lad_code"].isin(set(lads["lad_code"]))]
        return cls.from_frames(lads, wards)

    def resolve(self, text: str) -> tuple[str | None, str | None]:
        """(LAD code, None) or (None, reason) for a free-text place such as 'Headingley, Leeds'.

        Order: the whole text as a LAD name; comma-separated parts as LAD names (most specific
        first); a part that is a ward name in one of the LADs named; a ward name in exactly one
        LAD; a ward name found in several LADs -> 'ambiguous place name'; else 'unknown place name'.
        """
        whole = normalise_name(text)
        if not whole:
            return None, REASON_NO_LOCATION
        if whole in self.lad_by_name:
            return self.lad_by_name[whole], None
        parts = [normalise_name(p) for p in str(text).split(",")]
        parts = [p for p in parts if p]
        lads = [self.lad_by_name[p] for p in parts if p in self.lad_by_name]
        wards = [self.lads_by_ward[p] for p in parts if p in self.lads_by_ward]
        if lads:
            for cands in wards:
                both = [c for c in lads if c in cands]
                if both:
                    return both[0], None
            return lads[0], None
        if wards:
            cands = wards[0]
            for other in wards[1:]:
                if cands & other:
                    cands = cands & other
            if len(cands) == 1:
                return next(iter(cands)), None
            return None, REASON_AMBIGUOUS
        return None, REASON_UNKNOWN_PLACE
