"""Kafka consumer lag in the health report: measured when bronze is fed from Kafka, never waited on."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import SOURCES, Settings
from lakehouse.exceptions import BrokerUnavailableError
from lakehouse.ops import LakehouseHealthMonitor
from lakehouse.ops.kafka_probe import kafka_app_id
from lakehouse.storage.delta import DeltaStore
from monitor_support import append, free_port

from support import make_settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def kafka_fed(root: Path, **monitoring: Any) -> Settings:
    """A lake whose bronze.app_events holds Kafka offsets (as the Kafka ingestor commits them)."""
    settings = make_settings(root, monitoring=monitoring)
    append(DeltaStore(settings), "bronze.app_events", 1, timestamp=T0, event_date=T0.date(),
           txns={kafka_app_id(settings.kafka.topic("app_events"), 0): 5})
    return settings


def test_the_markers_are_the_ones_the_writers_commit() -> None:
    from lakehouse.contract import TableId
    from lakehouse.ingest.kafka.client import app_id as kafka_writer_id
    from lakehouse.ops.health import _app_id
    from lakehouse.pipeline.kinds.base import app_id as model_writer_id

    assert kafka_app_id("lakehouse.app_events", 2) == kafka_writer_id("lakehouse.app_events", 2)
    t, s = TableId("gold", "revenue_daily"), TableId("silver", "orders")
    assert _app_id(t, s) == model_writer_id(t, s)


def test_without_kafka_offsets_in_bronze_the_broker_is_not_asked(tmp_path: Path) -> None:
    append(DeltaStore(make_settings(tmp_path)), "bronze.app_events", 1, timestamp=T0, event_date=T0.date())
    asked: list[Settings] = []
    m = LakehouseHealthMonitor(make_settings(tmp_path), kafka_lag=lambda s: asked.append(s) or {})  # type: ignore[func-returns-value]
    assert m.generate_health_report(T0).kafka.state == "off" and asked == []
    on = LakehouseHealthMonitor(make_settings(tmp_path, monitoring={"kafka": "on"}), kafka_lag=lambda s: {"t": {0: 3}})
    assert [(p.topic, p.partition, p.lag.value) for p in on.generate_health_report(T0).kafka.partitions] == [("t", 0, 3.0)]


def test_a_broker_that_does_not_answer_never_holds_the_report_up(tmp_path: Path) -> None:
    release = threading.Event()
    calls: list[float] = []

    def stuck(_s: Settings) -> dict[str, dict[int, int]]:
        calls.append(time.monotonic())
        release.wait(30)
        return {"lakehouse.app_events": {0: 7, 1: 200_000}}

    m = LakehouseHealthMonitor(kafka_fed(tmp_path, kafka_timeout_s=0.3), kafka_lag=stuck)
    t0 = time.monotonic()
    k = m.generate_health_report(T0).kafka
    assert time.monotonic() - t0 < 5.0
    assert k.state == "unavailable" and "no answer within 0.3 s" in (k.detail or "")
    k = m.generate_health_report(T0).kafka  # the first probe is still waiting: no second one
    assert k.state == "unavailable" and "still waiting" in (k.detail or "") and len(calls) == 1
    release.set()
    deadline = time.monotonic() + 10
    while (k := m.generate_health_report(T0).kafka).state != "ok":
        assert time.monotonic() < deadline, k
    lags = {p.partition: (p.lag.value, p.lag.status) for p in k.partitions}
    assert lags == {0: (7.0, "ok"), 1: (200_000.0, "warn")}  # the default window: warn above 100,000


def test_a_broker_error_is_reported_not_raised(tmp_path: Path) -> None:
    def down(_s: Settings) -> dict[str, dict[int, int]]:
        raise BrokerUnavailableError("Kafka at 127.0.0.1:1 is unreachable", hint="start it")

    k = LakehouseHealthMonitor(kafka_fed(tmp_path), kafka_lag=down).generate_health_report(T0).kafka
    assert k.state == "unavailable" and "unreachable" in (k.detail or "")


# -- the real broker --------------------------------------------------------------------------
BOOTSTRAP = os.environ.get("LAKEHOUSE_KAFKA__BOOTSTRAP", "127.0.0.1:9092")


@pytest.fixture
def broker_settings(tmp_path: Path) -> Iterator[Settings]:
    confluent = pytest.importorskip("confluent_kafka.admin")
    try:
        confluent.AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=5)
    except Exception as exc:
        if os.environ.get("LAKEHOUSE_REQUIRE_KAFKA") == "1":
            pytest.fail(f"no Kafka broker at {BOOTSTRAP} ({exc}); LAKEHOUSE_REQUIRE_KAFKA=1", pytrace=False)
        pytest.skip(f"no Kafka broker at {BOOTSTRAP} — start it: bash scripts/kafka.sh start")
    tag = uuid.uuid4().hex[:10]
    settings = make_settings(tmp_path / "lake", kafka={
        "bootstrap": BOOTSTRAP, "topic_prefix": f"test-{tag}.", "group_id": f"test-{tag}",
        "batch_max_messages": 20_000, "batch_max_seconds": 0.5,
    }, monitoring={"kafka_lag": {"warn": 0}, "kafka_timeout_s": 20, "staleness": {"warn": None, "fail": None}})
    yield settings
    admin = confluent.AdminClient({"bootstrap.servers": BOOTSTRAP})
    topics = [settings.kafka.topic(s) for s in SOURCES]
    with contextlib.suppress(Exception):
        for fut in admin.delete_topics(topics).values():
            with contextlib.suppress(Exception):
                fut.result(timeout=30)


@pytest.mark.kafka
def test_consumer_lag_per_partition_against_the_real_broker(broker_settings: Settings) -> None:
    from lakehouse.ingest.kafka import consumer_lag
    from lakehouse.service import Lakehouse

    lh = Lakehouse(broker_settings)
    lh.simulate(sink="kafka", events=2_000, days=1, start=T0, seed=3, sources=["app_events"])
    lh.ingest(source="kafka", sources=["app_events"])
    caught_up = lh.health_report(T0 + timedelta(days=1)).kafka
    assert caught_up.state == "ok" and caught_up.partitions
    assert all(p.lag.value == 0 for p in caught_up.partitions)
    lh.simulate(sink="kafka", events=900, days=1, start=T0 + timedelta(days=1), seed=4, sources=["app_events"])
    k = Lakehouse(broker_settings).health_report(T0 + timedelta(days=1)).kafka
    expected = consumer_lag(broker_settings, ["app_events"])
    assert {(p.topic, p.partition): p.lag.value for p in k.partitions} == {
        (t, p): float(n) for t, parts in expected.items() for p, n in parts.items()}
    assert sum(p.lag.value or 0 for p in k.partitions) > 0
    firing = Lakehouse(broker_settings).evaluate_alerts(T0 + timedelta(days=1)).firing
    lagging = {(a.subject["topic"], int(a.subject["partition"])) for a in firing if a.alertname == "LakehouseKafkaLag"}
    assert lagging == {(p.topic, p.partition) for p in k.partitions if (p.lag.value or 0) > 0}


def test_an_unreachable_broker_is_unavailable_within_the_timeout(tmp_path: Path) -> None:
    pytest.importorskip("confluent_kafka")
    settings = kafka_fed(tmp_path, kafka="on", kafka_timeout_s=1.0)
    settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"bootstrap": f"127.0.0.1:{free_port()}"})})
    t0 = time.monotonic()
    k = LakehouseHealthMonitor(settings).generate_health_report(T0).kafka
    assert time.monotonic() - t0 < 6.0
    assert k.state == "unavailable"
