"""The scheduler: jobs at their crons, one process at a time, state in the metadata store."""

from lakehouse.ops.scheduler.clock import Clock, SystemClock
from lakehouse.ops.scheduler.execute import EXIT_ABANDONED, EXIT_FENCED, Control, Executor, Outcome
from lakehouse.ops.scheduler.jobs import (
    CATALOGUE,
    NAMES,
    Job,
    JobFn,
    job_by_name,
    plan,
)
from lakehouse.ops.scheduler.lease import Lease, holder_id
from lakehouse.ops.scheduler.loop import SCHEDULER_LEASE, Scheduler
from lakehouse.ops.scheduler.state import RunRow, ScheduleStore
from lakehouse.ops.scheduler.view import schedule_status

__all__ = [
    "CATALOGUE", "EXIT_ABANDONED", "EXIT_FENCED", "NAMES", "SCHEDULER_LEASE", "Clock", "Control", "Executor", "Job",
    "JobFn", "Lease", "Outcome", "RunRow", "ScheduleStore", "Scheduler", "SystemClock", "holder_id",
    "job_by_name", "plan", "schedule_status",
]
