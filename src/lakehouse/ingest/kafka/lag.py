"""How far bronze is behind Kafka, per partition, measured against the Delta log."""

from __future__ import annotations

import uuid

from lakehouse.config import SOURCES, Settings
from lakehouse.contract import TableId
from lakehouse.ingest.kafka.client import (
    Consumer,
    app_id,
    cluster_metadata,
    topic_partitions,
    watermarks,
)
from lakehouse.storage.delta import DeltaStore


def consumer_lag(settings: Settings, sources: list[str] | None = None) -> dict[str, dict[int, int]]:
    """topic -> partition -> high watermark minus the bronze table's next offset.

    A partition bronze has not read yet counts from its low watermark (the oldest message
    still retained). Topics that do not exist are left out.
    """
    store = DeltaStore(settings)
    topics = {settings.kafka.topic(s): s for s in sources or SOURCES}
    # A throwaway group id: reading watermarks must not join (and rebalance) the real group.
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"lakehouse-lag-{uuid.uuid4().hex[:8]}",
        }
    )
    try:
        parts = topic_partitions(cluster_metadata(settings, consumer), topics)
        marks = watermarks(consumer, parts)
    finally:
        consumer.close()
    out: dict[str, dict[int, int]] = {}
    for topic, ps in parts.items():
        done = store.txn_versions(TableId("bronze", topics[topic]), [app_id(topic, p) for p in ps])
        out[topic] = {}
        for p in ps:
            low, high = marks[(topic, p)]
            out[topic][p] = max(0, high - done.get(app_id(topic, p), low))
    return out
