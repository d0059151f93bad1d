"""Delta table access: the only module that calls `deltalake` directly.

Exactly-once bookkeeping lives in the Delta log itself: writers attach application
transaction ids (`txn` actions) to the same commit as their data, so the table and its
progress marker can never disagree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError
from deltalake.exceptions import TableNotFoundError as DeltaNotFound

from lakehouse.config import Settings
from lakehouse.exceptions import CommitConflictError, TableNotBuiltError
from lakehouse.storage.names import TableId, resolve

log = logging.getLogger(__name__)


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


class DeltaStore:
    """Reads and writes the lake's Delta tables by `TableId`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._writer_props = WriterProperties(compression=settings.compression.upper())  # type: ignore[arg-type]
        self._local = threading.local()

    # -- locating -------------------------------------------------------------------------
    def path(self, table: TableId | str) -> Path:
        t = resolve(table) if isinstance(table, str) else table
        return self.settings.layer_path(t.layer) / t.name

    def exists(self, table: TableId | str) -> bool:
        return DeltaTable.is_deltatable(str(self.path(table)))

    def open(self, table: TableId | str, version: int | None = None) -> DeltaTable:
        """The table at `version`, or its latest version.

        Latest snapshots are kept per thread and brought up to date by reading only the new
        log entries, so a job that asks about the same table many times loads it once.
        """
        t = resolve(table) if isinstance(table, str) else table
        path = str(self.path(t))
        try:
            if version is not None:
                return DeltaTable(path, version=version)
            cache: dict[str, DeltaTable] = self._local.__dict__.setdefault("tables", {})
            dt = cache.get(path)
            if dt is None:
                dt = cache[path] = DeltaTable(path)
            else:
                dt.update_incremental()
            return dt
        except DeltaNotFound as exc:
            self._local.__dict__.get("tables", {}).pop(path, None)
            raise TableNotBuiltError(t.fqn) from exc

    def version(self, table: TableId | str) -> int | None:
        """Current version, or None when the table does not exist yet."""
        if not self.exists(table):
            return None
        return self.open(table).version()

    # -- reading ----------------------------------------------------------------------------
    def dataset(self, table: TableId | str, version: int | None = None) -> ds.Dataset:
        """A lazily scanned Arrow dataset (projection and partition pruning push down)."""
        return self.open(table, version).to_pyarrow_dataset()

    def txn_version(self, table: TableId | str, app_id: str) -> int | None:
        """The last version an application recorded in this table's log, if any."""
        if not self.exists(table):
            return None
        v = self.open(table).transaction_version(app_id)
        return None if v is None else int(v)

    def txn_versions(self, table: TableId | str, app_ids: Iterable[str]) -> dict[str, int]:
        """Many transaction versions from one snapshot (missing ids are left out)."""
        if not self.exists(table):
            return {}
        dt = self.open(table)
        out: dict[str, int] = {}
        for app_id in app_ids:
            v = dt.transaction_version(app_id)
            if v is not None:
                out[app_id] = int(v)
        return out

    def added_files_since(self, table: TableId | str, version: int) -> tuple[list[str], int]:
        """Data files added by data-changing commits after `version`, and the current version.

        Only for append-only tables (bronze and the silver dedup tables): compaction commits
        (dataChange=false) are skipped, so OPTIMIZE never makes rows look new.
        """
        dt = self.open(table)
        current = dt.version()
        files: list[str] = []
        if current <= version:
            return files, current
        actions = dt.get_add_actions(flatten=True)
        live = set(actions.column("path").to_pylist())
        for entry in _log_entries(Path(dt.table_uri.removeprefix("file://")), version + 1, current):
            add = entry.get("add")
            if add and add.get("dataChange", True) and add["path"] in live:
                files.append(add["path"])
        return files, current

    def new_rows_dataset(self, table: TableId | str, version: int | None) -> tuple[ds.Dataset, int]:
        """Rows appended after `version` (all rows when `version` is None) and the current version."""
        dt = self.open(table)
        full = dt.to_pyarrow_dataset()
        if version is None:
            return full, dt.version()
        files, current = self.added_files_since(table, version)
        root = dt.table_uri.removeprefix("file://").rstrip("/")
        paths = [f"{root}/{f}" for f in files]
        partitioning = ds.partitioning(
            pa.schema([full.schema.field(c) for c in dt.metadata().partition_columns]), flavor="hive"
        ) if dt.metadata().partition_columns else None
        sub = ds.dataset(paths, schema=full.schema, format="parquet", partitioning=partitioning,
                         partition_base_dir=root) if paths else full.schema.empty_table()
        if isinstance(sub, pa.Table):
            return ds.dataset(sub), current
        return sub, current

    # -- writing ----------------------------------------------------------------------------
    def append(
        self,
        table: TableId | str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        partition_by: Sequence[str] | None = None,
        txns: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        configuration: Mapping[str, str | None] | None = None,
    ) -> int:
        """Append in one commit, recording `txns` (app id -> version) in the same commit."""
        return self._write(table, data, "append", partition_by, None, txns, metadata, configuration)

    def replace(
        self,
        table: TableId | str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        predicate: str | None = None,
        partition_by: Sequence[str] | None = None,
        txns: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Overwrite the whole table, or only the rows matching `predicate`, atomically."""
        return self._write(table, data, "overwrite", partition_by, predicate, txns, metadata, None)

    def _write(
        self,
        table: TableId | str,
        data: pa.Table | pa.RecordBatchReader,
        mode: str,
        partition_by: Sequence[str] | None,
        predicate: str | None,
        txns: Mapping[str, int] | None,
        metadata: Mapping[str, Any] | None,
        configuration: Mapping[str, str | None] | None,
    ) -> int:
        path = self.path(table)
        path.parent.mkdir(parents=True, exist_ok=True)
        props = _commit_props(txns, metadata)
        exists = self.exists(table)
        options: dict[str, Any] = {
            "mode": mode,
            "partition_by": list(partition_by) if partition_by and not exists else None,
            "schema_mode": "merge" if exists and mode == "append" else None,
            "writer_properties": self._writer_props,
            "commit_properties": props,
            "configuration": configuration if not exists else None,
        }
        if mode == "overwrite" and exists and predicate:
            options["predicate"] = predicate
        try:
            write_deltalake(str(path), data, **options)
        except CommitFailedError as exc:
            raise CommitConflictError(f"commit to {path} lost a race: {exc}") from exc
        return DeltaTable(str(path)).version()

    def merge(
        self,
        table: TableId | str,
        source: pa.Table,
        *,
        predicate: str,
        txns: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Any:
        """Start a MERGE into the table; the caller adds the clauses and calls execute()."""
        return self.open(table).merge(
            source,
            predicate=predicate,
            source_alias="s",
            target_alias="t",
            writer_properties=self._writer_props,
            commit_properties=_commit_props(txns, metadata),
        )

    # -- facts --------------------------------------------------------------------------------
    def info(self, table: TableId) -> TableInfo:
        dt = self.open(table)
        actions = dt.get_add_actions(flatten=True)
        rows_col = actions.column("num_records") if "num_records" in actions.column_names else None
        size = sum(actions.column("size_bytes").to_pylist()) if actions.num_rows else 0
        rows = sum(x or 0 for x in rows_col.to_pylist()) if rows_col is not None else 0
        hist = dt.history(1)
        ts = hist[0].get("timestamp") if hist else None
        return TableInfo(
            table=table,
            path=str(self.path(table)),
            version=dt.version(),
            rows=int(rows),
            files=actions.num_rows,
            size_bytes=int(size),
            partition_columns=list(dt.metadata().partition_columns),
            last_modified=datetime.fromtimestamp(ts / 1000, tz=UTC) if ts else None,
            schema=pa.schema(dt.schema().to_arrow()),
        )

    def history(self, table: TableId, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self.open(table).history(limit))


def _commit_props(txns: Mapping[str, int] | None, metadata: Mapping[str, Any] | None) -> CommitProperties:
    return CommitProperties(
        custom_metadata=dict(metadata) if metadata else None,
        app_transactions=[Transaction(app_id=k, version=int(v)) for k, v in (txns or {}).items()] or None,
    )


def _log_entries(root: Path, first: int, last: int) -> Iterable[dict[str, Any]]:
    import orjson

    for v in range(first, last + 1):
        f = root / "_delta_log" / f"{v:020d}.json"
        if not f.exists():  # expired by log retention; callers then fall back to a full scan
            raise FileNotFoundError(f)
        for line in f.read_bytes().splitlines():
            if line.strip():
                yield orjson.loads(line)
