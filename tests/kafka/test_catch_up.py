"""Catch-up ingestion from real topics: counts, labels, bad messages, a foreign producer, lag."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pyarrow.compute as pc
import pytest
from confluent_kafka import Producer

from lakehouse.config import SOURCES, Settings
from lakehouse.exceptions import BrokerUnavailableError
from lakehouse.ingest.kafka import KafkaIngestor, consumer_lag
from lakehouse.ingest.kafka import client as kafka_client
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

from support import die_after_quarantine_commit

pytestmark = pytest.mark.kafka

START = datetime(2026, 3, 2, tzinfo=UTC)


def test_simulated_topics_land_exactly_once_and_a_rerun_adds_nothing(kit: Any) -> None:
    settings: Settings = kit.settings
    sim = kit.produce(events=30_000, days=2, start=START, seed=5)
    assert sim.sources["app_events"].outputs == [settings.kafka.topic("app_events")]
    lag = consumer_lag(settings)
    assert sum(sum(p.values()) for p in lag.values()) == sim.records
    progress: list[tuple[str, int, int]] = []
    report = KafkaIngestor(settings, DeltaStore(settings)).run(
        progress=lambda *a: progress.append(a)
    )
    assert report.mode == "kafka" and report.balanced is True
    assert report.received == sim.records
    for source in SOURCES:
        s = report.source(source)
        assert s.partitions == settings.kafka.partitions
        assert s.received == s.bronze + s.quarantined
        assert s.bronze == sim.sources[source].expected_bronze
        assert s.quarantined == sim.sources[source].expected_quarantine
    assert progress and progress[-1][1] == progress[-1][2]
    kit.assert_exactly_once()
    assert all(v == 0 for p in consumer_lag(settings).values() for v in p.values())
    # `_source` is topic/partition/offset and the row is the message at that offset.
    messages = kit.read_topic("app_events")
    bronze = DeltaStore(settings).dataset("bronze.app_events").to_table().slice(0, 500).to_pylist()
    for row in bronze:
        assert json.loads(messages[row["_source"]])["event_id"] == row["event_id"]
    versions = {s: DeltaStore(settings).version(f"bronze.{s}") for s in SOURCES}
    again = KafkaIngestor(settings, DeltaStore(settings)).run()
    assert again.received == 0
    assert {s: DeltaStore(settings).version(f"bronze.{s}") for s in SOURCES} == versions


def test_bad_messages_of_every_kind_are_quarantined_with_their_offsets(kit: Any) -> None:
    settings: Settings = kit.settings
    sim = kit.produce(events=20_000, days=1, start=START, seed=9, bad_fraction=0.1)
    kinds = sim.sources["transactions"].kinds
    assert all(
        kinds[k] > 0 for k in ("malformed_json", "missing_required", "wrong_type", "unknown_field")
    )
    # What the simulator cannot send: bytes that are not UTF-8, empty and null values, non-objects.
    topic = settings.kafka.topic("app_events")
    extra = [b"\xff\xfe not utf-8 \xc3", b"", b"   ", None, b"[1, 2, 3]", b'"just a string"']
    p = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for v in extra:
        p.produce(topic, v)
    assert p.flush(30) == 0
    kit.produced.quarantine["app_events"] += len(extra)

    lh = Lakehouse(settings)
    report = lh.ingest(source="kafka")
    assert report.balanced is True
    assert report.received == sim.records + len(extra)
    kit.assert_exactly_once()

    q = lh.store.dataset("bronze.quarantine").to_table().to_pylist()
    reasons = {r["reason"] for r in q}
    assert {"malformed JSON", "invalid UTF-8", "empty message", "not a JSON object"} <= reasons
    assert any(r.startswith("missing required field") for r in reasons)
    assert any("is not a valid" in r for r in reasons)  # wrong_type of a required field
    by_source = {src: kit.read_topic(src) for src in SOURCES}
    for r in q:
        t, _partition, off = r["_source"].rsplit("/", 2)
        assert t == settings.kafka.topic(r["source"]) and int(off) == r["position"]
        value = by_source[r["source"]][r["_source"]]
        if r["reason"] == "invalid UTF-8":
            assert value is not None and r["raw"] == value.decode("utf-8", errors="replace")
        else:
            assert (value or b"").decode().rstrip("\r\n") == r["raw"]
    # Unknown fields are kept in bronze, as sent.
    rescued = lh.store.dataset("bronze.app_events").to_table(
        filter=pc.field("_rescued_data").is_valid()
    )
    assert rescued.num_rows >= sim.sources["app_events"].kinds["unknown_field"]


def test_messages_produced_by_kcat_are_ingested(kit: Any) -> None:
    if shutil.which("kcat") is None:
        if os.environ.get("LAKEHOUSE_REQUIRE_KAFKA") == "1":
            pytest.fail("kcat is not installed (apt-get install kcat)")
        pytest.skip("kcat is not installed (apt-get install kcat)")
    settings: Settings = kit.settings
    topic = settings.kafka.topic("service_logs")
    kafka_client.ensure_topics(settings, [topic])
    records = [
        {
            "log_id": f"log-kcat-{i}",
            "timestamp": f"2026-03-02T10:00:{i % 60:02d}Z",
            "service": "cart",
            "endpoint": "/api/v1/cart",
            "method": "GET",
            "status_code": 200 if i % 7 else 503,
            "latency_ms": 12.5 + i,
            "user_id": f"u{i % 13:07d}",
        }
        for i in range(300)
    ]
    lines = [f"{r['user_id']}|{json.dumps(r)}" for r in records] + ["u0000001|{not json"]
    done = subprocess.run(
        ["kcat", "-P", "-b", settings.kafka.bootstrap, "-t", topic, "-K", "|", "-z", "snappy"],
        input="\n".join(lines) + "\n",
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = Lakehouse(settings).ingest(source="kafka", sources=["service_logs"])
    s = report.source("service_logs")
    assert (s.received, s.bronze, s.quarantined) == (301, 300, 1)
    rows = DeltaStore(settings).dataset("bronze.service_logs").to_table().to_pylist()
    assert sorted(r["log_id"] for r in rows) == sorted(r["log_id"] for r in records)
    assert {r["status_code"] for r in rows} == {200, 503}
    # Keyed by user: one user's records share one partition.
    parts: dict[str, set[str]] = {}
    for r in rows:
        parts.setdefault(r["user_id"], set()).add(r["_source"].split("/")[-2])
    assert all(len(p) == 1 for p in parts.values())


def test_an_unreachable_broker_is_a_transient_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_client, "CONNECT_TIMEOUT_S", 1.0)
    bad = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap": "127.0.0.1:1"})}
    )
    with pytest.raises(BrokerUnavailableError) as err:
        KafkaIngestor(bad, DeltaStore(bad)).run()
    assert err.value.transient and "127.0.0.1:1" in str(err.value)


def test_death_between_the_quarantine_and_bronze_commits(
    kit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: Settings = kit.settings
    kit.produce(
        events=5_000, days=1, start=START, seed=8, bad_fraction=0.05, sources=["app_events"]
    )
    undo = die_after_quarantine_commit(monkeypatch)
    with pytest.raises(SystemExit):
        KafkaIngestor(settings, DeltaStore(settings)).run(["app_events"])
    undo()
    assert DeltaStore(settings).dataset("bronze.quarantine").count_rows() > 0
    assert not DeltaStore(settings).exists("bronze.app_events")
    report = KafkaIngestor(settings, DeltaStore(settings)).run(["app_events"])
    assert report.balanced is True
    kit.assert_exactly_once(("app_events",))
