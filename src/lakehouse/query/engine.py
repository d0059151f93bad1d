"""DuckDB over the lake: read-only, time- and row-limited, with connections kept warm.

One in-process DuckDB database (memory and thread limits from settings, external access
disabled and configuration locked once set up) serves a small pool of connections. Each
connection has the lake tables it has used registered as Arrow datasets (lazy scans of the
Delta table's current files) under internal names, plus temp views that mask PII columns.
The current Delta version of a table is re-checked at most every `refresh_s` seconds, and a
connection re-registers a table only when its version changed: a warm query does no Delta
log I/O at all. The SQL was validated and its table references rewritten to these internal
names by `query.safety`, so user text never names a registered object directly.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from lakehouse.config import Settings
from lakehouse.exceptions import QueryError, QueryTimeoutError, TableNotBuiltError
from lakehouse.query.safety import ParsedQuery
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import TableId

log = logging.getLogger(__name__)

Masks = Mapping[TableId, Sequence[str]]


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


class QueryEngine:
    def __init__(self, settings: Settings, store: DeltaStore, *, pool_size: int = 8, refresh_s: float = 1.0) -> None:
        self.settings = settings
        self.store = store
        self.refresh_s = refresh_s
        threads = settings.duckdb_threads or os.cpu_count() or 2
        self._db = duckdb.connect(config={"threads": threads, "memory_limit": settings.duckdb_memory_limit})
        # Registered Arrow datasets keep scanning with external access off (checked in tests):
        # only SQL-level file access (read_*, COPY, ATTACH, INSTALL) is shut.
        self._db.execute("SET enable_external_access = false")
        self._db.execute("SET lock_configuration = true")
        self._pool: queue.LifoQueue[_Slot] = queue.LifoQueue()
        for _ in range(pool_size):
            self._pool.put(_Slot(self._db.cursor()))
        self._current: dict[TableId, tuple[float, int, ds.Dataset]] = {}
        self._current_lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    # -- table versions ---------------------------------------------------------------------
    def current(self, t: TableId) -> tuple[int, ds.Dataset]:
        now = time.monotonic()
        with self._current_lock:
            hit = self._current.get(t)
        if hit and now - hit[0] < self.refresh_s:
            return hit[1], hit[2]
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        dt = self.store.open(t)
        version = dt.version()
        dataset = hit[2] if hit and hit[1] == version else dt.to_pyarrow_dataset()
        with self._current_lock:
            self._current[t] = (now, version, dataset)
        return version, dataset

    def invalidate(self, t: TableId | None = None) -> None:
        with self._current_lock:
            if t is None:
                self._current.clear()
            else:
                self._current.pop(t, None)

    # -- connections ------------------------------------------------------------------------
    @contextmanager
    def _slot(self) -> Iterator[_Slot]:
        slot = self._pool.get()
        try:
            yield slot
        finally:
            self._pool.put(slot)

    def _bind(self, slot: _Slot, t: TableId, masks: Masks) -> None:
        version, dataset = self.current(t)
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

    def _execute(self, slot: _Slot, sql: str, timeout_s: float) -> pa.Table:
        with slot.lock:
            slot.ticket += 1
            ticket = slot.ticket

        def stop() -> None:
            with slot.lock:
                if slot.ticket == ticket:
                    slot.con.interrupt()

        timer = threading.Timer(timeout_s, stop)
        timer.daemon = True
        timer.start()
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
            timer.cancel()
            with slot.lock:
                slot.ticket += 1

    # -- public -------------------------------------------------------------------------------
    def run(self, parsed: ParsedQuery, *, max_rows: int, timeout_s: float, masks: Masks | None = None) -> QueryResult:
        """Run a validated query; at most `max_rows` rows come back (`truncated` says if more)."""
        masks = masks or {}
        t0 = time.perf_counter()
        with self._slot() as slot:
            for t in parsed.tables:
                self._bind(slot, t, masks)
            body = parsed.render(lambda t: ("", internal_name(t, masked=t in masks)))
            sql = f"SELECT * FROM ({body}) AS _q LIMIT {max_rows + 1}"
            table = self._execute(slot, sql, timeout_s)
        return _result(table, max_rows, t0, parsed.tables)

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
        with self._slot() as slot:
            if version is None:
                self._bind(slot, t, masks)
                source = internal_name(t, masked=mask is not None)
                return _result(self._execute(slot, f'SELECT {select} FROM "{source}"{cond} LIMIT {limit + 1}', timeout_s), limit, t0, [t])
            dataset = self.store.dataset(t, version)
            name = internal_name(t, version=version)
            cols = tuple(c for c in (mask or ()) if c in dataset.schema.names)
            slot.con.register(name, dataset)
            try:
                sql = f'SELECT {select} FROM (SELECT * {_replace(cols)} FROM "{name}"){cond} LIMIT {limit + 1}'
                return _result(self._execute(slot, sql, timeout_s), limit, t0, [t])
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


def _result(table: pa.Table, max_rows: int, t0: float, tables: list[TableId]) -> QueryResult:
    truncated = table.num_rows > max_rows
    if truncated:
        table = table.slice(0, max_rows)
    return QueryResult(table, truncated, round((time.perf_counter() - t0) * 1000, 3), tables)
