"""Schedule state in the metadata store (SQLite or PostgreSQL): leases, job state, run history.

The tables are created by migration `0005_scheduler`; this module holds every query on them
(SQLAlchemy Core), so the catalog's ORM models stay as they are. Lease times are taken from the
store's own clock (`db_now`), never from the caller's: schedulers on hosts whose clocks
disagree still agree on when a lease has expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

TZ = sa.DateTime(timezone=True)
_meta = sa.MetaData()

leases = sa.Table(
    "scheduler_leases", _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(200)),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", sa.Float),
    sa.Column("renewed_at", sa.Float),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("state", sa.String(16)),
)
jobs = sa.Table(
    "schedule_jobs", _meta,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("cron", sa.String(128), nullable=False),
    sa.Column("last_slot", TZ),
    sa.Column("updated_at", TZ, nullable=False),
)
runs = sa.Table(
    "schedule_runs", _meta,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("slot", TZ),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", TZ, nullable=False),
    sa.Column("ended_at", TZ),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("missed", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("run_ids", sa.JSON, nullable=False),
    sa.Column("holder", sa.String(200)),
    sa.Column("token", sa.BigInteger),
)

# A run's status: running, then success | failed | skipped (did not run, with why) | abandoned
# (its process died or was stopped mid-run; safe, because every job commits exactly once).
FINISHED = ("success", "failed", "abandoned")


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LeaseRow:
    name: str
    holder: str | None
    token: int
    acquired_at: float | None
    renewed_at: float | None
    expires_at: float
    state: str | None
    now: float  # the store's clock when read

    @property
    def live(self) -> bool:
        return self.holder is not None and self.expires_at > self.now


@dataclass(frozen=True)
class JobState:
    job: str
    cron: str
    last_slot: datetime | None


@dataclass(frozen=True)
class RunRow:
    id: int
    job: str
    slot: datetime | None
    trigger: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    attempts: int
    missed: int
    error: str | None
    run_ids: list[str] = field(default_factory=list)
    holder: str | None = None
    token: int | None = None

    def to_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "id": self.id, "job": self.job, "slot": iso(self.slot), "trigger": self.trigger,
            "status": self.status, "started_at": iso(self.started_at), "ended_at": iso(self.ended_at),
            "attempts": self.attempts, "missed": self.missed, "error": self.error,
            "run_ids": list(self.run_ids), "holder": self.holder,
        }


def _run(row: sa.Row[Any]) -> RunRow:
    m = row._mapping
    return RunRow(
        id=int(m["id"]), job=m["job"], slot=utc(m["slot"]), trigger=m["trigger"], status=m["status"],
        started_at=utc(m["started_at"]) or datetime.now(UTC), ended_at=utc(m["ended_at"]),
        attempts=int(m["attempts"]), missed=int(m["missed"]), error=m["error"],
        run_ids=list(m["run_ids"] or []), holder=m["holder"], token=m["token"],
    )


class ScheduleStore:
    """Every query on the scheduler's tables, over the metadata store's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    # -- the store's clock --------------------------------------------------------------------
    def db_now(self) -> sa.ColumnElement[float]:
        if self.dialect == "postgresql":
            return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
        if self.dialect == "sqlite":
            return sa.cast((sa.func.julianday("now") - 2440587.5) * 86400.0, sa.Float)
        return sa.cast(sa.func.extract("epoch", sa.func.current_timestamp()), sa.Float)

    def now(self) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(sa.select(self.db_now())).scalar_one())

    # -- leases -------------------------------------------------------------------------------
    def _insert_missing_lease(self, conn: sa.Connection, name: str) -> None:
        values = {"name": name, "holder": None, "token": 0, "expires_at": 0.0}
        if self.dialect == "postgresql":
            conn.execute(postgresql.insert(leases).values(**values).on_conflict_do_nothing(index_elements=["name"]))
        elif self.dialect == "sqlite":
            conn.execute(sqlite.insert(leases).values(**values).on_conflict_do_nothing(index_elements=["name"]))
        elif conn.execute(sa.select(leases.c.name).where(leases.c.name == name)).first() is None:
            conn.execute(leases.insert().values(**values))

    def acquire(self, name: str, holder: str, ttl_s: float) -> int | None:
        """Take the lease if it is free, expired, or already ours; its fencing token, or None.

        One conditional UPDATE: the database serialises concurrent takers, so exactly one wins.
        """
        now = self.db_now()
        mine = leases.c.holder == holder
        with self.engine.begin() as conn:
            self._insert_missing_lease(conn, name)
            res = conn.execute(
                leases.update()
                .where(leases.c.name == name)
                .where(sa.or_(mine, leases.c.holder.is_(None), leases.c.expires_at < now))
                .values(
                    holder=holder,
                    token=sa.case((mine, leases.c.token), else_=leases.c.token + 1),
                    acquired_at=sa.case((mine, leases.c.acquired_at), else_=now),
                    renewed_at=now, expires_at=now + ttl_s, state="running",
                )
            )
            if res.rowcount != 1:
                return None
            return int(conn.execute(sa.select(leases.c.token).where(leases.c.name == name)).scalar_one())

    def renew(self, name: str, holder: str, token: int, ttl_s: float, state: str | None = None) -> bool:
        """Extend the lease; False when it is no longer ours (taken over after it expired)."""
        now = self.db_now()
        values: dict[str, Any] = {"renewed_at": now, "expires_at": now + ttl_s}
        if state is not None:
            values["state"] = state
        with self.engine.begin() as conn:
            res = conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder, leases.c.token == token)
                .values(**values)
            )
            return res.rowcount == 1

    def release(self, name: str, holder: str, token: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder, leases.c.token == token)
                .values(holder=None, expires_at=0.0, state="released")
            )

    def lease(self, name: str) -> LeaseRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(leases, self.db_now().label("now")).where(leases.c.name == name)).first()
        if row is None:
            return None
        m = row._mapping
        return LeaseRow(
            name=m["name"], holder=m["holder"], token=int(m["token"]), acquired_at=m["acquired_at"],
            renewed_at=m["renewed_at"], expires_at=float(m["expires_at"]), state=m["state"], now=float(m["now"]),
        )

    # -- job state ----------------------------------------------------------------------------
    def job(self, name: str) -> JobState | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.job == name)).first()
        if row is None:
            return None
        return JobState(row.job, row.cron, utc(row.last_slot))

    def set_slot(self, name: str, cron: str, last_slot: datetime | None) -> None:
        """Record that every slot of `name` up to `last_slot` has been dealt with."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            res = conn.execute(
                jobs.update().where(jobs.c.job == name).values(cron=cron, last_slot=last_slot, updated_at=now)
            )
            if res.rowcount == 0:
                conn.execute(jobs.insert().values(job=name, cron=cron, last_slot=last_slot, updated_at=now))

    # -- run history --------------------------------------------------------------------------
    def start_run(
        self, job: str, *, slot: datetime | None, trigger: str, holder: str | None, token: int | None,
        missed: int = 0, status: str = "running", error: str | None = None,
    ) -> int:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            res = conn.execute(runs.insert().values(
                job=job, slot=slot, trigger=trigger, status=status, started_at=now,
                ended_at=None if status == "running" else now, attempts=0, missed=missed, error=error,
                run_ids=[], holder=holder, token=token,
            ))
            pk = res.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    def finish_run(self, run_id: int, *, status: str, attempts: int, error: str | None, run_ids: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id, runs.c.status == "running").values(
                status=status, ended_at=datetime.now(UTC), attempts=attempts, error=error, run_ids=run_ids,
            ))

    def abandon_running(self, job: str, *, except_token: int, reason: str) -> int:
        """Runs of `job` still marked running under an older lease: their process is gone."""
        with self.engine.begin() as conn:
            res = conn.execute(
                runs.update()
                .where(runs.c.job == job, runs.c.status == "running",
                       sa.or_(runs.c.token.is_(None), runs.c.token != except_token))
                .values(status="abandoned", ended_at=datetime.now(UTC), error=reason)
            )
            return int(res.rowcount)

    def latest_run(self, job: str, statuses: tuple[str, ...] | None = None) -> RunRow | None:
        q = sa.select(runs).where(runs.c.job == job).order_by(runs.c.id.desc()).limit(1)
        if statuses is not None:
            q = q.where(runs.c.status.in_(statuses))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return _run(row) if row is not None else None

    def history(self, job: str | None = None, limit: int = 50) -> list[RunRow]:
        q = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if job is not None:
            q = q.where(runs.c.job == job)
        with self.engine.connect() as conn:
            return [_run(r) for r in conn.execute(q)]
