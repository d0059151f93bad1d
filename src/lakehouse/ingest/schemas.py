"""The bronze contract per source: fields as sent, their types, which are required,
and the event-time field that partitions the table by date.

A record missing a required field (or whose required field cannot be read as its type)
goes to quarantine; an optional field of the wrong type is nulled and kept, as sent,
in `_rescued_data`, together with any field the contract does not know.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Field:
    name: str
    duck_type: str  # the DuckDB type json_transform reads the value as
    arrow_type: pa.DataType
    required: bool = False


@dataclass(frozen=True)
class SourceSchema:
    source: str
    key: str  # the record's own id, used to deduplicate in silver
    time_field: str  # event time; its UTC date partitions bronze
    fields: tuple[Field, ...]
    # Fields nested inside an object (CDC's `source`) that we lift to columns.
    derived: tuple[tuple[str, str, str, pa.DataType], ...] = ()  # (column, json path, duck type, arrow)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


TS = pa.timestamp("us", tz="UTC")
S = pa.string()


def _f(name: str, duck: str, arrow: pa.DataType, required: bool = False) -> Field:
    return Field(name, duck, arrow, required)


SCHEMAS: dict[str, SourceSchema] = {
    "app_events": SourceSchema(
        "app_events",
        key="event_id",
        time_field="timestamp",
        fields=(
            _f("event_id", "VARCHAR", S, True),
            _f("user_id", "VARCHAR", S, True),
            _f("event_type", "VARCHAR", S, True),
            _f("timestamp", "TIMESTAMPTZ", TS, True),
            _f("app_type", "VARCHAR", S),
            _f("app_version", "VARCHAR", S),
            _f("session_id", "VARCHAR", S),
            _f("duration_ms", "BIGINT", pa.int64()),
            _f("properties", "JSON", S),
        ),
    ),
    "clickstream": SourceSchema(
        "clickstream",
        key="click_id",
        time_field="timestamp",
        fields=(
            _f("click_id", "VARCHAR", S, True),
            _f("user_id", "VARCHAR", S, True),
            _f("page_name", "VARCHAR", S, True),
            _f("timestamp", "TIMESTAMPTZ", TS, True),
            _f("session_hint", "VARCHAR", S),
            _f("referrer", "VARCHAR", S),
            _f("device", "VARCHAR", S),
            _f("scroll_depth", "DOUBLE", pa.float64()),
            _f("time_on_page_ms", "BIGINT", pa.int64()),
        ),
    ),
    "cdc_changes": SourceSchema(
        "cdc_changes",
        key="change_id",
        time_field="ts",
        fields=(
            _f("op", "VARCHAR", S, True),
            _f("before", "JSON", S),
            _f("after", "JSON", S),
            _f("source", "JSON", S, True),
            _f("ts_ms", "BIGINT", pa.int64(), True),
        ),
        derived=(
            ("source_table", "$.source.table", "VARCHAR", S),
            ("seq", "$.source.seq", "BIGINT", pa.int64()),
        ),
    ),
    "transactions": SourceSchema(
        "transactions",
        key="transaction_id",
        time_field="timestamp",
        fields=(
            _f("transaction_id", "VARCHAR", S, True),
            _f("user_id", "VARCHAR", S, True),
            _f("order_id", "VARCHAR", S),
            _f("session_id", "VARCHAR", S),
            _f("amount", "DOUBLE", pa.float64(), True),
            _f("currency", "VARCHAR", S),
            _f("status", "VARCHAR", S),
            _f("payment_method", "VARCHAR", S),
            _f("timestamp", "TIMESTAMPTZ", TS, True),
        ),
    ),
    "service_logs": SourceSchema(
        "service_logs",
        key="log_id",
        time_field="timestamp",
        fields=(
            _f("log_id", "VARCHAR", S, True),
            _f("timestamp", "TIMESTAMPTZ", TS, True),
            _f("service", "VARCHAR", S),
            _f("endpoint", "VARCHAR", S, True),
            _f("method", "VARCHAR", S),
            _f("status_code", "INTEGER", pa.int32(), True),
            _f("latency_ms", "DOUBLE", pa.float64(), True),
            _f("user_id", "VARCHAR", S),
            _f("trace_id", "VARCHAR", S),
            _f("level", "VARCHAR", S),
        ),
    ),
}

# Metadata columns every bronze row carries.
META = (
    ("_rescued_data", S),
    ("_ingested_at", TS),
    ("_source", S),
    ("_batch_id", S),
    ("event_date", pa.date32()),
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", S),  # app_events, clickstream, ...
        ("_source", S),  # file path or topic/partition/offset
        ("position", pa.int64()),  # line number (files) or offset (kafka)
        ("raw", pa.large_string()),
        ("reason", S),
        ("_ingested_at", TS),
        ("_batch_id", S),
        ("ingest_date", pa.date32()),
    ]
)


def bronze_schema(source: str) -> pa.Schema:
    sch = SCHEMAS[source]
    cols = [(f.name, f.arrow_type) for f in sch.fields]
    cols += [(c, t) for c, _, _, t in sch.derived]
    if source == "cdc_changes":
        cols.append(("ts", TS))
    return pa.schema(cols + list(META))
