"""The parent's side of the query workers: a small pool of processes, each running one query.

Workers are forked from a `forkserver` (the server is multithreaded, so never `fork` it
directly; the fork server preloads DuckDB, Arrow and delta-rs once, so a replacement worker is
ready in tens of milliseconds instead of the ~1.5 s a `spawn` takes to import them). A request
waits at most `wait_s` for a free worker (`QueryBusyError` after). A worker that has not
answered by the hard deadline (the time limit plus a grace period: DuckDB's interrupt usually
stops the query first) is SIGKILLed; a worker that died (its RSS watchdog, the kernel) is
reaped; either way a new one is started in the background and the server lives on.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from lakehouse.config import Settings
from lakehouse.exceptions import QueryBusyError, QueryError, QueryMemoryError, QueryTimeoutError
from lakehouse.query.worker import MEMORY_EXIT, Limits, Reply, Request, rss_bytes, serve

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0


@dataclass(eq=False)
class _Handle:
    proc: BaseProcess
    conn: Connection
    started: float = field(default_factory=time.monotonic)


def _context() -> Any:  # a ForkServerContext, or a SpawnContext (typeshed has no common type with Process)
    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["lakehouse.query.worker"])
        return ctx
    except ValueError:  # no forkserver on this platform
        return mp.get_context("spawn")


class WorkerPool:
    def __init__(self, settings: Settings, size: int, limits: Limits, *, kill_grace_s: float = 2.0) -> None:
        self.settings = settings
        self.size = size
        self.limits = limits
        self.kill_grace_s = kill_grace_s
        self._ctx = _context()
        self._idle: queue.Queue[_Handle] = queue.Queue()
        self._live: set[_Handle] = set()
        self._lock = threading.Lock()
        self._started = False
        self._first = threading.Event()  # set once a worker has been ready
        self._closed = False
        self.restarts = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
        for _ in range(self.size):
            threading.Thread(target=self._add, name="query-worker-start", daemon=True).start()

    def _spawn(self) -> _Handle:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=serve, args=(child, self.settings, self.limits),
                                 name="lakehouse-query", daemon=True)
        proc.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S):
            proc.kill()
            raise RuntimeError("query worker did not start in time")
        status, info, _ = parent.recv()
        if status != "ready":
            proc.join(5)
            raise RuntimeError(f"query worker failed to start: {info}")
        return _Handle(proc, parent)

    def _add(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                h = self._spawn()
            except (RuntimeError, OSError, EOFError) as e:
                if self._closed:
                    return
                log.error("%s; retrying in %.1f s", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            with self._lock:
                if self._closed:
                    self._stop(h)
                    return
                self._live.add(h)
            self._idle.put(h)
            self._first.set()
            return

    def _replace(self, h: _Handle) -> None:
        with self._lock:
            self._live.discard(h)
            self.restarts += 1
        self._stop(h)
        if not self._closed:
            threading.Thread(target=self._add, name="query-worker-start", daemon=True).start()

    @staticmethod
    def _stop(h: _Handle) -> None:
        try:
            if h.proc.is_alive() and h.proc.pid is not None:
                h.proc.kill()
            h.proc.join(5)
        finally:
            h.conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
        for h in live:
            with contextlib.suppress(OSError, ValueError):
                h.conn.send(None)
        for h in live:
            h.proc.join(2)
            self._stop(h)

    # -- facts (for the soak and the tests) -----------------------------------------------------------
    def pids(self) -> list[int]:
        with self._lock:
            return [h.proc.pid for h in self._live if h.proc.pid is not None]

    def rss(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids())

    # -- running --------------------------------------------------------------------------------
    def _acquire(self, wait_s: float) -> _Handle:
        self.start()
        self._first.wait(START_TIMEOUT_S)  # the first start (the fork server's imports) is not "busy"
        deadline = time.monotonic() + wait_s
        while True:
            try:
                h = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise QueryBusyError(
                    f"every query worker was busy for {wait_s:g} s", hint="try again shortly"
                ) from None
            if h.proc.is_alive():
                return h
            self._replace(h)  # died while idle (its RSS watchdog): take the next one

    def run(self, req: Request, *, wait_s: float) -> Reply:
        """Run one request on a free worker; raises on timeout, memory or a dead worker."""
        for _attempt in range(2):
            h = self._acquire(wait_s)
            try:
                h.conn.send(req)
            except (OSError, ValueError):  # died between the check and the send: next worker
                self._replace(h)
                continue
            return self._wait(h, req)
        raise QueryError("no query worker could take the query", hint="try again")

    def _wait(self, h: _Handle, req: Request) -> Reply:
        hard = req.timeout_s + self.kill_grace_s
        try:
            ready = h.conn.poll(hard)
            reply: Reply = h.conn.recv() if ready else None  # type: ignore[assignment]
        except (EOFError, OSError):
            h.proc.join(1)
            code = h.proc.exitcode
            self._replace(h)
            if code in (MEMORY_EXIT, -signal.SIGKILL):
                raise QueryMemoryError("query needs more memory than allowed and was stopped",
                                       hint="aggregate or filter more") from None
            raise QueryError(f"query stopped: its worker exited ({code})", hint="simplify the query") from None
        if reply is None:
            log.warning("query worker %s past its %.1f s hard deadline: killed", h.proc.pid, hard)
            self._replace(h)
            raise QueryTimeoutError(f"query exceeded the {req.timeout_s:g} s time limit and was stopped",
                                    hint="narrow it with WHERE, or aggregate")
        self._idle.put(h)
        return reply
