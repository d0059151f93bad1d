"""One consumer-group member's life inside `KafkaIngestor.run`: assignment bookkeeping
(rebalance callbacks), per-source buffers, commits to bronze, the report's counts."""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import BrokerUnavailableError
from lakehouse.ingest.bronze import QUARANTINE
from lakehouse.ingest.files import SourceCounts
from lakehouse.ingest.kafka.batch import Chunk, SourceBatch
from lakehouse.ingest.kafka.client import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
    consumer_config,
    watermarks,
)
from lakehouse.ingest.kafka.commit import Committer
from lakehouse.ingest.kafka.writer import CommitPool, Done, Job
from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.reports import RunReport
from lakehouse.storage.delta import DeltaStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (source, messages done, messages known so far)

POLL_S = 0.25  # longest wait inside consume(): how fast a stop signal is noticed
FETCH_MAX = 20_000  # messages per consume() call
ASSIGN_TIMEOUT_S = 60.0  # catch-up mode: give up if the group never assigns anything


@dataclass
class _Partition:
    source: str
    marker: int | None  # the bronze marker the next batch continues from (None: from the start)
    position: int  # next offset we expect from the broker
    target: int | None  # catch-up mode: the high watermark at the start of the run
    eof: int = -1  # offset of the last end-of-partition event
    epoch: int = 0  # bumped on every seek: results of batches read before it are stale

    @property
    def done(self) -> bool:
        return self.target is not None and (self.position >= self.target or self.eof >= self.target)


class Owner(Protocol):
    """What a session needs of the ingestor that runs it."""

    settings: Settings
    store: DeltaStore

    @property
    def stopping(self) -> bool: ...


class Session:
    """One consumer's life: assignment bookkeeping, buffers, commits, the report's counts."""

    def __init__(
        self,
        owner: Owner,
        report: RunReport,
        topics: dict[str, str],
        parts: dict[str, list[int]],
        con: duckdb.DuckDBPyConnection,
        progress: Progress | None,
        follow: bool,
    ) -> None:
        self.owner = owner
        self.settings = owner.settings
        self.store = owner.store
        self.report = report
        self.topics = topics  # topic -> source
        self.topic_ids = {t: i for i, t in enumerate(topics)}
        self.parts = parts
        self.progress = progress
        self.follow = follow
        self.assigned: dict[tuple[str, int], _Partition] = {}
        self.batches = {t: SourceBatch(s, t) for t, s in topics.items()}
        # A DuckDB connection per topic: topics are parsed in parallel (see writer.CommitPool).
        self.cursors = {t: con.cursor() for t in topics}
        self.committers = {
            t: Committer(self.settings, self.store, s, t, RecordParser(SCHEMAS[s], self.cursors[t]))
            for t, s in topics.items()
        }
        self.counts = {s: SourceCounts() for s in topics.values()}
        self.partitions_seen: dict[str, set[int]] = {s: set() for s in topics.values()}
        self.totals = dict.fromkeys(topics.values(), 0)
        self.lost_races = 0
        self.got_assignment = False
        self.closing = False
        self.consumer: Consumer | None = None
        self.worker: CommitPool | None = None
        self.watermarks: dict[tuple[str, int], tuple[int, int]] = {}
        for s in topics.values():
            table = TableId("bronze", s)
            report.table(table.fqn).version_before = self.store.version(table)

    # -- lifecycle --------------------------------------------------------------------------------
    def consume(self) -> None:
        if not self.parts:
            log.info("no topic of %s exists yet: nothing to ingest", ", ".join(self.topics))
            return
        conf = consumer_config(self.settings)
        conf["error_cb"] = self._on_client_error
        self.consumer = consumer = Consumer(conf)
        # The targets of a catch-up run: what each partition held when the run started.
        self.watermarks = watermarks(consumer, self.parts)
        # Topics committed in parallel (each thread parses with DuckDB, writes with delta-rs).
        self.worker = CommitPool(self.committers, self.settings.kafka.commit_threads)
        consumer.subscribe(
            list(self.parts),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        started = time.monotonic()
        while not self.owner.stopping:
            msgs = consumer.consume(num_messages=FETCH_MAX, timeout=POLL_S)
            if msgs:
                self._take(msgs)
            self._flush_due()
            self._collect()
            if not self.follow and self._caught_up(started):
                break
        self._flush_all()

    def close(self) -> None:
        self.closing = True  # a revoke during close must not submit anything new
        if self.consumer is not None:
            try:
                self.consumer.close()  # leaves the group: the partitions move on at once
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing the Kafka consumer: %s", exc)
            self.consumer = None
        if self.worker is not None:
            self.worker.close()
            self._collect(check=False)
            self.worker = None
        for cur in self.cursors.values():
            cur.close()
        for source in self.topics.values():
            table = TableId("bronze", source)
            change = self.report.table(table.fqn)
            c = self.counts[source]
            change.rows_in, change.rows_out = c.received, c.bronze
            change.version_after = self.store.version(table)
        q = self.report.table(QUARANTINE.fqn)
        q.rows_out += sum(c.quarantined for c in self.counts.values())
        q.version_after = self.store.version(QUARANTINE)

    def summary(self, source: str) -> dict[str, Any]:
        c = self.counts[source]
        return {
            "partitions": len(self.partitions_seen[source]),
            "files": 0,
            "received": c.received,
            "bronze": c.bronze,
            "quarantined": c.quarantined,
            "balanced": c.balanced,
        }

    def _caught_up(self, started: float) -> bool:
        if not self.got_assignment:
            if time.monotonic() - started > ASSIGN_TIMEOUT_S:
                raise BrokerUnavailableError(
                    f"group {self.settings.kafka.group_id!r} assigned no partition within {ASSIGN_TIMEOUT_S:.0f} s"
                )
            return False
        return all(p.done for p in self.assigned.values())

    # -- messages ----------------------------------------------------------------------------------
    def _take(self, msgs: list[Any]) -> None:
        """One consume() result -> a few arrays per partition (no Python object per message kept)."""
        # map() over the C method descriptors: no Python frame per message.
        if any(map(operator.is_not, map(Message.error, msgs), repeat(None))):  # EOF events, mostly
            errors = [m for m in msgs if m.error() is not None]
            for m in errors:
                self._on_message_error(m, m.error())
            msgs = [m for m in msgs if m.error() is None]
            if not msgs:
                return
        n = len(msgs)
        ids: dict[Any, int] = self.topic_ids
        topic_id = np.fromiter(map(ids.__getitem__, map(Message.topic, msgs)), np.int64, n)
        partition = np.fromiter(map(Message.partition, msgs), np.int32, n)
        offset = np.fromiter(map(Message.offset, msgs), np.int64, n)
        value = pa.array(list(map(Message.value, msgs)), pa.large_binary())
        chunk = Chunk(partition, offset, value)
        key = (topic_id << 32) | partition
        names = list(ids)
        single = key[0] == key[-1] and bool((key == key[0]).all())
        for k in [int(key[0])] if single else np.unique(key).tolist():
            topic, p = names[k >> 32], k & 0xFFFFFFFF
            st = self.assigned.get((topic, p))
            if st is None:  # not ours any more: revoked while fetched
                continue
            sel = chunk if single else chunk.select(key == k)
            if sel.offset[0] < st.position:  # fetched before a seek: keep only what follows it
                sel = sel.select(sel.offset >= st.position)
                if not len(sel):
                    continue
            st.position = int(sel.offset[-1]) + 1
            self.batches[topic].add(sel)

    def _on_message_error(self, m: Any, err: Any) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            st = self.assigned.get((m.topic(), m.partition()))
            if st is not None:
                st.eof = max(st.eof, m.offset())
            return
        if err.fatal():
            raise KafkaException(err)
        log.warning("kafka consumer: %s", err)

    def _on_client_error(self, err: Any) -> None:
        log.warning("kafka: %s", err)

    # -- commits -----------------------------------------------------------------------------------
    def _flush_due(self) -> None:
        now = time.monotonic()
        for b in self.batches.values():
            if b.size and now - b.started >= self.settings.kafka.batch_max_seconds:
                self._submit(b)
        while sum(b.size for b in self.batches.values()) >= self.settings.kafka.batch_max_messages:
            self._submit(max(self.batches.values(), key=lambda b: b.size))

    def _flush_all(self) -> None:
        for b in self.batches.values():
            if b.size:
                self._submit(b)
        if self.worker is not None:
            self.worker.wait_idle()
        self._collect()

    def _submit(self, batch: SourceBatch) -> None:
        chunk = batch.take()
        if chunk is None or self.worker is None:
            return
        topic = batch.topic
        expected: dict[int, int | None] = {}
        epochs: dict[int, int] = {}
        for p, end in chunk.ends().items():
            st = self.assigned[(topic, p)]
            expected[p], epochs[p] = st.marker, st.epoch
            st.marker = end  # optimistic: the next batch continues from this one
        self.worker.submit(Job(topic, chunk, expected, epochs))

    def _collect(self, check: bool = True) -> None:
        """Account for finished commits; after a lost race, seek to the table's offset."""
        if self.worker is None:
            return
        for done in self.worker.results():
            self._account(done)
        if check:
            self.worker.raise_if_failed()

    def _account(self, done: Done) -> None:
        topic, result = done.job.topic, done.result
        source = self.topics[topic]
        c = self.counts[source]
        c.received += result.received
        c.bronze += result.bronze
        c.quarantined += result.quarantined
        for p, table_value in result.lost.items():
            self.lost_races += 1
            st = self.assigned.get((topic, p))
            if st is None or st.epoch != done.job.epochs[p]:
                continue  # already re-positioned after an earlier loss, or not ours any more
            st.epoch += 1
            st.marker = table_value
            st.position = table_value or 0
            self.batches[topic].drop({p})
            if self.consumer is not None and not self.closing:
                self.consumer.seek(
                    TopicPartition(
                        topic, p, table_value if table_value is not None else OFFSET_BEGINNING
                    )
                )
        if result.ends and self.consumer is not None and not self.closing:
            # A courtesy for lag tooling; the Delta log stays the source of truth.
            offsets = [TopicPartition(topic, p, end) for p, end in result.ends.items()]
            try:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                log.debug("committing offsets to Kafka: %s", exc)
        if self.progress:
            self.progress(source, c.received, max(self.totals[source], c.received))

    # -- rebalance callbacks (run inside consume()) ------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.got_assignment = True
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        seeks = []
        for topic, ps in by_topic.items():
            source = self.topics[topic]
            markers = self.committers[topic].markers(ps)
            for p in ps:
                low, high = self.watermarks.get((topic, p), (0, 0))
                start = markers[p]
                self.assigned[(topic, p)] = _Partition(
                    source, start, start or 0, None if self.follow else high
                )
                self.partitions_seen[source].add(p)
                self.totals[source] += max(0, high - max(start or 0, low))
                # From the oldest retained message when the table holds nothing of it yet.
                seeks.append(
                    TopicPartition(topic, p, start if start is not None else OFFSET_BEGINNING)
                )
        if seeks:
            log.info(
                "assigned %s", ", ".join(f"{t.topic}[{t.partition}]@{t.offset}" for t in seeks)
            )
        consumer.incremental_assign(seeks)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Commit what we hold of these partitions before they move to another worker.
        gone = {(tp.topic, tp.partition) for tp in partitions}
        if not self.closing and self.worker is not None:
            for topic in {t for t, _ in gone}:
                b = self.batches.get(topic)
                if b is not None and b.size:
                    self._submit(b)
            self.worker.wait_idle()
            self._collect()
        self._forget(gone)
        consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost without a revoke (our session timed out): another worker may own them already,
        # so what we hold is dropped; a commit in flight is safe (check-and-commit under a lock).
        self._forget({(tp.topic, tp.partition) for tp in partitions})
        consumer.incremental_unassign(partitions)

    def _forget(self, gone: set[tuple[str, int]]) -> None:
        for topic in {t for t, _ in gone}:
            b = self.batches.get(topic)
            if b is not None:
                b.drop({p for t, p in gone if t == topic})
        for key in gone:
            self.assigned.pop(key, None)
        if gone:
            log.info("revoked %s", ", ".join(f"{t}[{p}]" for t, p in sorted(gone)))
