"""Silver: deduplicated, typed, validated tables, each built by one SQL model."""

from __future__ import annotations

from lakehouse.contract.expectations import (
    Expectation,
    accepted_values,
    completeness,
    freshness,
    in_range,
    matches,
    not_null,
    predicate,
)
from lakehouse.contract.spec import Column, ColumnType, ModelSpec, TableSpec

OWNER = "data-engineering"
RETENTION_DAYS = 30  # the seed's silver retention


def c(name: str, type_: ColumnType, description: str, *, pii: bool = False) -> Column:
    return Column(name, type_, description, pii)


def _quality(what: str) -> tuple[Column, ...]:
    return (
        c("is_valid", "bool", f"True when the {what} passes every expectation of this table."),
        c("quality_issues", "list<string>", "Names of the expectations the row fails (empty when valid)."),
        c("_ingested_at", "timestamp", "When the bronze row was ingested (UTC)."),
        c("_source", "string", "Where the record came from: landing file:line or topic/partition/offset."),
        c("_rescued_data", "json", "Fields the bronze contract does not know, or optional fields of the wrong type, as sent."),
    )


def _silver(
    name: str, description: str, columns: tuple[Column, ...], model: ModelSpec, *,
    partition_by: tuple[str, ...] = (), keys: tuple[str, ...] = (), aliases: tuple[str, ...] = (),
    append_only: bool = False, retention_column: str | None = None, expect: tuple[Expectation, ...] = (),
    zorder: tuple[str, ...] = (),
) -> TableSpec:
    # Retention applies by event date; a current-state table (no event date) is kept whole.
    return TableSpec(
        layer="silver", name=name, description=description, columns=columns, owner=OWNER,
        retention_days=RETENTION_DAYS if retention_column else None, model=model, partition_by=partition_by,
        keys=keys, aliases=aliases, append_only=append_only, retention_column=retention_column,
        expectations=expect, zorder=zorder,
    )


EVENT_TYPES = ("app_open", "page_view", "click", "scroll", "share", "purchase", "search")
HOUR = 3600.0
NOT_BLANK = predicate("trim(user_id) <> ''", name="user_id_not_blank", description="user_id is not blank")


def not_in_future(column: str) -> Expectation:
    return predicate(f"{column} <= _ingested_at + INTERVAL 1 DAY", name="timestamp_not_in_future",
                     description="event time at most a day after ingestion")


TABLES: tuple[TableSpec, ...] = (
    _silver(
        "app_events",
        "App events deduplicated by event_id (earliest ingested wins), typed, with event_date/event_hour "
        "(UTC, event time) and quality flags.",
        (
            c("event_id", "string", "The event's own id (unique in this table)."),
            c("user_id", "string", "Who did it."),
            c("event_type", "string", "app_open, page_view, click, scroll, share, purchase or search."),
            c("event_timestamp", "timestamp", "When it happened (UTC, event time)."),
            c("app_type", "string", "ios, android or web."),
            c("app_version", "string", "Client version as sent."),
            c("session_id", "string", "The client's session id as sent."),
            c("duration_ms", "int64", "How long the action took, in milliseconds."),
            c("properties", "json", "Event properties as sent (a JSON object)."),
            c("event_date", "date", "UTC date of event_timestamp (the partition)."),
            c("event_hour", "timestamp", "event_timestamp truncated to the UTC hour."),
            *_quality("event"),
        ),
        ModelSpec("unique_key", key="event_id"),
        partition_by=("event_date",), keys=("event_id",), append_only=True,
        retention_column="event_date", zorder=("user_id", "event_type"),
        expect=(
            accepted_values("event_type", EVENT_TYPES, name="event_type_in_set"),
            accepted_values("app_type", ("ios", "android", "web"), name="app_type_in_set"),
            NOT_BLANK,
            not_in_future("event_timestamp"),
            in_range("duration_ms", min=0, name="duration_ms_not_negative"),
            not_null("event_id", "user_id", "event_type", "event_timestamp", action="fail"),
            completeness("app_type", "app_version", min_pct=90),
            freshness("event_timestamp", max_age_s=HOUR),
        ),
    ),
    _silver(
        "clicks",
        "Clickstream page views deduplicated by click_id (earliest ingested wins), typed, with quality flags.",
        (
            c("click_id", "string", "The click's own id (unique in this table)."),
            c("user_id", "string", "Who clicked."),
            c("page_name", "string", "The page viewed."),
            c("click_timestamp", "timestamp", "When (UTC, event time)."),
            c("session_hint", "string", "The client's session hint as sent (sessions are recomputed)."),
            c("referrer", "string", "Referring page or site."),
            c("device", "string", "Device class as sent."),
            c("scroll_depth", "double", "How far the page was scrolled, 0-100 (%)."),
            c("time_on_page_ms", "int64", "Time spent on the page, in milliseconds."),
            c("event_date", "date", "UTC date of click_timestamp (the partition)."),
            *_quality("click"),
        ),
        ModelSpec("unique_key", key="click_id"),
        partition_by=("event_date",), keys=("click_id",), append_only=True, retention_column="event_date",
        zorder=("user_id", "page_name"),
        expect=(
            NOT_BLANK,
            in_range("scroll_depth", min=0, max=100, name="scroll_depth_in_range"),
            not_in_future("click_timestamp"),
            not_null("click_id", "user_id", "page_name", "click_timestamp", action="fail"),
            freshness("click_timestamp", max_age_s=HOUR),
        ),
    ),
    _silver(
        "clickstream_sessions",
        "Sessions per user from valid clicks: a gap strictly greater than 30 minutes between a user's "
        "consecutive clicks starts a new session.",
        (
            c("session_id", "string", "md5 of user_id and session_start: stable while the session is unchanged."),
            c("user_id", "string", "Whose session."),
            c("session_start", "timestamp", "First click (UTC)."),
            c("session_end", "timestamp", "Last click (UTC)."),
            c("session_duration_sec", "double", "session_end - session_start, in seconds."),
            c("total_page_views", "int64", "Clicks in the session."),
            c("page_sequence", "list<string>", "Pages in click order (ties by click_id)."),
            c("avg_scroll_depth", "double", "Mean scroll depth of the session's clicks."),
            c("entry_page", "string", "First page of the session."),
            c("exit_page", "string", "Last page of the session."),
            c("is_bounce", "bool", "True for a one-page session."),
            c("session_date", "date", "UTC date of session_start (the partition)."),
        ),
        ModelSpec("sessions"),
        partition_by=("session_date",), keys=("session_id",), retention_column="session_date",
        expect=(
            predicate("session_end >= session_start", name="ends_after_start"),
            in_range("session_duration_sec", min=0, max=86400 * 7, name="duration_plausible"),
            in_range("total_page_views", min=1, name="has_page_views"),
            predicate("is_bounce = (total_page_views = 1)", name="bounce_is_one_page"),
        ),
        aliases=("clickstream_silver", "silver_clickstream", "silver.clickstream"),
    ),
    _silver(
        "users_cdc_state",
        "Latest change per row of the source `users` table from CDC (Debezium envelope), merged in "
        "change-sequence order; deletes are kept as tombstones so a late, older change cannot bring a row back.",
        (
            c("user_id", "string", "The source row's id."),
            c("op", "string", "The latest change: r (snapshot read), c (create), u (update) or d (delete)."),
            c("seq", "int64", "The change's log sequence number (higher is later)."),
            c("changed_at", "timestamp", "When the change happened in the source (UTC)."),
            c("is_deleted", "bool", "True when the latest change is a delete (a tombstone)."),
            c("email", "string", "E-mail address.", pii=True),
            c("name", "string", "Full name.", pii=True),
            c("country", "string", "Country code."),
            c("plan", "string", "Subscription plan."),
            c("created_at", "timestamp", "When the user signed up (UTC)."),
            c("updated_at", "timestamp", "When the source row last changed (UTC)."),
        ),
        ModelSpec("cdc_merge", key="user_id", sequence="seq"),
        keys=("user_id",),
        expect=(accepted_values("op", ("r", "c", "u", "d"), name="op_in_set"),
                not_null("user_id", "seq", action="fail")),
    ),
    _silver(
        "orders",
        "Current state of the source `orders` table from CDC (Debezium envelope), merged in change-sequence "
        "order. A deleted order stays as a tombstone (is_deleted) so a late, older change cannot bring it back; "
        "read `WHERE NOT is_deleted` for the live orders.",
        (
            c("order_id", "string", "The source row's id."),
            c("user_id", "string", "Who placed the order."),
            c("amount", "double", "Order amount in currency units (null when not a finite number)."),
            c("status", "string", "The order's current status: created, completed, failed, refunded, ..."),
            c("op", "string", "The latest change: r, c, u or d."),
            c("seq", "int64", "The change's log sequence number (higher is later)."),
            c("changed_at", "timestamp", "When the latest change happened in the source (UTC)."),
            c("is_deleted", "bool", "True when the latest change is a delete (a tombstone)."),
        ),
        ModelSpec("cdc_merge", key="order_id", sequence="seq"),
        keys=("order_id",),
        expect=(accepted_values("op", ("r", "c", "u", "d"), name="op_in_set"),
                in_range("amount", min=0, name="amount_not_negative"),
                not_null("order_id", "seq", action="fail")),
    ),
    _silver(
        "users",
        "Current rows of the source `users` table (CDC, deletes applied) with engagement from valid events. "
        "days_since_last_event and is_active (an event within 7 days) are measured against the lake's data "
        "clock: the latest valid event time.",
        (
            c("user_id", "string", "The user's id."),
            c("email", "string", "E-mail address.", pii=True),
            c("name", "string", "Full name.", pii=True),
            c("country", "string", "Country code."),
            c("plan", "string", "Subscription plan."),
            c("created_at", "timestamp", "When the user signed up (UTC)."),
            c("updated_at", "timestamp", "When the source row last changed (UTC)."),
            c("first_seen", "timestamp", "First valid event."),
            c("last_seen", "timestamp", "Latest valid event."),
            c("total_sessions", "int64", "Sessions in silver.clickstream_sessions."),
            c("total_events", "int64", "Valid events."),
            c("event_types_count", "int64", "Distinct event types used."),
            c("is_active", "bool", "A valid event within 7 days of the data clock."),
            c("days_since_last_event", "int64", "Days from last_seen to the data clock."),
            c("_cdc_seq", "int64", "Sequence number of the change the row reflects."),
        ),
        ModelSpec("full"),
        keys=("user_id",),
        expect=(
            matches("email", r"[^@\s]+@[^@\s]+\.[^@\s]+", name="email_is_an_address"),
            predicate("last_seen IS NULL OR first_seen <= last_seen", name="first_seen_before_last_seen"),
            in_range("days_since_last_event", min=0, name="recency_not_negative"),
            not_null("user_id", action="fail"),
        ),
    ),
    _silver(
        "transactions",
        "Payment transactions deduplicated by transaction_id (earliest ingested wins), typed, with quality flags.",
        (
            c("transaction_id", "string", "The transaction's own id (unique in this table)."),
            c("user_id", "string", "Who paid."),
            c("order_id", "string", "The order paid for."),
            c("session_id", "string", "The client's session id as sent."),
            c("amount", "double", "Amount in currency units."),
            c("currency", "string", "ISO currency code, upper case (USD when not sent)."),
            c("status", "string", "completed, failed or refunded."),
            c("payment_method", "string", "How it was paid."),
            c("transaction_timestamp", "timestamp", "When (UTC, event time)."),
            c("event_date", "date", "UTC date of transaction_timestamp (the partition)."),
            *_quality("transaction"),
        ),
        ModelSpec("unique_key", key="transaction_id"),
        partition_by=("event_date",), keys=("transaction_id",), append_only=True, retention_column="event_date",
        expect=(
            in_range("amount", min=0, name="amount_not_negative"),
            # Bronze amounts are finite but may be near 1.8e308: two of them would sum to infinity in gold.
            in_range("amount", max=1e12, max_inclusive=False, name="amount_in_range"),
            accepted_values("status", ("completed", "failed", "refunded"), name="status_in_set"),
            NOT_BLANK,
            matches("currency", "[A-Z]{3}", name="currency_is_iso_code"),
            not_null("transaction_id", "user_id", "amount", "transaction_timestamp", action="fail"),
        ),
    ),
    _silver(
        "service_requests",
        "Service request logs deduplicated by log_id (earliest ingested wins), typed, with is_error (HTTP 5xx) "
        "and quality flags.",
        (
            c("log_id", "string", "The log line's own id (unique in this table)."),
            c("request_timestamp", "timestamp", "When the request was served (UTC)."),
            c("service", "string", "Which service answered."),
            c("endpoint", "string", "The request path."),
            c("method", "string", "HTTP method."),
            c("status_code", "int32", "HTTP status code."),
            c("latency_ms", "double", "Time to answer, in milliseconds."),
            c("is_error", "bool", "status_code >= 500."),
            c("user_id", "string", "The caller, when known."),
            c("trace_id", "string", "Distributed trace id."),
            c("level", "string", "Log level as sent."),
            c("event_date", "date", "UTC date of request_timestamp (the partition)."),
            *_quality("request"),
        ),
        ModelSpec("unique_key", key="log_id"),
        partition_by=("event_date",), keys=("log_id",), append_only=True, retention_column="event_date",
        zorder=("service", "endpoint"),
        expect=(
            in_range("status_code", min=100, max=599, name="status_code_in_range"),
            in_range("latency_ms", min=0, name="latency_ms_not_negative"),
            not_null("log_id", "request_timestamp", "endpoint", "status_code", action="fail"),
            freshness("request_timestamp", max_age_s=HOUR),
        ),
    ),
    _silver(
        "user_activity_daily",
        "Per user and UTC day, from valid deduplicated app events: event counts, first/last event time, "
        "distinct event types and purchases.",
        (
            c("user_id", "string", "The user."),
            c("event_date", "date", "The UTC day (the partition)."),
            c("events", "int64", "Valid events that day."),
            c("first_event_at", "timestamp", "First valid event that day."),
            c("last_event_at", "timestamp", "Last valid event that day."),
            c("event_types", "list<string>", "Distinct event types that day, sorted."),
            c("purchases", "int64", "purchase events that day."),
        ),
        ModelSpec("partition"),
        partition_by=("event_date",), keys=("user_id", "event_date"), retention_column="event_date",
        expect=(in_range("events", min=1, name="has_events"),
                predicate("purchases <= events", name="purchases_within_events")),
    ),
    TableSpec(
        layer="silver",
        name="quarantine",
        description="Rows a model's `drop` expectation kept out of its table (silver and gold models alike): "
        "the table, the check, the run, and the row as JSON.",
        columns=(
            c("table", "string", "The table the row was meant for."),
            c("check", "string", "The expectation it violated."),
            c("run_id", "string", "The transform run that dropped it."),
            c("row", "json", "The row as it would have been written."),
            c("quarantined_at", "timestamp", "When (UTC)."),
            c("quarantine_date", "date", "UTC date of quarantined_at (the partition)."),
        ),
        owner=OWNER,
        retention_days=RETENTION_DAYS,
        partition_by=("quarantine_date",),
        append_only=True,
        retention_column="quarantine_date",
    ),
)
