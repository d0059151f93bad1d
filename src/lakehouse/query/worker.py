"""A query worker process: runs one query at a time on its own DuckDB, under kernel limits.

Why a process: DuckDB's `memory_limit` covers its buffer pool, not what one scalar function
allocates (`list_sum(generate_series(1, 2e9))` asked for 16 GiB in one call), and its interrupt
is only checked between operators, so neither bounds what a query may take. A worker's limits
are the kernel's:

- `RLIMIT_DATA` = what the process had reserved once started (DuckDB, Arrow and delta-rs reserve
  ~1.3 GB of address space up front, resident or not: measured at start, not guessed) plus
  `memory_bytes`. An allocation past it fails: DuckDB raises its out-of-memory error and the
  worker answers "memory"; Python raises MemoryError, same answer.
- An RSS watchdog thread (every 20 ms): past `memory_bytes` resident it interrupts the query, and
  if the process is still over a second later it exits (`MEMORY_EXIT`).
- DuckDB's own `memory_limit` and an interrupt at the time limit stop well-behaved queries
  cleanly; the parent SIGKILLs a worker that has not answered by its hard deadline (`query.pool`).

Each query registers only the tables bound for it (under the parent's per-engine internal names)
and unregisters them afterwards, so nothing one caller bound is visible to the next. Results go
back as Arrow IPC, capped in rows and bytes, with the types DuckDB cannot hand to Arrow faithfully
(HUGEINT/UHUGEINT, BIGNUM, BIT, UNION, ENUM, TIME WITH TIME ZONE, INTERVAL, TIMESTAMP_NS, and lists
or structs of them) cast to their exact DuckDB text first (`rel.types` tells them before running).
"""

from __future__ import annotations

import os
import re
import resource
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
from cachetools import LRUCache

from lakehouse.config import Settings
from lakehouse.contract import resolve
from lakehouse.exceptions import TableNotBuiltError
from lakehouse.storage.delta import DeltaStore

Source: TypeAlias = "ds.Dataset | pa.Table"

MEMORY_EXIT = 86  # exit status of a worker its RSS watchdog stopped
_PAGE = os.sysconf("SC_PAGE_SIZE")
_INEXACT = re.compile(r"HUGEINT|BIGNUM|VARINT|\bBIT\b|UNION\(|ENUM\(|TIME WITH TIME ZONE|INTERVAL|TIMESTAMP_NS")
_BATCH_ROWS = 4096


@dataclass(frozen=True)
class Limits:
    memory_bytes: int  # resident bound, and address space on top of the start-up reservation
    duckdb_memory_bytes: int  # DuckDB's own buffer-pool limit at most (lowered to fit, see `enforce`)
    threads: int  # DuckDB threads for queries over lazy datasets
    materialize_max_bytes: int  # tables up to this size on disk are read into memory


@dataclass(frozen=True)
class Binding:
    name: str  # the internal name the rendered SQL reads
    fqn: str
    version: int
    time_travel: bool  # an older version: always a lazy dataset, never cached in memory
    mask: tuple[str, ...] | None  # PII columns replaced by '***' (None: no masking)


@dataclass(frozen=True)
class Request:
    sql: str
    bindings: tuple[Binding, ...]
    max_rows: int
    max_bytes: int
    timeout_s: float


# replies: ("ok", truncated, ipc_bytes) | ("error", kind, message); kind in
# {"query", "timeout", "memory", "not_built", "too_big"}
Reply: TypeAlias = tuple[str, Any, Any]


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def rss_bytes(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _database(threads: int) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(config={"threads": threads})
    # Registered Arrow datasets keep scanning with external access off (checked in tests):
    # only SQL-level file access (read_*, COPY, ATTACH, INSTALL) is shut.
    db.execute("SET enable_external_access = false")
    db.sql("SELECT 1").fetchall()
    return db


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(err: BaseException) -> str:
    """DuckDB's message without its `LINE n:` context (which shows the rendered SQL)."""
    text = str(err).strip()
    lines = []
    for line in text.splitlines():
        if line.startswith(("LINE ", "Possible solutions")) or not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines) or type(err).__name__


class Worker:
    def __init__(self, settings: Settings, limits: Limits) -> None:
        self.limits = limits
        self.store = DeltaStore(settings)
        # Queries over in-memory tables: one thread (a small query gains nothing from
        # parallelism). Lazy datasets (big tables, time travel): `threads`.
        self.small = _database(1)
        self.lazy = _database(limits.threads)
        self.table_cache_bytes = 1
        self._tables: LRUCache[tuple[str, int], pa.Table] = LRUCache(maxsize=1, getsizeof=lambda t: max(1, t.nbytes))
        self._lock = threading.Lock()
        self._active: duckdb.DuckDBPyConnection | None = None
        self._deadline = float("inf")
        self.over_memory = False

    # -- limits ---------------------------------------------------------------------------------
    def enforce(self) -> int:
        """Fit DuckDB's memory limit and the table cache into what is left of the bound once
        started, lock DuckDB's configuration, set RLIMIT_DATA above what is reserved now, start
        the watchdog; returns the reserved base."""
        headroom = max(self.limits.memory_bytes - rss_bytes(), self.limits.memory_bytes // 4)
        duckdb_bytes = min(self.limits.duckdb_memory_bytes, headroom * 2 // 5)
        for db in (self.small, self.lazy):
            db.execute(f"SET memory_limit = '{duckdb_bytes // 1024}KiB'")
            db.execute("SET lock_configuration = true")
        self.table_cache_bytes = headroom // 4
        self._tables = LRUCache(maxsize=max(1, self.table_cache_bytes), getsizeof=lambda t: max(1, t.nbytes))
        base = _vm("VmData")
        limit = base + self.limits.memory_bytes
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        threading.Thread(target=self._watch, name="query-watchdog", daemon=True).start()
        return base

    def _watch(self) -> None:
        over_since: float | None = None
        while True:
            time.sleep(0.02)
            now = time.monotonic()
            over = rss_bytes() > self.limits.memory_bytes
            with self._lock:
                con = self._active
                if over:
                    self.over_memory = True
                if con is not None and (over or now >= self._deadline):
                    con.interrupt()
            if over:
                over_since = over_since or now
                if now - over_since > 1.0:
                    os._exit(MEMORY_EXIT)
            else:
                over_since = None

    # -- tables ----------------------------------------------------------------------------------
    def source(self, b: Binding) -> Source:
        key = (b.fqn, b.version)
        hit = self._tables.get(key)
        if hit is not None:
            return hit
        t = resolve(b.fqn)
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        dataset = self.store.dataset(t, b.version)
        if b.time_travel:
            return dataset
        size = self.store.snapshot(t, b.version).size_bytes
        if size > self.limits.materialize_max_bytes or size * 4 > self.table_cache_bytes:
            return dataset
        table = dataset.to_table()
        if table.nbytes <= self.table_cache_bytes:
            self._tables[key] = table
        return table

    # -- queries ---------------------------------------------------------------------------------
    def handle(self, req: Request) -> Reply:
        try:
            sources = [(b, self.source(b)) for b in req.bindings]
        except TableNotBuiltError as e:
            return ("error", "not_built", e.name)
        except MemoryError:
            return ("error", "memory", "query needs more memory than allowed")
        lazy = any(not isinstance(src, pa.Table) for _, src in sources)
        con = self.lazy if lazy else self.small
        views: list[str] = []
        registered: list[str] = []
        try:
            for b, src in sources:
                if b.mask is None:
                    con.register(b.name, src)
                    registered.append(b.name)
                    continue
                base = b.name + "_src"
                con.register(base, src)
                registered.append(base)
                cols = [c for c in b.mask if c in src.schema.names]
                replace = ("REPLACE (" + ", ".join(f"'***' AS {_quote(c)}" for c in cols) + ")") if cols else ""
                con.execute(f"CREATE OR REPLACE TEMP VIEW {_quote(b.name)} AS SELECT * {replace} FROM {_quote(base)}")
                views.append(b.name)
            return self._run(con, req)
        finally:
            with self._lock:
                self._active = None
                self._deadline = float("inf")
            for v in views:
                con.execute(f"DROP VIEW IF EXISTS {_quote(v)}")
            for name in registered:
                con.unregister(name)

    def _run(self, con: duckdb.DuckDBPyConnection, req: Request) -> Reply:
        with self._lock:
            self.over_memory = False
            self._active = con
            self._deadline = time.monotonic() + req.timeout_s
        try:
            rel = con.sql(req.sql)
            if rel is None:
                return ("error", "query", "statement returned no result")
            rel = _exact(rel).limit(req.max_rows + 1)
            reader = rel.to_arrow_reader(_BATCH_ROWS)
            batches, size, rows, truncated = [], 0, 0, False
            for batch in reader:
                if rows + batch.num_rows > req.max_rows:
                    batch = batch.slice(0, req.max_rows - rows)
                    truncated = True
                fit = _fitting(batch, req.max_bytes - size)
                if fit is not batch:
                    truncated = True
                    batch = fit
                batches.append(batch)
                size += batch.nbytes
                rows += batch.num_rows
                if truncated:
                    break
            if truncated and rows == 0:
                return ("error", "too_big", f"one row is larger than the {req.max_bytes / 2**20:g} MiB result limit")
            table = pa.Table.from_batches(batches, schema=reader.schema)
            sink = pa.BufferOutputStream()
            with ipc.new_stream(sink, table.schema) as w:
                w.write_table(table)
            return ("ok", truncated, sink.getvalue().to_pybytes())
        except duckdb.InterruptException:
            return self._interrupted()
        except (duckdb.OutOfMemoryException, MemoryError):
            return ("error", "memory", "query needs more memory than allowed")
        except duckdb.Error as e:
            return ("error", "query", _first_line(e))
        except OSError as e:
            # DuckDB's errors while the Arrow reader streams arrive as pyarrow's OSError
            text = _first_line(e)
            if text.startswith("INTERRUPT"):
                return self._interrupted()
            if text.startswith("Out of Memory"):
                return ("error", "memory", "query needs more memory than allowed")
            return ("error", "query", text)
        except (pa.ArrowException, ValueError, OverflowError) as e:
            return ("error", "query", f"result cannot be returned: {_first_line(e)}")

    def _interrupted(self) -> Reply:
        if self.over_memory:
            return ("error", "memory", "query needs more memory than allowed")
        return ("error", "timeout", "time limit")


def _exact(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """The relation with the columns Arrow would get wrong cast to DuckDB's exact text."""
    types = [str(t) for t in rel.types]
    if not any(_INEXACT.search(t) for t in types):
        return rel
    cols = [
        f"CAST(#{i} AS VARCHAR) AS {_quote(name)}" if _INEXACT.search(t) else f"#{i} AS {_quote(name)}"
        for i, (name, t) in enumerate(zip(rel.columns, types, strict=True), start=1)
    ]
    return rel.project(", ".join(cols))


def _fitting(batch: pa.RecordBatch, room: int) -> pa.RecordBatch:
    """The longest head of `batch` whose size is at most `room` bytes (the batch itself if all fit)."""
    if batch.nbytes <= room:
        return batch
    lo, hi = 0, batch.num_rows  # invariant: head(lo) fits, head(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if batch.slice(0, mid).nbytes <= room:
            lo = mid
        else:
            hi = mid
    return batch.slice(0, lo)


def serve(conn: Connection, settings: Settings, limits: Limits) -> None:
    """The worker's main loop: answer requests until the parent closes the pipe or sends None."""
    try:
        worker = Worker(settings, limits)
        base = worker.enforce()
    except Exception as e:  # the parent logs why a worker could not start
        conn.send(("failed", repr(e), None))
        return
    conn.send(("ready", os.getpid(), base))
    while True:
        try:
            req = conn.recv()
        except (EOFError, OSError):
            return
        if req is None:
            return
        try:
            reply = worker.handle(req)
        except MemoryError:
            reply = ("error", "memory", "query needs more memory than allowed")
        except Exception as e:  # a query must never take its worker down: answer with what failed
            reply = ("error", "query", _first_line(e))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
