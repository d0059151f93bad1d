"""Two writers holding the same partition (briefly, after a rebalance): only one batch lands."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from lakehouse.config import Settings
from lakehouse.ingest.kafka import KafkaIngestor
from lakehouse.ingest.kafka.batch import Chunk
from lakehouse.ingest.kafka.commit import Committer
from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

TOPIC = "t.app_events"


def _chunk(first: int, n: int, partition: int = 0) -> Chunk:
    values = [
        (
            f'{{"event_id":"e{o}","user_id":"u1","event_type":"click",'
            f'"timestamp":"2026-03-02T00:00:00Z"}}'
        ).encode()
        for o in range(first, first + n)
    ]
    return Chunk(
        np.full(n, partition, np.int32),
        np.arange(first, first + n, dtype=np.int64),
        pa.array(values, pa.large_binary()),
    )


def _committer(settings: Settings) -> Committer:
    con = duckdb.connect()
    return Committer(
        settings,
        DeltaStore(settings),
        "app_events",
        TOPIC,
        RecordParser(SCHEMAS["app_events"], con),
    )


def test_the_second_writer_from_the_same_marker_loses_and_learns_the_table_offset(
    settings: Settings,
) -> None:
    a, b = _committer(settings), _committer(settings)
    won = a.commit(_chunk(0, 10), {0: None})
    assert (won.bronze, won.ends, won.lost) == (10, {0: 10}, {})
    lost = b.commit(_chunk(0, 10), {0: None})
    assert (lost.received, lost.lost) == (0, {0: 10})
    assert DeltaStore(settings).dataset("bronze.app_events").count_rows() == 10
    # Partitions of one batch are independent: the one whose marker is current still lands.
    mixed = Chunk.concat([_chunk(10, 5), _chunk(0, 7, partition=1)])
    result = b.commit(mixed, {0: 10, 1: 3})
    assert result.lost == {1: None} and result.ends == {0: 15} and result.bronze == 5


def test_concurrent_writers_of_one_partition_land_exactly_one_batch(settings: Settings) -> None:
    writers = [_committer(settings) for _ in range(4)]
    barrier = threading.Barrier(len(writers))
    results: list[Any] = []

    def go(c: Committer) -> None:
        barrier.wait()
        results.append(c.commit(_chunk(0, 50), {0: None}))

    threads = [threading.Thread(target=go, args=(c,)) for c in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.bronze for r in results) == [0, 0, 0, 50]
    assert sum(1 for r in results if r.lost == {0: 50}) == 3
    bronze = DeltaStore(settings).dataset("bronze.app_events").to_table()
    assert bronze.num_rows == 50 and len(set(bronze.column("_source").to_pylist())) == 50


def test_delta_rs_rejects_a_concurrent_commit_with_the_same_app_id_from_the_same_snapshot(
    tmp_path: Path,
) -> None:
    # What delta-rs guarantees on its own, and where it stops (why commit.py takes a lock).
    path = str(tmp_path / "t")
    rows = pa.table({"x": [1]})

    def props(app: str, v: int) -> CommitProperties:
        return CommitProperties(app_transactions=[Transaction(app_id=app, version=v)])

    write_deltalake(path, rows, commit_properties=props("kafka:t:0", 1))
    first, second = DeltaTable(path), DeltaTable(path)  # two workers read the same snapshot
    write_deltalake(first, rows, mode="append", commit_properties=props("kafka:t:0", 2))
    with pytest.raises(CommitFailedError):
        write_deltalake(second, rows, mode="append", commit_properties=props("kafka:t:0", 2))
    # Different app ids do not conflict: concurrent blind appends both land.
    first, second = DeltaTable(path), DeltaTable(path)
    write_deltalake(first, rows, mode="append", commit_properties=props("kafka:t:1", 2))
    write_deltalake(second, rows, mode="append", commit_properties=props("kafka:t:2", 2))
    # A writer that loads the table after the rival's commit (as a path-based append does)
    # sees no conflict at all: the marker check must happen under the same lock as the commit.
    write_deltalake(path, rows, mode="append", commit_properties=props("kafka:t:0", 2))
    assert DeltaTable(path).version() == 4  # 0, 1, 2 + 3 (different ids), 4: no conflict


@pytest.mark.kafka
def test_an_ingestor_that_read_a_stale_marker_drops_its_batch_and_seeks(
    kit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: Settings = kit.settings
    kit.produce(events=6_000, days=1, seed=4, sources=["app_events"])
    Lakehouse(settings).ingest(source="kafka", sources=["app_events"])
    before = DeltaStore(settings).version("bronze.app_events")
    # The second worker reads the markers as they were before the first one committed.
    real = Committer.markers
    calls = {"n": 0}

    def stale_once(self: Committer, partitions: list[int]) -> dict[int, int | None]:
        calls["n"] += 1
        return dict.fromkeys(partitions) if calls["n"] == 1 else real(self, partitions)

    monkeypatch.setattr(Committer, "markers", stale_once)
    report = KafkaIngestor(settings, DeltaStore(settings)).run(["app_events"])
    assert report.lost_races >= 1
    assert report.received == 0
    assert DeltaStore(settings).version("bronze.app_events") == before
    kit.assert_exactly_once(("app_events",))
