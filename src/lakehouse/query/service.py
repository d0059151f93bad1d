"""`QueryService`: read-only SQL and previews for a caller, with its role's rules applied.

SQL is validated once per text (sqlglot, scope by scope) and memoised by size; below admin, only
allow-listed functions may be called; every table read must be readable by the caller's role, and
a reader sees PII columns masked in the engine itself. Execution is the `QueryEngine`'s (worker
processes under kernel limits).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyarrow as pa
from cachetools import LRUCache

from lakehouse.access import AccessService, Principal
from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import InputError, TableNotFoundError
from lakehouse.query.engine import QueryEngine
from lakehouse.query.safety import ParsedQuery, validate, validate_filter
from lakehouse.query.text import duckdb_text
from lakehouse.results import QueryResult
from lakehouse.storage.base import TableStore

PREVIEW_MAX = 1000


class _Memo:
    """Validated statements and filters by text, bounded by the text they hold."""

    def __init__(self) -> None:
        # a parsed tree is ~20x its text: 2 MiB of text is ~40 MiB of trees
        self.statements: LRUCache[str, ParsedQuery] = LRUCache(maxsize=2 * 1024 * 1024, getsizeof=lambda p: len(p.sql) + 200)
        self.filters: LRUCache[str, str] = LRUCache(maxsize=1024 * 1024, getsizeof=lambda f: 2 * len(f) + 100)
        self.lock = threading.Lock()

    def statement(self, sql: str) -> ParsedQuery:
        with self.lock:
            hit = self.statements.get(sql)
        if hit is None:
            hit = validate(sql)
            with self.lock:
                if len(sql) + 200 <= self.statements.maxsize:
                    self.statements[sql] = hit
        return hit

    def filter(self, text: str) -> str:
        with self.lock:
            hit = self.filters.get(text)
        if hit is None:
            hit = validate_filter(text)
            with self.lock:
                if 3 * len(text) + 100 <= self.filters.maxsize:
                    self.filters[text] = hit
        return hit


class QueryService:
    def __init__(
        self, settings: Settings, store: TableStore, access: AccessService, pii: Callable[[TableId], list[str]]
    ) -> None:
        self.settings = settings
        self.store = store
        self.access = access
        self._pii = pii
        self._engine: QueryEngine | None = None
        self._lock = threading.Lock()
        self._memo = _Memo()

    @property
    def engine(self) -> QueryEngine:
        with self._lock:
            if self._engine is None:
                api = self.settings.api
                self._engine = QueryEngine(self.settings, self.store, materialize_max_bytes=api.materialize_max_mb * 1024 * 1024)
            return self._engine

    def prepare(self) -> None:
        """Build the function allow-list (~0.5 s) before a request needs it."""
        from lakehouse.query.functions import allowed

        allowed()

    def start_workers(self) -> None:
        """Start the query workers now (a server does it at start-up, not on its first query)."""
        self.engine.pool.start()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    def _mask(self, who: Principal, t: TableId) -> list[str] | None:
        return self._pii(t) if who.role.masks_pii else None

    def sql(self, sql: str, who: Principal, limit: int | None = None) -> QueryResult:
        """One read-only SELECT over the lake tables the caller may read."""
        who.check_query()
        try:
            parsed = self._memo.statement(sql)
        except TableNotFoundError as e:
            raise TableNotFoundError(e.name, self.access.readable(who, e.suggestions)) from None
        if not who.role.is_admin:
            parsed.check_functions()
        masks = {}
        for t in parsed.tables:
            who.check_read(t)
            if (m := self._mask(who, t)) is not None:
                masks[t] = m
        api = self.settings.api
        cap = min(limit or api.query_max_rows, api.query_max_rows)
        return self.engine.run(parsed, max_rows=cap, timeout_s=api.query_timeout_s, masks=masks)

    def preview(
        self, name: str, who: Principal, *, limit: int | None = None, columns: list[str] | None = None,
        where: str | None = None, version: int | None = None,
    ) -> QueryResult:
        """The first rows of a table (a filter is one boolean expression of allow-listed functions)."""
        t = self.access.table(name, who)
        limit = limit or self.settings.api.preview_default_limit
        if not 1 <= limit <= PREVIEW_MAX:
            raise InputError(f"limit must be between 1 and {PREVIEW_MAX}")
        if version is not None:
            current = self.engine.current(t)[0]
            if not 0 <= version <= current:
                raise InputError(f"version {version} of {t.fqn} does not exist", hint=f"versions 0..{current}")
        if columns:
            names = self.engine.schema(t).names
            missing = [c for c in columns if c not in names]
            if missing:
                raise InputError(f"unknown column(s) {', '.join(missing)} in {t.fqn}", hint=f"columns: {', '.join(names)}")
        cond = self._memo.filter(where) if where else None  # allow-listed functions only, every role
        return self.engine.preview(
            t, limit=limit, timeout_s=self.settings.api.query_timeout_s, columns=columns,
            where=cond, version=version, mask=self._mask(who, t),
        )

    @staticmethod
    def as_text(column: pa.ChunkedArray) -> list[object]:
        """Values Python cannot hold (infinite or far-away times) as DuckDB's own text."""
        return duckdb_text(column)
