"""Bronze: one append-only table per source (fields as sent, typed) and the quarantine.

The ingest rules of each source's fields (JSON type, required, accepted range) are in
`ingest/schemas.py`; a test holds the two in step.
"""

from __future__ import annotations

from lakehouse.contract.silver import c
from lakehouse.contract.spec import Column, TableSpec

OWNER = "data-platform"
RETENTION_DAYS = 7  # the seed's bronze retention

META: tuple[Column, ...] = (
    c("_rescued_data", "json", "Fields the contract does not know, or optional fields of the wrong type, as sent (JSON object)."),
    c("_rescue_reason", "string", "Why optional fields were nulled into _rescued_data (null: none were)."),
    c("_ingested_at", "timestamp", "When the row was ingested (UTC)."),
    c("_source", "string", "Where the record came from: landing file:line, or topic/partition/offset."),
    c("_batch_id", "string", "The ingest commit that wrote the row."),
    c("event_date", "date", "UTC date of the event time (the partition)."),
)

SOURCES: tuple[str, ...] = ("app_events", "clickstream", "cdc_changes", "transactions", "service_logs")


def _bronze(
    name: str, description: str, fields: tuple[Column, ...], time_column: str = "timestamp",
    zorder: tuple[str, ...] = (),
) -> TableSpec:
    return TableSpec(
        layer="bronze", name=name, description=description, columns=(*fields, *META), owner=OWNER,
        retention_days=RETENTION_DAYS, partition_by=("event_date",), append_only=True,
        retention_column="event_date", time_column=time_column, zorder=zorder,
    )


TABLES: tuple[TableSpec, ...] = (
    _bronze(
        "app_events",
        "Raw application events as received, typed, with ingestion metadata.",
        (
            c("event_id", "string", "The event's id (required)."),
            c("user_id", "string", "Who did it (required)."),
            c("event_type", "string", "What happened (required)."),
            c("timestamp", "timestamp", "When it happened, UTC (required)."),
            c("app_type", "string", "ios, android or web."),
            c("app_version", "string", "Client version."),
            c("session_id", "string", "The client's session id."),
            c("duration_ms", "int64", "How long the action took, in milliseconds."),
            c("properties", "json", "Event properties (a JSON object)."),
        ),
        zorder=("user_id", "event_type"),
    ),
    _bronze(
        "clickstream",
        "Raw clickstream page views as received, typed.",
        (
            c("click_id", "string", "The click's id (required)."),
            c("user_id", "string", "Who clicked (required)."),
            c("page_name", "string", "The page (required)."),
            c("timestamp", "timestamp", "When, UTC (required)."),
            c("session_hint", "string", "The client's session hint."),
            c("referrer", "string", "Referring page or site."),
            c("device", "string", "Device class."),
            c("scroll_depth", "double", "How far the page was scrolled (%)."),
            c("time_on_page_ms", "int64", "Time on the page, in milliseconds."),
        ),
        zorder=("user_id", "page_name"),
    ),
    _bronze(
        "cdc_changes",
        "Raw change-data-capture records (Debezium envelope) of the source users and orders tables.",
        (
            c("op", "string", "r (snapshot read), c (create), u (update) or d (delete) (required)."),
            c("before", "json", "The row before the change.", pii=True),
            c("after", "json", "The row after the change.", pii=True),
            c("source", "json", "Source metadata: db, table, seq, ts_ms (required)."),
            c("ts_ms", "int64", "When the change was captured, epoch milliseconds (required)."),
            c("source_table", "string", "source.table: the changed table."),
            c("seq", "int64", "source.seq: the change's log sequence number."),
            c("ts", "timestamp", "ts_ms as a UTC timestamp."),
        ),
        time_column="ts",
    ),
    _bronze(
        "transactions",
        "Raw payment transactions as received, typed.",
        (
            c("transaction_id", "string", "The transaction's id (required)."),
            c("user_id", "string", "Who paid (required)."),
            c("order_id", "string", "The order paid for."),
            c("session_id", "string", "The client's session id."),
            c("amount", "double", "Amount in currency units (required)."),
            c("currency", "string", "ISO currency code."),
            c("status", "string", "completed, failed or refunded."),
            c("payment_method", "string", "How it was paid."),
            c("timestamp", "timestamp", "When, UTC (required)."),
        ),
    ),
    _bronze(
        "service_logs",
        "Raw service request logs as received, typed.",
        (
            c("log_id", "string", "The log line's id (required)."),
            c("timestamp", "timestamp", "When the request was served, UTC (required)."),
            c("service", "string", "Which service answered."),
            c("endpoint", "string", "The request path (required)."),
            c("method", "string", "HTTP method."),
            c("status_code", "int32", "HTTP status code (required)."),
            c("latency_ms", "double", "Time to answer, in milliseconds (required)."),
            c("user_id", "string", "The caller, when known."),
            c("trace_id", "string", "Distributed trace id."),
            c("level", "string", "Log level."),
        ),
        zorder=("service", "endpoint"),
    ),
    TableSpec(
        layer="bronze",
        name="quarantine",
        description="Records that could not be used as sent, with the raw payload, where they came from and why.",
        columns=(
            c("source", "string", "The source the record was sent to (app_events, clickstream, ...)."),
            c("_source", "string", "Where it came from: landing file:line, or topic/partition/offset."),
            c("position", "int64", "Line number in the file (1-based), or the Kafka offset."),
            c("raw", "string", "The record as received (invalid UTF-8 replaced; over-long records truncated)."),
            c("reason", "string", "Why it was quarantined."),
            c("_ingested_at", "timestamp", "When it was quarantined (UTC)."),
            c("_batch_id", "string", "The ingest commit that wrote it."),
            c("ingest_date", "date", "UTC date of _ingested_at (the partition)."),
        ),
        owner=OWNER,
        retention_days=RETENTION_DAYS,
        partition_by=("ingest_date",),
        append_only=True,
        retention_column="ingest_date",
    ),
)
