"""One job run now, as the scheduler would run it (`lakehouse schedule run`, Airflow's tasks)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from lakehouse.config import ScheduleSettings
from lakehouse.ops.scheduler.clock import SystemClock
from lakehouse.ops.scheduler.cron import due
from lakehouse.ops.scheduler.execute import Control, Executor, Outcome
from lakehouse.ops.scheduler.jobs import JobFn, job_by_name
from lakehouse.ops.scheduler.lease import holder_id
from lakehouse.ops.scheduler.state import ScheduleStore


def run_now(
    store: ScheduleStore,
    fns: Mapping[str, JobFn],
    settings: ScheduleSettings,
    name: str,
    *,
    due_between: tuple[datetime, datetime] | None = None,
) -> Outcome | None:
    """Run job `name` now (its lease, retries, history); None when `due_between` is given and
    the job has no slot in that window (Airflow's data intervals)."""
    job = job_by_name(settings, name)
    slot = None
    if due_between is not None:
        start, end = due_between
        window = due(job.cron, start, end, keep=1, tz=settings.timezone)
        if not window.slots:
            return None
        slot = window.slots[-1]
    executor = Executor(store, fns, settings, holder=holder_id(), clock=SystemClock(), control=Control())
    return executor.run(job, slot=slot, trigger="manual" if slot is None else "external")
