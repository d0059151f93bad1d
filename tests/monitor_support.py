"""Helpers for the monitoring tests (importable as `monitor_support`): a real HTTP receiver for
webhooks, and small real Delta tables. The metadata-store backends are in `support`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa

from lakehouse.contract import REGISTRY
from lakehouse.contract.arrow import arrow_schema
from lakehouse.metadata.models import QualityResult, Run
from lakehouse.metadata.store import MetadataStore
from lakehouse.storage.base import TableStore


# -- a webhook receiver ---------------------------------------------------------------------------
@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POSTed JSON body.

    `fail_next(n, status)` answers the next n requests with `status` (no body recorded as
    delivered); `attempts` counts every request, answered or not.
    """

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    _fail: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._fail.extend([status] * n)

    def heal(self) -> None:
        with self._lock:
            self._fail.clear()

    def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every alert received, in order (optionally only those with this status)."""
        return [a for b in self.bodies for a in b["alerts"] if status is None or a["status"] == status]

    def count(self, fingerprint: str, status: str) -> int:
        return sum(1 for a in self.alerts(status) if a["fingerprint"] == fingerprint)


@contextmanager
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec._lock:
                rec.attempts += 1
                status = rec._fail.pop(0) if rec._fail else 200
                if status == 200:
                    rec.bodies.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- real Delta tables ---------------------------------------------------------------------------
def contract_rows(table: str, n: int, **values: Any) -> pa.Table:
    """`n` rows in the contract's schema of `table`: `values` per column (a scalar or a list), nulls elsewhere."""
    schema = arrow_schema(REGISTRY.spec(table))
    cols = []
    for f in schema:
        v = values.get(f.name)
        cols.append(pa.array(v if isinstance(v, list) else [v] * n, type=f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def append(store: TableStore, table: str, n: int = 3, *, txns: dict[str, int] | None = None, **values: Any) -> int:
    spec = REGISTRY.spec(table)
    return store.append(table, contract_rows(table, n, **values), partition_by=list(spec.partition_by) or None,
                        txns=txns)


def last_commit(store: TableStore, table: str) -> datetime:
    ts = store.history(table, 1)[0].timestamp
    assert ts is not None
    return ts


# -- the metadata store --------------------------------------------------------------------------
def add_run(meta: MetadataStore, job: str, status: str, started: datetime, seconds: float = 1.0,
            run_id: str | None = None, tables: list[str] | None = None, error: str | None = None) -> Run:
    run = Run(run_id=run_id or f"{job}-{started.timestamp():.6f}-{status}", job=job, status=status, started_at=started,
              ended_at=started + timedelta(seconds=seconds), duration_s=seconds, error=error,
              tables=[{"table": t} for t in tables or []], details={})
    meta.save_run(run)
    return run


def add_check(meta: MetadataStore, table: str, check: str, outcome: str, *, failing: int = 0, checked: int = 100,
              metric: float | None = None, kind: str = "", at: datetime | None = None, passed: bool | None = None) -> None:
    meta.add_quality([QualityResult(
        table_fqn=table, check_name=check, passed=outcome == "pass" if passed is None else passed,
        failing_rows=failing, run_id="r", at=at or datetime.now(UTC), kind=kind, outcome=outcome,
        rows_checked=checked, metric=metric,
    )])


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)
