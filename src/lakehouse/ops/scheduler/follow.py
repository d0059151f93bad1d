"""The continuous Kafka ingest (`ingest --follow`) kept running by the scheduler that holds the lease.

It runs as the `ingest` job (its lease, its history rows with trigger `follow`), on its own
thread, so the crons go on beside it. Stopped with the scheduler (it commits the batch in hand
and returns) or when the scheduler loses its lease; restarted with a capped backoff when it
fails, and it waits while another process follows (the `job:ingest` lease is held elsewhere).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lakehouse.ops.scheduler.execute import Executor
from lakehouse.ops.scheduler.jobs import FOLLOW, JobFn

log = logging.getLogger(__name__)


class Follower:
    def __init__(self, executor: Executor, make: Callable[[threading.Event], JobFn], *,
                 backoff_s: float, backoff_max_s: float, idle_s: float) -> None:
        self.executor = executor
        self.make = make
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.idle_s = idle_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="lakehouse-follow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self, stop: threading.Event) -> None:
        delay = self.backoff_s
        fns = dict(self.executor.fns)
        fns[FOLLOW.name] = self.make(stop)
        executor = Executor(self.executor.store, fns, self.executor.settings, holder=self.executor.holder,
                            clock=self.executor.clock, control=self.executor.control)
        while not stop.is_set() and not executor.control.stopping.is_set():
            out = executor.run(FOLLOW, slot=None, trigger="follow")
            if out.status == "success":
                delay = self.backoff_s
                wait = 0.0 if stop.is_set() else self.idle_s  # it returned by itself: start again
            elif out.status == "skipped":  # another process follows: look again later
                wait = self.idle_s
            else:
                log.warning("continuous ingest stopped: %s; restarting in %.0f s", out.error, delay)
                wait, delay = delay, min(max(delay, 0.1) * 2, self.backoff_max_s)
            executor.clock.wait(wait, stop)
