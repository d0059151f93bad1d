"""Per-table commit locks shared by every writer of a lake (ingestion, transforms, maintenance).

delta-rs rejects a concurrent commit only when both writers started from the same snapshot, so
a check-then-commit (read a progress marker, write the rows that follow it) must be serialised
across processes. Every writer of a lake runs on the lake's filesystem, so a lock file next to
the tables does it; `filelock` releases it when its holder dies (the OS drops `flock` locks).
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from lakehouse.config import Settings
from lakehouse.contract import TableId


def lock_path(settings: Settings, name: str) -> Path:
    return settings.layer_path("bronze") / "_locks" / f"{name}.lock"


def table_lock(settings: Settings, table: TableId | str, *, timeout_s: float = -1) -> FileLock:
    """An exclusive lock for commits to `table` (a context manager; `timeout_s=-1` waits forever)."""
    name = table.fqn if isinstance(table, TableId) else table
    path = lock_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, timeout=timeout_s, thread_local=False, is_singleton=False)
