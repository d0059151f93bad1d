"""The scheduler's clock: what time the crons see, and how it waits (injected in tests)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def wait(self, seconds: float, event: threading.Event) -> bool:
        """Wait up to `seconds` or until `event` is set; True when it is set."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, seconds: float, event: threading.Event) -> bool:
        return event.wait(max(seconds, 0.0))
