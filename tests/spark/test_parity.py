"""The same models on Spark build the same lake as on DuckDB, incrementally and in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse


def test_spark_incremental_equals_duckdb_incremental(duckdb_lake: Lakehouse, spark_lake: Lakehouse, kit: Any) -> None:
    kit.assert_same_lake(kit.snapshot(duckdb_lake), kit.snapshot(spark_lake), "DuckDB vs Spark, incremental")


def test_spark_runs_incrementally_and_a_rerun_commits_nothing(spark_lake: Lakehouse, tmp_path: Path, kit: Any) -> None:
    lh = kit.copy_lake(spark_lake, tmp_path / "lake")
    versions = {m.table.fqn: lh.store.version(m.table) for m in load_models()}
    reports = lh.transform(engine="spark")
    assert all(m.mode == "skipped" for r in reports for m in r.models)
    assert {m.table.fqn: lh.store.version(m.table) for m in load_models()} == versions
    # The last delivery ran incrementally: each model's markers say which input version it covers.
    for model in load_models():
        consumed = lh.store.txn_versions(model.table, [f"transform:{model.table}<-{t}" for t in model.depends_on])
        assert consumed == {f"transform:{model.table}<-{t}": lh.store.version(t) for t in model.depends_on}


def test_spark_incremental_equals_a_spark_full_refresh(spark_lake: Lakehouse, tmp_path: Path, kit: Any) -> None:
    lh = kit.copy_lake(spark_lake, tmp_path / "lake")
    incremental = kit.snapshot(lh)
    reports = lh.transform(engine="spark", full_refresh=True)
    assert {m.mode for r in reports for m in r.models} == {"full"}
    kit.assert_same_lake(incremental, kit.snapshot(lh), "Spark incremental vs Spark full refresh")


def test_alternating_engines_build_the_same_lake(duckdb_lake: Lakehouse, mixed_lake: Lakehouse, kit: Any) -> None:
    kit.assert_same_lake(kit.snapshot(duckdb_lake), kit.snapshot(mixed_lake), "DuckDB vs DuckDB, Spark, DuckDB")


def test_tables_spark_built_are_extended_by_duckdb_and_back(duckdb_lake: Lakehouse, spark_first_lake: Lakehouse, kit: Any) -> None:
    kit.assert_same_lake(kit.snapshot(duckdb_lake), kit.snapshot(spark_first_lake), "DuckDB vs Spark, DuckDB, Spark")
