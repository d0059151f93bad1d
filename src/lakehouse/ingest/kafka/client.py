"""Talking to the broker: client configs, reachability, topics, watermarks.

Everything that knows librdkafka property names lives here, so the producer (the
simulator's sink), the streaming ingestor and the lag probe configure clients alike.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any

from lakehouse.config import Settings
from lakehouse.exceptions import BrokerUnavailableError, LakehouseError

try:
    from confluent_kafka import (
        OFFSET_BEGINNING,
        Consumer,
        KafkaError,
        KafkaException,
        Message,
        Producer,
        TopicPartition,
    )
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._metadata import ClusterMetadata
    from confluent_kafka.cimpl import NewTopic
except ImportError as exc:  # pragma: no cover - depends on the install
    raise LakehouseError(
        f"Kafka support needs the confluent-kafka package ({exc.name} is missing)",
        hint="pip install 'lakehouse[kafka]'",
    ) from exc

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
def app_id(topic: str, partition: int) -> str:
    """The Delta application transaction id that records a partition's next offset."""
    return f"kafka:{topic}:{partition}"


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka.bootstrap,
        "client.id": "lakehouse-simulate",
        # Idempotence: retries can neither duplicate nor reorder a partition's messages.
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        # Only failed deliveries produce a report: a per-message Python callback would
        # cost more than the produce call itself.
        "delivery.report.only.error": True,
    }


def consumer_config(settings: Settings, *, group_id: str | None = None) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka.bootstrap,
        "group.id": group_id or settings.kafka.group_id,
        "client.id": f"lakehouse-ingest-{uuid.uuid4().hex[:8]}",
        # The Delta log is the source of truth for positions: offsets are stored in the
        # same commit as the rows, and Kafka's committed offsets are only a courtesy.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "partition.assignment.strategy": "cooperative-sticky",
        # A worker that dies without leaving the group (kill -9) keeps its partitions until
        # the broker misses its heartbeats this long: 10 s by default instead of librdkafka's
        # 45 s, so the survivors take over quickly.
        "session.timeout.ms": settings.kafka.session_timeout_ms,
        "heartbeat.interval.ms": settings.kafka.session_timeout_ms // 5,
        "fetch.wait.max.ms": 100,  # an idle partition answers (EOF) within 0.1 s
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        "queued.max.messages.kbytes": 32 * 1024,  # prefetch: bounds the client's memory
    }


def admin(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka.bootstrap})


def _unreachable(settings: Settings, exc: object) -> BrokerUnavailableError:
    return BrokerUnavailableError(
        f"Kafka at {settings.kafka.bootstrap} is unreachable ({exc})",
        hint="start it (bash scripts/kafka.sh start) or set LAKEHOUSE_KAFKA__BOOTSTRAP",
    )


def cluster_metadata(
    settings: Settings, client: AdminClient | Consumer | Producer | None = None
) -> ClusterMetadata:
    """Topic metadata; BrokerUnavailableError when no broker answers within 10 s."""
    try:
        return (client or admin(settings)).list_topics(timeout=CONNECT_TIMEOUT_S)
    except KafkaException as exc:
        raise _unreachable(settings, exc.args[0] if exc.args else exc) from exc


def topic_partitions(md: ClusterMetadata, topics: Iterable[str]) -> dict[str, list[int]]:
    """Partitions of the topics that exist (missing topics are left out)."""
    out: dict[str, list[int]] = {}
    for t in topics:
        tm = md.topics.get(t)
        if tm is not None and tm.error is None:
            out[t] = sorted(tm.partitions)
    return out


def ensure_topics(settings: Settings, topics: Iterable[str]) -> dict[str, list[int]]:
    """Create missing topics with `settings.kafka.partitions` partitions; return all partitions."""
    client = admin(settings)
    wanted = list(topics)
    md = cluster_metadata(settings, client)
    missing = [t for t in wanted if t not in topic_partitions(md, [t])]
    if missing:
        futures = client.create_topics(
            [NewTopic(t, num_partitions=settings.kafka.partitions) for t in missing],
            operation_timeout=CONNECT_TIMEOUT_S,
        )
        for topic, fut in futures.items():
            try:
                fut.result(timeout=CONNECT_TIMEOUT_S)
                log.info("created topic %s (%d partitions)", topic, settings.kafka.partitions)
            except KafkaException as exc:
                if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                    continue  # a concurrent producer created it first
                raise _unreachable(settings, exc.args[0] if exc.args else exc) from exc
        md = _wait_for_metadata(settings, client, missing)
    return topic_partitions(md, wanted)


def _wait_for_metadata(
    settings: Settings, client: AdminClient, topics: list[str]
) -> ClusterMetadata:
    # A created topic appears in metadata with its leaders a moment later.
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        md = cluster_metadata(settings, client)
        ready = topic_partitions(md, topics)
        if len(ready) == len(topics) and all(
            p.leader >= 0 for t in topics for p in md.topics[t].partitions.values()
        ):
            return md
        if time.monotonic() > deadline:
            raise BrokerUnavailableError(f"topics {', '.join(topics)} did not become ready in time")
        time.sleep(0.1)


def watermarks(
    consumer: Consumer, parts: dict[str, list[int]]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (low, high) watermarks; high is the offset the next message gets."""
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for topic, ps in parts.items():
        for p in ps:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=CONNECT_TIMEOUT_S
                )
            except KafkaException as exc:
                raise BrokerUnavailableError(
                    f"cannot read the watermarks of {topic}[{p}]: {exc}"
                ) from exc
            out[(topic, p)] = (int(low), int(high))
    return out


__all__ = [
    "OFFSET_BEGINNING",
    "Consumer",
    "KafkaError",
    "KafkaException",
    "Message",
    "Producer",
    "TopicPartition",
    "app_id",
    "cluster_metadata",
    "consumer_config",
    "ensure_topics",
    "producer_config",
    "topic_partitions",
    "watermarks",
]
