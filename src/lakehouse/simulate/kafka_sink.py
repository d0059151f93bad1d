"""Simulated records to Kafka: one topic per source, keyed so one entity's records stay ordered.

Values are built vectorised in DuckDB (the same JSON the file sink writes), then handed to an
idempotent librdkafka producer (acks=all, lz4, large linger batches). Only failed deliveries
produce a report; `write` returns after every message of the call is acknowledged or raises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.exceptions import BrokerUnavailableError
from lakehouse.ingest.kafka.client import Producer, ensure_topics, producer_config
from lakehouse.simulate.bad_records import Injected, drop_private
from lakehouse.simulate.sinks import json_select

log = logging.getLogger(__name__)

CHUNK_ROWS = 250_000  # rows turned into JSON at a time: bounds the sink's memory
FLUSH_TIMEOUT_S = 60.0

# The message key per source: records of one key land in one partition, in order.
# CDC changes are keyed by the changed row (`<table>:<id>`) so a row's changes stay ordered.
KEYS: dict[str, str] = {
    "app_events": "r.user_id",
    "clickstream": "r.user_id",
    "transactions": "r.user_id",
    "service_logs": "r.user_id",  # NULL for anonymous requests: spread over partitions
    "cdc_changes": (
        "json_extract_string(r.source, '$.table') || ':' || "
        "coalesce(json_extract_string(r.after, '$.id'), json_extract_string(r.before, '$.id'))"
    ),
}


class KafkaSink:
    """A `Sink` producing each source to `settings.kafka.topic(source)`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.con = duckdb.connect()
        self._producer: Producer | None = None
        self._topics: set[str] = set()
        self._failed = 0
        self._first_error: str | None = None

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            conf = producer_config(self.settings)
            conf["on_delivery"] = self._on_error
            conf["error_cb"] = self._on_client_error
            self._producer = Producer(conf)
        return self._producer

    def _on_error(self, err: object, _msg: object) -> None:
        # Called for failed deliveries only (delivery.report.only.error).
        self._failed += 1
        if self._first_error is None:
            self._first_error = str(err)

    def _on_client_error(self, err: object) -> None:
        log.warning("kafka producer: %s", err)

    def write(self, source: str, tag: str, stream: Injected) -> list[str]:
        topic = self.settings.kafka.topic(source)
        if topic not in self._topics:
            ensure_topics(self.settings, [topic])
            self._topics.add(topic)
        rows = drop_private(stream.rows)
        for start in range(0, rows.num_rows, CHUNK_ROWS):
            values, keys = self._encode(source, rows.slice(start, CHUNK_ROWS))
            self._produce(topic, values, keys)
        self._produce(topic, [line.encode("utf-8") for line in stream.raw_lines], None)
        self._flush(topic)
        log.debug("%s: %d messages to %s (%s)", source, stream.records, topic, tag)
        return [topic]

    def _encode(self, source: str, rows: pa.Table) -> tuple[list[str], list[str | None]]:
        select = json_select(source, rows.column_names)
        key = KEYS.get(source, "NULL") if self._has_key(source, rows) else "NULL"
        self.con.register("rows", rows)
        try:
            out = self.con.sql(
                f"SELECT to_json(r)::VARCHAR AS v, ({key})::VARCHAR AS k FROM (SELECT {select} FROM rows) r"
            ).to_arrow_table()
        finally:
            self.con.unregister("rows")
        return out.column("v").to_pylist(), out.column("k").to_pylist()

    @staticmethod
    def _has_key(source: str, rows: pa.Table) -> bool:
        if source == "cdc_changes":
            return {"source", "before", "after"} <= set(rows.column_names)
        return "user_id" in rows.column_names

    def _produce(
        self, topic: str, values: Sequence[str | bytes], keys: Sequence[str | None] | None
    ) -> None:
        producer = self.producer
        produce = producer.produce
        poll = producer.poll
        ks: Sequence[str | None] = keys if keys is not None else [None] * len(values)
        for i, (v, k) in enumerate(zip(values, ks, strict=True)):
            try:
                produce(topic, v, k)
            except BufferError:  # the local queue is full: let deliveries drain, then retry
                # (back-pressure, not a transient failure: no attempt limit or backoff, so no
                # tenacity; against a broker that never answers, librdkafka fails the queued
                # messages after message.timeout.ms, which drains the queue, and the failed
                # deliveries are raised after the flush)
                poll(0.05)
                while True:
                    try:
                        produce(topic, v, k)
                        break
                    except BufferError:
                        poll(0.05)
            if i & 0x3FFF == 0:
                poll(0)

    def _flush(self, topic: str) -> None:
        left = self.producer.flush(FLUSH_TIMEOUT_S)
        if left:
            raise BrokerUnavailableError(
                f"{left} message(s) to {topic} were not acknowledged within {FLUSH_TIMEOUT_S:.0f} s",
                hint=f"is Kafka at {self.settings.kafka.bootstrap} up? (bash scripts/kafka.sh status)",
            )
        if self._failed:
            failed, first = self._failed, self._first_error
            self._failed, self._first_error = 0, None
            raise BrokerUnavailableError(f"{failed} message(s) to {topic} failed delivery: {first}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(FLUSH_TIMEOUT_S)
            self._producer = None
        self.con.close()
