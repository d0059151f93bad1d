"""`lakehouse scheduler`: one process runs the jobs at their crons, in dependency order.

Each pass (`tick`) looks at every enabled job, upstream first. A job is due when a slot of its
cron lies after the last slot it dealt with (kept in the metadata store, so a restarted or a
new scheduler carries on from there). Missed slots are caught up by the policy: `latest` runs
once for the newest, `all` runs the newest `catchup_max` in order, `none` runs only a slot that
is on time. A due job whose upstream is due in the same pass, or whose upstream's last run did
not succeed, waits (its slot stays due) and runs in a later pass once the upstream succeeded.

Only the holder of the `scheduler` lease ticks; the others wait and take over once it expires.
SIGTERM/SIGINT: no new job starts, the job in hand finishes and is recorded, the lease is
released (a standby takes over at once) and the process exits 0. A second signal abandons the
job in hand (recorded as abandoned; safe, every job is exactly-once) and exits 143.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import FrameType

from sqlalchemy.exc import SQLAlchemyError

from lakehouse.config import ScheduleSettings
from lakehouse.ops.scheduler.clock import Clock, SystemClock
from lakehouse.ops.scheduler.cron import due, next_slot
from lakehouse.ops.scheduler.execute import Control, Executor, Outcome
from lakehouse.ops.scheduler.follow import Follower
from lakehouse.ops.scheduler.jobs import JobFn, plan
from lakehouse.ops.scheduler.lease import Lease, holder_id
from lakehouse.ops.scheduler.state import FINISHED, ScheduleStore

log = logging.getLogger(__name__)

SCHEDULER_LEASE = "scheduler"
ON_TIME = timedelta(minutes=5)  # a slot started within this of its time is on time, not a catch-up


class Scheduler:
    def __init__(
        self, store: ScheduleStore, fns: Mapping[str, JobFn], settings: ScheduleSettings, *,
        clock: Clock | None = None, control: Control | None = None, holder: str | None = None,
        follow: Callable[[threading.Event], JobFn] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.control = control or Control()
        self.holder = holder or holder_id()
        self.jobs = plan(settings)
        self.lease = Lease(store, SCHEDULER_LEASE, self.holder, settings.lease_s)
        self.executor = Executor(store, fns, settings, holder=self.holder, clock=self.clock, control=self.control)
        # The continuous Kafka ingest, while this process holds the lease (`ingest_follow`).
        self.follower = None if follow is None else Follower(
            self.executor, follow, backoff_s=settings.retry_backoff_s, backoff_max_s=settings.retry_backoff_max_s,
            idle_s=self.lease.renew_every,
        )

    # -- one pass ------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> list[Outcome]:
        """Run what is due at `now` (default: the clock's now); the lease must be held."""
        if not self.lease.held:
            raise RuntimeError("tick() without the scheduler lease")
        now = now or self.clock.now()
        cfg = self.settings
        keep = cfg.catchup_max if cfg.catchup == "all" else 1
        waiting: set[str] = set()
        outcomes: list[Outcome] = []
        for job in self.jobs:
            if self.control.stopping.is_set():
                break
            state = self.store.job(job.name)
            if state is None or state.last_slot is None:
                # First sight of a job: its schedule starts now (nothing before it was missed).
                self.store.set_slot(job.name, job.cron, now)
                continue
            d = due(job.cron, state.last_slot, now, keep=keep, tz=cfg.timezone)
            if not d.slots:
                continue
            newest = d.slots[-1]
            slots, missed = d.slots, d.missed
            if cfg.catchup == "none":
                if now - newest > ON_TIME:
                    self.store.start_run(job.name, slot=newest, trigger="schedule", holder=self.holder, token=None,
                                         missed=d.total, status="skipped",
                                         error=f"{d.total} missed run(s) not caught up (catch-up policy: none)")
                    self.store.set_slot(job.name, job.cron, newest)
                    continue
                slots, missed = (newest,), d.total - 1
            blocked = [u for u in job.after if u in waiting or not self.succeeded(u)]
            running = self.store.lease(f"job:{job.name}")
            if running is not None and running.live and running.holder != self.holder:
                # Run by someone else (an Airflow task, `schedule run`, a dying scheduler's lease
                # not yet expired): the slot stays due and is looked at again next pass.
                blocked.append(f"{job.name} running as {running.holder}")
            if blocked:
                log.info("%s waits for %s", job.name, ", ".join(blocked))
                waiting.add(job.name)
                continue
            for i, slot in enumerate(slots):
                if self.control.stopping.is_set():
                    break  # not dealt with: the next scheduler catches it up
                trigger = "schedule" if slot == newest and now - slot <= ON_TIME else "catchup"
                out = self.executor.run(job, slot=slot, trigger=trigger, missed=missed if i == 0 else 0,
                                        keepalive=[self.lease])
                outcomes.append(out)
                self.store.set_slot(job.name, job.cron, newest if out.status == "failed" else slot)
                if out.status == "failed":
                    break  # the next slot will try again; catching up older slots now would fail alike
        return outcomes

    def succeeded(self, job: str) -> bool:
        """The job's last finished run succeeded (a job that never ran has not failed)."""
        last = self.store.latest_run(job, FINISHED)
        return last is None or last.status == "success"

    def next_wake(self, now: datetime) -> datetime:
        wakes = []
        for job in self.jobs:
            state = self.store.job(job.name)
            after = max(state.last_slot, now) if state and state.last_slot else now
            wakes.append(next_slot(job.cron, after, self.settings.timezone))
        return min(wakes, default=now + timedelta(hours=1))

    # -- the process -------------------------------------------------------------------------------
    def on_acquired(self) -> None:
        """A new holder: runs its predecessor left marked running (with no live job lease) are over."""
        log.info("scheduler lease acquired by %s (token %s)", self.holder, self.lease.token)
        for job in self.jobs:
            current = self.store.lease(f"job:{job.name}")
            if current is None or not current.live:
                self.store.abandon_running(job.name, except_token=-1,
                                           reason="its scheduler stopped before the run finished")

    def serve(self) -> int:
        """Run until stopped; returns the exit code."""
        restore = self._install_signals()
        stop = self.control.stopping
        try:
            while not stop.is_set():
                if not self.lease.held:
                    if self.lease.acquire():
                        self.on_acquired()
                    else:
                        self.clock.wait(self.lease.renew_every, stop)
                        continue
                elif self.lease.renewal_due and (self.lease.renew() is False or self.lease.overdue):
                    self.lease.drop()  # someone else has it (or may): stand by
                    if self.follower is not None:
                        self.follower.stop()
                    continue
                if self.follower is not None:
                    self.follower.start()
                try:
                    self.tick()
                except SQLAlchemyError as exc:  # the store is away: the lease logic decides what is safe
                    log.warning("metadata store unavailable: %s", str(exc).splitlines()[0])
                now = self.clock.now()
                wait = (self.next_wake(now) - now).total_seconds()
                self.clock.wait(min(max(wait, 0.0), self.lease.renew_every), stop)
        finally:
            if self.follower is not None:
                self.follower.stop()
            self.lease.release()
            restore()
        return 0

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum: int, _frame: FrameType | None) -> None:
            # Only set flags here: the loop and the job's supervisor act on them.
            second = self.control.stopping.is_set()
            self.control.request_stop()
            log.warning("%s: %s", signal.Signals(signum).name,
                        "abandoning the job in hand" if second else "finishing the job in hand, then stopping")

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore
