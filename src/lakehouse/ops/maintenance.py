"""Table maintenance: OPTIMIZE (compaction, Z-order), checkpoints, log cleanup and VACUUM.

Safe while ingestion and transforms write: every commit is made under the table's commit lock
(`storage/locks.py`, taken by the store), one partition at a time so writers wait at most one
partition's compaction, and a commit that still loses a race to a writer outside the lake is
retried (tenacity, on errors marked `transient`). Compaction commits change no data
(dataChange=false), so incremental readers of the change feed never see them as new rows.

What must stay readable bounds VACUUM and log cleanup: never less than Delta's 7-day safety
window, and never the files or log entries of a version a downstream model has not consumed
yet (`ops/consumers.py`). Only an explicit override goes below the first; nothing overrides
the second except `force`.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, TableId
from lakehouse.exceptions import InputError, StorageError
from lakehouse.ops.consumers import oldest
from lakehouse.ops.results import TableOptimize, VacuumOutcome
from lakehouse.storage.base import DataFile, PartitionFilter, Snapshot, TableStore

T = TypeVar("T")
TXN_RETENTION = "delta.setTransactionRetentionDuration"
DEFAULT_LOG_RETENTION = timedelta(days=30)  # Delta's default delta.logRetentionDuration


def with_retries(settings: Settings, fn: Callable[[], T]) -> T:
    """`fn()`, tried again after a transient failure (a commit that lost a race, a lock wait)."""
    run = retry(
        retry=retry_if_exception(lambda e: bool(getattr(e, "transient", False))),
        stop=stop_after_attempt(settings.maintenance.commit_attempts),
        wait=wait_exponential(multiplier=0.2, max=5),
        reraise=True,
    )(fn)
    return run()


def check_markers_safe(snap: Snapshot) -> None:
    """Refuse a table whose settings would expire its exactly-once markers."""
    if TXN_RETENTION in snap.properties:
        raise StorageError(
            f"{snap.table.fqn} sets {TXN_RETENTION}: checkpoints would drop the ingest and transform "
            "progress markers, and data would be ingested or transformed twice",
            hint=f"unset it (ALTER TABLE ... UNSET TBLPROPERTIES ('{TXN_RETENTION}')) before maintenance",
        )


def _interval(text: str | None, default: timedelta) -> timedelta:
    """A Delta interval property ('interval 30 days'), or `default` when unset or unreadable."""
    m = re.fullmatch(r"\s*interval\s+(\d+)\s+(\w+?)s?\s*", (text or "").lower())
    if not m:
        return default
    unit = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}.get(m[2])
    return timedelta(**{unit: int(m[1])}) if unit else default


# -- vacuum -----------------------------------------------------------------------------------
def vacuum_floor(settings: Settings, store: TableStore, t: TableId, now: datetime | None = None) -> tuple[int, str]:
    """The least retention (hours) VACUUM may use on `t` now, and why."""
    now = now or datetime.now(UTC)
    floor, reason = settings.maintenance.vacuum_min_hours, "the 7-day safety window"
    need = oldest(store, t)
    if need is not None and need.since is not None:
        hours = math.ceil((now - need.since).total_seconds() / 3600) + 1
        if hours > floor:
            floor = hours
            reason = f"{need.model} has not yet read {t} after v{need.consumed} (committed {need.since:%Y-%m-%d %H:%M} UTC)"
    return floor, reason


def vacuum_table(
    settings: Settings, store: TableStore, t: TableId, *, retention_hours: int | None = None,
    force: bool = False, dry_run: bool = False, now: datetime | None = None,
) -> VacuumOutcome:
    floor, reason = vacuum_floor(settings, store, t, now)
    hours = floor if retention_hours is None else retention_hours
    if hours < floor and not force:
        raise InputError(
            f"refusing to vacuum {t} keeping {hours} h of history: {reason} needs {floor} h",
            hint="leave --retention-hours out to use the least safe value, or add --force to override",
        )
    check_markers_safe(store.snapshot(t))
    removed = with_retries(settings, lambda: store.vacuum(
        t, retention_hours=hours, dry_run=dry_run, enforce_retention=hours >= 168,
    ))
    return VacuumOutcome(table=t.fqn, retention_hours=hours, floor_hours=floor, floor_reason=reason,
                         files_removed=len(removed), dry_run=dry_run, forced=force and hours < floor)


# -- log cleanup ------------------------------------------------------------------------------
def cleanup_log(settings: Settings, store: TableStore, t: TableId, snap: Snapshot) -> str:
    """Delete expired log entries unless a downstream model still has to read them."""
    keep = _interval(snap.properties.get("delta.logRetentionDuration"), DEFAULT_LOG_RETENTION)
    need = oldest(store, t)
    if need is not None and need.since is not None and need.since < datetime.now(UTC) - keep:
        return f"deferred: {need.model} still reads {t} from v{need.first_needed}"
    with_retries(settings, lambda: store.cleanup_log(t))
    return "done"


# -- optimize ---------------------------------------------------------------------------------
def _is_open(value: str | None, today: date) -> bool:
    """A partition still being written: today's date or later (values that are not dates never are)."""
    try:
        return value is not None and date.fromisoformat(value) >= today
    except ValueError:
        return False


def plan(settings: Settings, snap: Snapshot, today: date) -> tuple[list[str | None], list[str | None]]:
    """(partitions worth compacting, closed ones first, then open ones) — a partition is worth it
    when it holds at least `optimize_min_files` files smaller than half the target size."""
    small = settings.maintenance.optimize_target_mb * 1024 * 1024 // 2
    column = snap.partition_columns[0] if snap.partition_columns else None
    groups: dict[str | None, list[DataFile]] = defaultdict(list)
    for f in snap.files:
        groups[f.partition.get(column) if column else None].append(f)
    worth = [v for v, files in groups.items()
             if sum(f.size_bytes < small for f in files) >= settings.maintenance.optimize_min_files]
    closed = sorted((v for v in worth if not _is_open(v, today)), key=lambda v: v or "")
    open_ = sorted((v for v in worth if _is_open(v, today)), key=lambda v: v or "")
    return closed, open_


def optimize_table(
    settings: Settings, store: TableStore, t: TableId, *, include_open: bool = False, today: date | None = None,
) -> TableOptimize:
    t0 = time.perf_counter()
    today = today or datetime.now(UTC).date()
    spec = REGISTRY.get(t)
    snap = store.snapshot(t)
    check_markers_safe(snap)
    out = TableOptimize(table=t.fqn, zorder=list(spec.zorder), files_before=len(snap.files),
                        version_before=snap.version)
    closed, open_ = plan(settings, snap, today)
    out.partitions_open = [v for v in open_ if v is not None] if not include_open else []
    column = snap.partition_columns[0] if snap.partition_columns else None
    target = settings.maintenance.optimize_target_mb * 1024 * 1024
    meta = {"lakehouse.job": "optimize", **({"lakehouse.zorder": ",".join(spec.zorder)} if spec.zorder else {})}
    for value in [*closed, *(open_ if include_open else [])]:  # closed partitions first, today's last
        where = PartitionFilter(column, (value,)) if column and value is not None else None
        with_retries(settings, lambda where=where: store.optimize(  # type: ignore[misc]
            t, zorder=spec.zorder, where=where, target_size=target, metadata=meta,
        ))
        if value is not None:
            out.partitions_optimized.append(value)
    after = store.snapshot(t)
    if after.version != snap.version:
        with_retries(settings, lambda: store.checkpoint(t))
        out.checkpoint = True
    out.log_cleanup = cleanup_log(settings, store, t, after)
    out.files_after, out.version_after = len(after.files), after.version
    out.seconds = round(time.perf_counter() - t0, 3)
    return out
