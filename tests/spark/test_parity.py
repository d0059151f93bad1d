"""The same models on Spark build the same lake as on DuckDB, incrementally and in full: the same
rows in every table, the same quality flags and drops (the quarantine), the same check outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakehouse.contract import REGISTRY
from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse

COLUMNS = REGISTRY.spec("silver.clicks").column_names


def test_spark_incremental_equals_duckdb_incremental(duckdb_lake: Lakehouse, spark_lake: Lakehouse, kit: Any) -> None:
    kit.assert_same_lake(kit.snapshot(duckdb_lake), kit.snapshot(spark_lake), "DuckDB vs Spark, incremental")


def test_spark_quarantines_what_duckdb_quarantines(duckdb_lake: Lakehouse, spark_lake: Lakehouse, kit: Any) -> None:
    duck, spark = kit.snapshot(duckdb_lake)["silver.quarantine"], kit.snapshot(spark_lake)["silver.quarantine"]
    # Every drop declared for the test (one per model kind) removed rows on both engines.
    assert {r[1] for r in duck} == {e.name for checks in kit.extra_checks.values() for e in checks if e.action == "drop"}
    assert duck == spark


def test_spark_checks_find_what_duckdb_checks_find(duckdb_lake: Lakehouse, spark_lake: Lakehouse, kit: Any) -> None:
    duck, spark = kit.checks(duckdb_lake), kit.checks(spark_lake)
    assert duck and all(c[-1] is None for c in duck)  # no check errored
    assert {c[2] for c in duck if c[4]} >= {"deep_scroll", "ids_ending_in_5"}  # the warn flags fired
    assert spark == duck
    flagged = [r for r in kit.snapshot(spark_lake)["silver.clicks"] if "deep_scroll" in r[COLUMNS.index("quality_issues")]]
    assert flagged and all(r[COLUMNS.index("is_valid")] is False for r in flagged)


def test_spark_runs_incrementally_and_a_rerun_commits_nothing(spark_lake: Lakehouse, tmp_path: Path, kit: Any) -> None:
    lh = kit.copy_lake(spark_lake, tmp_path / "lake")
    versions = {m.table.fqn: lh.store.version(m.table) for m in load_models()}
    reports = kit.transform(lh, engine="spark")
    assert all(m.mode == "skipped" for r in reports for m in r.models)
    assert {m.table.fqn: lh.store.version(m.table) for m in load_models()} == versions
    # The last delivery ran incrementally: each model's markers say which input version it covers.
    for model in load_models():
        consumed = lh.store.txn_versions(model.table, [f"transform:{model.table}<-{t}" for t in model.depends_on])
        assert consumed == {f"transform:{model.table}<-{t}": lh.store.version(t) for t in model.depends_on}


def test_spark_incremental_equals_a_spark_full_refresh(spark_lake: Lakehouse, tmp_path: Path, kit: Any) -> None:
    lh = kit.copy_lake(spark_lake, tmp_path / "lake")
    # (The quarantine is left out: an incremental run quarantines a recomputed date's drops again.)
    incremental = kit.snapshot(lh, quarantine=False)
    reports = kit.transform(lh, engine="spark", full_refresh=True)
    assert {m.mode for r in reports for m in r.models} == {"full"}
    kit.assert_same_lake(incremental, kit.snapshot(lh, quarantine=False), "Spark incremental vs Spark full refresh")


def test_alternating_engines_build_the_same_lake(duckdb_lake: Lakehouse, mixed_lake: Lakehouse, kit: Any) -> None:
    kit.assert_same_lake(kit.snapshot(duckdb_lake), kit.snapshot(mixed_lake), "DuckDB vs DuckDB, Spark, DuckDB")


def test_tables_spark_built_are_extended_by_duckdb_and_back(duckdb_lake: Lakehouse, spark_first_lake: Lakehouse, kit: Any) -> None:
    kit.assert_same_lake(kit.snapshot(duckdb_lake), kit.snapshot(spark_first_lake), "DuckDB vs Spark, DuckDB, Spark")
