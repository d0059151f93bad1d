"""The jobs the scheduler runs: names, default crons, what each waits for, and how it is run.

Dependencies are part of the job, not of the configuration (silver reads what ingestion wrote,
gold reads silver): settings choose only each job's cron and whether it runs. A job whose
upstream is switched off simply has no upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lakehouse.config import ScheduleSettings
from lakehouse.exceptions import ConfigError, LakehouseError
from lakehouse.ops.scheduler.cron import check


class JobUnavailableError(LakehouseError):
    """A job that cannot run in this build or configuration (it is recorded as skipped)."""


@dataclass(frozen=True)
class JobDef:
    name: str
    default_cron: str
    after: tuple[str, ...]
    description: str


CATALOGUE: tuple[JobDef, ...] = (
    JobDef("ingest", "*/10 * * * *", (), "landing files (or Kafka) -> bronze"),
    JobDef("silver", "0 * * * *", ("ingest",), "bronze -> silver, incremental"),
    JobDef("gold", "0 2 * * *", ("silver",), "silver -> gold, incremental"),
    JobDef("retention", "0 3 * * *", (), "delete rows past each table's retention"),
    JobDef("optimize", "0 4 * * *", (), "compact small files, vacuum, checkpoint"),
)
NAMES = tuple(j.name for j in CATALOGUE)


@dataclass(frozen=True)
class Job:
    name: str
    cron: str
    after: tuple[str, ...]  # enabled jobs this one waits for
    description: str


def plan(settings: ScheduleSettings, only: Iterable[str] | None = None) -> list[Job]:
    """The enabled jobs, upstream before downstream."""
    wanted = set(only) if only is not None else None
    if wanted is not None and (unknown := wanted - set(NAMES)):
        raise ConfigError(f"unknown job(s) {', '.join(sorted(unknown))}", hint=f"jobs: {', '.join(NAMES)}")
    if settings.ingest_follow and settings.ingest_source != "kafka":
        raise ConfigError("schedule.ingest_follow needs schedule.ingest_source=kafka",
                          hint="LAKEHOUSE_SCHEDULE__INGEST_SOURCE=kafka")
    enabled = {
        d.name: d for d in CATALOGUE
        if getattr(settings, d.name).enabled and (wanted is None or d.name in wanted)
        # a continuous consumer replaces the ingest cron
        and not (d.name == "ingest" and settings.ingest_follow)
    }
    jobs = {
        name: Job(name, check(getattr(settings, name).cron or d.default_cron),
                  tuple(a for a in d.after if a in enabled), d.description)
        for name, d in enabled.items()
    }
    return list(jobs.values())  # the catalogue lists every job after the jobs it waits for


def job_by_name(settings: ScheduleSettings, name: str) -> Job:
    if name not in NAMES:
        raise ConfigError(f"unknown job '{name}'", hint=f"jobs: {', '.join(NAMES)}")
    d = next(d for d in CATALOGUE if d.name == name)
    return Job(name, check(getattr(settings, name).cron or d.default_cron), d.after, d.description)


JobFn = Callable[[], list[str]]  # runs the job once; returns the run ids of what it ran


def run_ids(result: Any) -> list[str]:
    """Run ids of whatever a facade method returned (one result, a list of them, or nothing)."""
    items = result if isinstance(result, list | tuple) else [result]
    return [str(r.run_id) for r in items if getattr(r, "run_id", None)]


FOLLOW = Job("ingest", "", (), "Kafka -> bronze, continuously (ingest --follow)")


assert all(NAMES.index(a) < NAMES.index(d.name) for d in CATALOGUE for a in d.after), "upstream first"
