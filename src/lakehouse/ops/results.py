"""Typed results of the maintenance jobs (retention, archive restore, optimize, vacuum).

Like every job result they are `JobResult`s: written as JSON run reports to the logs directory
and recorded as runs in the metadata store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lakehouse.results import JobResult


@dataclass(kw_only=True)
class ArchivedPart:
    """One archive file: the rows of one table dated `day`, read at table version `version`."""

    table: str
    day: str
    version: int
    rows: int
    bytes: int
    sha256: str
    file: str
    predicate: str = ""
    created_at: str = ""
    # committed: its rows were deleted from the table by the commit that recorded it;
    # orphan: written by a run that died before its DELETE (the rows are still in the table);
    # damaged: committed, but the file no longer matches its manifest.
    status: str = "committed"


@dataclass(kw_only=True)
class VacuumOutcome:
    table: str
    retention_hours: int
    floor_hours: int  # the least this table allows now (safety window, downstream consumers)
    floor_reason: str
    files_removed: int = 0
    dry_run: bool = False
    forced: bool = False


@dataclass(kw_only=True)
class TableRetention:
    table: str
    retention_days: int | None
    source: str  # contract | catalog
    column: str | None
    cutoff: str | None = None  # rows dated before this expire
    expired_days: list[str] = field(default_factory=list)
    rows_archived: int = 0
    rows_deleted: int = 0
    version_before: int | None = None
    version_after: int | None = None
    parts: list[ArchivedPart] = field(default_factory=list)
    orphans_removed: list[ArchivedPart] = field(default_factory=list)
    archive_expired: list[ArchivedPart] = field(default_factory=list)
    vacuum: VacuumOutcome | None = None
    skipped: str | None = None  # why nothing was applied
    error: str | None = None


@dataclass(kw_only=True)
class RetentionResult(JobResult):
    dry_run: bool = False
    as_of: str = ""
    retention: list[TableRetention] = field(default_factory=list)

    def of(self, table: str) -> TableRetention | None:
        return next((r for r in self.retention if r.table == table), None)


@dataclass(kw_only=True)
class RestoreResult(JobResult):
    target: str
    from_day: str
    to_day: str
    parts: list[ArchivedPart] = field(default_factory=list)
    rows_archived: int = 0  # distinct rows in the parts
    rows_restored: int = 0  # of those, the ones the table did not hold
    version_after: int | None = None


@dataclass(kw_only=True)
class TableOptimize:
    table: str
    zorder: list[str] = field(default_factory=list)
    files_before: int = 0
    files_after: int = 0
    partitions_optimized: list[str] = field(default_factory=list)
    partitions_open: list[str] = field(default_factory=list)  # left alone: still being written
    version_before: int | None = None
    version_after: int | None = None
    checkpoint: bool = False
    log_cleanup: str = ""  # done, or why it was deferred
    seconds: float = 0.0
    error: str | None = None


@dataclass(kw_only=True)
class OptimizeResult(JobResult):
    optimized: list[TableOptimize] = field(default_factory=list)


@dataclass(kw_only=True)
class VacuumResult(JobResult):
    vacuumed: list[VacuumOutcome] = field(default_factory=list)
