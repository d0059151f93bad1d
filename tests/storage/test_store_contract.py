"""The `TableStore` contract: every implementation passes these (today: delta-rs).

Each test writes real tables in a temp dir through the interface only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import CommitConflictError, StorageError, TableNotBuiltError
from lakehouse.storage.base import HistoryUnavailableError, MergeSpec, PartitionFilter, TableStore
from lakehouse.storage.delta import DeltaStore

from support import make_settings

STORES: dict[str, Callable[[Settings], TableStore]] = {"delta-rs": DeltaStore}

APPEND_ONLY = TableId("bronze", "app_events")  # declared append-only: created with a change feed
MUTABLE = TableId("silver", "users_cdc_state")
PARTS = TableId("gold", "event_metrics")


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TableStore]:
    yield STORES[request.param](make_settings(tmp_path / "lake"))


def rows(a: int, b: int, day: str = "2026-01-01") -> pa.Table:
    return pa.table({
        "k": pa.array([f"k{i}" for i in range(a, b)]),
        "n": pa.array(list(range(a, b)), pa.int64()),
        "event_date": pa.array([date.fromisoformat(day)] * (b - a)),
    })


def read(store: TableStore, t: TableId, version: int | None = None) -> list[dict[str, object]]:
    return sorted(store.dataset(t, version).to_table().to_pylist(), key=lambda r: str(r["k"]))


def test_a_table_that_does_not_exist(store: TableStore) -> None:
    assert not store.exists(APPEND_ONLY)
    assert store.version(APPEND_ONLY) is None
    assert store.txn_versions(APPEND_ONLY, ["a"]) == {}
    with pytest.raises(TableNotBuiltError):
        store.snapshot(APPEND_ONLY)


def test_append_records_its_markers_in_the_same_commit(store: TableStore) -> None:
    v0 = store.append(APPEND_ONLY, rows(0, 3), partition_by=["event_date"], txns={"app": 3})
    v1 = store.append(APPEND_ONLY, rows(3, 5), txns={"app": 5, "other": 1}, metadata={"lakehouse.job": "test"})
    assert (v0, v1) == (0, 1)
    assert store.txn_versions(APPEND_ONLY, ["app", "other", "missing"]) == {"app": 5, "other": 1}
    snap = store.snapshot(APPEND_ONLY)
    assert snap.version == 1 and snap.rows == 5 and snap.partition_columns == ("event_date",)
    assert all(Path(f.path).is_file() and f.partition == {"event_date": "2026-01-01"} for f in snap.files)
    history = store.history(APPEND_ONLY)
    assert [c.version for c in history] == [1, 0]
    assert history[0].metadata == {"lakehouse.job": "test"}
    info = store.info(APPEND_ONLY)
    assert (info.rows, info.files, info.version) == (5, len(snap.files), 1)


def test_changes_are_the_rows_appended_after_a_version(store: TableStore) -> None:
    store.append(APPEND_ONLY, rows(0, 3), partition_by=["event_date"])
    store.append(APPEND_ONLY, rows(3, 5, "2026-01-02"))
    store.append(APPEND_ONLY, rows(5, 6, "2026-01-03"))
    reader, current = store.changes(APPEND_ONLY, 0)
    got = reader.read_all()
    assert current == 2 and sorted(got.column("n").to_pylist()) == [3, 4, 5]
    assert got.schema.names == ["k", "n", "event_date"]
    reader, _ = store.changes(APPEND_ONLY, 0, columns=["event_date"])
    assert sorted(str(d) for d in set(reader.read_all().column(0).to_pylist())) == ["2026-01-02", "2026-01-03"]
    nothing, current = store.changes(APPEND_ONLY, 2)
    assert nothing.read_all().num_rows == 0 and current == 2


def test_compaction_neither_adds_nor_hides_new_rows(store: TableStore) -> None:
    store.append(APPEND_ONLY, rows(0, 3), partition_by=["event_date"])
    for i in range(3, 8):  # small appends a downstream reader has not consumed yet
        store.append(APPEND_ONLY, rows(i, i + 1))
    before = read(store, APPEND_ONLY)
    result = store.optimize(APPEND_ONLY)
    assert result.files_removed > result.files_added and result.version_after == result.version_before + 1
    assert read(store, APPEND_ONLY) == before
    reader, _ = store.changes(APPEND_ONLY, 0)
    assert sorted(reader.read_all().column("n").to_pylist()) == [3, 4, 5, 6, 7]
    store.append(APPEND_ONLY, rows(8, 9))
    reader, _ = store.changes(APPEND_ONLY, result.version_after)
    assert reader.read_all().column("n").to_pylist() == [8]


def test_changes_of_a_table_without_a_change_feed_are_unavailable(store: TableStore) -> None:
    store.append(MUTABLE, rows(0, 2))
    store.append(MUTABLE, rows(2, 3))
    with pytest.raises(HistoryUnavailableError):
        store.changes(MUTABLE, 0)


def test_replace_overwrites_only_the_partitions_named(store: TableStore) -> None:
    store.append(PARTS, pa.concat_tables([rows(0, 2, "2026-01-01"), rows(2, 4, "2026-01-02")]), partition_by=["event_date"])
    store.replace(PARTS, rows(10, 11, "2026-01-02"), where=PartitionFilter("event_date", ("2026-01-02",)), txns={"t": 7})
    assert [r["n"] for r in read(store, PARTS)] == [0, 1, 10]
    assert store.txn_versions(PARTS, ["t"]) == {"t": 7}
    store.replace(PARTS, rows(20, 21, "2026-01-05"))
    assert [r["n"] for r in read(store, PARTS)] == [20]
    assert [r["n"] for r in read(store, PARTS, version=0)] == [0, 1, 2, 3]  # time travel


def test_a_partition_value_with_a_quote_is_matched_exactly(store: TableStore) -> None:
    t = TableId("gold", "hourly_metrics")
    data = pa.table({"k": ["a", "b"], "n": pa.array([1, 2], pa.int64()), "p": ["x'y", "x"]})
    store.append(t, data, partition_by=["p"])
    store.replace(t, data.slice(0, 1), where=PartitionFilter("p", ("x'y",)))
    assert sorted(store.dataset(t).to_table().column("k").to_pylist()) == ["a", "b"]


def test_merge_updates_by_condition_inserts_and_deletes(store: TableStore) -> None:
    base = pa.table({"k": ["a", "b", "c"], "seq": pa.array([1, 5, 1], pa.int64()), "v": ["a1", "b5", "c1"]})
    store.append(MUTABLE, base)
    src = pa.table({
        "k": ["a", "b", "c", "d"], "seq": pa.array([2, 4, 3, 1], pa.int64()), "v": ["a2", "b4", "gone", "d1"],
        "_action": ["upsert", "upsert", "delete", "upsert"],
    })
    spec = MergeSpec(on=("k",), update_when="s.seq > t.seq AND s._action = 'upsert'", delete_when="s._action = 'delete'",
                     insert_when="s._action = 'upsert'", columns=("k", "seq", "v"))
    store.merge(MUTABLE, src, spec, txns={"m": 1})
    got = {r["k"]: (r["seq"], r["v"]) for r in store.dataset(MUTABLE).to_table().to_pylist()}
    assert got == {"a": (2, "a2"), "b": (5, "b5"), "d": (1, "d1")}  # b kept: its change is older
    assert store.txn_versions(MUTABLE, ["m"]) == {"m": 1}


def test_a_merge_that_changes_nothing_still_records_its_markers(store: TableStore) -> None:
    store.append(MUTABLE, pa.table({"k": ["a"], "seq": pa.array([9], pa.int64())}))
    before = store.version(MUTABLE)
    store.merge(MUTABLE, pa.table({"k": ["a"], "seq": pa.array([1], pa.int64())}),
                MergeSpec(on=("k",), update_when="s.seq > t.seq"), txns={"m": 4})
    assert store.txn_versions(MUTABLE, ["m"]) == {"m": 4}
    assert store.version(MUTABLE) > before  # type: ignore[operator]


def test_record_commits_markers_without_rows(store: TableStore) -> None:
    store.append(MUTABLE, rows(0, 2))
    store.record(MUTABLE, {"x": 3})
    assert store.txn_versions(MUTABLE, ["x"]) == {"x": 3}
    assert store.snapshot(MUTABLE).rows == 2


def test_delete_by_predicate(store: TableStore) -> None:
    store.append(MUTABLE, rows(0, 5))
    result = store.delete(MUTABLE, "n < 2")
    assert result.details["rows_deleted"] == 2
    assert [r["n"] for r in read(store, MUTABLE)] == [2, 3, 4]


def test_vacuum_keeps_what_recent_versions_need(store: TableStore) -> None:
    store.append(MUTABLE, rows(0, 2))
    store.replace(MUTABLE, rows(5, 6))
    with pytest.raises(StorageError):
        store.vacuum(MUTABLE, retention_hours=0)  # below the format's safety window
    assert store.vacuum(MUTABLE, retention_hours=168, dry_run=True) == []  # the old file is younger than 7 days
    removed = store.vacuum(MUTABLE, retention_hours=0, enforce_retention=False)
    assert len(removed) >= 1
    assert [r["n"] for r in read(store, MUTABLE)] == [5]


def test_checkpoint_and_log_cleanup_keep_content(store: TableStore) -> None:
    for i in range(0, 12, 2):
        store.append(APPEND_ONLY, rows(i, i + 2), partition_by=["event_date"], txns={"app": i + 2})
    before = read(store, APPEND_ONLY)
    store.checkpoint(APPEND_ONLY)
    store.cleanup_log(APPEND_ONLY)
    assert read(store, APPEND_ONLY) == before
    assert store.txn_versions(APPEND_ONLY, ["app"]) == {"app": 12}  # markers live on in the checkpoint


def test_a_concurrent_commit_from_the_same_snapshot_is_a_conflict(store: TableStore, tmp_path: Path) -> None:
    # Two stores over one lake: the second merges from a snapshot the first has moved past.
    store.append(MUTABLE, pa.table({"k": ["a"], "seq": pa.array([1], pa.int64())}))
    other = type(store)(store.settings)  # type: ignore[call-arg, attr-defined]
    other.snapshot(MUTABLE)
    store.replace(MUTABLE, pa.table({"k": ["a"], "seq": pa.array([2], pa.int64())}))
    try:
        other.merge(MUTABLE, pa.table({"k": ["a"], "seq": pa.array([3], pa.int64())}),
                    MergeSpec(on=("k",), update_when="s.seq > t.seq"))
    except CommitConflictError:
        return  # refused: fine
    # or applied on top of the latest version: never lost
    assert {r["seq"] for r in other.dataset(MUTABLE).to_table().to_pylist()} == {3}
