"""One typed batch of adverts -> cleaned adverts (LAD, unassigned reason, SOC code, salary).

Everything is vectorised over the batch; place names and titles are resolved once per DISTINCT
value and cached across batches. The cleaned columns (``CLEAN_SCHEMA``) are what the sidecar
Parquet keeps and what the aggregation reads.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmi.adverts import geo
from lmi.adverts.soc import SocCoder

CLEAN_SCHEMA = pa.schema([
    ("advert_id", pa.string()), ("source", pa.string()), ("posted_date", pa.date32()),
    ("closing_date", pa.date32()), ("employer_key", pa.string()), ("title_key", pa.string()),
    ("lad_code", pa.string()), ("place_method", pa.string()), ("reason", pa.string()),
    ("soc_unit", pa.string()), ("soc_method", pa.string()), ("soc_confidence", pa.float32()),
    ("salary_annual", pa.float64()), ("salary_note", pa.string()), ("file_key", pa.int64()), ("_row", pa.int64()),
])
PLACE_METHODS = np.array(["coordinates", "coordinates (coastal tolerance)", "place name"], dtype=object)
SOC_METHODS = ["supplied", "exact", "tfidf"]


@dataclass
class RunStats:
    """Counts for the rows read in one ingest run."""

    rows: int = 0
    placed: Counter = field(default_factory=Counter)      # place method -> n
    unassigned: Counter = field(default_factory=Counter)  # reason -> n
    soc: Counter = field(default_factory=Counter)         # supplied / exact / tfidf / uncoded
    salary: Counter = field(default_factory=Counter)      # salary_note -> n (and 'used')
    distinct_titles: int = 0
    distinct_places: int = 0

    def add(self, other: "RunStats") -> None:
        self.rows += other.rows
        self.distinct_titles = max(self.distinct_titles, other.distinct_titles)
        self.distinct_places = max(self.distinct_places, other.distinct_places)
        for a in ("placed", "unassigned", "soc", "salary"):
            getattr(self, a).update(getattr(other, a))


class Cleaner:
    """Holds the LAD locator, the place index, the SOC coder and the per-value caches."""

    def __init__(self, locator: geo.LadLocator, places: geo.PlaceIndex, coder: SocCoder) -> None:
        self.locator = locator
        self.places = places
        self.coder = coder
        self.lad_pos = {c: i for i, c in enumerate(locator.codes)}
        self.unit_pos = {u: i for i, u in enumerate(coder.units)}
        self.reasons = list(geo.REASONS)
        self._place_cache: dict[str, tuple[int, int]] = {}     # text -> (lad idx or -1, reason idx or -1)
        self._title_cache: dict[str, tuple[int, int, float]] = {}  # key -> (unit idx or -1, method idx, conf)

    # -- places -----------------------------------------------------------------------------
    def _resolve_places(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        lad = np.empty(len(texts), dtype=np.int64)
        rsn = np.empty(len(texts), dtype=np.int64)
        for i, t in enumerate(texts):
            hit = self._place_cache.get(t)
            if hit is None:
                code, reason = self.places.resolve(t)
                hit = (self.lad_pos[code] if code else -1, self.reasons.index(reason) if reason else -1)
                self._place_cache[t] = hit
            lad[i], rsn[i] = hit
        return lad, rsn

    # -- titles -----------------------------------------------------------------------------
    def _classify(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        new = [k for k in keys if k not in self._title_cache]
        if new:
            res = self.coder.classify(new)
            for k, c, m, conf in zip(new, res["code"], res["method"], res["confidence"]):
                self._title_cache[k] = (self.unit_pos[c] if isinstance(c, str) else -1,
                                        SOC_METHODS.index(m) if isinstance(m, str) else -1, float(conf))
        out = np.array([self._title_cache[k] for k in keys], dtype=np.float64).reshape(-1, 3)
        return out[:, 0].astype(np.int64), out[:, 1].astype(np.int64), out[:, 2]

    def clean(self, batch: pa.RecordBatch, file_id: str) -> tuple[pa.RecordBatch, RunStats]:
        """Clean one batch; ``file_id`` (hex) identifies the feed file (stored as ``file_key``)."""
        n = batch.num_rows
        st = RunStats(rows=n)
        # ---- location
        lat = batch.column("latitude").to_numpy(zero_copy_only=False)
        lon = batch.column("longitude").to_numpy(zero_copy_only=False)
        lad = np.full(n, -1, dtype=np.int64)
        pm = np.full(n, -1, dtype=np.int64)          # index into PLACE_METHODS
        reason = np.full(n, -1, dtype=np.int64)      # index into self.reasons
        has_xy = ~np.isnan(lat)
        xy = np.nonzero(has_xy)[0]
        if len(xy):
            idx, method = self.locator.locate(lon[xy], lat[xy])
            lad[xy] = idx
            pm[xy] = np.where(method == geo.BY_TOLERANCE, 1, np.where(method == geo.BY_POINT, 0, -1))
            reason[xy[idx < 0]] = self.reasons.index(geo.REASON_OFFSHORE)
        loc = batch.column("location")
        need_place = ~has_xy & pc.is_valid(loc).to_numpy(zero_copy_only=False)
        rows = np.nonzero(need_place)[0]
        if len(rows):
            enc = pc.dictionary_encode(pc.take(loc, pa.array(rows)))
            enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
            ulad, ursn = self._resolve_places(enc.dictionary.to_pylist())
            codes = enc.indices.to_numpy(zero_copy_only=False)
            lad[rows], reason[rows] = ulad[codes], ursn[codes]
            pm[rows] = np.where(ulad[codes] >= 0, 2, -1)
            st.distinct_places = len(enc.dictionary)
        rest = ~has_xy & ~need_place
        has_pc = pc.is_valid(batch.column("postcode")).to_numpy(zero_copy_only=False)
        reason[rest & has_pc] = self.reasons.index(geo.REASON_POSTCODE)
        reason[rest & ~has_pc] = self.reasons.index(geo.REASON_NO_LOCATION)
        for i, name in enumerate(PLACE_METHODS):
            st.placed[name] = int((pm == i).sum())
        rc = np.bincount(reason[reason >= 0], minlength=len(self.reasons))
        for i, r in enumerate(self.reasons):
            st.unassigned[r] = int(rc[i])
        # ---- occupation
        unit = np.full(n, -1, dtype=np.int64)
        smeth = np.full(n, -1, dtype=np.int64)
        sconf = np.zeros(n, dtype=np.float32)
        supplied = batch.column("soc2020")
        has_soc = pc.is_valid(supplied).to_numpy(zero_copy_only=False)
        if has_soc.any():
            enc = pc.dictionary_encode(supplied)
            upos = np.array([self.unit_pos.get(c, -1) if c else -1 for c in enc.dictionary.to_pylist()], dtype=np.int64)
            codes = enc.indices.fill_null(0).to_numpy(zero_copy_only=False)
            unit[has_soc] = upos[codes[has_soc]] if len(upos) else -1
            smeth[has_soc] = 0
            sconf[has_soc] = 1.0
        tenc = _encode(batch.column("title"))
        title_key = pc.take(normalise_key(tenc.dictionary), tenc.indices)
        todo = np.nonzero(~has_soc)[0]
        if len(todo):
            # classify each distinct title (lower-cased, trimmed) once; cached across batches
            soc_keys = pc.utf8_lower(pc.utf8_trim_whitespace(tenc.dictionary))
            kenc = _encode(soc_keys)
            u, m, c = self._classify(kenc.dictionary.to_pylist())
            per_title = kenc.indices.to_numpy(zero_copy_only=False)
            codes = per_title[tenc.indices.to_numpy(zero_copy_only=False)[todo]]
            unit[todo], smeth[todo], sconf[todo] = u[codes], m[codes], c[codes]
            st.distinct_titles = len(kenc.dictionary)
        emp = batch.column("employer")
        eenc = _encode(emp)
        employer_key = pc.take(normalise_key(eenc.dictionary, employer=True), eenc.indices)
        for i, name in enumerate(SOC_METHODS):
            st.soc[name] = int((smeth == i).sum())
        st.soc["uncoded"] = int((unit < 0).sum())
        notes = batch.column("salary_note")
        st.salary["used"] = int(pc.sum(pc.is_valid(batch.column("salary_annual"))).as_py() or 0)
        for item in pc.value_counts(notes.drop_null()).to_pylist():
            st.salary[str(item["values"])] = int(item["counts"])
        out = pa.RecordBatch.from_arrays([
            batch.column("advert_id"), batch.column("source"), batch.column("posted_date"),
            batch.column("closing_date"), employer_key, title_key,
            _dict(lad, self.locator.codes), _dict(pm, PLACE_METHODS), _dict(reason, np.array(self.reasons, dtype=object)),
            _dict(unit, np.array(self.coder.units, dtype=object)), _dict(smeth, np.array(SOC_METHODS, dtype=object)),
            pa.array(sconf, type=pa.float32()), batch.column("salary_annual"), notes,
            pa.array(np.full(n, file_key(file_id), dtype=np.int64)), batch.column("_row"),
        ], schema=CLEAN_SCHEMA)
        return out, st


def file_key(file_id: str) -> int:
    """A file's id as a non-negative int64 (first 15 hex digits of the content hash, or a crc32)."""
    try:
        return int(file_id[:15], 16)
    except ValueError:
        import zlib
        return zlib.crc32(file_id.encode())


def _encode(arr: pa.Array) -> pa.DictionaryArray:
    enc = pc.dictionary_encode(arr)
    return enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc


def normalise_key(values: pa.Array, employer: bool = False) -> pa.Array:
    """De-duplication key: lower case, accents and punctuation removed, spaces collapsed; for employers
    also the legal suffixes Ltd, Limited, plc, LLP, Inc. Blank -> null. Applied to distinct values."""
    if pc.all(pc.string_is_ascii(values)).as_py() is False:
        values = pc.replace_substring_regex(pc.utf8_normalize(values, "NFKD"), r"\p{M}+", "")
    x = pc.replace_substring_regex(pc.utf8_lower(values), r"[^a-z0-9]+", " ")
    if employer:
        x = pc.replace_substring_regex(x, r"\b(ltd|limited|plc|llp|inc)\b", " ")
        x = pc.replace_substring_regex(x, r"\s+", " ")
    x = pc.utf8_trim(x, " ")
    return pc.if_else(pc.equal(x, ""), pa.scalar(None, pa.string()), x)


def _dict(idx: np.ndarray, values: np.ndarray) -> pa.Array:
    """Strings ``values[idx]`` (null where idx < 0), built through a dictionary array."""
    d = pa.DictionaryArray.from_arrays(pa.array(np.where(idx < 0, 0, idx).astype(np.int32),
                                                mask=idx < 0), pa.array(list(values), type=pa.string()))
    return d.cast(pa.string())
