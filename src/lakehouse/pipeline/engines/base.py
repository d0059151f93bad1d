"""The engine interface: what a model kind may ask of the SQL engine that runs it.

Kinds are written once against this interface. An engine binds lake tables to names the
model SQL reads (`silver.clicks`), whole or narrowed to a slice, runs SQL into named
intermediate relations, and writes a relation to a table with its progress markers.
SQL handed to an engine is in the models' dialect (DuckDB's); an engine whose own dialect
differs translates it (`dialect` says which it speaks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol

import pyarrow as pa

from lakehouse.contract import TableId
from lakehouse.storage.base import MergeSpec, Metadata, PartitionFilter, Txns

Capability = Literal[
    "arrow_input",  # can bind an in-memory Arrow table as an input
    "merge",  # can upsert into a table (MERGE)
    "replace_partitions",  # can overwrite chosen partitions atomically
    "change_feed",  # can read the rows appended since a version
    "audited_write",  # can show a write's rows to an `Audit` batch by batch before the commit
]

WriteMode = Literal["append", "overwrite"]


class AuditSession(Protocol):
    """SQL beside a write in progress (the audit's own scratch tables, batches it binds)."""

    def bind(self, name: str, data: pa.RecordBatch) -> None: ...

    def unbind(self, name: str) -> None: ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str) -> None: ...

    def reader(self, sql: str) -> pa.RecordBatchReader: ...


class Audit(Protocol):
    """Sees every batch of a streamed write before anything is committed (write-audit-publish).

    A full build streams from the model's query into its commit, so checking it costs no
    staging: the relation written carries the audit's measures as extra columns (`measures`,
    computed by the engine with the rows, never written); the engine shows each batch to
    `batch`, writes the rows it keeps, and after the last batch and before the commit calls
    `finish`, which raises to stop the commit (the table stays at its previous version; files
    already written are not in the log, and `lakehouse vacuum` removes them).
    """

    measures: tuple[str, ...]

    def batch(self, batch: pa.RecordBatch, session: AuditSession) -> pa.Array | None:
        """Judge the batch; returns a boolean mask of the rows to write (None: all of them)."""
        ...

    def finish(self, session: AuditSession) -> None:
        """Everything is seen: judge, record, raise to stop the commit. Runs outside the
        writer, so it may commit to other tables (the quarantine)."""
        ...


class Engine(Protocol):
    name: ClassVar[str]
    dialect: ClassVar[str]  # sqlglot dialect of the SQL the engine runs natively
    supports: ClassVar[frozenset[Capability]]

    def bind_table(self, table: TableId, *, where: str | None = None, name: str | None = None) -> None:
        """`table`'s current rows (filtered by `where`) under its `layer.name`, or `name`."""
        ...

    def bind_changes(self, table: TableId, since: int, *, name: str | None = None) -> int:
        """The rows appended to `table` after version `since`; returns how many."""
        ...

    def bind_arrow(self, table: TableId, data: pa.Table, *, name: str | None = None) -> None: ...

    def bind_query(self, name: TableId | str, sql: str) -> None:
        """A view named `name` over `sql` (a TableId binds its `layer.name`)."""
        ...

    def materialize(self, name: str, sql: str) -> int:
        """Run `sql` into an intermediate relation `name`; returns its row count."""
        ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def fetch_dicts(self, sql: str) -> list[dict[str, Any]]:
        """A small result as Python values, one dict per row (samples, summaries)."""
        ...

    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema of `sql`'s result, without running it in full."""
        ...

    def scalar(self, sql: str) -> Any: ...

    def write(
        self, target: TableId, sql: str, *, mode: WriteMode, where: PartitionFilter | None = None,
        partition_by: Sequence[str] | None = None, txns: Txns | None = None, metadata: Metadata | None = None,
        audit: Audit | None = None,
    ) -> int:
        """Write the rows of `sql` to `target` in one commit with `txns`; returns the new version.

        `audit` (only with the `audited_write` capability) sees the rows before the commit."""
        ...

    def merge(
        self, target: TableId, sql: str, spec: MergeSpec, *, txns: Txns | None = None,
        metadata: Metadata | None = None,
    ) -> int: ...

    def close(self) -> None: ...
