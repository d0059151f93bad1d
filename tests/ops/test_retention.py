"""Retention on 120 days of data: exactly the window is kept, the rest is archived, nothing is lost
at any step, restore is exactly once, the archive expires loudly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse.contract import TableId
from lakehouse.metadata.store import MetadataStore
from lakehouse.service import Lakehouse
from lakehouse.storage.base import HORIZON, horizon
from lakehouse.storage.delta import DeltaStore
from ops_support import AS_OF, START, content, days_in

from support import lake_env

BRONZE = "bronze.app_events"


def archived(lh: Lakehouse, table: str) -> pa.Table:
    parts = [p for p in lh.archive_list(table) if p.status == "committed"]
    t = pa.concat_tables([pq.read_table(p.file) for p in parts]) if parts else None
    assert t is not None
    t = t.select(sorted(t.column_names))
    return t.sort_by([(c, "ascending") for c in t.column_names if not pa.types.is_list(t.schema.field(c).type)])


def union_sorted(a: pa.Table, b: pa.Table) -> pa.Table:
    t = pa.concat_tables([a, b.cast(a.schema)])
    return t.sort_by([(c, "ascending") for c in t.column_names if not pa.types.is_list(t.schema.field(c).type)])


@pytest.mark.parametrize("days", [1, 7, 45, 119, 400])
def test_keeps_exactly_the_window_and_archives_the_rest(copy_lake: Callable[[], Lakehouse], days: int) -> None:
    lh = copy_lake()
    if days != 7:  # an edit in the catalog wins over the contract's 7 days
        MetadataStore.open(lh.settings.metadata_dsn).update_entry(BRONZE, {"retention_days": days})
    before = content(lh, BRONZE)
    all_days = days_in(lh, BRONZE, "event_date")
    cutoff = AS_OF - timedelta(days=days)

    result = lh.retention(BRONZE, as_of=AS_OF)

    out = result.of(BRONZE)
    assert out is not None and result.status == "success", out
    assert out.retention_days == days and out.source == ("contract" if days == 7 else "catalog")
    assert days_in(lh, BRONZE, "event_date") == {d for d in all_days if d >= cutoff}
    expired = sorted(d for d in all_days if d < cutoff)
    assert out.expired_days == [d.isoformat() for d in expired]
    assert out.rows_archived == out.rows_deleted == before.num_rows - lh.table(BRONZE).rows
    if expired:  # kept + archived is the table as it was, row for row
        assert union_sorted(content(lh, BRONZE), archived(lh, BRONZE)).equals(before)
        assert horizon(lh.store, TableId("bronze", "app_events")) == cutoff
        assert sorted(p.day for p in lh.archive_list(BRONZE)) == [d.isoformat() for d in expired]
    else:
        assert content(lh, BRONZE).equals(before) and lh.archive_list(BRONZE) == []


def test_a_second_run_changes_nothing_and_dry_run_never_writes(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    v0 = lh.store.version(BRONZE)
    dry = lh.retention(BRONZE, as_of=AS_OF, dry_run=True).of(BRONZE)
    assert dry is not None and dry.rows_archived > 0 and dry.rows_deleted == 0
    assert lh.store.version(BRONZE) == v0 and not lh.settings.archive_path.exists()
    first = lh.retention(BRONZE, as_of=AS_OF).of(BRONZE)
    assert first is not None and first.rows_deleted == dry.rows_archived
    v1, parts = lh.store.version(BRONZE), lh.archive_list(BRONZE)
    again = lh.retention(BRONZE, as_of=AS_OF).of(BRONZE)
    assert again is not None and again.rows_deleted == 0 and again.expired_days == []
    assert lh.archive_list(BRONZE) == parts
    assert lh.store.version(BRONZE) - v1 <= 2  # only VACUUM's own start/end commits


def _die(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    def dying(self: DeltaStore, *args: Any, **kwargs: Any) -> Any:
        raise SystemExit(f"killed in {method}")

    monkeypatch.setattr(DeltaStore, method, dying)


@pytest.mark.parametrize("table", [BRONZE, "silver.clickstream_sessions", "gold.daily_summary"])
def test_crash_between_archive_and_delete_loses_nothing(
    copy_lake: Callable[[], Lakehouse], monkeypatch: pytest.MonkeyPatch, table: str,
) -> None:
    lh, clean = copy_lake(), copy_lake()
    as_of = AS_OF + timedelta(days=60)  # past every layer's window
    before = content(lh, table)
    _die(monkeypatch, "delete")
    with pytest.raises(SystemExit):
        lh.retention(table, as_of=as_of)
    assert content(lh, table).equals(before)  # nothing deleted
    assert {p.status for p in lh.archive_list(table)} == {"orphan"}  # archived, not committed
    monkeypatch.undo()
    lh = Lakehouse(lh.settings)
    out = lh.retention(table, as_of=as_of).of(table)
    assert out is not None and out.orphans_removed and out.rows_deleted == out.rows_archived > 0
    ref = clean.retention(table, as_of=as_of).of(table)
    assert ref is not None and out.rows_deleted == ref.rows_deleted
    assert content(lh, table).equals(content(clean, table))
    assert {p.status for p in lh.archive_list(table)} == {"committed"}
    assert union_sorted(content(lh, table), archived(lh, table)).equals(before)


def test_crash_between_delete_and_vacuum_loses_nothing(
    copy_lake: Callable[[], Lakehouse], monkeypatch: pytest.MonkeyPatch,
) -> None:
    lh = copy_lake()
    before = content(lh, BRONZE)
    _die(monkeypatch, "vacuum")
    with pytest.raises(SystemExit):
        lh.retention(BRONZE, as_of=AS_OF)
    monkeypatch.undo()
    # The DELETE committed with its markers: the rows are verifiably in the archive.
    assert {p.status for p in lh.archive_list(BRONZE)} == {"committed"}
    assert union_sorted(content(lh, BRONZE), archived(lh, BRONZE)).equals(before)
    again = Lakehouse(lh.settings).retention(BRONZE, as_of=AS_OF).of(BRONZE)
    assert again is not None and again.rows_deleted == 0 and again.vacuum is not None  # the missed VACUUM runs


def test_kill_9_between_archive_and_delete(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    before = content(lh, BRONZE)
    script = textwrap.dedent(f"""
        import os, signal
        from datetime import date
        from lakehouse.service import Lakehouse
        from lakehouse.storage.delta import DeltaStore
        DeltaStore.delete = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        Lakehouse().retention({BRONZE!r}, as_of=date.fromisoformat({AS_OF.isoformat()!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=lake_env(lh.settings), capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert content(lh, BRONZE).equals(before)
    done = subprocess.run([sys.executable, "-m", "lakehouse.cli.main", "retention", BRONZE, "--as-of", AS_OF.isoformat(),
                           "--json"], env=lake_env(lh.settings), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lh = Lakehouse(lh.settings)
    assert union_sorted(content(lh, BRONZE), archived(lh, BRONZE)).equals(before)
    assert min(days_in(lh, BRONZE, "event_date")) == AS_OF - timedelta(days=7)


@pytest.mark.parametrize(("first", "last"), [(None, None), (7, 20), (50, 50), (0, 3)])
def test_restore_brings_back_the_same_rows_exactly_once(
    copy_lake: Callable[[], Lakehouse], first: int | None, last: int | None,
) -> None:
    lh = copy_lake()
    before = content(lh, BRONZE)
    lh.retention(BRONZE, as_of=AS_OF)
    lo = START.date() + timedelta(days=first or 0)
    hi = START.date() + timedelta(days=last) if last is not None else AS_OF
    expected = before.filter(pa.compute.or_(
        pa.compute.greater_equal(before["event_date"], pa.scalar(AS_OF - timedelta(days=7))),
        pa.compute.and_(pa.compute.greater_equal(before["event_date"], pa.scalar(lo)),
                        pa.compute.less_equal(before["event_date"], pa.scalar(hi)))))
    result = lh.archive_restore(BRONZE, lo, hi)
    assert result.rows_restored == result.rows_archived == expected.num_rows - lh.table(BRONZE).rows + result.rows_restored
    assert content(lh, BRONZE).equals(expected.select(content(lh, BRONZE).column_names))
    version = lh.store.version(BRONZE)
    twice = lh.archive_restore(BRONZE, lo, hi)  # exactly once: nothing to add
    assert twice.rows_restored == 0 and lh.store.version(BRONZE) == version
    assert content(lh, BRONZE).equals(expected.select(content(lh, BRONZE).column_names))


def test_restored_rows_expire_again_and_restore_still_gives_one_copy(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    before = content(lh, BRONZE)
    lh.retention(BRONZE, as_of=AS_OF)
    lh.archive_restore(BRONZE, date.min, date.max)
    assert content(lh, BRONZE).equals(before)
    lh.retention(BRONZE, as_of=AS_OF)  # archived a second time
    lh.archive_restore(BRONZE, date.min, date.max)
    assert content(lh, BRONZE).equals(before)


def test_archive_expiry_is_reported(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    lh.retention(BRONZE, as_of=AS_OF)
    days = sorted(p.day for p in lh.archive_list(BRONZE))
    later = date.fromisoformat(days[10]) + timedelta(days=lh.settings.maintenance.archive_days)
    out = lh.retention(BRONZE, as_of=later).of(BRONZE)
    assert out is not None
    assert sorted(p.day for p in out.archive_expired) == days[:10]  # before later - 365 days
    assert all(p.rows > 0 for p in out.archive_expired)
    assert sorted(p.day for p in lh.archive_list(BRONZE))[0] >= days[10]


def test_damaged_archive_is_never_restored_silently(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    lh.retention(BRONZE, as_of=AS_OF)
    part = lh.archive_list(BRONZE)[0]
    with open(part.file, "r+b") as f:
        f.seek(8)
        f.write(b"garbage!")
    assert lh.archive_list(BRONZE)[0].status == "damaged"
    from lakehouse.exceptions import StorageError

    with pytest.raises(StorageError, match="no longer match"):
        lh.archive_restore(BRONZE, date.min, date.max)


def test_bad_retention_in_the_catalog_is_refused_not_applied(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    MetadataStore.open(lh.settings.metadata_dsn).update_entry(BRONZE, {"retention_days": 0})
    v = lh.store.version(BRONZE)
    result = lh.retention(as_of=AS_OF)
    out = result.of(BRONZE)
    assert result.status == "failed" and out is not None and "below 1 day" in (out.error or "")
    assert lh.store.version(BRONZE) == v
    other = result.of("bronze.clickstream")
    assert other is not None and other.rows_deleted > 0  # the other tables still ran


def test_cli_is_one_line_for_a_user_mistake(copy_lake: Callable[[], Lakehouse]) -> None:
    lh = copy_lake()
    env = lake_env(lh.settings)
    for args in (["retention", "no_such_table"], ["archive", "restore", BRONZE, "--from", "yesterday", "--to", "2026-01-01"],
                 ["retention", "--as-of", "13/13/2026"], ["archive", "restore", BRONZE, "--from", "2026-02-01", "--to", "2026-01-01"]):
        p = subprocess.run([sys.executable, "-m", "lakehouse.cli.main", *args], env=env, capture_output=True, text=True)
        assert p.returncode == 1 and "Traceback" not in p.stderr and p.stderr.startswith("error:"), (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr


__all__ = ["HORIZON", "Path", "os"]
