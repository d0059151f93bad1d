"""The scheduler with a controlled clock, on the real metadata store (SQLite, and PostgreSQL).

The clock is injected (`Clock`): the crons see the time the test sets, waits advance it at
once. Leases still run on real time and the store's clock, as in production.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.config import ScheduleSettings
from lakehouse.exceptions import CommitConflictError, InputError, TransformError
from lakehouse.ops.scheduler import (
    EXIT_ABANDONED,
    EXIT_FENCED,
    Control,
    Scheduler,
    ScheduleStore,
    plan,
)
from lakehouse.ops.scheduler.cron import due
from lakehouse.ops.scheduler.loop import ON_TIME

T0 = datetime(2026, 3, 2, 1, 55, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime, stop_at: datetime | None = None, control: Control | None = None) -> None:
        self.t = start
        self.stop_at = stop_at
        self.control = control
        self.waits: list[float] = []

    def now(self) -> datetime:
        return self.t

    def wait(self, seconds: float, event: threading.Event) -> bool:
        self.waits.append(seconds)
        if not event.is_set():
            self.t += timedelta(seconds=seconds)
            if self.stop_at is not None and self.t >= self.stop_at and self.control is not None:
                self.control.stopping.set()
        return event.is_set()


class Exited(BaseException):
    def __init__(self, code: int) -> None:
        self.code = code


def raise_exit(code: int) -> NoReturn:
    raise Exited(code)


class Jobs:
    """Job functions that record their calls; `fail[job]` lists errors to raise, in turn."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, datetime]] = []
        self.fail: dict[str, list[BaseException]] = {}
        self.block: dict[str, threading.Event] = {}
        self.started: dict[str, threading.Event] = {}

    def fns(self) -> dict[str, Callable[[], list[str]]]:
        return {n: self._fn(n) for n in ("ingest", "silver", "gold", "retention", "optimize")}

    def _fn(self, name: str) -> Callable[[], list[str]]:
        def run() -> list[str]:
            self.calls.append((name, self.clock.now()))
            self.started.setdefault(name, threading.Event()).set()
            if name in self.block:
                assert self.block[name].wait(30), "the test never released the job"
            if self.fail.get(name):
                raise self.fail[name].pop(0)
            return [f"{name}-{len(self.calls)}"]

        return run

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]


def make(store: ScheduleStore, clock: FakeClock, jobs: Jobs, *, control: Control | None = None,
         holder: str = "test-a", lease: bool = True, **cfg: Any) -> Scheduler:
    settings = ScheduleSettings(**{"lease_s": 3600, "retry_backoff_s": 2.0, **cfg})
    s = Scheduler(store, jobs.fns(), settings, clock=clock, control=control or Control(exit=raise_exit), holder=holder)
    assert s.lease.acquire() or not lease
    return s


def at(h: int, m: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 3, day, h, m, tzinfo=UTC)


def test_jobs_run_in_dependency_order_and_only_when_due(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    s = make(store, clock, jobs)
    s.tick(at(1, 55))  # first sight: the schedule starts now
    assert jobs.calls == []
    expected = {
        at(2): ["ingest", "silver", "gold"],
        at(2, 10): ["ingest"],
        at(2, 15): [],
        at(3): ["ingest", "silver", "retention"],
        at(4): ["ingest", "silver", "optimize"],
    }
    for now, names in expected.items():
        jobs.calls.clear()
        s.tick(now)
        assert jobs.names() == names, now
    history = store.history(limit=100)
    assert {r.status for r in history} == {"success"} and all(r.run_ids for r in history)
    assert {r.trigger for r in history} == {"schedule"}


def test_a_job_waits_for_its_upstream_and_runs_once_it_succeeded(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    s = make(store, clock, jobs)
    s.tick(at(1, 55))
    jobs.fail["silver"] = [InputError("bad input")]
    s.tick(at(2))
    assert jobs.names() == ["ingest", "silver"]  # gold waits: silver failed in this very tick
    status = {j["job"]: j for j in _status(store, s, at(2, 1))}
    assert status["gold"]["status"] == "waiting for silver" and status["gold"]["due"]
    assert status["silver"]["last_run"]["status"] == "failed" and status["silver"]["last_run"]["error"] == "bad input"
    jobs.calls.clear()
    s.tick(at(2, 10))
    assert jobs.names() == ["ingest"]  # still waiting: silver's next slot is 03:00
    jobs.calls.clear()
    s.tick(at(3))
    assert jobs.names() == ["ingest", "silver", "gold", "retention"]  # gold right after silver succeeded
    gold = store.latest_run("gold")
    assert gold is not None and gold.slot == at(2) and gold.trigger == "catchup"
    # An upstream failing in the same pass holds back everything downstream of it.
    jobs.calls.clear()
    jobs.fail["ingest"] = [InputError("landing zone unreadable")]
    s.tick(at(4))
    assert jobs.names() == ["ingest", "optimize"]


def _status(store: ScheduleStore, s: Scheduler, now: datetime) -> list[dict[str, Any]]:
    from lakehouse.ops.scheduler import schedule_status

    jobs: list[dict[str, Any]] = schedule_status(store, s.settings, now=now)["jobs"]
    return jobs


def test_transient_errors_are_retried_with_backoff(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    s = make(store, clock, jobs, retries=3, retry_backoff_s=2.0, retry_backoff_max_s=5.0)
    job = next(j for j in s.jobs if j.name == "silver")
    # Transient twice, then fine: three attempts, waits of 2 then 4 seconds.
    jobs.fail["silver"] = [CommitConflictError("lost a race"), CommitConflictError("lost a race")]
    out = s.executor.run(job, slot=None, trigger="manual")
    assert (out.status, out.attempts, clock.waits) == ("success", 3, [2.0, 4.0])
    # A transient cause under a non-transient wrapper (a failed transform) is retried too.
    clock.waits.clear()
    wrapped = TransformError(None)
    wrapped.__cause__ = CommitConflictError("lost a race")
    jobs.fail["silver"] = [wrapped]
    assert s.executor.run(job, slot=None, trigger="manual").attempts == 2
    # Always transient: 1 + retries attempts, the backoff capped at retry_backoff_max_s.
    clock.waits.clear()
    jobs.fail["silver"] = [CommitConflictError("again") for _ in range(10)]
    out = s.executor.run(job, slot=None, trigger="manual")
    assert (out.status, out.attempts, clock.waits) == ("failed", 4, [2.0, 4.0, 5.0])
    # Not transient: no retry.
    clock.waits.clear()
    jobs.fail["silver"] = [InputError("bad"), InputError("bad")]
    out = s.executor.run(job, slot=None, trigger="manual")
    assert (out.status, out.attempts, out.error, clock.waits) == ("failed", 1, "bad", [])
    rows = store.history("silver")
    assert [r.attempts for r in rows] == [1, 4, 2, 3]


def test_the_real_transform_is_retried_after_a_lost_commit_race(store: ScheduleStore, lh: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.storage.delta import DeltaStore

    lh.simulate(events=2_000, days=1, seed=3)
    lh.ingest()
    real = DeltaStore._write
    calls = {"n": 0}

    def lose_first_race(self: DeltaStore, t: Any, *args: Any, **kwargs: Any) -> int:
        calls["n"] += str(t) == "silver.app_events"
        if calls["n"] == 1 and str(t) == "silver.app_events":
            raise CommitConflictError(f"commit to {t} lost a race")
        return real(self, t, *args, **kwargs)

    monkeypatch.setattr(DeltaStore, "_write", lose_first_race)
    clock = FakeClock(T0)
    s = Scheduler(store, lh.scheduled_jobs(), ScheduleSettings(lease_s=3600, retry_backoff_s=0), clock=clock,
                  control=Control(exit=raise_exit))
    out = s.executor.run(next(j for j in s.jobs if j.name == "silver"), slot=None, trigger="manual")
    assert (out.status, out.attempts) == ("success", 2)
    assert lh.store.exists("silver.app_events")
    failed = [r for r in lh.catalog.runs(job="transform.silver") if r["status"] == "failed"]
    assert len(failed) == 1 and "lost a race" in failed[0]["error"]


@pytest.mark.parametrize(("policy", "cap", "expected"), [
    ("latest", 3, {"ingest": 1, "silver": 1, "gold": 1, "retention": 1, "optimize": 1}),
    ("all", 3, {"ingest": 3, "silver": 3, "gold": 1, "retention": 1, "optimize": 1}),
    ("all", 20, {"ingest": 19, "silver": 4, "gold": 1, "retention": 1, "optimize": 1}),
    ("none", 3, {"ingest": 1, "silver": 1}),
])
def test_missed_runs_are_caught_up_by_the_policy(store: ScheduleStore, policy: str, cap: int,
                                                 expected: dict[str, int]) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    s = make(store, clock, jobs, catchup=policy, catchup_max=cap)
    s.tick(at(1, 55))
    s.tick(at(5, 3))  # down from 01:55 to 05:03: 19 ingest slots, 4 silver, one of each daily job
    counts = {n: jobs.names().count(n) for n in set(jobs.names())}
    assert counts == expected
    assert jobs.names() == sorted(jobs.names(), key=["ingest", "silver", "gold", "retention", "optimize"].index)
    slots = [r.slot for r in reversed(store.history("ingest")) if r.status == "success"]
    assert slots == sorted(slots) and slots[-1] == at(5)
    ingest_rows = store.history("ingest")
    assert sum(r.missed for r in ingest_rows if r.status == "success") == 19 - expected["ingest"]
    if policy == "none":  # the late daily slots are recorded as skipped, not run
        assert store.latest_run("gold").status == "skipped"  # type: ignore[union-attr]
    jobs.calls.clear()
    s.tick(at(5, 4))  # caught up once: nothing more to do
    assert jobs.calls == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=24 * 60), min_size=1, max_size=6),
    policy=st.sampled_from(["latest", "all", "none"]),
    cap=st.integers(min_value=1, max_value=4),
)
def test_every_pass_runs_what_the_policy_says_in_dependency_order(
    store: ScheduleStore, gaps: list[int], policy: str, cap: int,
) -> None:
    with store.engine.begin() as conn:
        for table in ("schedule_runs", "schedule_jobs", "scheduler_leases"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    s = make(store, clock, jobs, catchup=policy, catchup_max=cap)
    order = [j.name for j in plan(s.settings)]
    now = T0
    s.tick(now)
    for minutes in gaps:
        before, now = now, now + timedelta(minutes=minutes)
        jobs.calls.clear()
        s.tick(now)
        names = jobs.names()
        assert names == sorted(names, key=order.index), "upstream before downstream"
        for j in s.jobs:
            d = due(j.cron, before, now, keep=cap if policy == "all" else 1)
            if policy == "latest":
                want = 1 if d.slots else 0
            elif policy == "all":
                want = len(d.slots)
            else:
                want = 1 if d.slots and now - d.slots[-1] <= ON_TIME else 0
            assert names.count(j.name) == want, (j.name, before, now)


def test_the_lease_admits_one_scheduler_and_is_taken_over_after_it_expires(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    cfg = ScheduleSettings(lease_s=1.5)
    a = Scheduler(store, Jobs(clock).fns(), cfg, clock=clock, holder="a")
    b = Scheduler(store, Jobs(clock).fns(), cfg, clock=clock, holder="b")
    assert a.lease.acquire()
    assert not b.lease.acquire()
    assert a.lease.renew() is True
    first = a.lease.token
    # a stops renewing (as if killed): b gets in once the lease expired, and not before.
    deadline = time.monotonic() + 10
    while not b.lease.acquire():
        row = store.lease("scheduler")
        assert row is not None and row.holder == "a" and row.expires_at > row.now - 0.5
        assert time.monotonic() < deadline, "the expired lease was never taken over"
        time.sleep(0.05)
    row = store.lease("scheduler")
    assert row is not None and row.holder == "b" and b.lease.token == (first or 0) + 1
    assert a.lease.renew() is False and not a.lease.held  # a learns it lost the lease
    with pytest.raises(RuntimeError):
        a.tick(at(2))


def test_one_run_of_a_job_at_a_time_whoever_starts_it(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    jobs.block["silver"] = threading.Event()
    a = make(store, clock, jobs, holder="a")
    other = make(store, clock, jobs, holder="b", lease=False)  # e.g. `lakehouse schedule run silver` meanwhile
    silver = next(j for j in a.jobs if j.name == "silver")
    results: list[Any] = []
    t = threading.Thread(target=lambda: results.append(a.executor.run(silver, slot=None, trigger="manual")))
    t.start()
    assert jobs.started.setdefault("silver", threading.Event()).wait(10)
    out = other.executor.run(silver, slot=None, trigger="manual")
    assert out.status == "skipped" and "already running (a)" in (out.error or "")
    jobs.block["silver"].set()
    t.join(10)
    assert results[0].status == "success"
    assert jobs.names().count("silver") == 1


def test_stop_finishes_the_job_in_hand_and_a_second_stop_abandons_it(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    control = Control(exit=raise_exit)
    s = make(store, clock, jobs, control=control)
    silver = next(j for j in s.jobs if j.name == "silver")
    jobs.block["silver"] = threading.Event()
    threading.Timer(0.3, control.request_stop).start()
    threading.Timer(1.0, jobs.block["silver"].set).start()
    out = s.executor.run(silver, slot=None, trigger="manual")
    assert out.status == "success"  # the first stop let it finish
    assert store.latest_run("silver").status == "success"  # type: ignore[union-attr]
    # The second stop abandons: recorded as abandoned, the process exits 143.
    jobs.block["silver"] = threading.Event()
    control.request_stop()
    assert control.abandon.is_set()
    with pytest.raises(Exited) as e:
        s.executor.run(silver, slot=None, trigger="manual")
    assert e.value.code == EXIT_ABANDONED
    assert store.latest_run("silver").status == "abandoned"  # type: ignore[union-attr]
    jobs.block["silver"].set()
    assert store.lease("job:silver").holder is None  # type: ignore[union-attr]


def test_a_holder_that_loses_its_lease_mid_job_stops_acting(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    s = make(store, clock, jobs, lease_s=1.5)
    silver = next(j for j in s.jobs if j.name == "silver")
    jobs.block["silver"] = threading.Event()

    def steal() -> None:
        assert jobs.started.setdefault("silver", threading.Event()).wait(10)
        with store.engine.begin() as conn:  # as if our renewals had stopped reaching the store
            conn.execute(sa.text("UPDATE scheduler_leases SET expires_at = 0 WHERE name = 'job:silver'"))
        assert store.acquire("job:silver", "intruder", 60) is not None

    threading.Thread(target=steal).start()
    with pytest.raises(Exited) as e:
        s.executor.run(silver, slot=None, trigger="manual")
    jobs.block["silver"].set()
    assert e.value.code == EXIT_FENCED
    assert store.latest_run("silver").status == "abandoned"  # type: ignore[union-attr]


def test_a_new_scheduler_carries_on_from_the_stored_state(store: ScheduleStore) -> None:
    clock = FakeClock(T0)
    jobs = Jobs(clock)
    a = make(store, clock, jobs, holder="a")
    a.tick(at(1, 55))
    a.tick(at(2))
    a.lease.release()
    # A run left marked running by a dead scheduler is closed as abandoned on takeover.
    store.start_run("gold", slot=at(2), trigger="schedule", holder="a", token=1)
    jobs.calls.clear()
    b = make(store, clock, jobs, holder="b")
    b.on_acquired()
    assert store.latest_run("gold").status == "abandoned"  # type: ignore[union-attr]
    b.tick(at(2, 5))
    assert jobs.calls == []  # 02:00 was done by a
    b.tick(at(2, 10))
    assert jobs.names() == ["ingest"]


def test_serve_runs_the_real_jobs_on_a_real_lake(store: ScheduleStore, lh: Any) -> None:

    lh.simulate(events=3_000, days=1, start=datetime(2026, 3, 1, tzinfo=UTC), seed=4)
    control = Control(exit=raise_exit)
    clock = FakeClock(at(1, 58), stop_at=at(2, 11), control=control)
    s = Scheduler(store, lh.scheduled_jobs(), ScheduleSettings(lease_s=3600), clock=clock, control=control, holder="srv")
    assert s.serve() == 0
    runs = list(reversed(store.history(limit=50)))
    assert [(r.job, r.slot) for r in runs] == [
        ("ingest", at(2)), ("silver", at(2)), ("gold", at(2)), ("ingest", at(2, 10))]
    assert all(r.status == "success" and r.run_ids for r in runs)
    assert lh.store.exists("gold.daily_summary") and lh.store.exists("silver.clicks")
    recorded = {r["run_id"] for r in lh.catalog.runs(limit=50)}
    assert {i for r in runs for i in r.run_ids} <= recorded  # history links to the run reports
    assert store.lease("scheduler").holder is None  # type: ignore[union-attr]  # released on the way out
