"""Incremental runs leave exactly the tables a full refresh builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse

D = datetime(2026, 2, 10, tzinfo=UTC)


def snapshot(lh: Lakehouse) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    con = duckdb.connect()
    for model in load_models():
        t: pa.Table = lh.store.dataset(model.table).to_table()
        con.register("t", t)
        out[model.table.fqn] = con.execute("SELECT * FROM t ORDER BY ALL").fetchall()
        con.unregister("t")
    return out


def test_batches_with_late_and_duplicate_data_match_a_full_refresh(lh: Lakehouse) -> None:
    # Three deliveries: days 0-1, then days 1-2 (overlapping), then days -1..0 (late data),
    # each with duplicates, late and out-of-order records mixed in by the simulator.
    for seed, start in ((1, D), (2, D + timedelta(days=1)), (3, D - timedelta(days=1))):
        lh.simulate(events=12_000, days=2, start=start, seed=seed, bad_fraction=0.03)
        lh.ingest()
        reports = lh.transform()
        modes = {m.mode for r in reports for m in r.models}
        assert modes <= {"full", "incremental", "skipped"}
    incremental = snapshot(lh)
    assert all(incremental[t] for t in incremental), "every table has rows"
    # A rerun with no new data changes nothing.
    versions = {m.table.fqn: lh.store.version(m.table) for m in load_models()}
    reports = lh.transform()
    assert all(m.mode == "skipped" for r in reports for m in r.models)
    assert {m.table.fqn: lh.store.version(m.table) for m in load_models()} == versions
    lh.transform(full_refresh=True)
    full = snapshot(lh)
    for table in full:
        assert incremental[table] == full[table], f"{table} differs between incremental and full refresh"


def test_the_second_batch_runs_incrementally(lh: Lakehouse) -> None:
    lh.simulate(events=8_000, days=1, start=D, seed=5, bad_fraction=0)
    lh.ingest()
    lh.transform()
    lh.simulate(events=8_000, days=1, start=D + timedelta(days=1), seed=6, bad_fraction=0)
    lh.ingest()
    (silver, gold) = lh.transform()
    models = {m.table: m for m in (*silver.models, *gold.models)}
    assert models["silver.app_events"].mode == "incremental"
    assert models["silver.clickstream_sessions"].mode == "incremental"
    assert models["gold.event_metrics"].mode == "incremental"
    # Only the new day is recomputed (and the next, where sessions run past midnight).
    assert len(models["gold.event_metrics"].partitions) <= 2
    assert min(models["gold.event_metrics"].partitions) == (D + timedelta(days=1)).date().isoformat()
