"""`backfill` on Spark (LAKEHOUSE_ENGINE=spark) rebuilds a range of dates as DuckDB does, and
the next incremental run on either engine gives the same lake."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from lakehouse.service import Lakehouse

from support import spark_settings


def test_a_spark_backfill_equals_a_duckdb_backfill(tmp_path: Path, kit: Any) -> None:
    # The first delivery transformed; the second ingested into bronze only: the backfill has new
    # rows in its range and leaves the rest for the next incremental run.
    base = kit.build(tmp_path / "base", ("duckdb",))
    kit.deliver(base, 1)
    lakes = {engine: kit.copy_lake(base, tmp_path / engine) for engine in ("duckdb", "spark")}
    for engine, lh in lakes.items():
        lh = lakes[engine] = Lakehouse(spark_settings(lh.settings.base_path, engine=engine))
        with kit.declared(kit.extra_checks):
            result = lh.backfill(date(2026, 2, 11), date(2026, 2, 11))
        assert result.status == "success", (engine, result.error)
    kit.assert_same_lake(kit.snapshot(lakes["duckdb"]), kit.snapshot(lakes["spark"]), "after a backfill")
    for engine, lh in lakes.items():
        kit.transform(lh, engine=engine)
    kit.assert_same_lake(kit.snapshot(lakes["duckdb"]), kit.snapshot(lakes["spark"]), "backfill, then incremental")
