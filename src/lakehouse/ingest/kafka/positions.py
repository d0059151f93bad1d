"""Where each assigned partition is read from, and what moves it: commits, rebalances, data loss.

`Positions` is the part of a `Session` (session.py) that owns `assigned`: it submits batches
and accounts for their commits (a lost race seeks to the table's offset), checks every
partition on assignment against the broker's watermarks and topic id (`offsets.check`), and
applies the data-loss policy when that check, an out-of-range fetch or a commit that found the
topic re-created says the partition does not continue from bronze's offset: fail the run
(default), or restart it at its low watermark with a commit that records the skip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lakehouse.ingest.kafka.batch import SourceBatch
from lakehouse.ingest.kafka.client import (
    OFFSET_BEGINNING,
    AdminClient,
    Consumer,
    KafkaError,
    KafkaException,
    StopRequested,
    TopicPartition,
    topic_ids,
    watermarks,
)
from lakehouse.ingest.kafka.commit import Committer
from lakehouse.ingest.kafka.offsets import DataLossError, Skip, check
from lakehouse.ingest.kafka.signals import StopFlag
from lakehouse.ingest.kafka.writer import CommitPool, Done, Job
from lakehouse.results import SourceResult

log = logging.getLogger(__name__)


@dataclass
class Partition:
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


class Positions:
    # Set up by Session.__init__ / consume().
    admin: AdminClient
    stopping: StopFlag
    follow: bool
    fail_on_data_loss: bool
    topics: dict[str, str]  # topic -> source
    committers: dict[str, Committer]
    batches: dict[str, SourceBatch]
    counts: dict[str, SourceResult]
    assigned: dict[tuple[str, int], Partition]
    partitions_seen: dict[str, set[int]]
    totals: dict[str, int]
    targets: dict[tuple[str, int], tuple[int, int]]
    skipped: list[Skip]
    failure: DataLossError | None
    lost_races: int
    got_assignment: bool
    closing: bool
    consumer: Consumer | None
    worker: CommitPool | None
    progress: Callable[[str, int, int], None] | None

    # -- commits -----------------------------------------------------------------------------------
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
        self, topic: str, p: int, st: Partition, offset: int | None, *, issue: bool = True
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
        self, skip: Skip, st: Partition, current_id: int | None, *, seek: bool = True
    ) -> bool:
        """Fail (default) or restart the partition at `skip.to_offset`, recording the skip.

        Returns whether the partition may be read on. Runs on the consumer thread, with
        `st.marker` equal to bronze's offset once the commits in flight have landed.
        """
        if self.fail_on_data_loss:
            log.info("data loss: %s", skip.describe())  # the run's error names it
            known = self.failure.skips if self.failure else []
            if all(s.where != skip.where for s in known):
                self.failure = DataLossError([*known, skip])
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
        self.worker.wait_idle()  # ... and has landed (or been refused), so bronze is current
        if st.epoch != epoch:  # a seek since (a lost race): the error was for the old position
            return
        try:
            marks = watermarks(self.admin, {topic: self._ours(topic)}, self.stopping, strict=False)
            current_id = topic_ids(self.admin, [topic], self.stopping)[topic]
        except StopRequested:
            return
        if _changed(st.topic_id, current_id):
            self._restart_topic(topic, current_id, marks)
            return
        committer = self.committers[topic]
        st.marker, stored = committer.markers([p])[p], committer.topic_ids([p])[p]
        if (topic, p) not in marks:  # gone with its topic: the group revokes it
            log.warning("%s[%d]: %s, and the partition is not there any more", topic, p, err.str())
            return
        low, high = marks[(topic, p)]
        was = stored if stored is not None else st.topic_id
        skip = check(topic, p, st.marker, was, current_id, low, high)
        if skip is not None:
            self._apply(skip, st, current_id)
        elif st.marker is None:  # nothing committed yet: the oldest message is the start
            self._seek(topic, p, st, None)
        else:  # the offset is there after all (a leader change): read it again
            log.warning("%s[%d]: %s; reading again from %d", topic, p, err.str(), st.marker)
            self._seek(topic, p, st, st.marker)

    def _recreated(self, job: Job) -> None:
        """A commit found the topic re-created since its batch was read: nothing was written."""
        topic = job.topic
        if self.closing or all(
            (st := self.assigned.get((topic, p))) is None or st.epoch != job.epochs[p]
            for p in job.expected
        ):
            return  # already handled (an earlier batch of the same topic), or not ours any more
        try:
            current_id = topic_ids(self.admin, [topic], self.stopping)[topic]
            marks = watermarks(self.admin, {topic: self._ours(topic)}, self.stopping, strict=False)
        except StopRequested:
            return
        self._restart_topic(topic, current_id, marks)

    def _ours(self, topic: str) -> list[int]:
        return sorted(p for t, p in self.assigned if t == topic)

    def _restart_topic(
        self,
        topic: str,
        current_id: int | None,
        marks: dict[tuple[str, int], tuple[int, int]],
        *,
        seek: bool = True,
    ) -> None:
        """The topic's id is `current_id` now: each of its partitions still read as the old
        topic continues from an offset of that topic, so the data-loss rules apply to each
        (all of them at once: a partition left behind would be committed under the new id).
        """
        stale = [
            p
            for p in self._ours(topic)
            if _changed(self.assigned[(topic, p)].topic_id, current_id)
        ]
        if not stale or current_id is None:
            return
        if self.worker is not None:
            self.worker.wait_idle()  # no commit in flight: the table says where bronze is
        committer = self.committers[topic]
        markers, stored = committer.markers(stale), committer.topic_ids(stale)
        for p in stale:
            st = self.assigned[(topic, p)]
            st.marker = markers[p]
            if (topic, p) not in marks:  # the new topic has fewer partitions: it is revoked
                st.topic_id = current_id
                self._seek(topic, p, st, st.marker, issue=False)
                continue
            low, high = marks[(topic, p)]
            was = stored[p] if stored[p] is not None else st.topic_id
            skip = check(topic, p, st.marker, was, current_id, low, high)
            st.topic_id = current_id
            if skip is not None:
                self._apply(skip, st, current_id, seek=seek)
            else:  # nothing of the old topic committed (None: from the start), or the new
                # topic's offset committed by another worker already
                self._seek(topic, p, st, st.marker, issue=seek)

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
            # The run is stopping: nothing is read. (An assignment the callback does not make
            # itself, confluent-kafka makes from Kafka's committed offsets.)
            consumer.incremental_assign([])
            return
        seeks = []
        for topic, ps in by_topic.items():
            if any(_changed(self.assigned[(topic, q)].topic_id, ids[topic]) for q in self._ours(topic)):
                # The partitions this consumer already reads are of the topic's old incarnation.
                held = {topic: self._ours(topic)}
                try:
                    now = watermarks(self.admin, held, self.stopping, strict=False)
                except StopRequested:
                    consumer.incremental_assign([])
                    return
                self._restart_topic(topic, ids[topic], now)
            source = self.topics[topic]
            committer = self.committers[topic]
            markers, stored = committer.markers(ps), committer.topic_ids(ps)
            for p in ps:
                low, high = marks[(topic, p)]
                start = markers[p]
                target = None if self.follow else self.targets.get((topic, p), (low, high))[1]
                st = Partition(source, start, start or 0, target, ids[topic])
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
            consumer.incremental_assign([])  # the run fails: nothing is read (consume() raises)
            return
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


def _changed(was: int | None, now: int | None) -> bool:
    """Two known topic ids that differ: the topic was deleted and created again."""
    return was is not None and now is not None and was != now
