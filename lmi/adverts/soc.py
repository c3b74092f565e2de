"""Assign a SOC 2020 unit group to a job-advert title, transparently, from the SOC 2020 structure.

The index is the official SOC 2020 Volume 1 content held in the ``soc2020`` table: each unit group's
title and its related job titles (the project has no coding index). Method, in order:

1. **exact**: the cleaned title equals a related job title (with or without its bracketed
   qualifier) or a unit-group title (singular) of exactly one unit group -> confidence 1.0;
2. **tfidf**: otherwise TF-IDF cosine similarity of the title's tokens with (a) each related
   title, best per unit group, and (b) the unit group's whole title list; the unit score is
   ``0.6 * a + 0.4 * b``; confidence = best score x (1 - 0.5 x runner-up / best), so a title that
   fits two groups equally well gets a lower confidence;
3. below ``threshold`` the title is left uncoded.

Both steps are tried on the whole title and on its head (text before ' - ', ' | ', '(' or ','),
since advert titles put the occupation first and shift, location or client after it.

Cleaning: lower case, accents and punctuation removed; qualifiers that say nothing about the
occupation are dropped (seniority, hours, shift, contract, 'band 5', salary, 'immediate start');
a few common advert abbreviations are expanded (HGV, FLT, HR, PA, QA, SENCO, RMN ...);
plurals are singularised. Titles are classified once per DISTINCT title.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import sparse

NOISE = frozenset("""
senior snr junior jnr trainee graduate entry level experienced qualified newly apprentice apprenticeship
part full time temporary temp permanent perm contract contractor fixed term locum interim ftc
days nights night weekend weekends shift shifts early late rotating flexible hours hrs hourly
remote hybrid based field working
immediate start urgent urgently required needed wanted opportunity vacancy vacancies job jobs role roles position
new exciting excellent fantastic amazing great
pay rate per hour annum salary ph uk up to k plus bonus benefits car allowance
band grade level lvl
x1 x2 x3 x4 x5 ref
i ii iii iv
""".split())
STOP = frozenset("and or of the a an in for to with at on by from & nos nec e g".split())
ABBREV = {
    "hgv": "hgv driver", "lgv": "lgv driver", "c+e": "hgv driver", "ce": "hgv driver",
    "flt": "fork lift truck", "forklift": "fork lift", "fork-lift": "fork lift",
    "hr": "human resources", "pa": "personal assistant", "qa": "quality assurance", "qc": "quality control",
    "senco": "special educational needs coordinator", "sen": "special needs", "send": "special needs",
    "rmn": "mental health nurse", "rgn": "registered nurse", "rn": "registered nurse",
    "hca": "health care assistant", "healthcare": "health care", "hcsw": "health care support worker",
    "ux": "user experience", "ui": "user interface", "dev": "developer", "devs": "developer",
    "eng": "engineer", "mgr": "manager", "asst": "assistant", "admin": "administrative",
    "administrator": "administrative", "administration": "administrative",
    "gp": "general practitioner", "cctv": "cctv", "pcso": "police community support officer",
    "mot": "mot", "cnc": "cnc", "cad": "cad", "it": "it", "ict": "it", "av": "audio visual",
    "efl": "english foreign language teacher", "tefl": "english foreign language teacher",
    "esol": "english foreign language teacher", "fe": "further education", "he": "higher education",
    "kp": "kitchen porter", "cdp": "chef de partie", "fs": "financial services", "sql": "database",
    "dba": "database administrator", "ks1": "primary school", "ks2": "primary school",
    "ks3": "secondary school", "ks4": "secondary school", "ft": "", "pt": "",
    "multidrop": "delivery", "multi": "", "drop": "delivery", "advisor": "adviser",
    "organizer": "organiser", "draughtsperson": "draughtsman", "draughtsman": "draughtsman",
}
_SPLIT = re.compile(r"[^a-z0-9+]+")
_MONEY = re.compile(r"£\s*[\d,.]+k?|\b\d+(\.\d+)?\s*(k|ph|p/h|per hour)\b")
_BRACKET = re.compile(r"\(([^)]*)\)")
_HEAD = re.compile(r"\s+[-–|/]\s+|\s*\(|\s*,\s*")  # 'Care Assistant - Nights' -> 'Care Assistant'


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()


def _singular(w: str) -> str:
    if len(w) <= 3 or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if w.endswith("s"):
        return w[:-1]
    return w


@lru_cache(maxsize=200_000)
def _word(w: str, drop_noise: bool) -> tuple[str, ...]:
    if not w or w in STOP or w.isdigit() or (drop_noise and w in NOISE):
        return ()
    exp = ABBREV.get(w)
    if exp is not None:
        return tuple(exp.split())
    return (_singular(w),)


def tokens(title: str, *, drop_noise: bool = True) -> list[str]:
    """Occupation-bearing tokens of a title (see module docstring)."""
    text = _MONEY.sub(" ", _ascii(title)).replace("'s", "").replace("’s", "")
    out: list[str] = []
    for w in _SPLIT.split(text):
        out.extend(_word(w, drop_noise))
    return out


def bag(toks: list[str]) -> str:
    """Order-free key of a token list (for exact matching)."""
    return " ".join(sorted(set(toks)))


@dataclass
class SocResult:
    code: str | None
    method: str | None          # 'exact' | 'tfidf' | None (uncoded)
    confidence: float


class SocCoder:
    """Build once from the soc2020 table; ``classify`` maps distinct titles to unit groups."""

    def __init__(self, soc: pd.DataFrame, threshold: float = 0.40, w_entry: float = 0.6) -> None:
        units = soc[soc["code"].astype(str).str.fullmatch(r"\d{4}")].copy()
        self.units = units["code"].astype(str).tolist()
        self.unit_titles = dict(zip(self.units, units["title"].astype(str)))
        self.threshold = threshold
        self.w_entry = w_entry
        entries: list[tuple[str, str]] = []         # (unit, text)
        for code, title, rel in zip(self.units, units["title"], units["related_job_titles"]):
            entries.append((code, str(title)))
            for t in split_related(rel):
                entries.append((code, t))
        self.exact_full: dict[str, set[str]] = {}
        self.exact_plain: dict[str, set[str]] = {}
        ent_tokens: list[list[str]] = []
        ent_unit: list[int] = []
        uidx = {u: i for i, u in enumerate(self.units)}
        for code, text in entries:
            plain = _BRACKET.sub(" ", text)
            qual = " ".join(_BRACKET.findall(text))
            for store, variant in ((self.exact_full, text), (self.exact_plain, plain)):
                k = bag(tokens(variant, drop_noise=False))
                if k:
                    store.setdefault(k, set()).add(code)
            toks = tokens(plain, drop_noise=False) + tokens(qual, drop_noise=False)
            if toks:
                ent_tokens.append(toks)
                ent_unit.append(uidx[code])
        vocab = sorted({t for ts in ent_tokens for t in ts})
        self.vocab = {t: i for i, t in enumerate(vocab)}
        m, v = len(ent_tokens), len(vocab)
        rows = np.repeat(np.arange(m), [len(t) for t in ent_tokens])
        cols = np.array([self.vocab[t] for ts in ent_tokens for t in ts])
        tf = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(m, v))
        df = np.asarray((tf > 0).sum(axis=0)).ravel()
        self.idf = np.log((1 + m) / (1 + df)) + 1.0
        self.E = _l2(tf.multiply(self.idf).tocsr())
        order = np.argsort(ent_unit, kind="stable")
        self.E = self.E[order]
        eu = np.asarray(ent_unit)[order]
        self.ent_start = np.r_[0, np.nonzero(np.diff(eu))[0] + 1]
        self.ent_unit_ids = eu[self.ent_start]
        U = sparse.csr_matrix((np.ones(m), (eu, np.arange(m))), shape=(len(self.units), m))
        self.D = _l2((U @ tf).multiply(self.idf).tocsr())

    def title_tokens(self, title: str, *, drop_noise: bool = True) -> list[str]:
        """Tokens of an advert title; an unknown word that is two index words joined is split."""
        out = []
        for t in tokens(title, drop_noise=drop_noise):
            if t not in self.vocab and len(t) >= 6:
                for cut in range(3, len(t) - 2):
                    a, b = t[:cut], _singular(t[cut:])
                    if a in self.vocab and b in self.vocab:
                        out.extend((a, b))
                        break
                else:
                    out.append(t)
            else:
                out.append(t)
        return out

    def exact_match(self, title: str) -> str | None:
        """The unit group whose related title / group title equals the cleaned title, if unique."""
        k1 = bag(self.title_tokens(title, drop_noise=False))
        k2 = bag(self.title_tokens(title))
        for store in (self.exact_full, self.exact_plain):
            for k in (k1, k2):
                hit = store.get(k)
                if hit:
                    return next(iter(hit)) if len(hit) == 1 else None
        return None

    def _query(self, keys: list[str]) -> sparse.csr_matrix:
        data, rows, cols = [], [], []
        for i, k in enumerate(keys):
            for t in k.split():
                j = self.vocab.get(t)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    data.append(1.0)
        q = sparse.csr_matrix((data, (rows, cols)), shape=(len(keys), len(self.vocab)))
        q.sum_duplicates()
        return _l2(q.multiply(self.idf).tocsr())

    def score(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best unit index, its confidence and raw score for each cleaned key (tfidf step)."""
        n = len(keys)
        best = np.full(n, -1, dtype=np.int64)
        conf = np.zeros(n)
        raw = np.zeros(n)
        for s in range(0, n, 4000):
            q = self._query(keys[s:s + 4000])
            se = (q @ self.E.T).toarray()
            per_unit_entry = np.maximum.reduceat(se, self.ent_start, axis=1) if se.shape[1] else se
            unit_scores = np.zeros((q.shape[0], len(self.units)))
            unit_scores[:, self.ent_unit_ids] = per_unit_entry
            unit_scores = self.w_entry * unit_scores + (1 - self.w_entry) * (q @ self.D.T).toarray()
            top2 = np.argpartition(-unit_scores, 1, axis=1)[:, :2]
            s1 = np.take_along_axis(unit_scores, top2, axis=1)
            first = np.where(s1[:, 0] >= s1[:, 1], 0, 1)
            b = top2[np.arange(len(first)), first]
            v1 = s1[np.arange(len(first)), first]
            v2 = s1[np.arange(len(first)), 1 - first]
            c = np.where(v1 > 0, v1 * (1 - 0.5 * np.divide(v2, v1, out=np.zeros_like(v1), where=v1 > 0)), 0.0)
            best[s:s + len(b)] = np.where(v1 > 0, b, -1)
            conf[s:s + len(b)] = c
            raw[s:s + len(b)] = v1
        return best, conf, raw

    def classify(self, titles: list[str] | np.ndarray) -> pd.DataFrame:
        """code / method / confidence for each title (uncoded: code None, method None)."""
        titles = [t if isinstance(t, str) else "" for t in titles]
        code = np.full(len(titles), None, dtype=object)
        method = np.full(len(titles), None, dtype=object)
        conf = np.zeros(len(titles))
        rest, keys = [], []
        for i, t in enumerate(titles):
            head = _HEAD.split(t, maxsplit=1)[0]
            hit = self.exact_match(t)
            if hit is None and head != t:
                hit = self.exact_match(head)
            if hit is not None:
                code[i], method[i], conf[i] = hit, "exact", 1.0
                continue
            for variant in {t, head}:
                k = " ".join(self.title_tokens(variant))
                if k:
                    rest.append(i)
                    keys.append(k)
        if rest:
            best, c, _ = self.score(keys)
            for i, b, cc in zip(rest, best, c):
                if cc <= conf[i] and method[i] is not None:
                    continue
                if b >= 0 and cc >= self.threshold and cc > conf[i]:
                    code[i], method[i], conf[i] = self.units[b], "tfidf", float(cc)
                elif method[i] is None:
                    conf[i] = max(conf[i], float(cc))
        return pd.DataFrame({"code": code, "method": method, "confidence": conf})


def split_related(rel: object) -> list[str]:
    """Related job titles from the soc2020 table (semicolon, newline or '~' separated)."""
    if not isinstance(rel, str) or not rel.strip():
        return []
    parts = re.split(r"[;\n|]+|~", rel)
    return [p.strip() for p in parts if p.strip()]


def _l2(m: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ m
