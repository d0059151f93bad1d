"""The health report's typed values: every signal measured, judged against its window.

A `Judged` value is a measurement with the thresholds it was held to and the status that
gives: `fail` above `fail`, `warn` above `warn`, `ok` otherwise, `unknown` when it could not be
measured (a table not built yet, no baseline yet, a broker that did not answer). The report's
status is the worst status in it; `unknown` never makes it worse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from typing import Any, Literal

from lakehouse.config import Window
from lakehouse.contract import LAYERS, REGISTRY

Status = Literal["ok", "warn", "fail", "unknown"]
_RANK: dict[str, int] = {"ok": 0, "unknown": 0, "warn": 1, "fail": 2}
# `silver.users`, `"silver"."users"`; and the seed's spellings (`users_silver`, ...) by `_aliases`.
_NAME = re.compile(r'"?\b(bronze|silver|gold)"?\s*\.\s*"?(\w+)"?', re.IGNORECASE)
HIDDEN = "(a table you cannot read)"


@functools.cache
def _aliases(hidden: frozenset[str]) -> re.Pattern[str] | None:
    names = sorted((a for a, t in REGISTRY.aliases.items() if t.layer in hidden and "." not in a), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE) if names else None


def worst(statuses: Iterable[Status]) -> Status:
    out: Status = "ok"
    for s in statuses:
        if _RANK[s] > _RANK[out]:
            out = s
    return out


@dataclass(frozen=True)
class Judged:
    value: float | None
    status: Status
    warn: float | None = None
    fail: float | None = None
    note: str | None = None

    @property
    def threshold(self) -> float | None:
        """The threshold the value crossed (None when ok)."""
        return self.fail if self.status == "fail" else self.warn if self.status == "warn" else None


def judge(value: float | None, window: Window, note: str | None = None) -> Judged:
    if value is None:
        return Judged(None, "unknown", window.warn, window.fail, note)
    status: Status = (
        "fail" if window.fail is not None and value > window.fail
        else "warn" if window.warn is not None and value > window.warn
        else "ok"
    )
    return Judged(value, status, window.warn, window.fail, note)


def unknown(note: str, window: Window | None = None) -> Judged:
    return Judged(None, "unknown", window.warn if window else None, window.fail if window else None, note)


@dataclass(frozen=True)
class InputDelay:
    """How far a model is behind one of its inputs: versions not consumed, and how long the
    oldest data-changing commit among them has waited."""

    input: str
    consumed_version: int | None
    input_version: int | None
    versions: Judged
    seconds: Judged

    @property
    def status(self) -> Status:
        return worst((self.versions.status, self.seconds.status))


@dataclass(frozen=True)
class CheckHealth:
    """The latest recorded result of one quality check."""

    check: str
    kind: str
    outcome: str  # pass | warn | fail | error
    at: datetime
    run_id: str | None
    failing_rows: int
    rows_checked: int
    null_pct: Judged | None  # not_null and completeness checks: % of rows with a null
    error: str | None = None

    @property
    def status(self) -> Status:
        by_outcome: Status = {"fail": "fail", "error": "fail", "warn": "warn"}.get(self.outcome, "ok")  # type: ignore[assignment]
        return worst((by_outcome, self.null_pct.status if self.null_pct else "ok"))


@dataclass(frozen=True)
class TableHealth:
    table: str
    layer: str
    exists: bool
    version: int | None
    last_commit_at: datetime | None
    staleness: Judged  # seconds since the last commit
    time_column: str | None
    newest_event_at: datetime | None
    data_lag: Judged  # seconds since the newest event time
    size_bytes: int | None
    files: int | None
    rows: int | None
    growth: Judged  # bytes per day
    growth_since: datetime | None  # the size sample the growth is measured from
    inputs: tuple[InputDelay, ...] = ()
    checks: tuple[CheckHealth, ...] = ()
    alerts: bool = True  # False: this table is reported, never alerted on
    error: str | None = None  # why its log could not be read

    @property
    def status(self) -> Status:
        if not self.exists:
            return "unknown"
        return worst((self.staleness.status, self.data_lag.status, self.growth.status,
                      *(i.status for i in self.inputs), *(c.status for c in self.checks)))


@dataclass(frozen=True)
class JobHealth:
    job: str
    layers: tuple[str, ...]  # the layers the job writes (who may see it)
    last_run_id: str
    last_status: str
    last_started_at: datetime
    last_ended_at: datetime | None
    last_duration_s: float
    last_error: str | None
    last_success_at: datetime | None
    success_age: Judged  # seconds since the end of the last successful run
    failed_runs: int  # failed runs in the report's window (`monitoring.failed_runs_window_s`)

    @property
    def status(self) -> Status:
        return worst(("fail" if self.last_status == "failed" else "ok", self.success_age.status))


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    lag: Judged  # messages not yet in bronze


@dataclass(frozen=True)
class KafkaHealth:
    state: Literal["off", "ok", "unavailable"]
    detail: str | None = None
    partitions: tuple[PartitionLag, ...] = ()

    @property
    def status(self) -> Status:
        return worst(p.lag.status for p in self.partitions)


@dataclass(frozen=True)
class HealthReport:
    generated_at: datetime
    tables: tuple[TableHealth, ...]
    jobs: tuple[JobHealth, ...]
    kafka: KafkaHealth
    elapsed_ms: float = 0.0
    layers: tuple[str, ...] = LAYERS  # what this report covers
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def status(self) -> Status:
        return worst((*(t.status for t in self.tables), *(j.status for j in self.jobs), self.kafka.status))

    def table(self, name: str) -> TableHealth:
        return next(t for t in self.tables if t.table == name)

    def job(self, name: str) -> JobHealth:
        return next(j for j in self.jobs if j.job == name)

    def visible_to(self, layers: Iterable[str]) -> HealthReport:
        """The report as a role that reads only `layers` may see it: no table of another layer,
        not as an input either, no job writing such tables, no Kafka unless bronze."""
        allowed = frozenset(layers)

        aliases = _aliases(frozenset(LAYERS) - allowed)

        def scrub(text: str | None) -> str | None:  # error texts may name tables of other layers
            if text is None:
                return None
            text = _NAME.sub(lambda m: m.group(0) if m.group(1).lower() in allowed else HIDDEN, text)
            return aliases.sub(HIDDEN, text) if aliases is not None else text

        tables = tuple(
            replace(t, error=scrub(t.error),
                    inputs=tuple(i for i in t.inputs if i.input.split(".", 1)[0] in allowed),
                    checks=tuple(replace(c, error=scrub(c.error)) for c in t.checks))
            for t in self.tables if t.layer in allowed
        )
        # A job shows only to roles that read every layer it writes; a job that recorded no tables,
        # only to roles that read everything.
        jobs = tuple(replace(j, last_error=scrub(j.last_error)) for j in self.jobs if set(j.layers or LAYERS) <= allowed)
        kafka = self.kafka if "bronze" in allowed else KafkaHealth("off", "not visible to this role")
        return replace(self, tables=tables, jobs=jobs, kafka=kafka, notes=tuple(scrub(n) or "" for n in self.notes),
                       layers=tuple(x for x in self.layers if x in allowed))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(self)
        out["status"] = self.status
        for t, d in zip(self.tables, out["tables"], strict=True):
            d["status"] = t.status
            for i, di in zip(t.inputs, d["inputs"], strict=True):
                di["status"] = i.status
            for c, dc in zip(t.checks, d["checks"], strict=True):
                dc["status"] = c.status
        for j, dj in zip(self.jobs, out["jobs"], strict=True):
            dj["status"] = j.status
        out["kafka"]["status"] = self.kafka.status
        return out


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
