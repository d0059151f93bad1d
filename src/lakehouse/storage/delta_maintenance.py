"""DeltaStore's maintenance half: DELETE, OPTIMIZE (compaction, Z-order), VACUUM, checkpoints,
log cleanup and commit times. Split from `delta.py` by concern; like it, it talks to delta-rs.

Every method commits under the table's commit lock (`storage/locks.py`), as the writes do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties
from deltalake.exceptions import CommitFailedError, DeltaError

from lakehouse.contract import TableId, resolve
from lakehouse.exceptions import CommitConflictError, StorageError
from lakehouse.storage.base import MaintenanceResult, Metadata, PartitionFilter, Txns


def _id(table: TableId | str) -> TableId:
    return resolve(table) if isinstance(table, str) else table


def commit_props(txns: Txns | None, metadata: Metadata | None) -> CommitProperties:
    return CommitProperties(
        custom_metadata=dict(metadata) if metadata else None,
        app_transactions=[Transaction(app_id=k, version=int(v)) for k, v in (txns or {}).items()] or None,
    )


def feed_files_missing(root: Path, first: int, last: int) -> str | None:
    """The first log entry or data file versions first..last of the change feed need that is gone.

    delta-rs reads the feed lazily: a file removed by VACUUM surfaces mid-stream, inside the
    engine reading it, where it can no longer be told from any other failure. Checking the log's
    add/cdc paths first turns it into "history unavailable" (the caller rebuilds) instead.
    """
    log = root / "_delta_log"
    for v in range(first, last + 1):
        entry = log / f"{v:020d}.json"
        try:
            lines = entry.read_bytes().splitlines()
        except FileNotFoundError:
            return f"log entry {v}"
        for line in lines:
            action = json.loads(line)
            for kind in ("add", "cdc"):
                if kind in action and not (root / unquote(action[kind]["path"])).exists():
                    return str(action[kind]["path"])
    return None


class _Store(Protocol):
    _writer_props: WriterProperties

    def path(self, table: TableId | str) -> Path: ...
    def _open(self, table: TableId | str, version: int | None = None) -> DeltaTable: ...
    def _locked(self, t: TableId) -> AbstractContextManager[None]: ...
    def txn_versions(self, table: TableId | str, app_ids: Iterable[str]) -> dict[str, int]: ...
    def record(self, table: TableId | str, txns: Txns, *, metadata: Metadata | None = None) -> int: ...


class DeltaMaintenance:
    """Mixed into `DeltaStore`."""

    def delete(
        self: _Store, table: TableId | str, where: str, *, txns: Txns | None = None, metadata: Metadata | None = None
    ) -> MaintenanceResult:
        """Delete the rows matching `where` in one commit that also records `txns`."""
        t = _id(table)
        with self._locked(t):
            dt = self._open(t)
            before = dt.version()
            try:
                metrics = dt.delete(
                    where, writer_properties=self._writer_props, commit_properties=commit_props(txns, metadata)
                )
            except CommitFailedError as exc:
                raise CommitConflictError(f"delete from {t.fqn} lost a race: {exc}") from exc
            except DeltaError as exc:
                raise StorageError(f"delete from {t.fqn} failed: {exc}") from exc
            after = self._open(t).version()
            # A delete that matches nothing commits nothing: record the markers anyway.
            if txns and self.txn_versions(t, txns) != dict(txns):
                after = self.record(t, txns, metadata=metadata)
        return MaintenanceResult(
            t, "delete", before, after,
            files_removed=int(metrics.get("num_removed_files", 0)), files_added=int(metrics.get("num_added_files", 0)),
            details={"rows_deleted": int(metrics.get("num_deleted_rows", 0))},
        )

    def optimize(
        self: _Store, table: TableId | str, *, zorder: Sequence[str] = (), where: PartitionFilter | None = None,
        target_size: int | None = None, metadata: Metadata | None = None,
    ) -> MaintenanceResult:
        """Compact small files (or Z-order them by `zorder`), in the partitions `where` names."""
        t = _id(table)
        filters: Any = [(where.column, "in", list(where.values))] if where is not None else None
        props = commit_props(None, metadata)
        with self._locked(t):
            dt = self._open(t)
            before = dt.version()
            try:
                if zorder:
                    metrics = dt.optimize.z_order(
                        list(zorder), partition_filters=filters, target_size=target_size,
                        writer_properties=self._writer_props, commit_properties=props,
                    )
                else:
                    metrics = dt.optimize.compact(
                        partition_filters=filters, target_size=target_size,
                        writer_properties=self._writer_props, commit_properties=props,
                    )
            except CommitFailedError as exc:
                raise CommitConflictError(f"optimize of {t.fqn} lost a race: {exc}") from exc
            except DeltaError as exc:
                raise StorageError(f"optimize of {t.fqn} failed: {exc}") from exc
            after = self._open(t).version()
        return MaintenanceResult(
            t, "optimize", before, after,
            files_removed=int(metrics.get("numFilesRemoved", 0)), files_added=int(metrics.get("numFilesAdded", 0)),
            details={k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
        )

    def vacuum(
        self: _Store, table: TableId | str, *, retention_hours: int, dry_run: bool = False,
        enforce_retention: bool = True,
    ) -> list[str]:
        t = _id(table)
        try:
            with self._locked(t):
                # `full`: files in no version of the log too (a commit stopped by the quality gate
                # or a writer killed mid-write leaves its data files behind), past the same window.
                return list(self._open(t).vacuum(
                    retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=enforce_retention,
                    full=True,
                ))
        except CommitFailedError as exc:
            raise CommitConflictError(f"vacuum of {t.fqn} lost a race: {exc}") from exc
        except DeltaError as exc:
            raise StorageError(f"vacuum of {t.fqn} refused: {exc}") from exc

    def checkpoint(self: _Store, table: TableId | str) -> None:
        t = _id(table)
        with self._locked(t):
            self._open(t).create_checkpoint()

    def cleanup_log(self: _Store, table: TableId | str) -> None:
        t = _id(table)
        with self._locked(t):
            self._open(t).cleanup_metadata()

    def commit_time(self: _Store, table: TableId | str, version: int) -> datetime | None:
        """When `version` was committed, or None when its log entry is gone: the earlier of its
        commitInfo timestamp (what VACUUM goes by) and its log file's modification time (what log
        cleanup goes by), so a guard built on it errs on the side of keeping history."""
        entry = self.path(table) / "_delta_log" / f"{version:020d}.json"
        try:
            mtime = datetime.fromtimestamp(entry.stat().st_mtime, tz=UTC)
            with entry.open("rb") as f:
                for line in f:
                    info = json.loads(line).get("commitInfo")
                    if info and isinstance(info.get("timestamp"), int | float):
                        return min(mtime, datetime.fromtimestamp(info["timestamp"] / 1000, tz=UTC))
            return mtime
        except FileNotFoundError:
            return None
