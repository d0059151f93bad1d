"""Cron arithmetic with cronsim (a kept library; no hand-written cron parser).

Slots are the instants a cron expression names, in the schedule's time zone, handed back in
UTC. Every walk over slots is bounded: a scheduler that was down for a year looks at the few
slots its catch-up policy can use, not at 52,000 ten-minute slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from lakehouse.exceptions import ConfigError

COUNT_LIMIT = 1_000  # missed slots are counted up to this many (then reported as "at least")


def check(expr: str) -> str:
    try:
        if len(expr.split()) != 5:  # cronsim also takes a sixth field, seconds: not for jobs
            raise CronSimError("Wrong number of fields")
        CronSim(expr, datetime.now(UTC))
    except CronSimError as exc:
        raise ConfigError(f"cron expression '{expr}': {exc}", hint="five fields: minute hour day month weekday") from None
    return expr


def explain(expr: str) -> str:
    """'At 02:00 every day': cronsim's own description, for listings."""
    try:
        return str(CronSim(expr, datetime.now(UTC)).explain())
    except Exception:  # explain() is best effort: a listing never fails on it
        return expr


def _local(t: datetime, tz: str) -> datetime:
    return t.astimezone(ZoneInfo(tz))


def next_slot(expr: str, after: datetime, tz: str = "UTC") -> datetime:
    """The first slot strictly after `after`.

    cronsim's forward walk can step over slots right after a half-hour DST change (Lord Howe
    Island: from 12:00 UTC on 2026-10-03 it names 03:35 local as the next `*/7 3 * * *`, skipping
    03:00-03:28); its backward walk does not. So the forward answer is checked backwards: any
    slot between `after` and it is the real next one.
    """
    candidate = next(iter(CronSim(expr, _local(after, tz)))).astimezone(UTC)
    for _ in range(1_000):  # bounded: each step moves back by at least a minute
        earlier = latest_slot(expr, candidate - timedelta(minutes=1), tz)
        if earlier is None or earlier <= after:
            return candidate
        candidate = earlier
    return candidate


def latest_slot(expr: str, at: datetime, tz: str = "UTC") -> datetime | None:
    """The last slot at or before `at` (None if the expression names no instant before it)."""
    # cronsim walks backwards from strictly before its start; start a minute past `at`, skip
    # what lies after `at`.
    for slot in islice(CronSim(expr, _local(at + timedelta(minutes=1), tz), reverse=True), 3):
        s = slot.astimezone(UTC)
        if s <= at:
            return s
    return None


@dataclass(frozen=True)
class Due:
    """The slots of one job in (after, now]: the newest `kept` of them, and how many there were."""

    slots: tuple[datetime, ...]  # ascending
    total: int  # all slots in the window (capped at COUNT_LIMIT)

    @property
    def missed(self) -> int:
        return self.total - len(self.slots)


def due(expr: str, after: datetime, now: datetime, *, keep: int, tz: str = "UTC") -> Due:
    """The newest `keep` slots in (after, now], ascending, and how many slots the window holds."""
    if now <= after:
        return Due((), 0)
    newest: list[datetime] = []
    total = 0
    start = _local(now + timedelta(minutes=1), tz)
    for slot in CronSim(expr, start, reverse=True):
        s = slot.astimezone(UTC)
        if s > now:
            continue
        if s <= after or total >= COUNT_LIMIT:
            break
        total += 1
        if len(newest) < keep:
            newest.append(s)
    return Due(tuple(reversed(newest)), total)
