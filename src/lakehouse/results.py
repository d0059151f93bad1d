"""Typed results of every job, written as JSON run reports to the logs directory.

A job returns one of these (`TransformResult`, `IngestResult`, ...); the CLI renders it,
the API serves it, the metadata store records it. All are plain dataclasses, so a report
is `dataclasses.asdict` of the result.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

import pyarrow as pa

from lakehouse.contract import Layer, ModelKind, TableId

Status = Literal["running", "success", "failed"]
Outcome = Literal["pass", "warn", "fail", "error"]
ModelMode = Literal["full", "incremental", "skipped"]


JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class TableInfo:
    table: TableId
    path: str
    version: int
    rows: int
    files: int
    size_bytes: int
    partition_columns: list[str]
    last_modified: datetime | None
    schema: pa.Schema


@dataclass(frozen=True)
class Commit:
    """One entry of a table's history."""

    version: int
    timestamp: datetime | None
    operation: str
    parameters: Mapping[str, Any]
    metrics: Mapping[str, Any]
    metadata: Mapping[str, str]  # what the writer attached (`lakehouse.job`, ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "operation": self.operation,
            "parameters": dict(self.parameters),
            "metrics": dict(self.metrics),
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class QueryResult:
    """Rows a query or preview returned: at most the row/byte cap (`truncated` says if more)."""

    table: pa.Table
    truncated: bool
    elapsed_ms: float
    tables: list[TableId]

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)


@dataclass(frozen=True)
class DailyKpis:
    summary_date: date
    daily_users: int
    new_users: int
    total_events: int
    sessions: int
    revenue: float


@dataclass
class Summary:
    """A few KPIs of the lake (the demo's last screen)."""

    segments: dict[str, int] = field(default_factory=dict)  # segment -> users, VIP first
    daily: list[DailyKpis] = field(default_factory=list)  # latest days first
    health: dict[str, int] = field(default_factory=dict)  # health_status -> hours
    quarantined: int = 0
    duplicates_removed: int = 0


@dataclass
class SourceSim:
    records: int = 0  # lines/messages delivered, bad ones included
    expected_bronze: int = 0
    expected_quarantine: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # bad records of each kind mixed in
    outputs: list[str] = field(default_factory=list)


@dataclass
class SimulationReport:
    seed: int
    start: str
    days: int
    sources: dict[str, SourceSim] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(s.records for s in self.sources.values())

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["records"] = self.records
        return d


@dataclass
class TableChange:
    table: str
    rows_in: int = 0
    rows_out: int = 0
    version_before: int | None = None
    version_after: int | None = None


@dataclass(kw_only=True)
class JobResult:
    """What every job reports: when, how it ended, and the tables it changed."""

    job: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_at: str = field(default_factory=_now)
    ended_at: str | None = None
    duration_s: float = 0.0
    status: Status = "running"
    error: str | None = None
    tables: list[TableChange] = field(default_factory=list)
    _t0: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    def table(self, name: str) -> TableChange:
        for t in self.tables:
            if t.table == name:
                return t
        change = TableChange(table=name)
        self.tables.append(change)
        return change

    def finish(self, status: Status = "success", error: str | None = None) -> JobResult:
        self.status = status
        self.error = error
        self.ended_at = _now()
        self.duration_s = round(time.perf_counter() - self._t0, 3)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_t0", None)
        return d

    @property
    def details(self) -> dict[str, Any]:
        """The job's own fields (everything but the common ones), as stored with the run."""
        common = {f.name for f in fields(JobResult)}
        return {k: v for k, v in self.to_dict().items() if k not in common}

    def write(self, logs_dir: Path) -> Path:
        logs_dir.mkdir(parents=True, exist_ok=True)
        stamp = self.started_at.replace(":", "").replace("-", "").split(".")[0]
        path = logs_dir / f"{self.job.replace('.', '_')}_{stamp}_{self.run_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        tmp.replace(path)
        return path


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One quality check of one table in one run: its outcome on the batch the run wrote."""

    table: str
    check: str
    passed: bool
    failing_rows: int
    kind: str = ""  # NotNull, Unique, ...
    action: str = "warn"  # warn | drop | fail
    outcome: Outcome = "pass"
    rows_checked: int = 0
    metric: float | None = None  # failing rows, or what an aggregate check measured
    threshold: str | None = None
    sample: list[dict[str, JsonValue]] = field(default_factory=list)  # a few failing rows
    error: str | None = None
    table_version: int | None = None  # the table's version the batch was written on top of
    run_id: str | None = None
    seconds: float = 0.0


@dataclass(kw_only=True)
class ModelResult:
    table: str
    kind: ModelKind
    mode: ModelMode
    seconds: float = 0.0
    rows_in: int = 0
    rows_out: int = 0
    reason: str | None = None  # why skipped, or why a full rebuild was needed
    partitions: list[str] = field(default_factory=list)  # partitions an incremental run rebuilt
    users: int | None = None  # sessions: users with new clicks
    replaced: int | None = None  # sessions: earlier sessions replaced


@dataclass(kw_only=True)
class TransformResult(JobResult):
    layer: Layer
    full_refresh: bool = False
    engine: str = "duckdb"
    models: list[ModelResult] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    failed_table: str | None = None  # where a failed run stopped

    def model(self, table: str) -> ModelResult | None:
        return next((m for m in self.models if m.table == table), None)
