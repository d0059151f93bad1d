"""DuckDB over the lake: read-only, time- and row-limited, with connections kept warm.

Two in-process DuckDB databases (external access disabled and configuration locked once set
up) each serve a small pool of connections: queries that read only in-memory tables run on a
database with one thread (a small query gains nothing from parallelism and pays for the
hand-offs between DuckDB's workers, which also compete with the HTTP server for the cores),
queries over lazy datasets on one with `settings.duckdb_threads` (default: all cores). Each
connection has the lake tables it has used registered under internal names: small tables
(gold aggregates) as in-memory Arrow tables read once per Delta version, big ones as lazy
Arrow datasets over the version's files, plus temp views that mask PII columns.
The current Delta version of a table is re-checked at most every `refresh_s` seconds, and a
connection re-registers a table only when its version changed: a warm query does no Delta
log I/O at all, and a repeated query or preview over unchanged versions is answered from the
result cache without taking a connection. The SQL was validated and its table references rewritten to these internal
names by `query.safety`, so user text never names a registered object directly.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from lakehouse.config import Settings
from lakehouse.exceptions import QueryError, QueryTimeoutError, TableNotBuiltError
from lakehouse.query.safety import ParsedQuery
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import TableId

if TYPE_CHECKING:
    from deltalake import DeltaTable

log = logging.getLogger(__name__)

Masks = Mapping[TableId, Sequence[str]]
Source: TypeAlias = "ds.Dataset | pa.Table"

# Tables up to this size on disk are read into memory once per version and shared by every
# connection (DuckDB scans an in-memory Arrow table ~10x faster than a lazy dataset); bigger
# tables stay lazy datasets so memory stays bounded.
MATERIALIZE_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    truncated: bool
    elapsed_ms: float
    tables: list[TableId]

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)


def internal_name(t: TableId, masked: bool = False, version: int | None = None) -> str:
    base = f"{t.layer}__{t.name}"
    if version is not None:
        base += f"__v{version}"
    return base + ("__masked" if masked else "")


_INTERNAL = re.compile(r'"?\b(bronze|silver|gold)__([a-z0-9_]+?)(?:__v\d+)?(?:__masked)?\b"?')


def _public_message(err: Exception) -> str:
    """DuckDB's message with internal names shown as the user wrote them (`gold.x`)."""
    text = str(err).strip()
    return _INTERNAL.sub(lambda m: f"{m.group(1)}.{m.group(2)}", text)


@dataclass
class _Slot:
    con: duckdb.DuckDBPyConnection
    versions: dict[TableId, int] = field(default_factory=dict)
    masked: dict[TableId, tuple[str, ...]] = field(default_factory=dict)
    ticket: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _ResultCache:
    """LRU of small results keyed by (SQL, table versions, masks); 0 entries disables it.

    A hit is the same `(table, truncated)` pair every time (already cut to the row cap), so
    renderers can memoise per table object.
    """

    MAX_ROWS = 10_000

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[object, tuple[pa.Table, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> tuple[pa.Table, bool] | None:
        if self.size <= 0:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: object, table: pa.Table, truncated: bool) -> None:
        if self.size <= 0 or table.num_rows > self.MAX_ROWS:
            return
        with self._lock:
            self._items[key] = (table, truncated)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class _Watchdog:
    """One thread that interrupts connections past their deadline (cheaper than a timer per query)."""

    def __init__(self, tick_s: float = 0.02) -> None:
        self._armed: dict[int, tuple[_Slot, int, float]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._tick_s = tick_s
        self._thread = threading.Thread(target=self._run, name="duckdb-watchdog", daemon=True)
        self._thread.start()

    def arm(self, slot: _Slot, ticket: int, deadline: float) -> None:
        with self._lock:
            self._armed[id(slot)] = (slot, ticket, deadline)

    def disarm(self, slot: _Slot) -> None:
        with self._lock:
            self._armed.pop(id(slot), None)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stopped.wait(self._tick_s):
            now = time.monotonic()
            with self._lock:
                due = [(s, t) for s, t, d in self._armed.values() if d <= now]
            for slot, ticket in due:
                with slot.lock:  # the ticket guards against interrupting the slot's next query
                    if slot.ticket == ticket:
                        slot.con.interrupt()


class QueryEngine:
    def __init__(
        self, settings: Settings, store: DeltaStore, *, pool_size: int = 8, refresh_s: float = 1.0,
        materialize_max_bytes: int = MATERIALIZE_MAX_BYTES, result_cache_size: int = 256,
    ) -> None:
        self.settings = settings
        self.materialize_max_bytes = materialize_max_bytes
        self.store = store
        self.refresh_s = refresh_s
        # In-memory (small) tables: one DuckDB thread per query. Lazy datasets: parallel scans.
        self._db = _database(1, settings.duckdb_memory_limit)
        self._pool = _pool(self._db, pool_size)
        self._lazy_db: duckdb.DuckDBPyConnection | None = None
        self._lazy_pool: queue.LifoQueue[_Slot] | None = None
        self._lazy_lock = threading.Lock()
        self._pool_size = pool_size
        self._current: dict[TableId, tuple[float, int, Source]] = {}
        self._watchdog = _Watchdog()
        self._cache = _ResultCache(result_cache_size)
        self._current_lock = threading.Lock()
        self._rendered: OrderedDict[tuple[str, tuple[str, ...]], str] = OrderedDict()

    def close(self) -> None:
        self._watchdog.stop()
        self._db.close()
        if self._lazy_db is not None:
            self._lazy_db.close()

    # -- table versions ---------------------------------------------------------------------
    def current(self, t: TableId) -> tuple[int, Source]:
        now = time.monotonic()
        with self._current_lock:
            hit = self._current.get(t)
        if hit and now - hit[0] < self.refresh_s:
            return hit[1], hit[2]
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        dt = self.store.open(t)
        version = dt.version()
        dataset = hit[2] if hit and hit[1] == version else self._load(dt)
        with self._current_lock:
            self._current[t] = (now, version, dataset)
        return version, dataset

    def _load(self, dt: DeltaTable) -> Source:
        dataset = dt.to_pyarrow_dataset()
        sizes = dt.get_add_actions(flatten=True).column("size_bytes").to_pylist()
        if sum(x or 0 for x in sizes) <= self.materialize_max_bytes:
            return dataset.to_table()
        return dataset

    def invalidate(self, t: TableId | None = None) -> None:
        with self._current_lock:
            if t is None:
                self._current.clear()
            else:
                self._current.pop(t, None)

    # -- connections ------------------------------------------------------------------------
    def _lazy(self) -> queue.LifoQueue[_Slot]:
        with self._lazy_lock:
            if self._lazy_pool is None:
                threads = self.settings.duckdb_threads or os.cpu_count() or 2
                self._lazy_db = _database(threads, self.settings.duckdb_memory_limit)
                self._lazy_pool = _pool(self._lazy_db, self._pool_size)
            return self._lazy_pool

    @contextmanager
    def _slot(self, lazy: bool = False) -> Iterator[_Slot]:
        pool = self._lazy() if lazy else self._pool
        slot = pool.get()
        try:
            yield slot
        finally:
            pool.put(slot)

    def _bind(self, slot: _Slot, t: TableId, masks: Masks, current: tuple[int, Source] | None = None) -> int:
        version, dataset = current or self.current(t)
        name = internal_name(t)
        if slot.versions.get(t) != version:
            slot.con.register(name, dataset)
            slot.versions[t] = version
            slot.masked.pop(t, None)  # the schema may have changed: rebuild the masked view
        if t in masks:
            cols = tuple(c for c in masks[t] if c in dataset.schema.names)
            if slot.masked.get(t) != cols:
                slot.con.execute(
                    f'CREATE OR REPLACE TEMP VIEW "{internal_name(t, masked=True)}" AS '
                    f'SELECT * {_replace(cols)} FROM "{name}"'
                )
                slot.masked[t] = cols
        return version

    def _execute(self, slot: _Slot, sql: str, timeout_s: float) -> pa.Table:
        with slot.lock:
            slot.ticket += 1
            ticket = slot.ticket
        self._watchdog.arm(slot, ticket, time.monotonic() + timeout_s)
        try:
            rel = slot.con.sql(sql)
            if rel is None:
                raise QueryError("statement returned no result")
            return rel.to_arrow_table()
        except duckdb.InterruptException:
            raise QueryTimeoutError(
                f"query exceeded the {timeout_s:g} s time limit and was stopped",
                hint="narrow it with WHERE, or aggregate",
            ) from None
        except duckdb.OutOfMemoryException:
            raise QueryError("query needs more memory than allowed", hint="aggregate or filter more") from None
        except duckdb.Error as e:
            raise QueryError(_public_message(e)) from None
        finally:
            self._watchdog.disarm(slot)
            with slot.lock:
                slot.ticket += 1

    # -- public -------------------------------------------------------------------------------
    def run(self, parsed: ParsedQuery, *, max_rows: int, timeout_s: float, masks: Masks | None = None) -> QueryResult:
        """Run a validated query; at most `max_rows` rows come back (`truncated` says if more)."""
        masks = masks or {}
        t0 = time.perf_counter()
        tables = parsed.tables
        current = [self.current(t) for t in tables]
        sql = f"SELECT * FROM ({self._render(parsed, masks)}) AS _q LIMIT {max_rows + 1}"
        # Same text over the same table versions and masks gives the same rows: reuse them.
        key = (sql, tuple(v for v, _ in current), tuple(sorted((t.fqn, tuple(m)) for t, m in masks.items())))
        hit = self._cache.get(key)
        if hit is None:
            with self._slot(lazy=not all(isinstance(src, pa.Table) for _, src in current)) as slot:
                for t, cur in zip(tables, current, strict=True):
                    self._bind(slot, t, masks, cur)
                hit = _capped(self._execute(slot, sql, timeout_s), max_rows)
            self._cache.put(key, *hit)
        return QueryResult(hit[0], hit[1], _ms(t0), tables)

    def _render(self, parsed: ParsedQuery, masks: Masks) -> str:
        """The query over internal names; memoised by text and masked tables (sqlglot's copy,
        transform and generate cost ~0.5 ms, more than a warm query over a small table)."""
        key = (parsed.sql, tuple(sorted(t.fqn for t in parsed.tables if t in masks)))
        with self._current_lock:
            body = self._rendered.get(key)
            if body is not None:
                self._rendered.move_to_end(key)
                return body
        body = parsed.render(lambda t: ("", internal_name(t, masked=t in masks)))
        with self._current_lock:
            self._rendered[key] = body
            while len(self._rendered) > 1024:
                self._rendered.popitem(last=False)
        return body

    def preview(
        self,
        t: TableId,
        *,
        limit: int,
        timeout_s: float,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        version: int | None = None,
        mask: Sequence[str] | None = None,
    ) -> QueryResult:
        """First rows of a table (optionally an older version, some columns, a filter)."""
        t0 = time.perf_counter()
        masks: Masks = {t: mask} if mask is not None else {}
        select = ", ".join(_quote(c) for c in columns) if columns else "*"
        cond = f" WHERE {where}" if where else ""
        if version is None:
            current = self.current(t)
            source = internal_name(t, masked=mask is not None)
            sql = f'SELECT {select} FROM "{source}"{cond} LIMIT {limit + 1}'
            # keyed like `run`: the same preview of the same version and mask is the same rows
            key = ("preview", sql, (current[0],), (t.fqn, tuple(mask)) if mask is not None else ())
            hit = self._cache.get(key)
            if hit is None:
                with self._slot(lazy=not isinstance(current[1], pa.Table)) as slot:
                    self._bind(slot, t, masks, current)
                    hit = _capped(self._execute(slot, sql, timeout_s), limit)
                self._cache.put(key, *hit)
            return QueryResult(hit[0], hit[1], _ms(t0), [t])
        # time travel: a lazy dataset over that version's files, registered for this query only
        dataset = self.store.dataset(t, version)
        name = internal_name(t, version=version)
        cols = tuple(c for c in (mask or ()) if c in dataset.schema.names)
        with self._slot(lazy=True) as slot:
            slot.con.register(name, dataset)
            try:
                sql = f'SELECT {select} FROM (SELECT * {_replace(cols)} FROM "{name}"){cond} LIMIT {limit + 1}'
                table, truncated = _capped(self._execute(slot, sql, timeout_s), limit)
                return QueryResult(table, truncated, _ms(t0), [t])
            finally:
                slot.con.unregister(name)

    def schema(self, t: TableId) -> pa.Schema:
        return self.current(t)[1].schema


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _replace(cols: Sequence[str]) -> str:
    if not cols:
        return ""
    return "REPLACE (" + ", ".join(f"'***' AS {_quote(c)}" for c in cols) + ")"


def _database(threads: int, memory_limit: str) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    # Registered Arrow datasets keep scanning with external access off (checked in tests):
    # only SQL-level file access (read_*, COPY, ATTACH, INSTALL) is shut.
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    return db


def _pool(db: duckdb.DuckDBPyConnection, size: int) -> queue.LifoQueue[_Slot]:
    pool: queue.LifoQueue[_Slot] = queue.LifoQueue()
    for _ in range(size):
        pool.put(_Slot(db.cursor()))
    return pool


def _capped(table: pa.Table, max_rows: int) -> tuple[pa.Table, bool]:
    """The first `max_rows` rows, and whether there were more (the query asked for one extra)."""
    if table.num_rows > max_rows:
        return table.slice(0, max_rows), True
    return table, False


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
