"""The exactly-once step: one source's messages -> bronze (+ quarantine), with their offsets.

Per topic-partition, the Delta application transaction id `kafka:<topic>:<partition>` holds
the next offset to read, written in the same commit as the rows (see `bronze.py` for the
quarantine-first order and its two markers).

Check-then-commit is made atomic with a per-source file lock (`fcntl.flock`) because
delta-rs alone cannot do it: it rejects a concurrent commit carrying the same app id only
when both writers started from the same snapshot, and `DeltaStore.append` loads the
snapshot at write time — a worker that read the marker before a rival committed would
then append a duplicate batch unopposed. Every worker runs on the same filesystem as the
lake (it is a local path), so a lock file next to the tables serialises the few
milliseconds of check + commit per source; workers on different sources never wait.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import CommitConflictError
from lakehouse.ingest.bronze import QUARANTINE, BronzeWriter, new_batch_id
from lakehouse.ingest.kafka.batch import Chunk, Lines, to_lines
from lakehouse.ingest.kafka.client import app_id
from lakehouse.ingest.parse import RecordParser
from lakehouse.storage.delta import DeltaStore

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


def lock_path(settings: Settings, source: str) -> Path:
    return settings.layer_path("bronze") / "_locks" / f"kafka.{source}.lock"


@contextmanager
def table_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (and threads: each call opens its own file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the OS if the process dies
        yield
    finally:
        os.close(fd)


class Committer:
    """Commits one source's runs exactly once; shared by every batch of that source."""

    def __init__(
        self, settings: Settings, store: DeltaStore, source: str, topic: str, parser: RecordParser
    ) -> None:
        self.store = store
        self.source = source
        self.topic = topic
        self.table = TableId("bronze", source)
        self.parser = parser
        self.writer = BronzeWriter(store)
        self.lock = lock_path(settings, source)

    def markers(self, partitions: list[int]) -> dict[int, int | None]:
        """The bronze table's next offset per partition (None: nothing committed yet)."""
        got = self.store.txn_versions(self.table, [app_id(self.topic, p) for p in partitions])
        return {p: got.get(app_id(self.topic, p)) for p in partitions}

    def commit(self, chunk: Chunk, expected: dict[int, int | None]) -> Committed:
        """Write `chunk` if the table's markers still equal `expected` (where the chunk starts).

        A partition whose marker moved (another worker committed it) is dropped and reported
        in `lost` with the table's value; the others are committed in one bronze commit.
        """
        with table_lock(self.lock):
            for attempt in range(1, COMMIT_ATTEMPTS + 1):
                try:
                    return self._check_and_write(chunk, expected)
                except CommitConflictError:
                    # A writer that is not a Kafka worker (OPTIMIZE, another job on quarantine)
                    # won a commit race. Markers and floors are re-read on the next attempt, so
                    # a quarantine commit that already landed is not written twice.
                    if attempt == COMMIT_ATTEMPTS:
                        raise
                    log.warning(
                        "%s: commit conflict, retrying (%d/%d)",
                        self.topic,
                        attempt,
                        COMMIT_ATTEMPTS,
                    )
        raise AssertionError("unreachable")

    def _check_and_write(self, chunk: Chunk, expected: dict[int, int | None]) -> Committed:
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
        q = self.store.txn_versions(QUARANTINE, [app_id(self.topic, p) for p in keep])
        bronze_floor = np.zeros(len(chunk), np.int64)
        quarantine_floor = np.zeros(len(chunk), np.int64)
        for p in keep:
            sel = chunk.partition == p
            bronze_floor[sel] = now[p] or 0
            quarantine_floor[sel] = max(now[p] or 0, q.get(app_id(self.topic, p), 0))
        self._write(chunk, bronze_floor, quarantine_floor, out)
        return out

    def _write(
        self, chunk: Chunk, bronze_floor: np.ndarray, quarantine_floor: np.ndarray, out: Committed
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
            txns={app_id(self.topic, p): end for p, end in out.ends.items()},
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
