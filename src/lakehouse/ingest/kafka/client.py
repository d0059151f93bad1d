"""Talking to the broker: client configs, reachability, topics, topic ids, watermarks.

Everything that knows librdkafka property names lives here, so the producer (the
simulator's sink), the streaming ingestor and the lag probe configure clients alike.

Every wait on the broker is cut into short slices that check a `stopping` callable, so a
stop request (SIGTERM) is noticed within half a second even while the broker is unreachable.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from lakehouse.config import Settings
from lakehouse.exceptions import BrokerUnavailableError, LakehouseError

try:
    from confluent_kafka import (
        OFFSET_BEGINNING,
        Consumer,
        IsolationLevel,
        KafkaError,
        KafkaException,
        Message,
        Producer,
        TopicCollection,
        TopicPartition,
    )
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._listoffsets import OffsetSpec
    from confluent_kafka.admin._metadata import ClusterMetadata
    from confluent_kafka.cimpl import NewTopic
except ImportError as exc:  # pragma: no cover - depends on the install
    raise LakehouseError(
        f"Kafka support needs the confluent-kafka package ({exc.name} is missing)",
        hint="pip install 'lakehouse[kafka]'",
    ) from exc

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
SLICE_S = 0.5  # longest single wait on the broker: how fast a stop request is noticed

Stopping = Callable[[], bool]
T = TypeVar("T")
_UNKNOWN_TOPIC = KafkaError.UNKNOWN_TOPIC_OR_PART
# A topic created a moment ago may be unknown to the broker's metadata that long: asked again.
RETRY_UNKNOWN_S = 2.0


class StopRequested(Exception):
    """A wait on the broker was given up because the run was asked to stop."""


def _never() -> bool:
    return False


def app_id(topic: str, partition: int) -> str:
    """The Delta application transaction id that records a partition's next offset."""
    return f"kafka:{topic}:{partition}"


def topic_id_app_id(topic: str, partition: int) -> str:
    """The app id whose version identifies the topic incarnation the partition's offset counts in."""
    return f"kafka:{topic}:{partition}:topic-id"


def topic_id_hash(msb: int, lsb: int) -> int:
    """A Kafka topic id (a UUID, as its two signed 64-bit halves) -> 63 bits, a valid txn version."""
    raw = (msb & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big") + (lsb & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big") >> 1


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
        # A fetch whose offset the broker no longer has (retention, a re-created topic) is an
        # error event the consumer applies its data-loss policy to; "earliest" would jump
        # silently. Partitions without a marker are sent to the beginning explicitly.
        "auto.offset.reset": "error",
        # Subscribing to a topic that does not exist must never create it.
        "allow.auto.create.topics": False,
        # How soon a following consumer sees a topic that appeared (or was deleted and created
        # again: it is then re-assigned and checked) or new partitions: 10 s, not 5 minutes.
        "topic.metadata.refresh.interval.ms": 10_000,
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
    settings: Settings,
    client: AdminClient | Consumer | Producer | None = None,
    *,
    timeout: float | None = None,
    stopping: Stopping = _never,
) -> ClusterMetadata:
    """Topic metadata; BrokerUnavailableError when no broker answers within `timeout`
    (default `CONNECT_TIMEOUT_S`)."""
    client = client or admin(settings)
    # Not tenacity: this is one wait of `timeout` cut into short calls that each look at
    # `stopping`, not a retry policy (the --follow retries around it are: consumer.py).
    deadline = time.monotonic() + (CONNECT_TIMEOUT_S if timeout is None else timeout)
    while True:
        if stopping():
            raise StopRequested
        left = deadline - time.monotonic()
        try:
            return client.list_topics(timeout=max(0.05, min(SLICE_S, left)))
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise _unreachable(settings, exc.args[0] if exc.args else exc) from exc


def wait_result(
    future: concurrent.futures.Future[T], timeout: float, stopping: Stopping = _never
) -> T:
    """`future.result()`, in slices that give up when `stopping()` (futures of AdminClient calls)."""
    deadline = time.monotonic() + timeout
    while True:
        if future.done():  # an answer already there is taken, stopping or not
            return future.result(timeout=0)
        if stopping():
            raise StopRequested
        left = deadline - time.monotonic()
        done, _ = concurrent.futures.wait([future], timeout=max(0.0, min(SLICE_S, left)))
        if done or left <= 0:
            return future.result(timeout=0)


def topic_partitions(md: ClusterMetadata, topics: Iterable[str]) -> dict[str, list[int]]:
    """Partitions of the topics that exist (missing topics are left out)."""
    out: dict[str, list[int]] = {}
    for t in topics:
        tm = md.topics.get(t)
        if tm is not None and tm.error is None:
            out[t] = sorted(tm.partitions)
    return out


def ensure_topics(
    settings: Settings,
    topics: Iterable[str],
    stopping: Stopping = _never,
    created: list[str] | None = None,
) -> dict[str, list[int]]:
    """Create missing topics with `settings.kafka.partitions` partitions; return all partitions.

    `created` gets each topic this call created, as soon as it is (also when stopped after).
    """
    client = admin(settings)
    wanted = list(topics)
    md = cluster_metadata(settings, client, stopping=stopping)
    missing = [t for t in wanted if t not in topic_partitions(md, [t])]
    if missing:
        futures = client.create_topics(
            [NewTopic(t, num_partitions=settings.kafka.partitions) for t in missing],
            operation_timeout=CONNECT_TIMEOUT_S,
        )
        for topic, fut in futures.items():
            try:
                wait_result(fut, CONNECT_TIMEOUT_S, stopping)
                log.info("created topic %s (%d partitions)", topic, settings.kafka.partitions)
                if created is not None:
                    created.append(topic)
            except KafkaException as exc:
                if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                    continue  # a concurrent producer created it first
                raise _unreachable(settings, exc.args[0] if exc.args else exc) from exc
            except concurrent.futures.TimeoutError as exc:
                raise _unreachable(settings, "creating topics timed out") from exc
        md = _wait_for_metadata(settings, client, missing, stopping)
    return topic_partitions(md, wanted)


def _wait_for_metadata(
    settings: Settings, client: AdminClient, topics: list[str], stopping: Stopping
) -> ClusterMetadata:
    # A created topic appears in metadata with its leaders a moment later. (A poll for a
    # condition with a deadline, not an error retried: a plain loop reads clearer than tenacity.)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        md = cluster_metadata(settings, client, stopping=stopping)
        ready = topic_partitions(md, topics)
        if len(ready) == len(topics) and all(
            p.leader >= 0 for t in topics for p in md.topics[t].partitions.values()
        ):
            return md
        if time.monotonic() > deadline:
            raise BrokerUnavailableError(f"topics {', '.join(topics)} did not become ready in time")
        time.sleep(0.1)


def topic_ids(
    client: AdminClient,
    topics: Iterable[str],
    stopping: Stopping = _never,
    *,
    timeout: float | None = None,
) -> dict[str, int | None]:
    """topic -> a 63-bit hash of its topic id (None when the broker cannot say in `timeout`).

    The id changes when a topic is deleted and created again under the same name, which
    offsets alone cannot show once the new topic holds as many messages as the old one. A
    topic created a moment ago can be unknown to the broker's metadata for a moment: asked
    again for up to `RETRY_UNKNOWN_S`.
    """
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    # Not tenacity: each round asks again only the topics whose answer was retriable and keeps
    # the others' answers, which a retry of the whole call would throw away.
    out: dict[str, int | None] = dict.fromkeys(topics)
    left = list(out)
    deadline = time.monotonic() + timeout
    retry_until = time.monotonic() + min(timeout, RETRY_UNKNOWN_S)
    while left:
        futures = client.describe_topics(
            TopicCollection(left), request_timeout=max(0.5, deadline - time.monotonic())
        )
        again = []
        for topic, fut in futures.items():
            try:
                tid = wait_result(fut, timeout + 1, stopping).topic_id
                out[topic] = topic_id_hash(
                    tid.get_most_significant_bits(), tid.get_least_significant_bits()
                )
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if err is not None and (err.retriable() or err.code() == _UNKNOWN_TOPIC):
                    again.append(topic)
                log.debug("describing topic %s: %s", topic, exc)
            except concurrent.futures.TimeoutError as exc:
                log.debug("describing topic %s: %s", topic, exc)
        if not again or time.monotonic() + 0.2 > retry_until:
            break
        time.sleep(0.2)
        left = again
    return out


def watermarks(
    client: AdminClient,
    parts: Mapping[str, Iterable[int]],
    stopping: Stopping = _never,
    *,
    timeout: float | None = None,
    strict: bool = True,
) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (low, high) watermarks; high is the offset the next message gets.

    Two ListOffsets requests for all partitions at once (earliest, latest), not a round
    trip per partition; a partition of a topic created a moment ago is asked again for up to
    `RETRY_UNKNOWN_S`. A partition the broker cannot answer for is an error, or with `strict=False`
    left out (one that no longer exists, say).
    """
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    # Not tenacity, as in `topic_ids`: only the partitions without an answer are asked again.
    tps = [TopicPartition(t, p) for t, ps in parts.items() for p in ps]
    specs = (("low", OffsetSpec.earliest()), ("high", OffsetSpec.latest()))  # type: ignore[no-untyped-call]
    found: dict[str, dict[tuple[str, int], int]] = {"low": {}, "high": {}}
    deadline = time.monotonic() + timeout
    retry_until = time.monotonic() + min(timeout, RETRY_UNKNOWN_S)
    for name, spec in specs:
        left = tps
        while left:
            futures = client.list_offsets(
                dict.fromkeys(left, spec),
                isolation_level=IsolationLevel.READ_UNCOMMITTED,
                request_timeout=max(0.5, deadline - time.monotonic()),
            )
            again: list[TopicPartition] = []
            failed: dict[TopicPartition, BaseException] = {}
            for tp, fut in futures.items():
                try:
                    offset = wait_result(fut, timeout + 1, stopping).offset
                    found[name][(tp.topic, tp.partition)] = int(offset)
                except KafkaException as exc:
                    err = exc.args[0] if exc.args else None
                    if err is not None and (err.retriable() or err.code() == _UNKNOWN_TOPIC):
                        again.append(tp)
                    failed[tp] = exc
                except concurrent.futures.TimeoutError as exc:
                    failed[tp] = exc
            if again and time.monotonic() + 0.2 < retry_until:
                time.sleep(0.2)
                left = again
                continue
            for tp, why in failed.items():
                if strict:
                    raise BrokerUnavailableError(
                        f"cannot read the watermarks of {tp.topic}[{tp.partition}]: {why}",
                        hint="is the broker up? (bash scripts/kafka.sh status)",
                    ) from why
                log.debug("watermarks of %s[%d]: %s", tp.topic, tp.partition, why)
            break
    return {k: (v, found["high"][k]) for k, v in found["low"].items() if k in found["high"]}


__all__ = [
    "OFFSET_BEGINNING",
    "AdminClient",
    "ClusterMetadata",
    "Consumer",
    "KafkaError",
    "KafkaException",
    "Message",
    "Producer",
    "StopRequested",
    "TopicPartition",
    "admin",
    "app_id",
    "cluster_metadata",
    "consumer_config",
    "ensure_topics",
    "producer_config",
    "topic_id_app_id",
    "topic_id_hash",
    "topic_ids",
    "topic_partitions",
    "wait_result",
    "watermarks",
]
