"""The bronze contract per source: fields as sent, their types, which are required, the
range of values every typed field accepts, and the event-time field that partitions the
table by date.

A record missing a required field (or whose required field is not a valid value of its
type and range) goes to quarantine; an optional field that is not valid is nulled and kept,
as sent, in `_rescued_data` (with the reason in `_rescue_reason`), together with any field
the contract does not know. What a valid value is, per kind (the parser enforces it):

- `string`: a JSON string; a required one must not be blank (empty or only whitespace);
- `integer`: a JSON integer (no fraction, no exponent) within `lo`..`hi`, by default the
  range of its Arrow type; numeric strings ("12") are not numbers;
- `number`: a JSON number (integer or not) that is finite as a double;
- `timestamp`: an ISO-8601 string `YYYY-MM-DD(T| )HH:MM[:SS[.fraction]][Z|±HH[:MM]]`
  (no offset means UTC) within the window `TIME_LO` <= t < `TIME_HI`;
- `json`: any JSON value, stored as its JSON text.

Why the window is 1900-01-01 .. 2200-01-01 (UTC): a bronze timestamp must be readable by
every reader of the table. pandas' nanosecond timestamps end at 1677-09-21 and 2262-04-11,
Python's `datetime` and Spark at years 1 and 9999, and a year outside 0001-9999 cannot even
be written as a Delta partition value that pyarrow reads back. Event data from these
services cannot come from before 1900 or after 2200, so a business window inside all of
those ranges loses nothing real and keeps every reader working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

TIME_LO = datetime(1900, 1, 1, tzinfo=UTC)  # inclusive
TIME_HI = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The same window in epoch milliseconds (CDC `ts_ms`), inclusive bounds.
TS_MS_LO = int((TIME_LO - _EPOCH).total_seconds()) * 1000
TS_MS_HI = int((TIME_HI - _EPOCH).total_seconds()) * 1000 - 1

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)

# JSON nested deeper than this is refused: serde_json stops at 128 levels and Python's
# json at about 1,000, so 64 keeps every JSON text in bronze parseable by common readers.
MAX_DEPTH = 64

_DUCK = {"string": "VARCHAR", "json": "JSON", "integer": "BIGINT", "number": "DOUBLE", "timestamp": "TIMESTAMPTZ"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # string | json | integer | number | timestamp
    arrow_type: pa.DataType
    required: bool = False
    lo: int | None = None  # integers: inclusive bounds (default: the Arrow type's range)
    hi: int | None = None
    path: tuple[str, ...] = ()  # where the value sits in the record (default: the top-level key)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.path or (self.name,)

    @property
    def duck_type(self) -> str:
        """The DuckDB type the value is read as (`INTEGER` for 32-bit integer fields)."""
        if self.kind == "integer" and self.arrow_type == pa.int32():
            return "INTEGER"
        return _DUCK[self.kind]

    @property
    def bounds(self) -> tuple[int, int]:
        """Integer fields: the inclusive range accepted."""
        default = INT32 if self.arrow_type == pa.int32() else INT64
        return (default[0] if self.lo is None else self.lo, default[1] if self.hi is None else self.hi)

    def describe(self) -> str:
        """The accepted values, as said in reasons and docs."""
        if self.kind == "integer":
            lo, hi = self.bounds
            return f"an integer in [{lo}, {hi}]"
        if self.kind == "number":
            return "a finite number"
        if self.kind == "timestamp":
            return f"an ISO-8601 timestamp in [{_iso(TIME_LO)}, {_iso(TIME_HI)})"
        if self.kind == "string":
            return "a non-blank string" if self.required else "a string"
        return "any JSON value"


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SourceSchema:
    source: str
    key: str  # the record's own id, used to deduplicate in silver
    time_field: str  # event time; its UTC date partitions bronze
    fields: tuple[Field, ...]
    # Required values nested inside an object (CDC's `source`) that we lift to columns.
    derived: tuple[Field, ...] = ()

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


TS = pa.timestamp("us", tz="UTC")
S = pa.string()


def _f(name: str, kind: str, arrow: pa.DataType, required: bool = False, **kw: int) -> Field:
    return Field(name, kind, arrow, required, **kw)  # type: ignore[arg-type]


SCHEMAS: dict[str, SourceSchema] = {
    "app_events": SourceSchema(
        "app_events",
        key="event_id",
        time_field="timestamp",
        fields=(
            _f("event_id", "string", S, True),
            _f("user_id", "string", S, True),
            _f("event_type", "string", S, True),
            _f("timestamp", "timestamp", TS, True),
            _f("app_type", "string", S),
            _f("app_version", "string", S),
            _f("session_id", "string", S),
            _f("duration_ms", "integer", pa.int64()),
            _f("properties", "json", S),
        ),
    ),
    "clickstream": SourceSchema(
        "clickstream",
        key="click_id",
        time_field="timestamp",
        fields=(
            _f("click_id", "string", S, True),
            _f("user_id", "string", S, True),
            _f("page_name", "string", S, True),
            _f("timestamp", "timestamp", TS, True),
            _f("session_hint", "string", S),
            _f("referrer", "string", S),
            _f("device", "string", S),
            _f("scroll_depth", "number", pa.float64()),
            _f("time_on_page_ms", "integer", pa.int64()),
        ),
    ),
    "cdc_changes": SourceSchema(
        "cdc_changes",
        key="change_id",
        time_field="ts",
        fields=(
            _f("op", "string", S, True),
            _f("before", "json", S),
            _f("after", "json", S),
            _f("source", "json", S, True),
            # Milliseconds since the epoch, within the same window as every timestamp.
            _f("ts_ms", "integer", pa.int64(), True, lo=TS_MS_LO, hi=TS_MS_HI),
        ),
        derived=(
            Field("source_table", "string", S, True, path=("source", "table")),
            Field("seq", "integer", pa.int64(), True, path=("source", "seq")),
        ),
    ),
    "transactions": SourceSchema(
        "transactions",
        key="transaction_id",
        time_field="timestamp",
        fields=(
            _f("transaction_id", "string", S, True),
            _f("user_id", "string", S, True),
            _f("order_id", "string", S),
            _f("session_id", "string", S),
            _f("amount", "number", pa.float64(), True),
            _f("currency", "string", S),
            _f("status", "string", S),
            _f("payment_method", "string", S),
            _f("timestamp", "timestamp", TS, True),
        ),
    ),
    "service_logs": SourceSchema(
        "service_logs",
        key="log_id",
        time_field="timestamp",
        fields=(
            _f("log_id", "string", S, True),
            _f("timestamp", "timestamp", TS, True),
            _f("service", "string", S),
            _f("endpoint", "string", S, True),
            _f("method", "string", S),
            _f("status_code", "integer", pa.int32(), True),
            _f("latency_ms", "number", pa.float64(), True),
            _f("user_id", "string", S),
            _f("trace_id", "string", S),
            _f("level", "string", S),
        ),
    ),
}

# Metadata columns every bronze row carries.
META = (
    ("_rescued_data", S),
    ("_rescue_reason", S),  # why optional fields were nulled into `_rescued_data` (null: none were)
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
    cols += [(f.name, f.arrow_type) for f in sch.derived]
    if source == "cdc_changes":
        cols.append(("ts", TS))
    return pa.schema(cols + list(META))
