"""The exactly-once step: one source's messages -> bronze (+ quarantine), with their offsets.

Per topic-partition, the Delta application transaction id `kafka:<topic>:<partition>` holds
the next offset to read, written in the same commit as the rows (see `bronze.py` for the
quarantine-first order and its two markers); `kafka:<topic>:<partition>:topic-id` holds a
hash of the topic id those offsets count in, so a topic deleted and created again is told
from the old one (`offsets.py`). Right before committing, the topic's id is asked of the
broker again: a batch read from a topic that was re-created under the consumer (which
librdkafka does not report while the new topic has messages at its position) is not written.

Check-then-commit is made atomic with the table's shared commit lock
(`storage.locks.hold(settings, bronze.<source>)`), because delta-rs alone cannot do it: it
rejects a concurrent commit carrying the same app id only when both writers started from the
same snapshot, and `DeltaStore.append` loads the snapshot at write time — a worker that read
the marker before a rival committed would then append a duplicate batch unopposed. It is the
lock every writer of the lake takes for that table (file ingest, retention, optimize, vacuum,
and `DeltaStore` around each commit), so a Kafka commit never interleaves with any of them;
workers on different sources never wait for each other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import CommitConflictError
from lakehouse.ingest.bronze import QUARANTINE, BronzeWriter, new_batch_id
from lakehouse.ingest.kafka.batch import Chunk, Lines, to_lines
from lakehouse.ingest.kafka.client import app_id, topic_id_app_id
from lakehouse.ingest.kafka.offsets import RETENTION, Skip
from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import QUARANTINE_SCHEMA, bronze_schema
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.locks import hold

log = logging.getLogger(__name__)

EMPTY = "empty message"
COMMIT_ATTEMPTS = 3


@dataclass
class Committed:
    """What one commit did. `lost`: partitions whose marker moved under us -> table's value."""

    received: int = 0
    bronze: int = 0
    quarantined: int = 0
    ends: dict[int, int] = field(default_factory=dict)  # partition -> next offset, as committed
    lost: dict[int, int | None] = field(default_factory=dict)
    recreated: bool = False  # the topic's id changed since the batch was read: nothing written
    skipped: list[Skip] = field(default_factory=list)  # recorded in this commit


TopicIdProbe = Callable[[str], int | None]  # topic -> its id's hash now (None: unknown)


class Committer:
    """Commits one source's runs exactly once; shared by every batch of that source."""

    def __init__(
        self,
        settings: Settings,
        store: DeltaStore,
        source: str,
        topic: str,
        parser: RecordParser,
        topic_id_probe: TopicIdProbe | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.source = source
        self.topic = topic
        self.table = TableId("bronze", source)
        self.parser = parser
        self.writer = BronzeWriter(store)
        self.probe = topic_id_probe

    def markers(self, partitions: list[int]) -> dict[int, int | None]:
        """The bronze table's next offset per partition (None: nothing committed yet)."""
        got = self.store.txn_versions(self.table, [app_id(self.topic, p) for p in partitions])
        return {p: got.get(app_id(self.topic, p)) for p in partitions}

    def topic_ids(self, partitions: list[int]) -> dict[int, int | None]:
        """The topic id hash bronze's offset of each partition counts in (None: not recorded)."""
        ids = [topic_id_app_id(self.topic, p) for p in partitions]
        got = self.store.txn_versions(self.table, ids)
        return {p: got.get(i) for p, i in zip(partitions, ids, strict=True)}

    def _txns(self, ends: dict[int, int], topic_id: int | None) -> dict[str, int]:
        txns = {app_id(self.topic, p): end for p, end in ends.items()}
        if topic_id is not None:
            txns.update({topic_id_app_id(self.topic, p): topic_id for p in ends})
        return txns

    def commit(
        self, chunk: Chunk, expected: dict[int, int | None], topic_id: int | None = None
    ) -> Committed:
        """Write `chunk` if the table's markers still equal `expected` (where the chunk starts).

        A partition whose marker moved (another worker committed it) is dropped and reported
        in `lost` with the table's value; the others are committed in one bronze commit.
        `topic_id`: the id the chunk's offsets count in; when the broker now reports another,
        nothing is written (`recreated`).
        """
        if topic_id is not None and self.probe is not None:
            now_id = self.probe(self.topic)
            if now_id is not None and now_id != topic_id:
                log.warning("%s: the topic was re-created since this batch was read", self.topic)
                return Committed(recreated=True)
        return self._locked(lambda: self._check_and_write(chunk, expected, topic_id))

    def skip(self, skip: Skip, expected: int | None, topic_id: int | None) -> Committed:
        """Move one partition's offset to `skip.to_offset` in a commit of no rows that records why.

        A restart below the old offset (re-created topic, offset past the end) also moves the
        quarantine's offset down when it is higher, or the quarantine's floor would drop the new
        topic's bad messages. A forward skip (retention) leaves it: a quarantine commit of a batch
        whose bronze commit never happened may already cover offsets past `to_offset`.
        """
        return self._locked(lambda: self._write_skip(skip, expected, topic_id))

    def _locked(self, fn: Callable[[], Committed]) -> Committed:
        # The shared per-table commit lock (storage/locks.py): re-entrant, so the store's own
        # acquisition inside each commit is a no-op; the bronze writer takes the quarantine's
        # lock after it (the lock order locks.py documents).
        with hold(self.settings, self.table):
            # Every writer of the lake takes that lock, so a commit race is left only to a
            # writer outside it (another engine on the same tables). `fn` re-reads markers and
            # floors on each attempt, so a quarantine commit that already landed is not
            # written twice.
            retrying = Retrying(
                retry=retry_if_exception_type(CommitConflictError),
                stop=stop_after_attempt(COMMIT_ATTEMPTS),
                before_sleep=self._log_conflict,
                reraise=True,
            )
            return retrying(fn)

    def _log_conflict(self, state: RetryCallState) -> None:
        log.warning(
            "%s: commit conflict, retrying (%d/%d)", self.topic, state.attempt_number, COMMIT_ATTEMPTS
        )

    def _write_skip(self, skip: Skip, expected: int | None, topic_id: int | None) -> Committed:
        p = skip.partition
        now = self.markers([p])[p]
        if now != expected:
            return Committed(lost={p: now})
        txns = self._txns({p: skip.to_offset}, topic_id)
        metadata = {
            "lakehouse.job": "ingest.kafka",
            "lakehouse.source": self.source,
            "lakehouse.kafka.skipped": json.dumps([asdict(skip.to_result())]),
        }
        if skip.reason != RETENTION:
            q = self.store.txn_versions(QUARANTINE, [app_id(self.topic, p)]).get(app_id(self.topic, p))
            if q is not None and q > skip.to_offset:
                self.store.append(
                    QUARANTINE,
                    QUARANTINE_SCHEMA.empty_table(),
                    partition_by=["ingest_date"],
                    txns=txns,
                    metadata=metadata,
                )
        self.store.append(
            self.table,
            bronze_schema(self.source).empty_table(),
            partition_by=["event_date"],
            txns=txns,
            metadata=metadata,
        )
        log.warning("%s: skipped and recorded: %s", self.topic, skip.describe())
        return Committed(ends={p: skip.to_offset}, skipped=[skip])

    def _check_and_write(
        self, chunk: Chunk, expected: dict[int, int | None], topic_id: int | None
    ) -> Committed:
        out = Committed()
        parts = [int(p) for p in np.unique(chunk.partition)]
        now = self.markers(parts)
        out.lost = {p: now[p] for p in parts if now[p] != expected.get(p)}
        if out.lost:
            log.warning(
                "%s: lost a race for partition(s) %s: dropped, will resume at the table's offsets",
                self.topic,
                sorted(out.lost),
            )
            chunk = chunk.select(~np.isin(chunk.partition, np.array(list(out.lost), np.int32)))
        if not len(chunk):
            return out
        keep = [p for p in parts if p not in out.lost]
        q = self.store.txn_versions(
            QUARANTINE,
            [a for p in keep for a in (app_id(self.topic, p), topic_id_app_id(self.topic, p))],
        )
        bronze_floor = np.zeros(len(chunk), np.int64)
        quarantine_floor = np.zeros(len(chunk), np.int64)
        for p in keep:
            sel = chunk.partition == p
            bronze_floor[sel] = now[p] or 0
            # The quarantine's offset counts only in the same topic (a dead batch of an older
            # topic of this name must not hide the new topic's bad messages).
            q_id = q.get(topic_id_app_id(self.topic, p))
            same = q_id is None or topic_id is None or q_id == topic_id
            quarantine_floor[sel] = max(now[p] or 0, q.get(app_id(self.topic, p), 0) if same else 0)
        self._write(chunk, bronze_floor, quarantine_floor, out, topic_id)
        return out

    def _write(
        self,
        chunk: Chunk,
        bronze_floor: np.ndarray,
        quarantine_floor: np.ndarray,
        out: Committed,
        topic_id: int | None,
    ) -> None:
        lines = to_lines(chunk)
        good, bad = self.parser.parse(lines.table.filter(pa.array(~lines.empty)))
        bad = _with_empties(bad, lines)

        def keep_and_label(t: pa.Table, floor: np.ndarray) -> tuple[pa.Table, pa.Array, pa.Array]:
            # Rows below the floor were committed by an earlier run (see files.py: two markers).
            idx = t.column("position").to_numpy()
            keep = chunk.offset[idx] >= floor[idx]
            t = t.filter(pa.array(keep))
            idx = idx[keep]
            offsets = pa.array(chunk.offset[idx])
            labels = pc.binary_join_element_wise(
                self.topic,
                pa.array(chunk.partition[idx]).cast(pa.string()),
                offsets.cast(pa.string()),
                "/",
            )
            return t, labels, offsets

        good, good_labels, _ = keep_and_label(good, bronze_floor)
        bad, bad_labels, bad_offsets = keep_and_label(bad, quarantine_floor)
        bad = bad.set_column(bad.schema.get_field_index("position"), "position", bad_offsets)
        out.ends = chunk.ends()
        result = self.writer.write(
            self.source,
            good,
            good_labels,
            bad,
            bad_labels,
            txns=self._txns(out.ends, topic_id),
            batch_id=new_batch_id(),
            metadata={"lakehouse.job": "ingest.kafka", "lakehouse.source": self.source},
        )
        out.received = good.num_rows + bad.num_rows
        out.bronze = result.bronze_rows
        out.quarantined = result.quarantined_rows


def _with_empties(bad: pa.Table, lines: Lines) -> pa.Table:
    """The parser skips blank lines; a blank or null Kafka message is still a record: quarantine it."""
    rows = np.flatnonzero(lines.empty)
    if not len(rows):
        return bad
    raw = pc.fill_null(lines.table.column("line").take(pa.array(rows)), "")
    empties = pa.table(
        {
            "position": pa.array(rows.astype(np.int64)),
            "raw": raw.cast(bad.schema.field("raw").type),
            "reason": pa.array([EMPTY] * len(rows), bad.schema.field("reason").type),
        }
    )
    return pa.concat_tables([bad.select(["position", "raw", "reason"]), empties]).sort_by(
        "position"
    )
