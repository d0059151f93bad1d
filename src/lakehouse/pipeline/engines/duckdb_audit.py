"""DuckDB's audited write: the rows stream from the model's query to the table's writer, and
an `Audit` sees each batch on the way before the writer may commit; SQL it needs beside the
stream runs on a second connection to the same database (the first is busy producing it).

The audit's `finish` runs on a thread of its own: the writer (delta-rs) pulls the stream
from inside its async runtime, where another Delta commit (the quarantine's) cannot start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pyarrow as pa

from lakehouse.pipeline.engines.base import Audit


class CursorSession:
    """An `AuditSession` on a DuckDB cursor: it sees the database's views, and its own temp tables."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, batch_rows: int) -> None:
        self.cursor = cursor
        self.batch_rows = batch_rows

    def bind(self, name: str, data: pa.RecordBatch) -> None:
        self.cursor.register(name, data)

    def unbind(self, name: str) -> None:
        self.cursor.unregister(name)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.cursor.execute(sql).fetchall()

    def execute(self, sql: str) -> None:
        self.cursor.execute(sql)

    def reader(self, sql: str) -> pa.RecordBatchReader:
        return self.cursor.sql(sql).to_arrow_reader(batch_size=self.batch_rows)


class AuditedStream:
    """`reader`'s batches as the audit lets them through, without its measure columns; `error`
    keeps what stopped the stream (the writer reports it only as text)."""

    def __init__(self, reader: pa.RecordBatchReader, audit: Audit, session: CursorSession) -> None:
        self.schema = pa.schema([f for f in reader.schema if f.name not in audit.measures])
        self.error: Exception | None = None
        self._reader, self._audit, self._session = reader, audit, session

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def close(self) -> None:
        self._session.cursor.close()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        written = self.schema.names
        try:
            for batch in self._reader:
                if batch.num_rows == 0:
                    continue
                keep = self._audit.batch(batch, self._session)
                out = batch.select(written)
                yield out if keep is None else out.filter(keep)
            _outside_the_writer(lambda: self._audit.finish(self._session))
        except Exception as exc:
            self.error = exc
            raise


def _outside_the_writer(fn: Callable[[], None]) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # carried to the caller's thread, raised there
            failure.append(exc)

    worker = threading.Thread(target=run, name="lakehouse-audit-finish")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
