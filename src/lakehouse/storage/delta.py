"""Delta Lake through delta-rs: the `TableStore` the lake runs on, and the only module that
imports `deltalake` (ruff's banned-api rule holds that).

Exactly-once bookkeeping lives in the Delta log itself: writers attach application
transaction ids (`txn` actions) to the same commit as their data, so a table and its
progress markers can never disagree. Append-only tables (bronze, the deduplicated silver
tables) are created with Delta's change data feed on, so "the rows appended since version
v" is the format's own answer (`changes`), compaction commits (dataChange=false) excluded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.exceptions import TableNotFoundError as DeltaNotFound

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, TableId, resolve
from lakehouse.exceptions import CommitConflictError, StorageError, TableNotBuiltError
from lakehouse.results import Commit, TableInfo
from lakehouse.storage import locks
from lakehouse.storage.base import (
    Data,
    DataFile,
    HistoryUnavailableError,
    MergeSpec,
    Metadata,
    PartitionFilter,
    Snapshot,
    Txns,
)
from lakehouse.storage.delta_maintenance import DeltaMaintenance, commit_props, feed_files_missing
from lakehouse.storage.predicates import in_list

__all__ = ["DeltaStore", "TableInfo"]

log = logging.getLogger(__name__)

CHANGE_FEED = "delta.enableChangeDataFeed"
# Expires application transaction ids (our exactly-once markers) at checkpoints in engines that
# honour it: never allowed on a lake table.
TXN_RETENTION = "delta.setTransactionRetentionDuration"


def _id(table: TableId | str) -> TableId:
    return resolve(table) if isinstance(table, str) else table


class DeltaStore(DeltaMaintenance):
    """Reads and writes the lake's Delta tables by `TableId` (implements `TableStore`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._writer_props = WriterProperties(compression=settings.compression.upper())  # type: ignore[arg-type]
        self._local = threading.local()

    # -- locating -------------------------------------------------------------------------
    def path(self, table: TableId | str) -> Path:
        t = _id(table)
        return self.settings.layer_path(t.layer) / t.name

    def exists(self, table: TableId | str) -> bool:
        return DeltaTable.is_deltatable(str(self.path(table)))

    def _open(self, table: TableId | str, version: int | None = None) -> DeltaTable:
        """The table at `version`, or its latest version.

        Latest snapshots are kept per thread and brought up to date by reading only the new
        log entries, so a job that asks about the same table many times loads it once.
        """
        t = _id(table)
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

    @contextmanager
    def _locked(self, t: TableId) -> Iterator[None]:
        """The table's commit lock (re-entrant for a caller already holding it: `locks.hold`)."""
        with locks.hold(self.settings, t):
            yield

    def version(self, table: TableId | str) -> int | None:
        """Current version, or None when the table does not exist yet."""
        if not self.exists(table):
            return None
        return self._open(table).version()

    # -- reading ----------------------------------------------------------------------------
    def snapshot(self, table: TableId | str, version: int | None = None) -> Snapshot:
        t = _id(table)
        dt = self._open(t, version)
        actions = pa.table(dt.get_add_actions(flatten=True))
        parts = tuple(dt.metadata().partition_columns)
        root = dt.table_uri.removeprefix("file://").rstrip("/")
        paths = actions.column("path").to_pylist()
        sizes = actions.column("size_bytes").to_pylist()
        rows = actions.column("num_records").to_pylist() if "num_records" in actions.column_names else [None] * len(paths)
        pvals = {c: actions.column(f"partition.{c}").to_pylist() for c in parts if f"partition.{c}" in actions.column_names}
        files = tuple(
            DataFile(
                path=p if p.startswith("/") else f"{root}/{p}",
                size_bytes=int(sizes[i] or 0),
                rows=_int_or_none(rows[i]),
                partition={c: None if pvals[c][i] is None else str(pvals[c][i]) for c in pvals},
            )
            for i, p in enumerate(paths)
        )
        hist = dt.history(1)
        ts = hist[0].get("timestamp") if hist else None
        return Snapshot(
            table=t,
            version=dt.version(),
            schema=pa.schema(dt.schema().to_arrow()),
            partition_columns=parts,
            files=files,
            last_modified=datetime.fromtimestamp(ts / 1000, tz=UTC) if ts else None,
            properties=dict(dt.metadata().configuration),
        )

    def schema(self, table: TableId | str) -> pa.Schema:
        """The schema from the log alone (no file listing): cheap even for big tables."""
        return pa.schema(self._open(table).schema().to_arrow())

    def dataset(self, table: TableId | str, version: int | None = None) -> ds.Dataset:
        """A lazily scanned Arrow dataset (projection and partition pruning push down)."""
        return self._open(table, version).to_pyarrow_dataset()

    def txn_versions(self, table: TableId | str, app_ids: Iterable[str]) -> dict[str, int]:
        """Transaction versions recorded in the table's log, from one snapshot (missing ids left out)."""
        if not self.exists(table):
            return {}
        dt = self._open(table)
        out: dict[str, int] = {}
        for app_id in app_ids:
            v = dt.transaction_version(app_id)
            if v is not None:
                out[app_id] = int(v)
        return out

    def column_max(self, table: TableId | str, column: str) -> Any:
        actions = pa.table(self._open(table).get_add_actions(flatten=True))
        name = f"max.{column}"
        if name not in actions.column_names or actions.num_rows == 0:
            return None
        import pyarrow.compute as pc

        return pc.max(actions.column(name)).as_py()

    def txn_version(self, table: TableId | str, app_id: str) -> int | None:
        return self.txn_versions(table, [app_id]).get(app_id)

    def changes(
        self, table: TableId | str, since: int, *, columns: Sequence[str] | None = None
    ) -> tuple[pa.RecordBatchReader, int]:
        """Rows appended by data-changing commits after version `since`, and the current version.

        Read from Delta's change data feed: commits that only rearrange files (OPTIMIZE) add
        nothing, and files compacted away but not yet vacuumed are still read. Raises
        HistoryUnavailableError when the feed cannot answer (not enabled when those versions
        were written, or their log or files cleaned up): the caller rebuilds in full.
        """
        dt = self._open(table)
        current = dt.version()
        names = [f.name for f in dt.schema().fields]
        wanted = list(columns) if columns is not None else names
        if since >= current:
            empty = pa.schema(dt.schema().to_arrow()).empty_table().select(wanted)
            return pa.RecordBatchReader.from_batches(empty.schema, empty.to_batches()), current
        if dt.metadata().configuration.get(CHANGE_FEED) != "true":
            raise HistoryUnavailableError(f"{_id(table)}: change data feed is not enabled")
        missing = feed_files_missing(self.path(table), since + 1, current)
        if missing:
            raise HistoryUnavailableError(f"{_id(table)}: changes after v{since} need {missing}, which is gone")
        try:
            # The change type must be read too: projected away, a DELETE's rows (retention) would
            # come back looking like appended ones.
            reader = dt.load_cdf(
                starting_version=since + 1, ending_version=current, columns=[*wanted, "_change_type"]
            )
        except (DeltaError, OSError) as exc:
            raise HistoryUnavailableError(f"{_id(table)}: changes after v{since}: {exc}") from exc
        return _only_inserts(reader, wanted), current

    # -- writing ----------------------------------------------------------------------------
    def append(
        self, table: TableId | str, data: Data, *, partition_by: Sequence[str] | None = None,
        txns: Txns | None = None, metadata: Metadata | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> int:
        """Append in one commit, recording `txns` (app id -> version) in the same commit."""
        return self._write(_id(table), data, "append", partition_by, None, txns, metadata, properties)

    def replace(
        self, table: TableId | str, data: Data, *, where: PartitionFilter | None = None,
        partition_by: Sequence[str] | None = None, txns: Txns | None = None,
        metadata: Metadata | None = None, properties: Mapping[str, str] | None = None,
    ) -> int:
        """Overwrite the whole table, or only the partitions in `where`, atomically."""
        predicate = in_list(where.column, where.values) if where is not None else None
        return self._write(_id(table), data, "overwrite", partition_by, predicate, txns, metadata, properties)

    def record(self, table: TableId | str, txns: Txns, *, metadata: Metadata | None = None) -> int:
        empty = self.schema(table).empty_table()
        return self._write(_id(table), empty, "append", None, None, txns, metadata, None)

    def _write(
        self, t: TableId, data: Data, mode: str, partition_by: Sequence[str] | None,
        predicate: str | None, txns: Txns | None, metadata: Metadata | None,
        properties: Mapping[str, str] | None,
    ) -> int:
        path = self.path(t)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(t):
            return self._write_locked(t, path, data, mode, partition_by, predicate, txns, metadata, properties)

    def _write_locked(
        self, t: TableId, path: Path, data: Data, mode: str, partition_by: Sequence[str] | None,
        predicate: str | None, txns: Txns | None, metadata: Metadata | None,
        properties: Mapping[str, str] | None,
    ) -> int:
        exists = self.exists(t)
        options: dict[str, Any] = {
            "mode": mode,
            "partition_by": list(partition_by) if partition_by and not exists else None,
            "schema_mode": "merge" if exists and mode == "append" else None,
            "writer_properties": self._writer_props,
            "commit_properties": commit_props(txns, metadata),
            "configuration": None if exists else self._create_properties(t, properties),
        }
        if mode == "overwrite" and exists and predicate:
            options["predicate"] = predicate
        try:
            write_deltalake(self._open(t) if exists else str(path), data, **options)
        except CommitFailedError as exc:
            raise CommitConflictError(f"commit to {t.fqn} lost a race: {exc}") from exc
        return self._open(t).version()

    def _create_properties(self, t: TableId, extra: Mapping[str, str] | None) -> dict[str, str | None]:
        # Log cleanup only through `lakehouse optimize`, which defers it while a downstream model
        # still needs the entries (delta-rs would otherwise clean up at every 100th commit).
        props: dict[str, str | None] = {"delta.enableExpiredLogCleanup": "false"}
        if t in REGISTRY and REGISTRY.get(t).append_only:
            props[CHANGE_FEED] = "true"
        props.update(extra or {})
        if TXN_RETENTION in props:
            raise StorageError(
                f"{t.fqn}: {TXN_RETENTION} would expire the lake's exactly-once markers",
                hint="leave it unset: ingest and transform progress lives in those markers",
            )
        return props

    def merge(
        self, table: TableId | str, data: Data, spec: MergeSpec, *, txns: Txns | None = None,
        metadata: Metadata | None = None,
    ) -> int:
        """Upsert `data` by `spec` in one commit that also records `txns`."""
        t = _id(table)
        with self._locked(t):
            return self._merge_locked(t, data, spec, txns, metadata)

    def _merge_locked(
        self, t: TableId, data: Data, spec: MergeSpec, txns: Txns | None, metadata: Metadata | None
    ) -> int:
        dt = self._open(t)
        target = [f.name for f in dt.schema().fields]
        cols = list(spec.columns or target)
        values = {c: f"s.{_quote(c)}" for c in cols}
        on = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in (*spec.prune, *spec.on))
        try:
            merger = dt.merge(
                data, predicate=on, source_alias="s", target_alias="t",
                writer_properties=self._writer_props, commit_properties=commit_props(txns, metadata),
            )
            if spec.delete_when is not None:
                merger = merger.when_matched_delete(predicate=spec.delete_when)
            merger = merger.when_matched_update(updates=values, predicate=spec.update_when)
            merger = merger.when_not_matched_insert(updates=values, predicate=spec.insert_when)
            merger.execute()
        except CommitFailedError as exc:
            raise CommitConflictError(f"merge into {t.fqn} lost a race: {exc}") from exc
        # A MERGE that changes no row commits nothing: record the markers anyway.
        if txns and self.txn_versions(t, txns) != dict(txns):
            return self.record(t, txns, metadata=metadata)
        return self._open(t).version()

    # -- facts --------------------------------------------------------------------------------
    def info(self, table: TableId | str) -> TableInfo:
        snap = self.snapshot(table)
        return TableInfo(
            table=snap.table,
            path=str(self.path(snap.table)),
            version=snap.version,
            rows=snap.rows,
            files=len(snap.files),
            size_bytes=snap.size_bytes,
            partition_columns=list(snap.partition_columns),
            last_modified=snap.last_modified,
            schema=snap.schema,
        )

    def history(self, table: TableId | str, limit: int | None = None) -> list[Commit]:
        out = []
        for h in self._open(table).history(limit):
            ts = h.get("timestamp")
            meta = {k: str(v) for k, v in h.items() if k.startswith("lakehouse.")}
            out.append(Commit(
                version=int(h.get("version", -1)),
                timestamp=datetime.fromtimestamp(ts / 1000, tz=UTC) if isinstance(ts, int | float) else None,
                operation=str(h.get("operation", "")),
                parameters=dict(h.get("operationParameters") or {}),
                metrics=dict(h.get("operationMetrics") or {}),
                metadata=meta,
            ))
        return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _only_inserts(reader: pa.RecordBatchReader, columns: list[str]) -> pa.RecordBatchReader:
    """The change feed's inserted rows, without its bookkeeping columns.

    A projected feed hands strings back as string views, which Arrow cannot filter yet: those
    columns are cast to plain strings first (a cheap, vectorised copy).
    """
    import pyarrow.compute as pc

    reader = pa.RecordBatchReader.from_stream(reader)  # delta-rs hands back an arro3 reader
    plain = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
    fields = [reader.schema.field(c) for c in columns]
    out_schema = pa.schema([f.with_type(plain.get(f.type, f.type)) for f in fields])

    def batches() -> Iterable[pa.RecordBatch]:
        for b in reader:
            cols = [b.column(c).cast(out_schema.field(c).type) for c in columns]
            if "_change_type" in b.schema.names:
                mask = pc.equal(b.column("_change_type").cast(pa.string()), "insert")
                cols = [c.filter(mask) for c in cols]
            yield pa.RecordBatch.from_arrays(cols, schema=out_schema)

    return pa.RecordBatchReader.from_batches(out_schema, batches())


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
