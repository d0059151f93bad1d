"""Signals that arrive while the `lakehouse` command is still starting are held, not fatal.

Importing the lakehouse (DuckDB, Arrow, delta-rs, Typer, Rich) takes a second or more. A
SIGTERM in that time used to kill `lakehouse ingest --source kafka --follow` outright (exit
143, no report). `cli/main.py` imports this module (standard library only) first: in the
`lakehouse` process it holds SIGINT and SIGTERM until a command starts. Every command but a
Kafka ingest calls `release()` as it starts, which delivers a held signal as usual; the Kafka
ingest's own handler takes a held signal over instead (it reads `held` on the handler it
replaces, `ingest/kafka/signals.py`) and stops at once, with a report.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Held:
    """The handler while the command starts: remembers the first signal."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.held: str | None = None  # its name, for the handler that takes it over
        self.taken = False  # taken over: `release()` does not deliver it again

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum, self.held = signum, signal.Signals(signum).name


_holder: Held | None = None
_previous: dict[int, Any] = {}


def _is_the_command() -> bool:
    # Only the `lakehouse` process itself (console script or `python -m lakehouse.cli.main`),
    # never a program that imports the CLI (tests, an embedding application).
    argv0 = Path(sys.argv[0])
    return argv0.name == "lakehouse" or argv0.resolve() == Path(__file__).resolve().with_name("main.py")


def hold() -> None:
    global _holder
    if _holder is not None or not _is_the_command():
        return
    _holder = Held()
    for s in SIGNALS:
        _previous[s] = signal.signal(s, _holder)


def release() -> None:
    """Back to the usual handling; a signal held meanwhile is delivered now."""
    global _holder
    holder = _holder
    _holder = None
    if holder is None:
        return
    pending = None if holder.taken else holder.signum
    for s, h in _previous.items():
        if signal.getsignal(s) is holder:
            signal.signal(s, h)
    if pending is not None:
        signal.raise_signal(pending)


hold()
