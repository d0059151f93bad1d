"""Kafka tests run against a real broker on LAKEHOUSE_KAFKA__BOOTSTRAP (default 127.0.0.1:9092).

Unreachable broker: the tests fail when LAKEHOUSE_REQUIRE_KAFKA=1 (CI), else they skip.
Every test gets its own topic prefix and group id, so tests never see each other's data.
Helpers reach the tests through the `kit` fixture (a `Kit` bound to the test's settings).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lakehouse.config import SOURCES, Settings
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.simulate import SimulationReport, simulate
from lakehouse.simulate.bad_records import Injected
from lakehouse.simulate.kafka_sink import KafkaSink
from lakehouse.storage.delta import DeltaStore

from support import lake_env, make_settings

BOOTSTRAP = os.environ.get("LAKEHOUSE_KAFKA__BOOTSTRAP", "127.0.0.1:9092")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    try:
        AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=5)
    except Exception as exc:
        message = f"no Kafka broker at {BOOTSTRAP} ({exc})"
        if os.environ.get("LAKEHOUSE_REQUIRE_KAFKA") == "1":
            pytest.fail(f"{message}; LAKEHOUSE_REQUIRE_KAFKA=1", pytrace=False)
        pytest.skip(f"{message} — start it: bash scripts/kafka.sh start")
    return BOOTSTRAP


@pytest.fixture
def kafka_settings(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Settings]:
    tag = uuid.uuid4().hex[:10]
    settings = make_settings(
        tmp_path / "lake",
        kafka={
            "bootstrap": kafka_bootstrap,
            "topic_prefix": f"test-{tag}.",
            "group_id": f"test-{tag}",
            "batch_max_messages": 20_000,
            "batch_max_seconds": 0.5,
        },
    )
    yield settings
    delete_topics(settings)


def env_for(settings: Settings, **kafka: Any) -> dict[str, str]:
    """Environment for `python -m lakehouse.cli.main ...` on the same lake and topics."""
    env = lake_env(
        settings,
        LAKEHOUSE_DUCKDB_THREADS="1",
        LAKEHOUSE_KAFKA__BOOTSTRAP=settings.kafka.bootstrap,
        LAKEHOUSE_KAFKA__TOPIC_PREFIX=settings.kafka.topic_prefix,
        LAKEHOUSE_KAFKA__GROUP_ID=settings.kafka.group_id,
        LAKEHOUSE_KAFKA__BATCH_MAX_MESSAGES=str(settings.kafka.batch_max_messages),
        LAKEHOUSE_KAFKA__BATCH_MAX_SECONDS=str(settings.kafka.batch_max_seconds),
    )
    env.update({f"LAKEHOUSE_KAFKA__{k.upper()}": str(v) for k, v in kafka.items()})
    return env


def delete_topics(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    topics = [settings.kafka.topic(s) for s in SOURCES if settings.kafka.topic(s) in existing]
    for fut in admin.delete_topics(topics).values() if topics else []:
        with contextlib.suppress(Exception):  # best effort: retention cleans up anyway
            fut.result(timeout=30)


def read_topic(settings: Settings, source: str) -> dict[str, bytes | None]:
    """Every message of a source's topic, by `topic/partition/offset` (an independent reader)."""
    topic = settings.kafka.topic(source)
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        md = c.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error is not None:
            return {}
        parts = [TopicPartition(topic, p, -2) for p in md.topics[topic].partitions]
        left = set()
        for tp in parts:
            low, high = c.get_watermark_offsets(tp, timeout=10)
            if high > low:
                left.add(tp.partition)
        c.assign(parts)
        out: dict[str, bytes | None] = {}
        while left:
            for m in c.consume(10_000, timeout=0.05):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        left.discard(m.partition())
                    continue
                out[f"{topic}/{m.partition()}/{m.offset()}"] = m.value()
        return out
    finally:
        c.close()


@dataclass
class Produced:
    """What producers sent, per source: expected counts and the keys of the clean rows."""

    bronze: Counter[str] = field(default_factory=Counter)
    quarantine: Counter[str] = field(default_factory=Counter)
    keys: dict[str, Counter[str]] = field(default_factory=lambda: {s: Counter() for s in SOURCES})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, report: SimulationReport) -> None:
        with self.lock:
            for s, sim in report.sources.items():
                self.bronze[s] += sim.expected_bronze
                self.quarantine[s] += sim.expected_quarantine


class RecordingSink(KafkaSink):
    """The Kafka sink, remembering the record keys of the rows it sent (not the raw bad lines)."""

    def __init__(self, settings: Settings, produced: Produced) -> None:
        super().__init__(settings)
        self.produced = produced

    def write(self, source: str, tag: str, stream: Injected) -> list[str]:
        out = super().write(source, tag, stream)
        key = SCHEMAS[source].key
        if key in stream.rows.column_names:
            with self.produced.lock:
                self.produced.keys[source].update(stream.rows.column(key).to_pylist())
        return out


def produce(settings: Settings, produced: Produced, **kwargs: Any) -> SimulationReport:
    sink = RecordingSink(settings, produced)
    try:
        report = simulate(sink, **kwargs)
    finally:
        sink.close()
    produced.add(report)
    return report


def assert_exactly_once(
    settings: Settings, produced: Produced, sources: tuple[str, ...] = SOURCES
) -> None:
    """Bronze + quarantine hold every message of every topic once: none lost, none twice."""
    store = DeltaStore(settings)
    quarantine = (
        store.dataset("bronze.quarantine").to_table() if store.exists("bronze.quarantine") else None
    )
    for source in sources:
        messages = read_topic(settings, source)
        bronze = (
            store.dataset(f"bronze.{source}").to_table()
            if store.exists(f"bronze.{source}")
            else None
        )
        b_src = bronze.column("_source").to_pylist() if bronze is not None else []
        q_src = (
            quarantine.filter(pc.field("source") == source).column("_source").to_pylist()
            if quarantine is not None
            else []
        )
        assert len(b_src) == len(set(b_src)), f"{source}: a message twice in bronze"
        assert len(q_src) == len(set(q_src)), f"{source}: a message twice in quarantine"
        assert not set(b_src) & set(q_src), f"{source}: a message in bronze and in quarantine"
        assert set(b_src) | set(q_src) == set(messages), f"{source}: bronze+quarantine != the topic"
        assert len(b_src) == produced.bronze[source], source
        assert len(q_src) == produced.quarantine[source], source
        key = SCHEMAS[source].key
        if bronze is not None and key in bronze.column_names and produced.keys[source]:
            landed = Counter(bronze.column(key).to_pylist())
            assert not produced.keys[source] - landed, (
                f"{source}: produced records missing from bronze"
            )


def wait_until(done: Any, timeout: float, what: str) -> None:
    """Poll `done()` until true; fail after `timeout` seconds saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def event(tag: str, i: int) -> bytes:
    """A valid app_events message with a unique event_id."""
    return json.dumps(
        {
            "event_id": f"{tag}-{i}",
            "user_id": f"u{i % 7}",
            "event_type": "click",
            "timestamp": "2026-03-02T10:00:00Z",
        }
    ).encode()


class Kit:
    """The helpers above, bound to one test's settings."""

    event = staticmethod(event)
    wait_until = staticmethod(wait_until)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.produced = Produced()
        self.admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})

    def topic(self, source: str) -> str:
        return self.settings.kafka.topic(source)

    def topics_with_prefix(self, prefix: str) -> set[str]:
        return {t for t in self.admin.list_topics(timeout=10).topics if t.startswith(prefix)}

    def create(self, source: str, partitions: int = 3) -> None:
        """Create the source's topic (retrying while a deleted one of that name is going away)."""
        topic = self.topic(source)
        deadline = time.monotonic() + 60
        while True:
            try:
                for fut in self.admin.create_topics([NewTopic(topic, partitions)]).values():
                    fut.result(timeout=30)
                break
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise
                if exc.args[0].name() not in ("TOPIC_ALREADY_EXISTS", "UNKNOWN_TOPIC_OR_PART"):
                    raise
                time.sleep(0.3)

        def ready() -> bool:
            tm = self.admin.list_topics(topic, timeout=10).topics.get(topic)
            return (
                tm is not None
                and tm.error is None
                and len(tm.partitions) == partitions
                and all(p.leader >= 0 for p in tm.partitions.values())
            )

        wait_until(ready, 30, f"topic {topic} ready")

    def delete(self, source: str) -> None:
        topic = self.topic(source)
        for fut in self.admin.delete_topics([topic]).values():
            fut.result(timeout=30)
        wait_until(lambda: topic not in self.topics_with_prefix(topic), 30, f"{topic} deleted")

    def recreate(self, source: str, partitions: int = 3) -> None:
        self.delete(source)
        self.create(source, partitions)

    def send(self, source: str, values: list[bytes | None], partition: int) -> list[int]:
        """Produce `values` to one partition; returns their offsets."""
        offsets: list[int] = []

        def delivered(err: Any, msg: Any) -> None:
            assert err is None, err
            offsets.append(msg.offset())

        p = Producer({"bootstrap.servers": self.settings.kafka.bootstrap, "linger.ms": 5})
        for v in values:
            p.produce(self.topic(source), v, partition=partition, on_delivery=delivered)
        assert p.flush(30) == 0
        return sorted(offsets)

    def watermarks(self, source: str, partition: int) -> tuple[int, int]:
        c = Consumer(
            {"bootstrap.servers": self.settings.kafka.bootstrap, "group.id": f"wm-{uuid.uuid4().hex}"}
        )
        try:
            low, high = c.get_watermark_offsets(
                TopicPartition(self.topic(source), partition), timeout=10
            )
            return int(low), int(high)
        finally:
            c.close()

    def delete_records(self, source: str, partition: int, before: int) -> None:
        """Remove the partition's messages below `before`, as retention would."""
        tp = TopicPartition(self.topic(source), partition, before)
        for fut in self.admin.delete_records([tp]).values():
            fut.result(timeout=30)
        wait_until(
            lambda: self.watermarks(source, partition)[0] == before, 30, "delete_records applied"
        )

    def env(self, **kafka: Any) -> dict[str, str]:
        return env_for(self.settings, **kafka)

    def produce(self, **kwargs: Any) -> SimulationReport:
        return produce(self.settings, self.produced, **kwargs)

    def read_topic(self, source: str) -> dict[str, bytes | None]:
        return read_topic(self.settings, source)

    def assert_exactly_once(self, sources: tuple[str, ...] = SOURCES) -> None:
        assert_exactly_once(self.settings, self.produced, sources)


@pytest.fixture
def kit(kafka_settings: Settings) -> Kit:
    return Kit(kafka_settings)
