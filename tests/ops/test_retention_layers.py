"""Retention is layer-aware: models never shrink to their inputs' window, incremental runs keep
working after a DELETE, and the exactly-once markers survive delete + vacuum + checkpoint + log cleanup."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lakehouse.contract import REGISTRY, TableId
from lakehouse.exceptions import StorageError
from lakehouse.pipeline.kinds import app_id
from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse
from ops_support import AS_OF, content, days_in

from support import make_settings

GOLD_FULL = ["gold.daily_summary", "gold.revenue_daily"]


def _older_than(t: pa.Table, column: str, day: object) -> pa.Table:
    return t.filter(pa.compute.less(t[column], pa.scalar(day)))


@pytest.mark.parametrize("full_refresh", [False, True])
def test_gold_rebuilt_in_full_keeps_its_rows_before_the_inputs_window(
    copy_lake: Callable[[], Lakehouse], full_refresh: bool,
) -> None:
    lh = copy_lake()
    before = {t: content(lh, t) for t in [*GOLD_FULL, "gold.event_metrics", "silver.app_events"]}
    result = lh.retention(as_of=AS_OF)  # bronze 7, silver 30, gold 90 days
    assert result.status == "success"
    silver_cut = AS_OF - timedelta(days=30)
    bronze_cut = AS_OF - timedelta(days=7)
    lh.transform(full_refresh=full_refresh)
    for table, col in [("gold.daily_summary", "summary_date"), ("gold.revenue_daily", "revenue_date"),
                       ("gold.event_metrics", "event_date")]:
        gold_cut = AS_OF - timedelta(days=90)
        kept = _older_than(content(lh, table), col, silver_cut)
        # The days silver no longer holds are exactly what gold had for them (within gold's own 90 days).
        expected = before[table].filter(pa.compute.and_(
            pa.compute.less(before[table][col], pa.scalar(silver_cut)),
            pa.compute.greater_equal(before[table][col], pa.scalar(gold_cut))))
        assert kept.equals(expected), table
        assert min(days_in(lh, table, col)) == gold_cut
    # silver rebuilt from 7 days of bronze keeps its 30 days; the rows before bronze's cut are the old ones.
    silver = content(lh, "silver.app_events")
    assert min(days_in(lh, "silver.app_events", "event_date")) == silver_cut
    old = before["silver.app_events"]
    assert _older_than(silver, "event_date", bronze_cut).num_rows == _older_than(old, "event_date", bronze_cut).num_rows - \
        _older_than(old, "event_date", silver_cut).num_rows


def test_incremental_after_retention_equals_full_refresh_after_retention(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    lh.retention(as_of=AS_OF)
    # New data arrives after retention: a late event for a day bronze and silver have expired, and fresh ones.
    from support import land

    fresh = [{"event_id": f"new{i}", "user_id": f"u{i % 5}", "event_type": "click", "app_type": "web",
              "timestamp": f"{AS_OF - timedelta(days=1)}T1{i % 10}:00:00Z"} for i in range(40)]
    late = [{"event_id": "late1", "user_id": "u1", "event_type": "click", "app_type": "web",
             "timestamp": f"{AS_OF - timedelta(days=60)}T10:00:00Z"}]
    land(lh.settings, "app_events", "after.ndjson", fresh + late)
    lh.ingest()
    root = lh.settings.base_path.parent / "reference"
    shutil.copytree(lh.settings.base_path, root)  # the same ingested rows, to be built in full
    ref = Lakehouse(make_settings(root))
    incremental = lh.transform()
    modes = {m.table: m.mode for r in incremental for m in r.models}
    assert modes["silver.app_events"] == "incremental" and modes["gold.event_metrics"] == "incremental"
    ref.transform(full_refresh=True)
    for spec in REGISTRY.models():
        if spec.fqn == "silver.quarantine" or not lh.store.exists(spec.id):
            continue
        assert content(lh, spec.fqn).equals(content(ref, spec.fqn)), spec.fqn
    # The late event's day had expired from gold.event_metrics' inputs: it is not recomputed from one row.
    day = AS_OF - timedelta(days=60)
    metrics = content(lh, "gold.event_metrics")
    n = pa.compute.sum(metrics.filter(pa.compute.equal(metrics["event_date"], pa.scalar(day)))["total_events"]).as_py()
    assert n is not None and n > 1


def test_cdc_state_rebuilt_from_a_trimmed_log_keeps_every_key(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    users = content(lh, "silver.users_cdc_state", "user_id")
    orders = content(lh, "silver.orders", "order_id")
    lh.retention("bronze.cdc_changes", as_of=AS_OF)
    assert lh.table("bronze.cdc_changes").rows < users.num_rows  # most keys' changes are gone from bronze
    lh.transform(full_refresh=True)
    assert content(lh, "silver.users_cdc_state", "user_id").equals(users)
    assert content(lh, "silver.orders", "order_id").equals(orders)


def _age_log(lh: Lakehouse, table: str, days: int) -> None:
    old = time.time() - days * 86400
    for f in (lh.store.path(table) / "_delta_log").glob("*.json"):
        os.utime(f, (old, old))


def test_markers_survive_delete_vacuum_checkpoint_and_log_cleanup(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    landing = {s: lh.store.txn_versions(f"bronze.{s}", [f"landing:{p.parent.name}/{p.name}" for p in
               (lh.settings.landing / s).glob("*.ndjson")]) for s in ("app_events", "clickstream")}
    models = {m.table: lh.store.txn_versions(m.table, [app_id(m.table, d) for d in m.depends_on]) for m in load_models()}
    assert all(landing.values()) and all(models.values())
    lh.retention(as_of=AS_OF)
    lh.transform()  # consume the DELETEs, so nothing bounds the cleanup below
    models = {m.table: lh.store.txn_versions(m.table, [app_id(m.table, d) for d in m.depends_on]) for m in load_models()}
    for t in ("bronze.app_events", "bronze.clickstream", "silver.app_events"):
        lh.optimize(t, today=AS_OF)
        lh.vacuum(t, retention_hours=0, force=True)
        lh.store.checkpoint(t)
        _age_log(lh, t, 40)
        lh.store.cleanup_log(t)
        assert len(list((lh.store.path(t) / "_delta_log").glob("*.json"))) <= 2  # the log really was cleaned
    fresh = Lakehouse(lh.settings)
    for s, marks in landing.items():
        assert fresh.store.txn_versions(f"bronze.{s}", list(marks)) == marks
    for m, marks in models.items():
        assert fresh.store.txn_versions(m, list(marks)) == marks
    rows = fresh.table("bronze.app_events").rows
    report = fresh.ingest()
    assert report.details["received"] == 0 and fresh.table("bronze.app_events").rows == rows  # no re-ingest
    silver = content(fresh, "silver.app_events", "event_id")
    fresh.transform()
    assert content(fresh, "silver.app_events", "event_id").equals(silver)  # no duplicates


@pytest.mark.parametrize("operation", ["retention", "optimize", "vacuum"])
def test_a_setting_that_would_expire_markers_is_refused(copy_lake: Callable[[], Lakehouse], operation: str) -> None:
    lh = copy_lake()
    table = "bronze.clickstream"
    DeltaTable(str(lh.store.path(table))).alter.set_table_properties(
        {"delta.setTransactionRetentionDuration": "interval 1 days"}, raise_if_not_exists=False)
    v = lh.store.version(table)
    if operation == "retention":
        out = lh.retention(table, as_of=AS_OF).of(table)
        assert out is not None and "setTransactionRetentionDuration" in (out.error or "")
    else:
        with pytest.raises(StorageError, match="setTransactionRetentionDuration"):
            getattr(lh, operation)(table)
    assert lh.store.version(table) == v


def test_creating_a_table_that_would_expire_markers_is_refused(tmp_path: Path) -> None:
    from support import make_settings

    lh = Lakehouse(make_settings(tmp_path / "lake"))
    with pytest.raises(StorageError, match="exactly-once markers"):
        lh.store.append(TableId("bronze", "app_events"), pa.table({"x": [1]}),
                        properties={"delta.setTransactionRetentionDuration": "interval 1 days"})
