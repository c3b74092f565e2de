"""Checks run on the freshly built database before it is swapped in (any failure keeps the old one)."""
from __future__ import annotations

from pathlib import Path

import duckdb

from lmi import markers
from lmi.errors import BuildCheckError
from lmi.geography.spine import OFFICIAL_LAD_COUNT, Spine

# (description, SQL returning a count of offending rows) — fixed SQL, no user input
CHECKS: tuple[tuple[str, str], ...] = (
    ("LAD spine has the official number of LADs",
     f"SELECT abs(count(*) - {OFFICIAL_LAD_COUNT}) FROM geo_lad"),
    ("each LAD appears once in the spine",
     "SELECT count(*) - count(DISTINCT lad_code) FROM geo_lad"),
    ("each LAD has exactly one region and one LSIP",
     "SELECT count(*) FROM geo_lad WHERE region_code IS NULL OR lsip_code IS NULL"),
    ("each LAD is in at least one LEP",
     "SELECT count(*) FROM geo_lad l WHERE NOT EXISTS (SELECT 1 FROM geo_lad_lep p WHERE p.lad_code = l.lad_code)"),
    ("one value per measure, area, period and breakdown",
     "SELECT count(*) FROM (SELECT measure, area_code, period, breakdown_type, breakdown_code FROM facts "
     "GROUP BY ALL HAVING count(*) > 1)"),
    ("every fact's area is in the spine at its level",
     "SELECT count(*) FROM facts f LEFT JOIN geo_areas a ON a.area_code = f.area_code AND a.area_level = f.area_level "
     "WHERE a.area_code IS NULL"),
    ("every fact's measure is in the catalogue",
     "SELECT count(*) FROM facts f LEFT JOIN measures m ON m.id = f.measure WHERE m.id IS NULL"),
    ("every measure's dataset is in the catalogue",
     "SELECT count(*) FROM measures m LEFT JOIN datasets d ON d.id = m.dataset WHERE d.id IS NULL"),
    ("a value is present whenever the status is ok",
     f"SELECT count(*) FROM facts WHERE status = '{markers.OK}' AND value IS NULL"),
    ("suppressed or missing cells carry no value and a reason",
     f"SELECT count(*) FROM facts WHERE status IN ('{markers.SUPPRESSED}', '{markers.MISSING}', "
     f"'{markers.NOT_COMPARABLE}') AND (value IS NOT NULL OR status_reason IS NULL)"),
    ("status is from the vocabulary",
     "SELECT count(*) FROM facts WHERE status NOT IN (" + ", ".join(f"'{s}'" for s in markers.STATUSES) + ")"),
    ("every value is a finite number",
     "SELECT count(*) FROM facts WHERE value IS NOT NULL AND NOT isfinite(value)"),
    ("period start is not after period end",
     "SELECT count(*) FROM facts WHERE period_start > period_end"),
    ("every LAD has a boundary",
     "SELECT count(*) FROM geo_lad l LEFT JOIN lad_boundaries b USING (lad_code) WHERE b.lad_code IS NULL"),
    ("hex cells are unique",
     "SELECT count(*) - count(DISTINCT (hex_col, hex_row)) FROM lad_boundaries"),
    ("summed rollups equal the sum of their member LADs",
     """SELECT count(*) FROM (SELECT r.measure FROM facts r JOIN geo_membership m ON m.area_level = r.area_level AND m.area_code = r.area_code
        JOIN facts l ON l.area_level = 'lad' AND l.area_code = m.lad_code AND l.measure = r.measure
          AND l.period = r.period AND l.breakdown_type = r.breakdown_type AND l.breakdown_code = r.breakdown_code
        WHERE r.derivation = 'summed' AND r.value IS NOT NULL
        GROUP BY r.measure, r.area_code, r.period, r.breakdown_type, r.breakdown_code, r.value
        HAVING abs(sum(l.value) - r.value) > 1e-6 * greatest(1, abs(r.value)))"""),
)


def run_all(db: Path, spine: Spine | None = None) -> list[str]:
    """Run every check; raise BuildCheckError listing the failures. Returns the passed check names."""
    con = duckdb.connect(str(db), read_only=True)
    failures, passed = [], []
    try:
        for name, sql in CHECKS:
            n = con.execute(sql).fetchone()[0] or 0
            (failures if n else passed).append(f"{name}: {n} offending" if n else name)
    finally:
        con.close()
    if failures:
        raise BuildCheckError("database checks failed: " + "; ".join(failures))
    return passed
