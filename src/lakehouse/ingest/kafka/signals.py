"""SIGINT/SIGTERM -> a stop request, for the whole of a Kafka run (main thread only).

The handler is installed before the run contacts the broker and stays until its report is
written, so a signal at any moment (waiting for an unreachable broker, joining the group,
consuming, committing) ends the run the same way: the batch in hand is committed, the
group is left, a report is written and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """Set once by `stop()` (thread- and signal-safe); `installed()` routes signals to it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal: str | None = None  # the signal that asked, if one did
        self._depth = 0

    def stop(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Route SIGINT/SIGTERM to `stop` while inside; nested uses keep the outer handler."""
        if threading.current_thread() is not threading.main_thread() or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if not self():
                log.warning("%s: committing the batch in hand, then stopping", name)
            self.signal = self.signal or name
            self.stop()

        previous = {s: signal.signal(s, handler) for s in SIGNALS}
        for prev in previous.values():
            # The `lakehouse` command holds signals while it starts (cli/startup.py): one that
            # came then is this run's stop request.
            held: Any = prev
            if isinstance(getattr(held, "held", None), str) and not getattr(held, "taken", True):
                held.taken = True
                handler(signal.Signals[held.held].value, None)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            for s, h in previous.items():
                signal.signal(s, h)
