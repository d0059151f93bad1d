"""After retention has trimmed the inputs (`pipeline/kinds/retained.py`), Spark extends and
rebuilds the lake exactly as DuckDB does: rows that can no longer be recomputed are kept."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from lakehouse.service import Lakehouse

from support import land

# The deliveries cover 2026-02-09..12. Bronze keeps 7 days: its rows before 02-11 (and the CDC
# log's) are deleted; silver (30 days) and gold (90 days) keep all of theirs.
AS_OF = date(2026, 2, 18)


def test_after_retention_spark_extends_and_rebuilds_what_duckdb_does(
    duckdb_lake: Lakehouse, tmp_path: Path, kit: Any,
) -> None:
    trimmed = kit.copy_lake(duckdb_lake, tmp_path / "trimmed")
    result = trimmed.retention(as_of=AS_OF)
    assert result.status == "success"
    assert trimmed.store.snapshot("bronze.app_events").rows < duckdb_lake.store.snapshot("bronze.app_events").rows
    # New input after retention, ingested once so both engines read the same bronze: fresh events
    # and a late one for a day bronze no longer holds (silver still does).
    fresh = [{"event_id": f"new{i}", "user_id": f"u{i % 5:07d}", "event_type": "click", "app_type": "web",
              "duration_ms": 100 + i, "timestamp": f"{AS_OF - timedelta(days=1)}T1{i % 10}:00:00Z"} for i in range(40)]
    late = [{"event_id": "late1", "user_id": "u0000001", "event_type": "click", "app_type": "web",
             "duration_ms": 5, "timestamp": "2026-02-09T10:00:00Z"}]
    land(trimmed.settings, "app_events", "after-retention.ndjson", fresh + late)
    trimmed.ingest()
    lakes = {engine: kit.copy_lake(trimmed, tmp_path / engine) for engine in ("duckdb", "spark")}
    for engine, lh in lakes.items():
        modes = {m.table: m.mode for r in kit.transform(lh, engine=engine) for m in r.models}
        assert modes["silver.app_events"] == "incremental", (engine, modes)
    kit.assert_same_lake(kit.snapshot(lakes["duckdb"]), kit.snapshot(lakes["spark"]), "incremental after retention")
    for engine, lh in lakes.items():
        reports = kit.transform(lh, engine=engine, full_refresh=True)
        reasons = {m.table: m.reason or "" for r in reports for m in r.models}
        assert "kept" in reasons["silver.app_events"] and "kept" in reasons["silver.users_cdc_state"], (engine, reasons)
    kit.assert_same_lake(kit.snapshot(lakes["duckdb"]), kit.snapshot(lakes["spark"]), "full refresh after retention")
