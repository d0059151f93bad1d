"""OPTIMIZE, checkpoints, log cleanup and VACUUM: fewer files, same content, same history, safe
while ingestion writes, and never below what the format or a downstream model still needs."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.contract import TableId
from lakehouse.exceptions import InputError
from lakehouse.ops.maintenance import vacuum_table
from lakehouse.service import Lakehouse
from ops_support import content

from support import land, make_settings

TODAY = date(2026, 3, 10)
BRONZE = "bronze.app_events"


def event(i: int, day: date) -> dict[str, object]:
    return {"event_id": f"e{i}", "user_id": f"u{i % 17}", "event_type": ("click", "page_view", "search")[i % 3],
            "timestamp": f"{day}T{i % 24:02d}:{i % 60:02d}:00Z", "app_type": "web"}


def small_appends(lh: Lakehouse, n: int, days: list[date], start: int = 0) -> None:
    """`n` ingest commits of a few rows each, spread over `days` (as streaming leaves a table)."""
    for k in range(n):
        recs = [event(start + k * 5 + j, days[(k + j) % len(days)]) for j in range(5)]
        land(lh.settings, "app_events", f"f{start + k:05d}.ndjson", recs)
        lh.ingest(sources=["app_events"])


@pytest.fixture
def small(tmp_path: Path) -> Lakehouse:
    lh = Lakehouse(make_settings(tmp_path / "lake"))
    small_appends(lh, 24, [TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY])
    return lh


def files_per_day(lh: Lakehouse, table: str = BRONZE) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in lh.store.snapshot(table).files:
        day = f.partition.get("event_date") or ""
        out[day] = out.get(day, 0) + 1
    return out


def test_optimize_compacts_closed_partitions_and_leaves_today_alone(small: Lakehouse) -> None:
    lh = small
    before, files, history = content(lh, BRONZE), files_per_day(lh), lh.history(BRONZE)
    assert all(n > 5 for n in files.values())
    result = lh.optimize(BRONZE, today=TODAY)
    out = result.optimized[0]
    after = files_per_day(lh)
    assert after[str(TODAY)] == files[str(TODAY)] and out.partitions_open == [str(TODAY)]
    assert {d: n for d, n in after.items() if d != str(TODAY)} == {d: 1 for d in files if d != str(TODAY)}
    assert out.partitions_optimized == sorted(d for d in files if d != str(TODAY))  # closed ones, oldest first
    assert content(lh, BRONZE).equals(before)  # content unchanged
    new_history = lh.history(BRONZE)
    assert [c.version for c in new_history[-len(history):]] == [c.version for c in history]  # history kept
    assert {c.operation for c in new_history[: len(new_history) - len(history)]} == {"OPTIMIZE"}
    optimized = [c for c in new_history if c.operation == "OPTIMIZE"]
    assert optimized and all(c.metrics.get("plannerStrategy") == "zOrder" for c in optimized)  # Z-ordered,
    assert {c.metadata.get("lakehouse.zorder") for c in optimized} == {"user_id,event_type"}  # by the contract's columns
    assert out.checkpoint and out.log_cleanup == "done"
    assert list((lh.store.path(BRONZE) / "_delta_log").glob("*.checkpoint.parquet"))
    # Compaction is not new data: the change feed after the optimize is empty.
    reader, _ = lh.store.changes(BRONZE, history[0].version)
    assert reader.read_all().num_rows == 0


def test_optimize_with_include_open_does_today_last_and_a_second_run_does_nothing(small: Lakehouse) -> None:
    lh = small
    before = content(lh, BRONZE)
    out = lh.optimize(BRONZE, today=TODAY, include_open=True).optimized[0]
    assert out.partitions_optimized[-1] == str(TODAY) and set(files_per_day(lh).values()) == {1}
    v = lh.store.version(BRONZE)
    again = lh.optimize(BRONZE, today=TODAY, include_open=True).optimized[0]
    assert again.partitions_optimized == [] and lh.store.version(BRONZE) == v and not again.checkpoint
    assert content(lh, BRONZE).equals(before)


def test_models_downstream_are_unchanged_by_optimize(small: Lakehouse) -> None:
    lh = small
    lh.transform()
    silver = content(lh, "silver.app_events", "event_id")
    lh.optimize(today=TODAY + timedelta(days=1))
    results = lh.transform()
    assert all(m.mode != "full" for r in results for m in r.models if m.kind != "full")
    assert {m.rows_out for r in results for m in r.models if m.table == "silver.app_events"} == {0}
    assert content(lh, "silver.app_events", "event_id").equals(silver)


def test_optimize_while_ingesting_loses_and_duplicates_nothing(small: Lakehouse) -> None:
    lh = small
    writer = Lakehouse(lh.settings)  # its own store: another writer of the same lake
    errors: list[BaseException] = []
    done = threading.Event()

    def ingest() -> None:
        try:
            small_appends(writer, 40, [TODAY - timedelta(days=1), TODAY], start=1000)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=ingest)
    thread.start()
    rounds = 0
    deadline = time.monotonic() + 300
    while not done.is_set() and time.monotonic() < deadline:
        lh.optimize(BRONZE, today=TODAY, include_open=True)
        rounds += 1
    thread.join()
    assert not errors, errors
    assert rounds >= 2, "the ingest finished before optimize ran twice alongside it"
    lh.optimize(BRONZE, today=TODAY, include_open=True)
    ids = lh.store.dataset(BRONZE).to_table(columns=["event_id"]).column(0).to_pylist()
    expected = {f"e{k * 5 + j}" for k in range(24) for j in range(5)} | \
        {f"e{1000 + k * 5 + j}" for k in range(40) for j in range(5)}
    assert len(ids) == len(set(ids)) and set(ids) == expected  # nothing lost, nothing twice
    assert set(files_per_day(lh).values()) == {1}


@pytest.mark.parametrize("hours", [0, 1, 24, 167])
def test_vacuum_refuses_below_the_safety_window(small: Lakehouse, hours: int) -> None:
    lh = small
    lh.optimize(BRONZE, today=TODAY)
    with pytest.raises(InputError, match="7-day safety window"):
        lh.vacuum(BRONZE, retention_hours=hours)
    assert lh.vacuum(BRONZE).vacuumed[0].files_removed == 0  # compacted files are younger than 7 days
    forced = lh.vacuum(BRONZE, retention_hours=hours, force=True, dry_run=True).vacuumed[0]
    assert forced.forced and forced.retention_hours == hours
    # The compacted-away files were removed seconds ago: only a zero-hour override reaches them.
    assert (forced.files_removed > 0) == (hours == 0)


@pytest.mark.parametrize("days_later", [8, 30, 200])
def test_vacuum_refuses_below_what_a_downstream_model_still_reads(small: Lakehouse, days_later: int) -> None:
    lh = small
    lh.transform()
    consumed = lh.store.version(BRONZE)
    small_appends(lh, 3, [TODAY], start=5000)  # new rows silver has not read yet
    later = datetime.now(UTC) + timedelta(days=days_later)
    t = TableId("bronze", "app_events")
    with pytest.raises(InputError, match=f"silver.app_events has not yet read bronze.app_events after v{consumed}"):
        vacuum_table(lh.settings, lh.store, t, retention_hours=days_later * 24 - 24, now=later)
    ok = vacuum_table(lh.settings, lh.store, t, now=later, dry_run=True)
    assert ok.retention_hours >= days_later * 24 and "silver.app_events" in ok.floor_reason
    lh.transform()  # once every consumer has moved past, only the safety window bounds it
    assert vacuum_table(lh.settings, lh.store, t, now=later, dry_run=True).retention_hours == 168


@pytest.mark.parametrize("forced", [False, True])
def test_vacuum_keeps_the_files_a_lagging_model_reads(small: Lakehouse, forced: bool) -> None:
    """Why the floor exists: forced below it, the lagging model loses its history and must rebuild."""
    lh = small
    lh.transform()
    small_appends(lh, 4, [TODAY - timedelta(days=1)], start=7000)
    lh.optimize(BRONZE, today=TODAY)  # compacts away files silver has not read yet
    out = lh.vacuum(BRONZE, retention_hours=0 if forced else None, force=forced).vacuumed[0]
    assert (out.files_removed > 0) == forced
    results = lh.transform()
    mode = {m.mode for r in results for m in r.models if m.table == "silver.app_events"}
    assert mode == ({"full"} if forced else {"incremental"})
    ids = lh.store.dataset("silver.app_events").to_table(columns=["event_id"]).column(0).to_pylist()
    assert len(ids) == len(set(ids)) == 24 * 5 + 4 * 5


def test_log_cleanup_is_deferred_while_a_downstream_model_needs_the_entries(small: Lakehouse) -> None:
    lh = small
    lh.transform()
    small_appends(lh, 2, [TODAY], start=9000)
    old = time.time() - 40 * 86400
    log_dir = lh.store.path(BRONZE) / "_delta_log"
    for f in log_dir.glob("*.json"):
        os.utime(f, (old, old))
    out = lh.optimize(BRONZE, today=TODAY, include_open=True).optimized[0]
    assert out.log_cleanup.startswith("deferred: silver.app_events")
    entries = len(list(log_dir.glob("*.json")))
    results = lh.transform()
    assert {m.mode for r in results for m in r.models if m.table == "silver.app_events"} == {"incremental"}
    small_appends(lh, 2, [TODAY], start=9100)
    lh.transform()
    for f in log_dir.glob("*.json"):
        os.utime(f, (old, old))
    assert lh.optimize(BRONZE, today=TODAY, include_open=True).optimized[0].log_cleanup == "done"
    assert len(list(log_dir.glob("*.json"))) < entries


def test_unknown_table_and_unbuilt_lake_are_clear_errors(tmp_path: Path) -> None:
    lh = Lakehouse(make_settings(tmp_path / "lake"))
    from lakehouse.exceptions import TableNotBuiltError, TableNotFoundError

    assert lh.optimize().optimized == [] and lh.vacuum().vacuumed == []  # nothing built: nothing to do
    with pytest.raises(TableNotFoundError):
        lh.optimize("bronze.nope")
    with pytest.raises(TableNotBuiltError):
        lh.vacuum("bronze.app_events")


__all__ = ["pa"]
