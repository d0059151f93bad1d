"""Read-only SQL over the lake: versions, rendering and caches here, execution in workers.

The parent keeps only what is cheap and bounded: the current Delta version and schema of each
table (re-checked at most every `refresh_s` seconds), the rendered text of recent queries and a
result cache, both LRU bounded in **bytes** (`cachetools`). Execution happens in worker
processes under kernel limits (`query.worker`, `query.pool`), so no query, whatever functions
it calls, can take the server's memory or outlive its deadline.

Lake tables are bound under internal names carrying a random per-engine token
(`lh<token>_gold__user_segments`): user text cannot name them, the rendered SQL references only
the names bound for the query (`ParsedQuery.render` refuses any other table node), and a worker
registers only those names for the query and drops them after. Error texts come back with the
internal names replaced by the names users write and without DuckDB's echo of the rendered SQL.

A repeated query or preview over unchanged versions and masks is answered from the result cache
without a worker round trip.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.ipc as ipc
from cachetools import LRUCache

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import QueryError, QueryMemoryError, QueryTimeoutError, TableNotBuiltError
from lakehouse.query.pool import WorkerPool
from lakehouse.query.safety import ParsedQuery
from lakehouse.query.worker import Binding, Limits, Request
from lakehouse.results import QueryResult
from lakehouse.storage.base import TableStore

log = logging.getLogger(__name__)

Masks = Mapping[TableId, Sequence[str]]

# Tables up to this size on disk are read into a worker's memory once per version (DuckDB scans
# an in-memory Arrow table ~10x faster than a lazy dataset); bigger ones stay lazy datasets.
MATERIALIZE_MAX_BYTES = 64 * 1024 * 1024
MiB = 1024 * 1024


def internal_name(t: TableId, masked: bool = False, version: int | None = None, token: str = "") -> str:
    base = f"lh{token}_{t.layer}__{t.name}"
    if version is not None:
        base += f"__v{version}"
    return base + ("__m" if masked else "")


_ANY_INTERNAL = re.compile(r'"?\blh[0-9a-f]*_(bronze|silver|gold)__([a-z0-9_]+?)(?:__v\d+)?(?:__m)?(?:_src)?\b"?')


def public_message(text: str) -> str:
    """A worker's error text with internal names shown as users write them (`gold.x`)."""
    return _ANY_INTERNAL.sub(lambda m: f"{m.group(1)}.{m.group(2)}", text)


class QueryEngine:
    def __init__(
        self, settings: Settings, store: TableStore, *, workers: int | None = None, refresh_s: float = 1.0,
        materialize_max_bytes: int = MATERIALIZE_MAX_BYTES, result_cache_bytes: int | None = None,
        result_max_bytes: int | None = None,
    ) -> None:
        api = settings.api
        self.settings = settings
        self.store = store
        self.refresh_s = refresh_s
        self.result_max_bytes = result_max_bytes or int(api.result_max_mb * MiB)
        self.token = secrets.token_hex(6)
        memory = api.worker_memory_mb * MiB
        threads = settings.duckdb_threads or 2
        self.pool = WorkerPool(settings, workers or api.query_workers, Limits(
            memory_bytes=memory,
            # DuckDB's buffer pool stays well inside the worker's bound (the worker lowers it to
            # 40% of what is left after start-up): well-behaved queries spill or fail with
            # DuckDB's own error before the kernel's limit is near.
            duckdb_memory_bytes=_bytes(settings.duckdb_memory_limit),
            threads=threads,
            materialize_max_bytes=materialize_max_bytes,
        ), kill_grace_s=api.query_kill_grace_s)
        self._current: dict[TableId, tuple[float, int, pa.Schema]] = {}
        self._lock = threading.Lock()
        cache_bytes = result_cache_bytes if result_cache_bytes is not None else api.result_cache_mb * MiB
        self._cache: LRUCache[object, tuple[pa.Table, bool]] = LRUCache(
            maxsize=max(1, cache_bytes), getsizeof=lambda v: max(1, v[0].nbytes) + 256)
        self._cache_bytes = cache_bytes
        # rendered SQL by (text, masked tables): bounded by the text it holds (~100 B per entry extra)
        self._rendered: LRUCache[tuple[str, tuple[str, ...]], str] = LRUCache(
            maxsize=8 * MiB, getsizeof=lambda s: len(s) + 100)

    def close(self) -> None:
        self.pool.close()

    # -- table versions ---------------------------------------------------------------------
    def current(self, t: TableId) -> tuple[int, pa.Schema]:
        now = time.monotonic()
        with self._lock:
            hit = self._current.get(t)
        if hit and now - hit[0] < self.refresh_s:
            return hit[1], hit[2]
        if not self.store.exists(t):
            raise TableNotBuiltError(t.fqn)
        version = self.store.version(t)
        if version is None:
            raise TableNotBuiltError(t.fqn)
        schema = hit[2] if hit and hit[1] == version else self.store.schema(t)
        with self._lock:
            self._current[t] = (now, version, schema)
        return version, schema

    def invalidate(self, t: TableId | None = None) -> None:
        with self._lock:
            if t is None:
                self._current.clear()
            else:
                self._current.pop(t, None)

    def schema(self, t: TableId) -> pa.Schema:
        return self.current(t)[1]

    # -- caches -----------------------------------------------------------------------------------
    def _cached(self, key: object) -> tuple[pa.Table, bool] | None:
        with self._lock:
            return self._cache.get(key)

    def _keep(self, key: object, value: tuple[pa.Table, bool]) -> None:
        if value[0].nbytes * 8 > self._cache_bytes:  # one result may take at most 1/8 of the cache
            return
        with self._lock:
            self._cache[key] = value

    def cache_bytes(self) -> int:
        with self._lock:
            return int(self._cache.currsize + self._rendered.currsize)

    # -- execution --------------------------------------------------------------------------------
    def _execute(self, sql: str, bindings: Sequence[Binding], max_rows: int, timeout_s: float) -> tuple[pa.Table, bool]:
        req = Request(sql, tuple(bindings), max_rows, self.result_max_bytes, timeout_s)
        status, a, b = self.pool.run(req, wait_s=max(timeout_s, 1.0))
        if status == "ok":
            return ipc.open_stream(b).read_all(), bool(a)
        if a == "timeout":
            raise QueryTimeoutError(f"query exceeded the {timeout_s:g} s time limit and was stopped",
                                    hint="narrow it with WHERE, or aggregate")
        if a == "memory":
            raise QueryMemoryError("query needs more memory than allowed", hint="aggregate or filter more")
        if a == "not_built":
            raise TableNotBuiltError(str(b))
        if a == "too_big":
            raise QueryError(str(b), hint="select fewer or smaller columns")
        raise QueryError(public_message(str(b)))

    # -- public -------------------------------------------------------------------------------
    def run(self, parsed: ParsedQuery, *, max_rows: int, timeout_s: float, masks: Masks | None = None) -> QueryResult:
        """Run a validated query; at most `max_rows` rows come back (`truncated` says if more)."""
        masks = masks or {}
        t0 = time.perf_counter()
        tables = parsed.tables
        versions = [self.current(t)[0] for t in tables]
        sql = self._render(parsed, masks)
        # Same text over the same table versions and masks gives the same rows: reuse them.
        key = (sql, max_rows, tuple(versions), tuple(sorted((t.fqn, tuple(m)) for t, m in masks.items())))
        hit = self._cached(key)
        if hit is None:
            bindings = [
                Binding(internal_name(t, t in masks, token=self.token), t.fqn, v, False,
                        tuple(masks[t]) if t in masks else None)
                for t, v in zip(tables, versions, strict=True)
            ]
            hit = self._execute(sql, bindings, max_rows, timeout_s)
            self._keep(key, hit)
        return QueryResult(hit[0], hit[1], _ms(t0), tables)

    def _render(self, parsed: ParsedQuery, masks: Masks) -> str:
        """The query over internal names; memoised by text and masked tables (sqlglot's copy,
        transform and generate cost ~0.5 ms, more than a warm query over a small table)."""
        key = (parsed.sql, tuple(sorted(t.fqn for t in parsed.tables if t in masks)))
        with self._lock:
            body = self._rendered.get(key)
        if body is not None:
            return body
        if self.token in parsed.sql.lower():
            raise QueryError("the query names an internal object", hint="read lake tables by name")
        body = parsed.render(lambda t: ("", internal_name(t, masked=t in masks, token=self.token)))
        with self._lock:
            if len(body) + 100 <= self._rendered.maxsize:
                self._rendered[key] = body
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
        select = ", ".join(_quote(c) for c in columns) if columns else "*"
        cond = f" WHERE {where}" if where else ""
        travel = version is not None
        v = version if version is not None else self.current(t)[0]
        name = internal_name(t, masked=mask is not None, version=version, token=self.token)
        sql = f"SELECT {select} FROM {_quote(name)}{cond}"
        key = ("preview", sql, limit, v, (t.fqn, tuple(mask)) if mask is not None else ())
        hit = self._cached(key)
        if hit is None:
            binding = Binding(name, t.fqn, v, travel, tuple(mask) if mask is not None else None)
            hit = self._execute(sql, [binding], limit, timeout_s)
            self._keep(key, hit)
        return QueryResult(hit[0], hit[1], _ms(t0), [t])


def _bytes(text: str) -> int:
    """`4GB`, `512MB`, `1.5GiB` → bytes (DuckDB's memory_limit spellings)."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?B)?\s*", text, re.I)
    if not m:
        return 4 * 1024 * MiB
    unit = {"": 1, "K": 1024, "M": MiB, "G": 1024 * MiB, "T": 1024 * 1024 * MiB}[m.group(2).upper()]
    return int(float(m.group(1)) * unit)


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)
