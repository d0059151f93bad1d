"""The table-store interface: what the rest of the lake may ask of a table format.

`DeltaStore` (delta-rs) implements it; nothing outside `storage/` sees the format's own
objects. Progress markers are part of the interface: every write may carry application
transaction ids (`txns`, app id -> version) committed atomically with its rows, which is
what makes ingestion and the incremental models exactly-once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

import pyarrow as pa
import pyarrow.dataset as ds

from lakehouse.contract import TableId
from lakehouse.results import Commit, TableInfo

__all__ = [
    "Commit", "Data", "DataFile", "HistoryUnavailableError", "MaintenanceResult", "MergeSpec", "Metadata",
    "PartitionFilter", "Snapshot", "TableInfo", "TableStore", "Txns",
]

Data: TypeAlias = pa.Table | pa.RecordBatchReader
Txns = Mapping[str, int]
Metadata = Mapping[str, str]


@dataclass(frozen=True)
class DataFile:
    path: str  # absolute local path
    size_bytes: int
    rows: int | None
    partition: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """One version of a table: its schema, partitioning and live data files."""

    table: TableId
    version: int
    schema: pa.Schema
    partition_columns: tuple[str, ...]
    files: tuple[DataFile, ...]
    last_modified: datetime | None
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows or 0 for f in self.files)

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]


@dataclass(frozen=True)
class PartitionFilter:
    """`column IN (values)`: the rows a replace overwrites (usually whole partitions), or the
    partitions an optimize compacts."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class MergeSpec:
    """An upsert by key. Conditions are SQL over the aliases `s` (source) and `t` (target).

    `prune` names columns equal between source and target that narrow the files the merge
    reads and rewrites (a partition column). `columns` are the target columns set from the
    source on update and insert (default: every target column).
    """

    on: tuple[str, ...]
    prune: tuple[str, ...] = ()
    update_when: str | None = None
    delete_when: str | None = None
    insert_when: str | None = None
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MaintenanceResult:
    table: TableId
    operation: str
    version_before: int
    version_after: int
    files_removed: int = 0
    files_added: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)


class HistoryUnavailableError(Exception):
    """The versions asked for are no longer readable (log or files cleaned up): rebuild in full."""


@runtime_checkable
class TableStore(Protocol):
    """Reads and writes the lake's tables by `TableId`."""

    def path(self, table: TableId | str) -> Path: ...

    def exists(self, table: TableId | str) -> bool: ...

    def version(self, table: TableId | str) -> int | None: ...

    def snapshot(self, table: TableId | str, version: int | None = None) -> Snapshot: ...

    def schema(self, table: TableId | str) -> pa.Schema: ...

    def dataset(self, table: TableId | str, version: int | None = None) -> ds.Dataset: ...

    def txn_versions(self, table: TableId | str, app_ids: Iterable[str]) -> dict[str, int]: ...

    def column_max(self, table: TableId | str, column: str) -> Any:
        """The largest value of `column`, from the files' statistics (no data read); None if unknown."""
        ...

    def changes(
        self, table: TableId | str, since: int, *, columns: Sequence[str] | None = None
    ) -> tuple[pa.RecordBatchReader, int]:
        """Rows appended by data-changing commits after version `since`, and the current version."""
        ...

    def append(
        self, table: TableId | str, data: Data, *, partition_by: Sequence[str] | None = None,
        txns: Txns | None = None, metadata: Metadata | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> int: ...

    def replace(
        self, table: TableId | str, data: Data, *, where: PartitionFilter | None = None,
        partition_by: Sequence[str] | None = None, txns: Txns | None = None,
        metadata: Metadata | None = None, properties: Mapping[str, str] | None = None,
    ) -> int: ...

    def merge(
        self, table: TableId | str, data: Data, spec: MergeSpec, *, txns: Txns | None = None,
        metadata: Metadata | None = None,
    ) -> int: ...

    def record(self, table: TableId | str, txns: Txns, *, metadata: Metadata | None = None) -> int:
        """A commit that changes no row: it only records progress markers."""
        ...

    def delete(
        self, table: TableId | str, where: str, *, txns: Txns | None = None, metadata: Metadata | None = None
    ) -> MaintenanceResult:
        """Delete the rows matching `where` (SQL) in one commit that also records `txns`."""
        ...

    def history(self, table: TableId | str, limit: int | None = None) -> list[Commit]: ...

    def info(self, table: TableId | str) -> TableInfo: ...

    def optimize(
        self, table: TableId | str, *, zorder: Sequence[str] = (), where: PartitionFilter | None = None,
        target_size: int | None = None, metadata: Metadata | None = None,
    ) -> MaintenanceResult: ...

    def vacuum(
        self, table: TableId | str, *, retention_hours: int, dry_run: bool = False,
        enforce_retention: bool = True,
    ) -> list[str]: ...

    def checkpoint(self, table: TableId | str) -> None: ...

    def cleanup_log(self, table: TableId | str) -> None: ...

    def commit_time(self, table: TableId | str, version: int) -> datetime | None:
        """When `version` was committed; None when its log entry has been cleaned up."""
        ...


# Markers retention records in the same commit as its DELETE (application transaction ids):
# HORIZON is the first event date still complete in the table (as days since 1970-01-01): rows
# dated before it were archived and deleted, so nothing built from the table may recompute
# those dates. ARCHIVED is the table version the committed archive was read from.
HORIZON = "retention:horizon"
ARCHIVED = "retention:archived"
EPOCH = date(1970, 1, 1)


def horizon(store: TableStore, table: TableId) -> date | None:
    """The first event date still complete in `table` (None: retention never deleted from it)."""
    days = store.txn_versions(table, [HORIZON]).get(HORIZON)
    return None if days is None else EPOCH + timedelta(days=days)


def inputs_horizon(store: TableStore, tables: Iterable[TableId]) -> date | None:
    """The latest horizon among `tables`: a model reading them can recompute only dates from it."""
    found = [h for t in tables if store.exists(t) and (h := horizon(store, t)) is not None]
    return max(found) if found else None
