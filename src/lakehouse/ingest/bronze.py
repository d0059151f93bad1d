"""The bronze writer: typed rows to `bronze.<source>`, bad ones to `bronze.quarantine`.

Both writes carry the caller's progress markers (application transaction ids) in the same
commit as the rows. Quarantine is committed first: if the process dies between the two
commits, the rerun re-reads from the bronze marker and skips the bad rows the quarantine
marker already covers — so every record lands exactly once in exactly one of the tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.contract import TableId
from lakehouse.exceptions import InputError
from lakehouse.ingest.schemas import QUARANTINE_SCHEMA, SCHEMAS, TIME_HI, TIME_LO, bronze_schema
from lakehouse.storage.delta import DeltaStore

QUARANTINE = TableId("bronze", "quarantine")


@dataclass
class BatchResult:
    bronze_rows: int = 0
    quarantined_rows: int = 0
    bronze_version: int | None = None
    quarantine_version: int | None = None


def new_batch_id() -> str:
    return uuid.uuid4().hex[:16]


def constant(value: object, n: int, type_: pa.DataType) -> pa.Array:
    """`n` copies of one value, built without a Python object per row."""
    return pa.repeat(pa.scalar(value, type_), n) if hasattr(pa, "repeat") else _repeat(value, n, type_)


def _repeat(value: object, n: int, type_: pa.DataType) -> pa.Array:
    one = pa.array([value], type_)
    return one.take(pa.array(np.zeros(n, dtype=np.int32))) if n else one.slice(0, 0)


class BronzeWriter:
    def __init__(self, store: DeltaStore) -> None:
        self.store = store

    def write(
        self,
        source: str,
        good: pa.Table,
        good_labels: pa.Array,
        bad: pa.Table,
        bad_labels: pa.Array,
        *,
        txns: Mapping[str, int],
        quarantine_txns: Mapping[str, int] | None = None,
        batch_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> BatchResult:
        """`good`: parser output (contract columns + `_rescued_data`); `bad`: position/raw/reason.

        `*_labels` are the `_source` values (file:line or topic/partition/offset) per row.
        """
        batch_id = batch_id or new_batch_id()
        now = pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC"))
        result = BatchResult()
        if bad.num_rows:
            q = pa.table(
                {
                    "source": constant(source, bad.num_rows, pa.string()),
                    "_source": bad_labels,
                    "position": bad.column("position"),
                    "raw": bad.column("raw").cast(pa.large_string()),
                    "reason": bad.column("reason"),
                    "_ingested_at": constant(now.as_py(), bad.num_rows, now.type),
                    "_batch_id": constant(batch_id, bad.num_rows, pa.string()),
                    "ingest_date": constant(now.as_py().date(), bad.num_rows, pa.date32()),
                },
                schema=QUARANTINE_SCHEMA,
            )
            result.quarantine_version = self.store.append(
                QUARANTINE, q, partition_by=["ingest_date"], txns=quarantine_txns or txns, metadata=metadata
            )
            result.quarantined_rows = bad.num_rows
        rows = self._bronze_rows(source, good, good_labels, now, batch_id)
        result.bronze_version = self.store.append(
            TableId("bronze", source), rows, partition_by=["event_date"], txns=txns, metadata=metadata
        )
        result.bronze_rows = rows.num_rows
        return result

    def _bronze_rows(
        self, source: str, good: pa.Table, labels: pa.Array, now: pa.Scalar, batch_id: str
    ) -> pa.Table:
        sch = SCHEMAS[source]
        target = bronze_schema(source)
        n = good.num_rows
        cols: dict[str, pa.Array | pa.ChunkedArray] = {}
        for f in target:
            if f.name in good.column_names:
                cols[f.name] = good.column(f.name).cast(f.type)
        if source == "cdc_changes":
            cols["ts"] = pc.cast(pc.multiply(good.column("ts_ms"), 1000), pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            )
        time_col = cols[sch.time_field]
        cols["_ingested_at"] = constant(now.as_py(), n, now.type)
        cols["_source"] = labels
        cols["_batch_id"] = constant(batch_id, n, pa.string())
        cols["event_date"] = pc.cast(time_col, pa.date32())
        rows = pa.table({f.name: cols[f.name] for f in target}, schema=target)
        _check_ranges(source, rows)
        return rows


def _check_ranges(source: str, rows: pa.Table) -> None:
    """The last guard before Delta: a value outside the contract's range would make a reader
    (or the writer itself: a Rust panic) fail. The parser never lets one through; if it
    did, refuse the batch with a message instead of writing it."""
    sch = SCHEMAS[source]
    for name in {sch.time_field, *(f.name for f in sch.fields if f.kind == "timestamp")}:
        mm = pc.min_max(rows.column(name))
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is not None and (lo < TIME_LO or hi >= TIME_HI):
            raise InputError(f"bronze.{source}.{name} has a value outside [{TIME_LO}, {TIME_HI})",
                             hint="a bug in the contract check: nothing of this batch was written")
    for f in sch.fields:
        if f.kind == "number" and pc.any(pc.invert(pc.is_finite(rows.column(f.name)))).as_py():
            raise InputError(f"bronze.{source}.{f.name} has a value that is not finite",
                             hint="a bug in the contract check: nothing of this batch was written")
