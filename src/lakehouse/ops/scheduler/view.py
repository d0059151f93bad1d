"""The schedule as people read it (CLI `lakehouse schedule`, API `GET /schedule`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lakehouse.config import ScheduleSettings
from lakehouse.ops.scheduler.cron import due, explain, next_slot
from lakehouse.ops.scheduler.jobs import CATALOGUE, plan
from lakehouse.ops.scheduler.loop import SCHEDULER_LEASE
from lakehouse.ops.scheduler.state import FINISHED, ScheduleStore


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def schedule_status(
    store: ScheduleStore, settings: ScheduleSettings, *, now: datetime | None = None, runs: int = 20,
) -> dict[str, Any]:
    """The scheduler's lease, each job (cron, next run, last run, status) and the latest runs."""
    now = now or datetime.now(UTC)
    planned = {j.name: j for j in plan(settings)}
    lease = store.lease(SCHEDULER_LEASE)
    jobs: list[dict[str, Any]] = []
    for d in CATALOGUE:
        job = planned.get(d.name)
        cron = job.cron if job else (getattr(settings, d.name).cron or d.default_cron)
        state = store.job(d.name)
        last = store.latest_run(d.name)
        row: dict[str, Any] = {
            "job": d.name, "cron": cron, "description": explain(cron), "enabled": job is not None,
            "after": list(job.after) if job else [], "next_run": None, "due": False,
            "last_run": last.to_dict() if last else None, "status": "disabled" if job is None else "never run",
        }
        if job is not None:
            after = state.last_slot if state and state.last_slot else now
            pending = due(cron, after, now, keep=1, tz=settings.timezone) if after < now else None
            row["due"] = bool(pending and pending.slots)
            row["next_run"] = _iso(pending.slots[-1] if pending and pending.slots
                                   else next_slot(cron, max(after, now), settings.timezone))
            if last is not None:
                row["status"] = last.status
            if row["due"]:
                blocked = [u for u in job.after if (r := store.latest_run(u, FINISHED)) is not None
                           and r.status != "success"]
                row["status"] = f"waiting for {', '.join(blocked)}" if blocked else "due"
            if last is not None and last.status == "running":
                job_lease = store.lease(f"job:{d.name}")
                row["status"] = "running" if job_lease and job_lease.live else "running (holder gone)"
        if d.name == "ingest" and settings.ingest_follow:
            row.update(cron="continuous", description="Kafka -> bronze, continuously (ingest --follow)",
                       enabled=True, status=last.status if last else "not started")
        jobs.append(row)
    return {
        "now": _iso(now),
        "timezone": settings.timezone,
        "catchup": settings.catchup,
        "scheduler": {
            "holder": lease.holder if lease and lease.live else None,
            "state": (lease.state if lease.live else "expired" if lease.holder else lease.state) if lease else None,
            "expires_in_s": round(lease.expires_at - lease.now, 1) if lease and lease.live else None,
            "token": lease.token if lease else None,
        },
        "jobs": jobs,
        "runs": [r.to_dict() for r in store.history(limit=runs)],
    }
