"""One consumer's life: assignment checks, buffers, commits, the report's counts.

On every assignment the consumer compares each partition's bronze offset (and the topic id
it counts in) with the broker's watermarks and topic id (`offsets.check`) and seeks to it;
a partition that does not continue cleanly fails the run or, with the data-loss policy off,
is restarted at its oldest message by a commit that records the skip. The same check runs
when a fetch is out of range mid-run (`auto.offset.reset=error`) and when a commit finds the
topic re-created under it. Messages are buffered per source and committed when a source's
buffer is old (`batch_max_seconds`) or the buffers together are full (`batch_max_messages`:
the largest one goes). Without `follow` the run ends once every assigned partition reached
the high watermark it had when the run started.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.exceptions import BrokerUnavailableError
from lakehouse.ingest.bronze import QUARANTINE
from lakehouse.ingest.files import SourceCounts
from lakehouse.ingest.kafka.batch import Chunk, SourceBatch
from lakehouse.ingest.kafka.client import (
    OFFSET_BEGINNING,
    AdminClient,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    StopRequested,
    TopicPartition,
    consumer_config,
    topic_ids,
    watermarks,
)
from lakehouse.ingest.kafka.commit import Committer
from lakehouse.ingest.kafka.offsets import DataLossError, Skip, check
from lakehouse.ingest.kafka.signals import StopFlag
from lakehouse.ingest.kafka.topics import Topics
from lakehouse.ingest.kafka.writer import CommitPool, Done, Job
from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.reports import RunReport
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import TableId

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


@dataclass
class _Partition:
    source: str
    marker: int | None  # the bronze marker the next batch continues from (None: from the start)
    position: int  # next offset we expect from the broker
    target: int | None  # catch-up mode: the high watermark at the start of the run
    topic_id: int | None  # hash of the topic id the offsets count in (None: unknown)
    eof: int = -1  # offset of the last end-of-partition event
    epoch: int = 0  # bumped on every seek: results of batches read before it are stale

    @property
    def done(self) -> bool:
        return self.target is not None and (self.position >= self.target or self.eof >= self.target)


class Session:
    def __init__(
        self,
        settings: Settings,
        store: DeltaStore,
        stop: StopFlag,
        report: RunReport,
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
        self.assigned: dict[tuple[str, int], _Partition] = {}
        self.batches = {t: SourceBatch(s, t) for t, s in self.topics.items()}
        # A DuckDB connection per topic: topics are parsed in parallel (see writer.CommitPool).
        self.cursors = {t: con.cursor() for t in self.topics}
        self.committers = {
            t: Committer(
                settings, store, s, t, RecordParser(SCHEMAS[s], self.cursors[t]), self._topic_id
            )
            for t, s in self.topics.items()
        }
        self.counts = {s: SourceCounts() for s in self.topics.values()}
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

    def summary(self, source: str) -> dict[str, Any]:
        c = self.counts[source]
        return {
            "partitions": len(self.partitions_seen[source]),
            "files": 0,
            "received": c.received,
            "bronze": c.bronze,
            "quarantined": c.quarantined,
            "balanced": c.balanced,
            "skipped": [s.to_dict() for s in self.skipped if self.topics[s.topic] == source],
        }

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
        if any(map(operator.is_not, map(Message.error, msgs), repeat(None))):  # EOF events, mostly
            errors = [m for m in msgs if m.error() is not None]
            for m in errors:
                self._on_message_error(m, m.error())
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
            if st is None:  # not ours any more: revoked while fetched
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
        tid: int | None = None
        for p, end in chunk.ends().items():
            st = self.assigned[(topic, p)]
            expected[p], epochs[p] = st.marker, st.epoch
            tid = st.topic_id if tid is None else tid
            st.marker = end  # optimistic: the next batch continues from this one
        self.worker.submit(Job(topic, chunk, expected, epochs, tid))

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
        self.skipped += result.skipped
        if result.recreated:
            self._recreated(done.job)
        for p, table_value in result.lost.items():
            self.lost_races += 1
            st = self.assigned.get((topic, p))
            if st is None or st.epoch != done.job.epochs[p]:
                continue  # already re-positioned after an earlier loss, or not ours any more
            st.marker = table_value
            self._seek(topic, p, st, table_value)
        if result.ends and self.consumer is not None and not self.closing:
            # A courtesy for lag tooling; the Delta log stays the source of truth.
            offsets = [TopicPartition(topic, p, end) for p, end in result.ends.items()]
            try:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                log.debug("committing offsets to Kafka: %s", exc)
        if self.progress:
            self.progress(source, c.received, max(self.totals[source], c.received))

    def _seek(
        self, topic: str, p: int, st: _Partition, offset: int | None, *, issue: bool = True
    ) -> None:
        """Read `topic[p]` from `offset` (None: the oldest message); what is in hand is dropped.

        `issue=False`: the partition is being assigned, and the assignment carries the offset.
        """
        st.epoch += 1
        st.position = offset or 0
        self.batches[topic].drop({p})
        if issue and self.consumer is not None and not self.closing:
            tp = TopicPartition(topic, p, offset if offset is not None else OFFSET_BEGINNING)
            try:
                self.consumer.seek(tp)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError._STATE:
                    raise
                # A partition whose fetch failed (offset out of range) cannot seek: assigning it
                # again with the offset restarts its fetcher.
                self.consumer.incremental_unassign([TopicPartition(topic, p)])
                self.consumer.incremental_assign([tp])

    # -- the data-loss rules (offsets.py) ---------------------------------------------------------
    def _apply(
        self, skip: Skip, st: _Partition, current_id: int | None, *, seek: bool = True
    ) -> bool:
        """Fail (default) or restart the partition at `skip.to_offset`, recording the skip.

        Returns whether the partition may be read on. Runs on the consumer thread, with
        `st.marker` equal to bronze's offset once the commits in flight have landed.
        """
        if self.fail_on_data_loss:
            log.info("data loss: %s", skip.describe())  # the run's error names it
            if self.failure is None:
                self.failure = DataLossError([skip])
            else:
                self.failure = DataLossError([*self.failure.skips, skip])
            return False
        st.topic_id = current_id
        self._seek(skip.topic, skip.partition, st, skip.to_offset, issue=seek)
        if self.worker is not None:
            # Ordered after the batches of this topic already submitted: it continues from them.
            job = Job(
                skip.topic,
                None,
                {skip.partition: st.marker},
                {skip.partition: st.epoch},
                current_id,
                skip,
            )
            self.worker.submit(job)
        st.marker = skip.to_offset
        return True

    def _out_of_range(self, topic: str, p: int, err: Any) -> None:
        """A fetch the broker could not serve: the offset is gone (or not there yet)."""
        st = self.assigned.get((topic, p))
        if st is None or self.closing or self.worker is None:
            return
        epoch = st.epoch
        b = self.batches[topic]
        if b.size:  # what was read before the gap is committed first
            self._submit(b)
        # Let the commits in flight land, so `st.marker` is bronze's offset; one that finds the
        # topic re-created re-positions the partition itself (`_recreated`).
        self.worker.wait_idle()
        self._collect()
        if self.assigned.get((topic, p)) is not st or st.epoch != epoch or self.failure:
            return
        if st.marker is None:  # nothing read or committed yet: the oldest message is the start
            self._seek(topic, p, st, None)
            return
        try:
            low, high = watermarks(self.admin, {topic: [p]}, self.stopping)[(topic, p)]
            current_id = topic_ids(self.admin, [topic], self.stopping)[topic]
        except StopRequested:
            return
        skip = check(topic, p, st.marker, st.topic_id, current_id, low, high)
        if skip is None:  # the offset is there after all (a leader change): read it again
            log.warning("%s[%d]: %s; reading again from %d", topic, p, err.str(), st.marker)
            self._seek(topic, p, st, st.marker)
        else:
            self._apply(skip, st, current_id)

    def _recreated(self, job: Job) -> None:
        """A commit found the topic re-created since its batch was read: nothing was written."""
        topic = job.topic
        try:
            current_id = topic_ids(self.admin, [topic], self.stopping)[topic]
            marks = watermarks(self.admin, {topic: list(job.expected)}, self.stopping)
        except StopRequested:
            return
        for p, marker in job.expected.items():
            st = self.assigned.get((topic, p))
            if st is None or st.epoch != job.epochs[p]:
                continue
            st.marker = marker  # the batch was not written: bronze is where the batch started
            low, high = marks[(topic, p)]
            if marker is None:  # nothing of the old topic was committed: start the new one
                st.topic_id = current_id
                self._seek(topic, p, st, None)
                continue
            skip = check(topic, p, marker, st.topic_id, current_id, low, high)
            if skip is not None:
                self._apply(skip, st, current_id)
            else:
                self._seek(topic, p, st, marker)

    # -- rebalance callbacks (run inside consume()) ------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.got_assignment = True
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        try:
            marks = watermarks(self.admin, by_topic, self.stopping)
            ids = topic_ids(self.admin, by_topic, self.stopping)
        except StopRequested:
            return  # the run is stopping: nothing is read
        seeks = []
        for topic, ps in by_topic.items():
            source = self.topics[topic]
            committer = self.committers[topic]
            markers, stored = committer.markers(ps), committer.topic_ids(ps)
            for p in ps:
                low, high = marks[(topic, p)]
                start = markers[p]
                target = None if self.follow else self.targets.get((topic, p), (low, high))[1]
                st = _Partition(source, start, start or 0, target, ids[topic])
                skip = check(topic, p, start, stored[p], ids[topic], low, high)
                self.assigned[(topic, p)] = st
                self.partitions_seen[source].add(p)
                if skip is not None:
                    if not self._apply(skip, st, ids[topic], seek=False):
                        continue
                    start = st.marker
                self.totals[source] += max(0, high - max(start or 0, low))
                # From the oldest retained message when the table holds nothing of it yet.
                seeks.append(
                    TopicPartition(topic, p, start if start is not None else OFFSET_BEGINNING)
                )
        if self.failure is not None:
            return  # the run fails: nothing is read (consume() raises the error)
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
