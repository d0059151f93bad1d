"""The monitor's metadata-store queries: runs per job, latest check results, size samples, alert state.

Every query is a bounded set of index seeks (migration 0003 adds the indexes), never a scan of
`runs` or `quality_results`: the report costs the same with ten runs or a million. Compound
selects are chunked below SQLite's limit of 500 terms. The same SQL runs on SQLite and
PostgreSQL; SQLite hands datetimes back naive, and everything stored is UTC (`utc`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import TextualSelect

# The tables of migration 0003 (and the two existing ones the monitor reads), as Core tables:
# the monitor's queries stay here, beside the catalog's own ORM models.
_meta = MetaData()
TZ = DateTime(timezone=True)
JSON_T = JSON()
runs = Table(
    "runs", _meta, Column("run_id", String(64), primary_key=True), Column("job", String(64)),
    Column("status", String(16)), Column("started_at", TZ), Column("ended_at", TZ),
    Column("duration_s"), Column("error", String), Column("tables", JSON),
)
quality = Table(
    "quality_results", _meta, Column("id", Integer, primary_key=True), Column("table_fqn", String(128)),
    Column("check_name", String(128)), Column("passed"), Column("failing_rows", BigInteger),
    Column("run_id", String(64)), Column("at", TZ), Column("kind", String(32)), Column("action", String(8)),
    Column("outcome", String(8)), Column("rows_checked", BigInteger), Column("metric"),
    Column("threshold", String(128)), Column("error", String),
)
alert_state = Table(
    "alert_state", _meta, Column("fingerprint", String(32), primary_key=True), Column("alertname", String(64)),
    Column("labels", JSON), Column("annotations", JSON), Column("severity", String(16)),
    Column("status", String(16)), Column("starts_at", TZ), Column("ends_at", TZ), Column("updated_at", TZ),
)
deliveries = Table(
    "alert_deliveries", _meta, Column("fingerprint", String(32), primary_key=True),
    Column("notifier", String(256), primary_key=True), Column("status", String(16)),
    Column("severity", String(16)), Column("sent_at", TZ),
)
sizes = Table(
    "table_size_samples", _meta, Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_fqn", String(128)), Column("at", TZ), Column("version", BigInteger),
    Column("size_bytes", BigInteger), Column("files", BigInteger),
)

CHUNK = 200  # terms per compound select (SQLite allows 500)
ERROR_CHARS = 500
T = TypeVar("T")


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _chunks(items: Sequence[T], n: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


@functools.lru_cache(maxsize=64)
def _seeks(postgres: bool, templates: tuple[str, ...], keys: tuple[str, ...], n: int,
           types: tuple[tuple[str, Any], ...], dates: tuple[str, ...] = ()) -> TextualSelect:
    """Index seeks, one per template per item; `{key}` in a template is the item's value of `key`.

    SQLite: a union of the seeks, each wrapped in a subquery (SQLite refuses ORDER BY/LIMIT in a
    compound member). PostgreSQL: the items as arrays, each seek a LATERAL subquery, so the text
    does not grow with the items and planning a few hundred union branches (tens of ms) is not paid
    per report. Plain SQL text, built once per shape: building it with the SQL expression language
    cost more than running it.
    """
    if postgres:
        body = " UNION ALL ".join(f"({t.format(**{k: f'v.{k}' for k in keys})})" for t in templates)
        arrays = ", ".join(f"CAST(:{k} AS TEXT[])" for k in keys)
        sql = f"SELECT x.* FROM unnest({arrays}) AS v({', '.join(keys)}) CROSS JOIN LATERAL ({body}) AS x"
    else:
        sql = " UNION ALL ".join(
            f"SELECT * FROM ({t.format(**{k: f':{k}{i}' for k in keys})}) AS s{j}_{i}"
            for i in range(n) for j, t in enumerate(templates)
        )
    stmt = text(sql)
    if dates:
        stmt = stmt.bindparams(*(bindparam(d, type_=TZ) for d in dates))
    return stmt.columns(**dict(types))


def _run_seeks(conn: Connection, templates: tuple[str, ...], keys: tuple[str, ...], items: Sequence[tuple[str, ...]],
               types: tuple[tuple[str, Any], ...], extra: dict[str, Any] | None = None) -> Iterator[Any]:
    postgres = conn.dialect.name == "postgresql"
    dates = tuple(k for k, v in (extra or {}).items() if isinstance(v, datetime))
    for part in [items] if postgres else _chunks(items, max(1, CHUNK // len(templates))):
        if not part:
            continue
        params: dict[str, Any] = (
            {k: [item[j] for item in part] for j, k in enumerate(keys)} if postgres
            else {f"{k}{i}": item[j] for i, item in enumerate(part) for j, k in enumerate(keys)}
        )
        stmt = _seeks(postgres, templates, keys, 0 if postgres else len(part), types, dates)
        yield from conn.execute(stmt, {**params, **(extra or {})})


@dataclass(frozen=True)
class RunRow:
    run_id: str
    job: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    error: str | None
    tables: tuple[str, ...]


@dataclass(frozen=True)
class JobRuns:
    job: str
    last: RunRow
    last_success: RunRow | None
    failed_in_window: int


@dataclass(frozen=True)
class CheckRow:
    table: str
    check: str
    kind: str
    action: str
    outcome: str
    passed: bool
    failing_rows: int
    rows_checked: int
    metric: float | None
    threshold: str | None
    at: datetime
    run_id: str | None
    error: str | None


@dataclass(frozen=True)
class SizeSample:
    table: str
    at: datetime
    version: int
    size_bytes: int
    files: int


@dataclass
class AlertRow:
    fingerprint: str
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    severity: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    updated_at: datetime


@dataclass
class DeliveryRow:
    fingerprint: str
    notifier: str
    status: str
    severity: str
    sent_at: datetime


def _alert(r: Any) -> AlertRow:
    now = datetime.now(UTC)
    return AlertRow(
        r.fingerprint, r.alertname, dict(r.labels or {}), dict(r.annotations or {}), r.severity, r.status,
        utc(r.starts_at) or now, utc(r.ends_at), utc(r.updated_at) or now,
    )


class MonitorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- runs ---------------------------------------------------------------------------------
    def jobs(self, conn: Connection) -> list[str]:
        """Distinct job names by a loose index scan: one seek per job, not a scan of every run."""
        sql = text(
            "WITH RECURSIVE j(job) AS (SELECT min(job) FROM runs UNION ALL "
            "SELECT (SELECT min(job) FROM runs WHERE runs.job > j.job) FROM j WHERE j.job IS NOT NULL) "
            "SELECT job FROM j WHERE job IS NOT NULL"
        )
        return [str(r[0]) for r in conn.execute(sql)]

    def job_runs(self, since: datetime, extra_jobs: Iterable[str] = ()) -> list[JobRuns]:
        """Per job: its latest run, its latest successful run, and its failed runs since `since`."""
        cols = "run_id, job, status, started_at, ended_at, duration_s, error, tables"
        seeks = (
            f"SELECT 'last' AS which, {cols} FROM runs WHERE job = {{j}} ORDER BY started_at DESC LIMIT 1",
            f"SELECT 'ok' AS which, {cols} FROM runs WHERE job = {{j}} AND status = 'success' "
            "ORDER BY started_at DESC LIMIT 1",
        )
        types = (("started_at", TZ), ("ended_at", TZ), ("tables", JSON_T))
        with self.engine.connect() as conn:
            names = sorted(set(self.jobs(conn)) | set(extra_jobs))
            rows: dict[tuple[str, str], RunRow] = {}
            if names:
                for r in _run_seeks(conn, seeks, ("j",), [(n,) for n in names], types):
                    rows[(str(r.which), str(r.job))] = RunRow(
                        run_id=r.run_id, job=r.job, status=r.status, started_at=utc(r.started_at) or since,
                        ended_at=utc(r.ended_at), duration_s=float(r.duration_s or 0.0),
                        error=(r.error or None) and str(r.error)[:ERROR_CHARS],
                        tables=tuple(str(t.get("table")) for t in (r.tables or []) if isinstance(t, dict)),
                    )
            failed = {str(job): int(n) for job, n in conn.execute(
                select(runs.c.job, func.count()).where(runs.c.status == "failed", runs.c.started_at >= since)
                .group_by(runs.c.job)
            )}
        return [
            JobRuns(job, rows[("last", job)], rows.get(("ok", job)), int(failed.get(job, 0)))
            for job in names if ("last", job) in rows
        ]

    # -- quality ------------------------------------------------------------------------------
    def latest_checks(self, pairs: Sequence[tuple[str, str]]) -> list[CheckRow]:
        """The latest recorded result of each (table, check): one index seek per pair."""
        seek = (
            "SELECT table_fqn, check_name, kind, action, outcome, passed, failing_rows, rows_checked, metric, "
            "threshold, at, run_id, error FROM quality_results WHERE table_fqn = {t} AND check_name = {c} "
            "ORDER BY id DESC LIMIT 1"
        )
        out: list[CheckRow] = []
        with self.engine.connect() as conn:
            if pairs:
                for r in _run_seeks(conn, (seek,), ("t", "c"), pairs, (("at", TZ),)):
                    out.append(CheckRow(
                        table=r.table_fqn, check=r.check_name, kind=r.kind or "", action=r.action or "warn",
                        outcome=r.outcome or "pass", passed=bool(r.passed), failing_rows=int(r.failing_rows or 0),
                        rows_checked=int(r.rows_checked or 0), metric=None if r.metric is None else float(r.metric),
                        threshold=r.threshold, at=utc(r.at) or datetime.now(UTC), run_id=r.run_id,
                        error=(r.error or None) and str(r.error)[:ERROR_CHARS],
                    ))
        return out

    # -- table sizes --------------------------------------------------------------------------
    def size_baselines(self, tables: Sequence[str], day_ago: datetime) -> dict[str, dict[str, SizeSample]]:
        """Per table: `before` (the latest sample at or before `day_ago`), `after` (the oldest one
        after it) and `last` (the latest of all)."""
        cols = "table_fqn, at, version, size_bytes, files FROM table_size_samples WHERE table_fqn = {t}"
        seeks = (
            f"SELECT 'before' AS which, {cols} AND at <= :day_ago ORDER BY at DESC LIMIT 1",
            f"SELECT 'after' AS which, {cols} AND at > :day_ago ORDER BY at ASC LIMIT 1",
            f"SELECT 'last' AS which, {cols} ORDER BY at DESC LIMIT 1",
        )
        out: dict[str, dict[str, SizeSample]] = {}
        with self.engine.connect() as conn:
            if tables:
                for r in _run_seeks(conn, seeks, ("t",), [(t,) for t in tables], (("at", TZ),), {"day_ago": day_ago}):
                    out.setdefault(r.table_fqn, {})[str(r.which)] = SizeSample(
                        r.table_fqn, utc(r.at) or day_ago, int(r.version), int(r.size_bytes), int(r.files))
        return out

    def record_sizes(self, samples: Sequence[SizeSample], prune_before: datetime | None = None) -> None:
        if not samples and prune_before is None:
            return
        with self.engine.begin() as conn:
            if samples:
                conn.execute(insert(sizes), [
                    {"table_fqn": x.table, "at": x.at, "version": x.version, "size_bytes": x.size_bytes,
                     "files": x.files} for x in samples
                ])
            if prune_before is not None:
                conn.execute(delete(sizes).where(sizes.c.at < prune_before))

    # -- alert state --------------------------------------------------------------------------
    def open_alerts(self) -> tuple[dict[str, AlertRow], dict[tuple[str, str], DeliveryRow]]:
        """Alerts firing, or resolved but still firing at some notifier, with their deliveries."""
        a, d = alert_state.c, deliveries.c
        owed = select(d.fingerprint).where(d.status == "firing")
        with self.engine.connect() as conn:
            alerts = {
                r.fingerprint: _alert(r)
                for r in conn.execute(select(alert_state).where(or_(a.status == "firing", a.fingerprint.in_(owed))))
            }
            sent: dict[tuple[str, str], DeliveryRow] = {}
            for part in _chunks(list(alerts), 500):
                for r in conn.execute(select(deliveries).where(d.fingerprint.in_(part))):
                    sent[(r.fingerprint, r.notifier)] = DeliveryRow(
                        r.fingerprint, r.notifier, r.status, r.severity, utc(r.sent_at) or datetime.now(UTC))
        return alerts, sent

    def known_alerts(self, fingerprints: Sequence[str]) -> dict[str, AlertRow]:
        """State rows of these fingerprints, whatever their status (a resolved alert firing again)."""
        out: dict[str, AlertRow] = {}
        with self.engine.connect() as conn:
            for part in _chunks(list(fingerprints), 500):
                for r in conn.execute(select(alert_state).where(alert_state.c.fingerprint.in_(part))):
                    out[r.fingerprint] = _alert(r)
        return out

    def save_alerts(self, rows: Iterable[AlertRow]) -> None:
        with self.engine.begin() as conn:
            for row in rows:
                values = {
                    "alertname": row.alertname, "labels": row.labels, "annotations": row.annotations,
                    "severity": row.severity, "status": row.status, "starts_at": row.starts_at,
                    "ends_at": row.ends_at, "updated_at": row.updated_at,
                }
                done = conn.execute(update(alert_state).where(alert_state.c.fingerprint == row.fingerprint).values(**values))
                if done.rowcount == 0:
                    conn.execute(insert(alert_state).values(fingerprint=row.fingerprint, **values))

    def save_deliveries(self, rows: Iterable[DeliveryRow]) -> None:
        d = deliveries.c
        with self.engine.begin() as conn:
            for row in rows:
                values = {"status": row.status, "severity": row.severity, "sent_at": row.sent_at}
                key = and_(d.fingerprint == row.fingerprint, d.notifier == row.notifier)
                if conn.execute(update(deliveries).where(key).values(**values)).rowcount == 0:
                    conn.execute(insert(deliveries).values(fingerprint=row.fingerprint, notifier=row.notifier, **values))

    def prune_alerts(self, resolved_before: datetime) -> None:
        """Forget alerts resolved (and delivered as resolved) long ago."""
        a, d = alert_state.c, deliveries.c
        owed = select(d.fingerprint).where(d.status == "firing")
        old = select(a.fingerprint).where(a.status == "resolved", a.ends_at < resolved_before, a.fingerprint.not_in(owed))
        with self.engine.begin() as conn:
            gone = [r[0] for r in conn.execute(old)]
            for part in _chunks(gone, 500):
                conn.execute(delete(deliveries).where(d.fingerprint.in_(part)))
                conn.execute(delete(alert_state).where(a.fingerprint.in_(part)))

    def alerts(self, status: str | None = None, limit: int = 500) -> list[AlertRow]:
        q = select(alert_state).order_by(alert_state.c.updated_at.desc()).limit(limit)
        if status:
            q = q.where(alert_state.c.status == status)
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(q)]
