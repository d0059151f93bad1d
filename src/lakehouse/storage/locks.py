"""Per-table commit locks shared by every writer of a lake (ingestion, transforms, maintenance).

delta-rs rejects a concurrent commit only when both writers started from the same snapshot, so
a check-then-commit (read a progress marker, write the rows that follow it) must be serialised
across processes, and so must maintenance that rewrites files (OPTIMIZE, a retention DELETE)
against writers that rewrite the same files (MERGE, partition overwrites). Every writer of a
lake runs on the lake's filesystem, so one lock file per table next to the tables does it:
`<bronze>/_locks/<layer>.<table>.lock`. `filelock` takes it with `flock`, which the OS drops
when its holder dies, so a killed writer never leaves a stale lock.

One design for every writer:

- `DeltaStore` takes the table's lock around every commit it makes (append, replace, merge,
  record, delete, optimize, vacuum, checkpoint, log cleanup), so two commits to one table never
  race inside the lake.
- A writer whose commit depends on what it read first (markers, the table's rows) holds the
  same lock around the whole read-then-commit with `hold(settings, table)`.
- The lock is re-entrant for its holder: inside `hold`, the store's own acquisition of the
  same table is a no-op. "Holder" is the execution context (`contextvars`), not the thread, so
  work the holder hands to another thread with `carry(fn)` (or `asyncio.to_thread`, which
  copies the context) re-enters too instead of deadlocking; an unrelated thread or process
  waits. A wait longer than `timeout_s` raises `LockTimeoutError` (transient) rather than
  hanging forever.
- Lock order: a table's own lock first, then its layer's quarantine table's (the bronze writer
  commits `bronze.quarantine` while its source's lock is held; the quality gate commits
  `silver.quarantine` while a model's is); nothing holds two other tables' locks at once.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from filelock import FileLock, Timeout

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import LakehouseError

P = ParamSpec("P")
R = TypeVar("R")



class LockTimeoutError(LakehouseError):
    """A table stayed locked by another writer past the wait allowed."""

    transient = True


# The lock files this execution context holds (absolute paths).
_held: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("lakehouse_table_locks", default=frozenset())


def lock_path(settings: Settings, name: str) -> Path:
    return settings.layer_path("bronze") / "_locks" / f"{name}.lock"


def _name(table: TableId | str) -> str:
    return table.fqn if isinstance(table, TableId) else table


def table_lock(settings: Settings, table: TableId | str, *, timeout_s: float = -1) -> FileLock:
    """A raw, non-re-entrant lock on `table` (a context manager; `timeout_s=-1` waits forever).

    Prefer `hold`, which is re-entrant for its holder; this is for tests that play a rival process.
    """
    path = lock_path(settings, _name(table))
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, timeout=timeout_s, thread_local=False, is_singleton=False)


def holds(settings: Settings, table: TableId | str) -> bool:
    """True when this execution context holds `table`'s lock."""
    return str(lock_path(settings, _name(table))) in _held.get()


@contextmanager
def hold(settings: Settings, table: TableId | str, *, timeout_s: float | None = None) -> Iterator[float]:
    """Hold `table`'s commit lock for the block; yields the seconds spent waiting for it.

    Re-entrant for this execution context. `timeout_s` defaults to the maintenance settings'
    `lock_timeout_s`; past it, `LockTimeoutError` (transient: try again later).
    """
    path = lock_path(settings, _name(table))
    key = str(path)
    if key in _held.get():
        yield 0.0
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    wait = settings.maintenance.lock_timeout_s if timeout_s is None else timeout_s
    # A new FileLock per outermost acquisition: its own file descriptor, so `flock` excludes
    # other threads of this process as well as other processes.
    lock = FileLock(path, timeout=wait, thread_local=False, is_singleton=False)
    t0 = time.monotonic()
    try:
        lock.acquire()
    except Timeout:
        raise LockTimeoutError(
            f"{_name(table)} stayed locked by another writer for {wait:g} s",
            hint="another ingest, transform or maintenance job is committing to it; try again",
        ) from None
    waited = time.monotonic() - t0
    token = _held.set(_held.get() | {key})
    try:
        yield waited
    finally:
        _held.reset(token)
        lock.release()


def carry(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` bound to the caller's execution context: run on another thread, it re-enters the
    locks the caller holds (hand work to a pool as `pool.submit(carry(fn), ...)`)."""
    ctx = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return run
