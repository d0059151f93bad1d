"""The scheduling side of the facade: the scheduler, its state, manual runs, the Airflow export.

The facade hands it the jobs (`Lakehouse.scheduled_jobs`: each a call on the facade returning
the run ids it made) and the continuous Kafka follower, so nothing here imports the facade.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from lakehouse.config import Settings
from lakehouse.metadata.store import MetadataStore
from lakehouse.ops.scheduler.clock import Clock, SystemClock
from lakehouse.ops.scheduler.cron import due
from lakehouse.ops.scheduler.execute import Control, Executor, Outcome
from lakehouse.ops.scheduler.jobs import JobFn, job_by_name
from lakehouse.ops.scheduler.lease import holder_id
from lakehouse.ops.scheduler.loop import Scheduler
from lakehouse.ops.scheduler.state import ScheduleStore
from lakehouse.ops.scheduler.view import schedule_status

Follower = Callable[[threading.Event], JobFn]


class SchedulingService:
    def __init__(
        self,
        settings: Settings,
        metadata: Callable[[], MetadataStore],
        jobs: Callable[[], Mapping[str, JobFn]],
        follower: Follower,
    ) -> None:
        self._settings = settings
        self._metadata = metadata
        self._jobs = jobs
        self._follower = follower

    @cached_property
    def store(self) -> ScheduleStore:
        return ScheduleStore(self._metadata().engine)

    def scheduler(self, *, clock: Clock | None = None) -> Scheduler:
        """The scheduler over this lake's jobs (`serve()` runs it until SIGTERM)."""
        follow = self._follower if self._settings.schedule.ingest_follow else None
        return Scheduler(self.store, dict(self._jobs()), self._settings.schedule, clock=clock, follow=follow)

    def status(self, runs: int = 20) -> dict[str, Any]:
        """Each job's cron, next run, last run and status; the scheduler's lease; the latest runs."""
        return schedule_status(self.store, self._settings.schedule, runs=runs)

    def run_job(self, name: str, *, due_between: tuple[datetime, datetime] | None = None) -> Outcome | None:
        """Run one job now, as the scheduler would (its lease, retries, history); None when
        `due_between` is given and the job has no slot in that window (Airflow's intervals)."""
        job = job_by_name(self._settings.schedule, name)
        slot = None
        if due_between is not None:
            start, end = due_between
            window = due(job.cron, start, end, keep=1, tz=self._settings.schedule.timezone)
            if not window.slots:
                return None
            slot = window.slots[-1]
        executor = Executor(self.store, dict(self._jobs()), self._settings.schedule,
                            holder=holder_id(), clock=SystemClock(), control=Control())
        return executor.run(job, slot=slot, trigger="manual" if slot is None else "external")

    def airflow_dag(self, *, dag_id: str = "lakehouse", command: str = "lakehouse") -> str:
        """An Airflow DAG file with the schedule's jobs, crons and dependencies, calling the CLI."""
        from lakehouse.ops.airflow import dag_source

        return dag_source(self._settings.schedule, dag_id=dag_id, command=command)
