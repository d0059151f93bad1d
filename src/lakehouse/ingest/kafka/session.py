"""One consumer's life: the client, messages in hand, batches, the report's counts.

A `Session` subscribes to the topics and consumes; where each partition is read from and
what moves it (commits, rebalances, the data-loss rules) is `Positions` (positions.py).
Messages are buffered per source and committed when a source's buffer is old
(`batch_max_seconds`) or the buffers together are full (`batch_max_messages`: the largest
one goes). Without `follow` the run ends once every assigned partition reached the high
watermark it had when the run started.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import BrokerUnavailableError
from lakehouse.ingest.bronze import QUARANTINE
from lakehouse.ingest.kafka.batch import Chunk, SourceBatch
from lakehouse.ingest.kafka.client import (
    AdminClient,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    consumer_config,
    topic_ids,
    watermarks,
)
from lakehouse.ingest.kafka.commit import Committer
from lakehouse.ingest.kafka.offsets import DataLossError, Skip
from lakehouse.ingest.kafka.positions import Partition, Positions
from lakehouse.ingest.kafka.signals import StopFlag
from lakehouse.ingest.kafka.topics import Topics
from lakehouse.ingest.kafka.writer import CommitPool
from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.results import IngestResult
from lakehouse.storage.delta import DeltaStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (source, messages done, messages known so far)

POLL_S = 0.25  # longest wait inside consume(): how fast a stop signal is noticed
FETCH_MAX = 20_000  # messages per consume() call
ASSIGN_TIMEOUT_S = 60.0  # catch-up mode: give up if the group never assigns anything
# Asking the topic's id before a commit: a broker that cannot say this fast is not waited for
# (the commit goes ahead; the offset checks on the next assignment still apply).
PROBE_TIMEOUT_S = 3.0
# The broker no longer has the offset being fetched: apply the data-loss rules.
OUT_OF_RANGE = frozenset(
    {KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._LOG_TRUNCATION}
)


class Session(Positions):
    def __init__(
        self,
        settings: Settings,
        store: DeltaStore,
        stop: StopFlag,
        report: IngestResult,
        topics: Topics,
        admin: AdminClient,
        con: duckdb.DuckDBPyConnection,
        progress: Progress | None,
        follow: bool,
    ) -> None:
        self.settings = settings
        self.store = store
        self.stopping = stop
        self.report = report
        self.topics = topics.wanted  # topic -> source
        self.parts = topics.parts  # existing topic -> partitions
        self.admin = admin
        self.topic_index = {t: i for i, t in enumerate(self.topics)}
        self.progress = progress
        self.follow = follow
        self.fail_on_data_loss = settings.kafka.fail_on_data_loss
        self.assigned: dict[tuple[str, int], Partition] = {}
        self.batches = {t: SourceBatch(s, t) for t, s in self.topics.items()}
        # A DuckDB connection per topic: topics are parsed in parallel (see writer.CommitPool).
        self.cursors = {t: con.cursor() for t in self.topics}
        self.committers = {
            t: Committer(
                settings, store, s, t, RecordParser(SCHEMAS[s], self.cursors[t]), self._topic_id
            )
            for t, s in self.topics.items()
        }
        self.counts = {s: report.source(s) for s in self.topics.values()}  # counted in place
        self.partitions_seen: dict[str, set[int]] = {s: set() for s in self.topics.values()}
        self.totals = dict.fromkeys(self.topics.values(), 0)
        self.skipped: list[Skip] = []  # committed skips (data-loss policy off)
        self.failure: DataLossError | None = None
        self.lost_races = 0
        self.got_assignment = False
        self.closing = False
        self.consumer: Consumer | None = None
        self.worker: CommitPool | None = None
        self.targets: dict[tuple[str, int], tuple[int, int]] = {}
        for table in [*(TableId("bronze", s) for s in self.topics.values()), QUARANTINE]:
            report.table(table.fqn).version_before = self.store.version(table)

    # -- lifecycle --------------------------------------------------------------------------------
    def consume(self) -> None:
        if self.stopping():
            return
        conf = consumer_config(self.settings)
        conf["error_cb"] = self._on_client_error
        # The targets of a catch-up run: what each partition held when the run started.
        self.targets = watermarks(self.admin, self.parts, self.stopping)
        self.consumer = consumer = Consumer(conf)
        # Topics committed in parallel (each thread parses with DuckDB, writes with delta-rs).
        self.worker = CommitPool(self.committers, self.settings.kafka.commit_threads)
        # Following, topics still missing are subscribed too: they are read once they appear.
        consumer.subscribe(
            list(self.topics if self.follow else self.parts),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        started = time.monotonic()
        while not self.stopping():
            msgs = consumer.consume(num_messages=FETCH_MAX, timeout=POLL_S)
            if msgs:
                self._take(msgs)
            self._flush_due()
            self._collect()
            if self.failure is not None:
                raise self.failure
            if not self.follow and self._caught_up(started):
                break
        self._flush_all()
        if self.failure is not None:
            raise self.failure

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

    def _caught_up(self, started: float) -> bool:
        if not self.got_assignment:
            if time.monotonic() - started > ASSIGN_TIMEOUT_S:
                raise BrokerUnavailableError(
                    f"group {self.settings.kafka.group_id!r} assigned no partition within {ASSIGN_TIMEOUT_S:.0f} s"
                )
            return False
        return all(p.done for p in self.assigned.values())

    def _topic_id(self, topic: str) -> int | None:
        """The topic's id hash now (commit threads ask before each commit); None: unknown."""
        try:
            return topic_ids(self.admin, [topic], timeout=PROBE_TIMEOUT_S)[topic]
        except KafkaException as exc:
            log.debug("describing %s: %s", topic, exc)
            return None

    # -- messages ----------------------------------------------------------------------------------
    def _take(self, msgs: list[Any]) -> None:
        """One consume() result -> a few arrays per partition (no Python object per message kept)."""
        # map() over the C method descriptors: no Python frame per message.
        moved: set[tuple[str, int]] = set()
        if any(map(operator.is_not, map(Message.error, msgs), repeat(None))):  # EOF events, mostly
            errors = [m for m in msgs if m.error() is not None]
            epochs = {k: st.epoch for k, st in self.assigned.items()}
            for m in errors:
                self._on_message_error(m, m.error())
            # A partition an error re-positioned: its messages in this result were fetched
            # before the seek (later results are librdkafka's after it).
            moved = {k for k, st in self.assigned.items() if epochs.get(k) != st.epoch}
            msgs = [m for m in msgs if m.error() is None]
            if not msgs:
                return
        n = len(msgs)
        ids: dict[Any, int] = self.topic_index
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
            if st is None or (topic, p) in moved:  # revoked while fetched, or re-positioned
                continue
            sel = chunk if single else chunk.select(key == k)
            if sel.offset[0] < st.position:  # fetched before a seek: keep only what follows it
                sel = sel.select(sel.offset >= st.position)
                if not len(sel):
                    continue
            st.position = int(sel.offset[-1]) + 1
            batch = self.batches[topic]
            if not batch.size:
                log.debug("%s: a new batch from %s[%d]@%d", batch.source, topic, p, sel.offset[0])
            batch.add(sel)

    def _on_message_error(self, m: Any, err: Any) -> None:
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            st = self.assigned.get((m.topic(), m.partition()))
            if st is not None:
                if m.offset() > st.eof:
                    log.debug("%s[%d]: fetched to the end, offset %d", m.topic(), m.partition(), m.offset())
                st.eof = max(st.eof, m.offset())
            return
        if code in OUT_OF_RANGE and m.topic() in self.topics:
            self._out_of_range(m.topic(), m.partition(), err)
            return
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            log.debug("kafka consumer: %s", err)  # a subscribed topic that does not exist yet
            return
        if err.fatal():
            raise KafkaException(err)
        log.warning("kafka consumer: %s", err)

    def _on_client_error(self, err: Any) -> None:
        log.warning("kafka: %s", err)

    # -- batches -----------------------------------------------------------------------------------
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
