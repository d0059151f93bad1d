"""Audit and Prometheus metrics for every request, as one pure-ASGI middleware.

Routes that touch data fill the request's `AuditNote` (tables, query text, rows); the
middleware adds who, endpoint, status and duration, and queues the audit row. Health,
metrics and docs are not audited.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakehouse.access import AuditRecord, Principal
from lakehouse.api.auth import PRINCIPAL_KEY
from lakehouse.results import QueryResult
from lakehouse.service import Lakehouse

NOTE_KEY = "lakehouse.audit"
UNAUDITED = ("/health", "/metrics", "/docs", "/redoc", "/openapi.json", "/favicon.ico")


@dataclass
class AuditNote:
    tables: list[str] = field(default_factory=list)
    query: str | None = None
    rows: int | None = None


def note(request: Request, *, tables: Iterable[str] = (), query: str | None = None,
         result: QueryResult | None = None, rows: int | None = None) -> None:
    n: AuditNote | None = request.scope.get(NOTE_KEY)
    if n is None:
        return
    n.tables = sorted(set(n.tables) | set(tables))
    n.query = query or n.query
    if result is not None:
        n.tables = sorted(set(n.tables) | {t.fqn for t in result.tables})
        n.rows = result.row_count
    elif rows is not None:
        n.rows = rows


class _Freshness(Collector):
    def __init__(self, lh: Lakehouse, layers: frozenset[str] | None = None) -> None:
        self.lh = lh
        self.layers = layers  # None: every table

    def collect(self) -> Iterable[GaugeMetricFamily]:
        last = GaugeMetricFamily("lakehouse_table_last_modified_timestamp_seconds",
                                 "Unix time of the table's last Delta commit", labels=["table"])
        age = GaugeMetricFamily("lakehouse_table_freshness_seconds",
                                "Seconds since the table's last Delta commit", labels=["table"])
        now = time.time()
        for table, ts in sorted(self.lh.catalog.freshness().items()):
            if self.layers is not None and table.split(".", 1)[0] not in self.layers:
                continue
            last.add_metric([table], ts)
            age.add_metric([table], max(0.0, now - ts))
        yield last
        yield age


class _Shared(Collector):
    """Metrics owned by the main registry, also exposed through another one."""

    def __init__(self, *metrics: Collector) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        for m in self.metrics:
            yield from m.collect()


class Metrics:
    def __init__(self, lh: Lakehouse) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lakehouse_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "lakehouse_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.rows = Counter("lakehouse_rows_served", "Rows returned by data endpoints", ["route"], registry=self.registry)
        self.registry.register(_Freshness(lh))
        # The health signals (freshness, lag, layer delay, quality, runs, Kafka lag) for admins.
        self.registry.register(lh.health_collector())
        # What /metrics shows without an admin key: the same HTTP metrics, freshness of gold only
        self.public = CollectorRegistry()
        self.public.register(_Shared(self.requests, self.latency, self.rows))
        self.public.register(_Freshness(lh, frozenset({"gold"})))
        # labelled children by label values: `labels()` validates and locks on every call
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float, rows: int | None) -> None:
        key = (method, route, str(status))
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (self.requests.labels(*key), self.latency.labels(method, route))
        pair[0].inc()
        pair[1].observe(seconds)
        if rows:
            self.rows.labels(route).inc(rows)


class Observe:
    def __init__(self, app: ASGIApp, lh: Lakehouse, metrics: Metrics) -> None:
        self.app = app
        self.lh = lh
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        scope[NOTE_KEY] = audit = AuditNote()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - t0
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.observe(method, route, status, elapsed, audit.rows)
            path = str(scope.get("path", ""))
            if not path.startswith(UNAUDITED):
                who: Principal | None = scope.get(PRINCIPAL_KEY)
                self.lh.access.record(AuditRecord(
                    who=who.name if who else "unauthenticated", role=who.role.name if who else None,
                    method=method, endpoint=path, status=status, duration_ms=elapsed * 1000,
                    tables=audit.tables, query=audit.query, rows=audit.rows,
                ))
