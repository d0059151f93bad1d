"""Cron windows and the lease race, against references that cannot be wrong the same way."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lakehouse.config import JobSchedule, ScheduleSettings
from lakehouse.exceptions import ConfigError
from lakehouse.ops.scheduler import ScheduleStore
from lakehouse.ops.scheduler.cron import COUNT_LIMIT, due, latest_slot, next_slot

CRONS = ["*/10 * * * *", "0 * * * *", "30 2 * * *", "0 2 * * *", "15 1,3 * * *", "0 0 * * 0", "*/7 3 * * *",
         "59 23 L * *", "0 12 * * 1#2"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def forward(expr: str, after: datetime, now: datetime, tz: str) -> list[datetime]:
    """The reference: cronsim's forward walk, restarted every half hour of UTC time. Its forward
    walk can step over slots right after a half-hour DST change; every zone changes on a UTC half
    hour, so no restarted walk crosses a change before it stops."""
    zone = ZoneInfo(tz)
    out: list[datetime] = []
    step = timedelta(minutes=30)
    begin = after.replace(minute=after.minute - after.minute % 30, second=0, microsecond=0)
    while begin <= now and len(out) <= COUNT_LIMIT:
        end = begin + step
        for t in CronSim(expr, (begin - timedelta(seconds=1)).astimezone(zone)):
            u = t.astimezone(UTC)
            if u >= end:
                break
            if after < u <= now:
                out.append(u)
        begin = end
    return out


def test_next_slot_after_a_half_hour_dst_change() -> None:
    # Lord Howe Island moves from UTC+10:30 to +11 at 02:00 local on 2026-10-04: 03:00 local is
    # 16:00 UTC, and the first `*/7 3 * * *` after noon UTC is that one (cronsim's forward walk
    # alone says 16:35).
    after = datetime(2026, 10, 3, 12, 0, tzinfo=UTC)
    assert next_slot("*/7 3 * * *", after, "Australia/Lord_Howe") == datetime(2026, 10, 3, 16, 0, tzinfo=UTC)
    d = due("*/7 3 * * *", after, datetime(2026, 10, 3, 16, 0, tzinfo=UTC), keep=1, tz="Australia/Lord_Howe")
    assert d.slots == (datetime(2026, 10, 3, 16, 0, tzinfo=UTC),) and d.total == 1


@settings(max_examples=200, deadline=None)
@given(
    expr=st.sampled_from(CRONS), tz=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    minutes=st.integers(min_value=0, max_value=30 * 24 * 60), keep=st.integers(min_value=1, max_value=5),
)
# Lord Howe's half-hour DST change (found by this test: cronsim's forward walk skipped 16:00 UTC).
@example(expr="*/7 3 * * *", tz="Australia/Lord_Howe", start=datetime(2026, 9, 30, 22, 0, tzinfo=UTC),
         minutes=3960, keep=1)
def test_due_is_the_newest_slots_of_the_window(expr: str, tz: str, start: datetime, minutes: int, keep: int) -> None:
    now = start + timedelta(minutes=minutes, seconds=start.second % 7)
    ref = forward(expr, start, now, tz)
    d = due(expr, start, now, keep=keep, tz=tz)
    assert d.total == min(len(ref), COUNT_LIMIT)
    if len(ref) <= COUNT_LIMIT:
        assert list(d.slots) == ref[-keep:]
    assert all(start < s <= now for s in d.slots) and list(d.slots) == sorted(set(d.slots))
    last = latest_slot(expr, now, tz)
    assert last is not None and last <= now and next_slot(expr, last, tz) > now
    if ref and len(ref) <= COUNT_LIMIT:
        assert last == ref[-1]


@pytest.mark.parametrize("bad", ["* * * * * *", "@daily", "61 * * * *", "0 0 31 2 *", "every hour", ""])
def test_bad_crons_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="cron expression"):
        ScheduleSettings(gold=JobSchedule(cron=bad))


@pytest.mark.parametrize("rivals", [2, 8])
def test_rivals_racing_for_a_lease_get_exactly_one_holder(store: ScheduleStore, rivals: int) -> None:
    for round_ in range(5):
        name = f"race-{rivals}-{round_}"
        barrier = threading.Barrier(rivals)
        won: list[str] = []

        def take(who: str, name: str = name, barrier: threading.Barrier = barrier, won: list[str] = won) -> None:
            barrier.wait()
            if store.acquire(name, who, 60) is not None:
                won.append(who)

        threads = [threading.Thread(target=take, args=(f"h{i}",)) for i in range(rivals)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(won) == 1
        lease = store.lease(name)
        assert lease is not None and lease.holder == won[0] and lease.live and lease.token == 1
