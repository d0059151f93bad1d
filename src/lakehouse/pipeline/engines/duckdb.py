"""DuckDB: the default engine, embedded, over the lake's Delta data files.

A lake table is bound as a view named `layer.table` over the Parquet files of its current
snapshot (the file list comes from the Delta log, so only committed files are read), or over
the rows appended since a version (read from the change feed into a temp table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.contract import LAYERS, TableId
from lakehouse.pipeline.engines.base import Audit, Capability, WriteMode
from lakehouse.pipeline.engines.duckdb_audit import AuditedStream, CursorSession
from lakehouse.pipeline.sql import literal, quote
from lakehouse.storage.base import MergeSpec, Metadata, PartitionFilter, TableStore, Txns

_HIVE_TYPES = {pa.date32(): "DATE", pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER"}
BATCH_ROWS = 256_000


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake's limits, in UTC."""
    con = duckdb.connect(config={"memory_limit": settings.duckdb_memory_limit})
    con.execute("SET TimeZone='UTC'")
    if settings.duckdb_threads:
        con.execute(f"SET threads={int(settings.duckdb_threads)}")
    return con


class DuckDBEngine:
    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"
    supports: ClassVar[frozenset[Capability]] = frozenset(
        {"arrow_input", "merge", "replace_partitions", "change_feed", "audited_write"}
    )

    def __init__(self, settings: Settings, store: TableStore) -> None:
        self.store = store
        self.con = connect(settings)
        for layer in LAYERS:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        self._n = 0

    def close(self) -> None:
        self.con.close()

    def _tmp(self, prefix: str) -> str:
        self._n += 1
        return f"__{prefix}_{self._n}"

    # -- binding ----------------------------------------------------------------------------
    def bind_table(self, table: TableId, *, where: str | None = None, name: str | None = None) -> None:
        snap = self.store.snapshot(table)
        self._bind_files(snap.paths, snap.schema, snap.partition_columns, name or table.fqn, where)

    def bind_files(
        self, table: TableId, paths: Sequence[str], *, where: str | None = None, name: str | None = None
    ) -> None:
        """`table` narrowed to some of its data files (absolute paths)."""
        snap = self.store.snapshot(table)
        self._bind_files(list(paths), snap.schema, snap.partition_columns, name or table.fqn, where)

    def _bind_files(
        self, paths: list[str], schema: pa.Schema, parts: Sequence[str], view: str, where: str | None
    ) -> None:
        if not paths:
            self._bind_arrow_view(schema.empty_table(), view, where)
            return
        files = ", ".join(literal(p) for p in paths)
        hive = ", ".join(f"{quote(c)}: '{_HIVE_TYPES.get(schema.field(c).type, 'VARCHAR')}'" for c in parts)
        src = (
            f"read_parquet([{files}], union_by_name=true"
            + (f", hive_partitioning=true, hive_types={{{hive}}}" if parts else "")
            + ")"
        )
        cols = ", ".join(quote(f.name) for f in schema)
        self._view(view, f"SELECT {cols} FROM {src}", where)

    def bind_changes(self, table: TableId, since: int, *, name: str | None = None) -> int:
        reader, _ = self.store.changes(table, since)
        registered = self._tmp("feed")
        self.con.register(registered, reader)
        try:
            rows = self.materialize(registered + "_rows", f"SELECT * FROM {registered}")
        finally:
            self.con.unregister(registered)
        self._view(name or table.fqn, f"SELECT * FROM {registered}_rows", None)
        return rows

    def bind_arrow(self, table: TableId, data: pa.Table, *, name: str | None = None) -> None:
        self._bind_arrow_view(data, name or table.fqn, None)

    def _bind_arrow_view(self, data: pa.Table, view: str, where: str | None) -> None:
        registered = self._tmp("arrow")
        self.con.register(registered, data)
        self._view(view, f"SELECT * FROM {registered}", where)

    def bind_query(self, name: TableId | str, sql: str) -> None:
        self._view(name.fqn if isinstance(name, TableId) else name, sql, None)

    def _view(self, view: str, select: str, where: str | None) -> None:
        body = f"SELECT * FROM ({select}) WHERE {where}" if where else select
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {body}")

    # -- running ----------------------------------------------------------------------------
    def materialize(self, name: str, sql: str) -> int:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        return int(self.scalar(f"SELECT count(*) FROM {name}") or 0)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def fetch_dicts(self, sql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.con.sql(sql).to_arrow_table().to_pylist()
        return rows

    def schema(self, sql: str) -> pa.Schema:
        return self.con.sql(sql).limit(0).to_arrow_table().schema

    def scalar(self, sql: str) -> Any:
        rows = self.con.execute(sql).fetchall()
        return rows[0][0] if rows else None

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    # -- writing ----------------------------------------------------------------------------
    def write(
        self, target: TableId, sql: str, *, mode: WriteMode, where: PartitionFilter | None = None,
        partition_by: Sequence[str] | None = None, txns: Txns | None = None, metadata: Metadata | None = None,
        audit: Audit | None = None,
    ) -> int:
        data = self.con.sql(sql).to_arrow_reader(batch_size=BATCH_ROWS)
        stream = AuditedStream(data, audit, CursorSession(self.con.cursor(), BATCH_ROWS)) if audit else None
        if stream is not None:
            data = stream.reader()
        try:
            if mode == "append":
                return self.store.append(target, data, partition_by=partition_by, txns=txns, metadata=metadata)
            return self.store.replace(
                target, data, where=where, partition_by=partition_by, txns=txns, metadata=metadata
            )
        except Exception:
            if stream is not None and stream.error is not None:
                raise stream.error from None  # the audit stopped the commit: its own error, not the writer's text
            raise
        finally:
            if stream is not None:
                stream.close()

    def merge(
        self, target: TableId, sql: str, spec: MergeSpec, *, txns: Txns | None = None,
        metadata: Metadata | None = None,
    ) -> int:
        return self.store.merge(target, self.arrow(sql), spec, txns=txns, metadata=metadata)
