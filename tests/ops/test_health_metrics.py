"""The Prometheus collector: the report's signals and windows as gauges, one report per scrape window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from lakehouse.ops.health import LakehouseHealthMonitor
from lakehouse.ops.metrics import HealthCollector
from lakehouse.storage.delta import DeltaStore
from monitor_support import append, last_commit

from support import make_settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in registry.collect() for s in f.samples}


def test_gauges_carry_the_reports_values_and_each_tables_windows(tmp_path: Path) -> None:
    store = DeltaStore(make_settings(tmp_path))
    append(store, "bronze.app_events", 4, timestamp=T0, event_date=T0.date())
    append(store, "silver.app_events", 2, event_id=["a", "b"], event_date=T0.date(),
           txns={"transform:silver.app_events<-bronze.app_events": 0})
    now = last_commit(store, "silver.app_events") + timedelta(minutes=20)
    settings = make_settings(tmp_path, monitoring={"tables": {
        "silver.*": {"staleness": {"warn": 60}}, "bronze.app_events": {"alerts": False}}})
    m = LakehouseHealthMonitor(settings, clock=lambda: now)
    registry = CollectorRegistry()
    registry.register(HealthCollector(m, cache_s=0))
    got = samples(registry)
    report = m.generate_health_report(now)
    for t in report.tables:
        key = (("layer", t.layer), ("table", t.table))
        if not t.exists:
            assert ("lakehouse_table_staleness_seconds", key) not in got
            continue
        assert got[("lakehouse_table_staleness_seconds", key)] == t.staleness.value
        assert got[("lakehouse_table_size_bytes", key)] == t.size_bytes
        assert got[("lakehouse_table_last_commit_timestamp_seconds", key)] == t.last_commit_at.timestamp()  # type: ignore[union-attr]
    warn = ("lakehouse_table_staleness_threshold_seconds",
            (("layer", "silver"), ("severity", "warning"), ("table", "silver.app_events")))
    crit = (warn[0], (("layer", "silver"), ("severity", "critical"), ("table", "silver.app_events")))
    assert (got[warn], got[crit]) == (60.0, 3600.0)  # the override, and the default it kept
    assert not [k for k in got if k[0].endswith("_threshold_seconds") and ("table", "bronze.app_events") in k[1]]
    assert got[("lakehouse_layer_delay_versions", (("input", "bronze.app_events"), ("layer", "silver"),
                                                   ("table", "silver.app_events")))] == 0.0
    # data lag is off by default: measured, but no window, so no rule can fire on it
    assert ("lakehouse_table_data_lag_seconds", (("layer", "bronze"), ("table", "bronze.app_events"))) in got
    assert not [k for k in got if k[0] == "lakehouse_table_data_lag_threshold_seconds"]
    assert got[("lakehouse_health_status", ())] == 1.0  # silver is stale past its 60 s: warn
    assert b"lakehouse_table_staleness_seconds" in generate_latest(registry)


def test_scrapes_within_the_cache_window_share_one_report(tmp_path: Path) -> None:
    append(DeltaStore(make_settings(tmp_path)), "bronze.app_events", 1, timestamp=T0, event_date=T0.date())
    m = LakehouseHealthMonitor(make_settings(tmp_path))
    calls: list[Any] = []
    real = m.generate_health_report
    m.generate_health_report = lambda *a, **k: calls.append(1) or real(*a, **k)  # type: ignore[method-assign]
    registry = CollectorRegistry()
    registry.register(HealthCollector(m, cache_s=60))  # registering builds no report
    assert calls == []
    generate_latest(registry)
    generate_latest(registry)
    assert len(calls) == 1
    registry2 = CollectorRegistry()
    registry2.register(HealthCollector(m, cache_s=0))
    generate_latest(registry2)
    generate_latest(registry2)
    assert len(calls) == 3
