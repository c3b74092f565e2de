"""Advert-level vacancy pipeline: ingest job-advert feeds, place them in LADs, de-duplicate,
code occupations (SOC 2020) and aggregate into the canonical ``facts`` table (dataset
``advert_feed``). See docs/adverts.md.

Modules: ``schema`` (canonical columns, mapping files), ``reader`` (typed, validated batches),
``geo`` (point-in-polygon grid index, place names), ``soc`` (title -> SOC 2020 coder),
``clean`` (one batch -> cleaned adverts), ``aggregate`` (de-duplication and aggregates in SQL),
``store`` (sidecar Parquet and atomic database swap), ``ingest`` (orchestration and report),
``generate`` (synthetic feed with a truth file), ``distributed`` (the same logic on Dask),
``devdb`` (a minimal database with the contract's tables, for development without the snapshot).
"""
