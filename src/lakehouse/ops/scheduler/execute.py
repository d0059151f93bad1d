"""Running one job: under its own lease, with retries on transient errors, recorded in the history.

The job runs on a worker thread; the calling thread keeps the leases alive meanwhile and
watches for a stop. A job's lease (`job:<name>`) means one run of a job at a time whoever
starts it (the scheduler, an Airflow task, `lakehouse schedule run`). If a lease can no longer
be renewed the process exits at once ("fencing"): it must stop acting before another holder
may start, and dying mid-job is safe because every job commits its data and its progress
together (the next run resumes at the last commit).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from lakehouse.config import ScheduleSettings
from lakehouse.exceptions import LakehouseError
from lakehouse.ops.scheduler.clock import Clock
from lakehouse.ops.scheduler.jobs import Job, JobFn, JobUnavailableError, run_ids
from lakehouse.ops.scheduler.lease import Lease
from lakehouse.ops.scheduler.state import ScheduleStore

log = logging.getLogger(__name__)

EXIT_FENCED = 75  # a lease could not be renewed in time: the process stopped acting
EXIT_ABANDONED = 143  # stopped by a second SIGTERM/SIGINT mid-job (128 + SIGTERM)
POLL_S = 0.2  # how often the waiting thread looks at the job and at stop requests


def _exit(code: int) -> NoReturn:
    os._exit(code)


@dataclass
class Control:
    """Stop requests: the first asks to finish the job in hand, the second to abandon it."""

    stopping: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    exit: Callable[[int], NoReturn] = _exit  # tests replace it

    def request_stop(self) -> None:
        if self.stopping.is_set():
            self.abandon.set()
        self.stopping.set()


@dataclass(frozen=True)
class Outcome:
    job: str
    status: str  # success | failed | skipped
    attempts: int = 0
    error: str | None = None
    run_ids: tuple[str, ...] = ()
    history_id: int | None = None


def is_transient(exc: BaseException) -> bool:
    """A `LakehouseError.transient` anywhere in the exception's cause chain."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, LakehouseError) and e.transient:
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, LakehouseError) else f"{type(exc).__name__}: {text}".rstrip(": ")


class Executor:
    def __init__(
        self, store: ScheduleStore, fns: Mapping[str, JobFn], settings: ScheduleSettings, *,
        holder: str, clock: Clock, control: Control,
    ) -> None:
        self.store = store
        self.fns = fns
        self.settings = settings
        self.holder = holder
        self.clock = clock
        self.control = control

    def run(
        self, job: Job, *, slot: datetime | None, trigger: str, missed: int = 0, keepalive: Sequence[Lease] = (),
    ) -> Outcome:
        lease = Lease(self.store, f"job:{job.name}", self.holder, self.settings.lease_s)
        if not lease.acquire():
            current = self.store.lease(lease.name)
            why = f"already running ({current.holder})" if current and current.holder else "its lease is unavailable"
            hid = self.store.start_run(job.name, slot=slot, trigger=trigger, holder=self.holder, token=None,
                                       missed=missed, status="skipped", error=why)
            return Outcome(job.name, "skipped", error=why, history_id=hid)
        assert lease.token is not None
        try:
            # The lease was free or expired: any run still marked running belonged to a dead process.
            self.store.abandon_running(job.name, except_token=lease.token,
                                       reason="its process stopped before the run finished")
            hid = self.store.start_run(job.name, slot=slot, trigger=trigger, holder=self.holder,
                                       token=lease.token, missed=missed)
            outcome = self._supervise(job, hid, [lease, *keepalive])
            self.store.finish_run(hid, status=outcome.status, attempts=outcome.attempts, error=outcome.error,
                                  run_ids=list(outcome.run_ids))
            return outcome
        finally:
            lease.release()

    # -- the waiting side ------------------------------------------------------------------------
    def _supervise(self, job: Job, hid: int, leases: list[Lease]) -> Outcome:
        box: list[Outcome] = []
        done = threading.Event()

        def work() -> None:
            try:
                box.append(self._attempts(job, hid))
            finally:
                done.set()

        worker = threading.Thread(target=work, name=f"lakehouse-job-{job.name}", daemon=True)
        worker.start()
        told_stopping = False
        while not done.wait(POLL_S):
            if self.control.abandon.is_set():
                self._leave(hid, leases, "abandoned: the scheduler was stopped mid-run", EXIT_ABANDONED)
            stopping = self.control.stopping.is_set() and not told_stopping
            if stopping or any(lease.renewal_due for lease in leases):
                told_stopping = told_stopping or stopping
                for lease in leases:
                    if lease.renew(state="stopping" if told_stopping else None) is False or lease.overdue:
                        # Someone else may hold it now: stop acting this instant.
                        log.error("lease %s lost while %s was running: exiting", lease.name, job.name)
                        self._leave(hid, [], f"abandoned: lease {lease.name} lost", EXIT_FENCED)
        worker.join()
        return box[0]

    def _leave(self, hid: int, leases: list[Lease], reason: str, code: int) -> NoReturn:
        try:
            self.store.finish_run(hid, status="abandoned", attempts=0, error=reason, run_ids=[])
        except Exception:  # best effort: the next holder marks it abandoned anyway
            log.debug("could not record abandoned run", exc_info=True)
        for lease in leases:
            lease.release()
        self.control.exit(code)

    # -- the working side --------------------------------------------------------------------------
    def _attempts(self, job: Job, hid: int) -> Outcome:
        attempts = 0
        fn = self.fns[job.name]
        cfg = self.settings

        def once() -> list[str]:
            nonlocal attempts
            attempts += 1
            return fn()

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s: transient error (attempt %d), retrying in %.1f s: %s", job.name,
                        state.attempt_number, state.upcoming_sleep, exc)

        retrying = Retrying(
            stop=stop_after_attempt(cfg.retries + 1) | stop_when_event_set(self.control.stopping),
            wait=wait_exponential(multiplier=cfg.retry_backoff_s, max=cfg.retry_backoff_max_s),
            retry=retry_if_exception(is_transient),
            sleep=lambda s: self._sleep(s),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            ids = retrying(once)
        except JobUnavailableError as exc:
            return Outcome(job.name, "skipped", attempts, one_line(exc), history_id=hid)
        except BaseException as exc:
            log.warning("%s failed after %d attempt(s): %s", job.name, attempts, exc)
            return Outcome(job.name, "failed", attempts, one_line(exc), tuple(run_ids(getattr(exc, "result", None))),
                           history_id=hid)
        return Outcome(job.name, "success", attempts, None, tuple(ids), history_id=hid)

    def _sleep(self, seconds: float) -> None:
        self.clock.wait(seconds, self.control.stopping)


def run_now(
    store: ScheduleStore, jobs: Mapping[str, JobFn], settings: ScheduleSettings, name: str, *,
    due_between: tuple[datetime, datetime] | None = None,
) -> Outcome | None:
    """Run one job now, as the scheduler would (its lease, retries, history); None when
    `due_between` is given and the job has no slot in that window (Airflow's intervals)."""
    from lakehouse.ops.scheduler.clock import SystemClock
    from lakehouse.ops.scheduler.cron import due
    from lakehouse.ops.scheduler.jobs import job_by_name
    from lakehouse.ops.scheduler.lease import holder_id

    job = job_by_name(settings, name)
    slot = None
    if due_between is not None:
        start, end = due_between
        window = due(job.cron, start, end, keep=1, tz=settings.timezone)
        if not window.slots:
            return None
        slot = window.slots[-1]
    executor = Executor(store, jobs, settings, holder=holder_id(), clock=SystemClock(), control=Control())
    return executor.run(job, slot=slot, trigger="manual" if slot is None else "external")
