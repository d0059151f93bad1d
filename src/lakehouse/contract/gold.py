"""Gold: KPIs built from valid, deduplicated silver rows only."""

from __future__ import annotations

from lakehouse.contract.expectations import (
    Expectation,
    accepted_values,
    in_range,
    predicate,
    references,
)
from lakehouse.contract.silver import c
from lakehouse.contract.spec import Column, ModelKind, ModelSpec, TableSpec

OWNER = "analytics"
RETENTION_DAYS = 90  # the seed's gold retention


def _gold(
    name: str, description: str, columns: tuple[Column, ...], kind: ModelKind, *,
    partition_by: tuple[str, ...] = (), keys: tuple[str, ...] = (), retention_column: str | None = None,
    expect: tuple[Expectation, ...] = (),
) -> TableSpec:
    return TableSpec(
        layer="gold", name=name, description=description, columns=columns, owner=OWNER,
        retention_days=RETENTION_DAYS if retention_column else None, model=ModelSpec(kind),
        partition_by=partition_by, keys=keys,
        retention_column=retention_column, expectations=expect,
    )


TABLES: tuple[TableSpec, ...] = (
    _gold(
        "event_metrics",
        "Per UTC event hour x event_type x app_type, from valid deduplicated app events: total_events, "
        "unique_users, events_per_user = total_events / unique_users.",
        (
            c("metric_hour", "timestamp", "The UTC hour (event time)."),
            c("event_type", "string", "The event type."),
            c("app_type", "string", "ios, android, web, or unknown when not sent."),
            c("total_events", "int64", "Valid events in the hour."),
            c("unique_users", "int64", "Distinct users with a valid event in the hour."),
            c("events_per_user", "double", "total_events / unique_users, rounded to 4 places."),
            c("event_date", "date", "UTC date of metric_hour (the partition)."),
        ),
        "partition",
        partition_by=("event_date",), keys=("metric_hour", "event_type", "app_type"), retention_column="event_date",
        expect=(predicate("unique_users BETWEEN 1 AND total_events", name="users_within_events"),
                in_range("events_per_user", min=1, name="events_per_user_at_least_one")),
    ),
    _gold(
        "user_segments",
        "Per user with a valid event. Measured against the data clock (latest valid event): recency_days, "
        "active_days and events and purchases in the last 30 days. engagement_score (0-100) = "
        "35*min(events_30d/100,1) + 25*min(active_days_30d/10,1) + 25*max(0,1-recency_days/14) + "
        "15*min(purchases_30d/3,1). segment: Inactive if recency_days >= 14, else VIP if score >= 70, "
        "Active if score >= 35, else Regular. churn_risk (0-1) = 0.6*min(recency_days/14,1) + "
        "0.4*(1-min(active_days_30d/10,1)); churn_risk_level: low < 0.3 <= medium < 0.6 <= high.",
        (
            c("user_id", "string", "The user."),
            c("engagement_score", "double", "0-100 from volume, active days, recency and purchases (rule above)."),
            c("segment", "string", "VIP, Active, Regular or Inactive (rule above)."),
            c("churn_risk", "double", "0-1 from recency and active days (rule above)."),
            c("churn_risk_level", "string", "low, medium or high."),
            c("recency_days", "int64", "Days from the user's last valid event to the data clock."),
            c("active_days_30d", "int64", "Days with a valid event in the last 30 days."),
            c("events_30d", "int64", "Valid events in the last 30 days."),
            c("purchases_30d", "int64", "purchase events in the last 30 days."),
            c("total_events", "int64", "All valid events."),
            c("last_seen", "timestamp", "The user's latest valid event."),
        ),
        "full",
        keys=("user_id",),
        expect=(
            in_range("engagement_score", min=0, max=100, name="score_in_range"),
            accepted_values("segment", ("VIP", "Active", "Regular", "Inactive"), name="segment_in_set"),
            in_range("churn_risk", min=0, max=1, name="churn_risk_in_range"),
            accepted_values("churn_risk_level", ("low", "medium", "high"), name="churn_risk_level_in_set"),
            references("user_id", "silver.users.user_id", name="user_exists_in_users",
                       description="every user with events is a known user (CDC may lag: warn)"),
        ),
    ),
    _gold(
        "daily_summary",
        "Per UTC day: daily_users (distinct users with a valid event), total_events, new_users (first-ever "
        "valid event that day), returning_users = daily_users - new_users, avg_events_per_user, sessions "
        "started, revenue and orders (completed transactions).",
        (
            c("summary_date", "date", "The UTC day."),
            c("daily_users", "int64", "Distinct users with a valid event that day."),
            c("total_events", "int64", "Valid events that day."),
            c("new_users", "int64", "Users whose first-ever valid event is that day."),
            c("returning_users", "int64", "daily_users - new_users."),
            c("avg_events_per_user", "double", "total_events / daily_users."),
            c("sessions", "int64", "Sessions that started that day."),
            c("avg_session_duration_sec", "double", "Mean duration of those sessions."),
            c("revenue", "double", "Sum of completed transaction amounts."),
            c("orders", "int64", "Completed transactions."),
        ),
        "full",
        keys=("summary_date",), retention_column="summary_date",
        expect=(predicate("new_users <= daily_users", name="new_within_daily"),
                predicate("returning_users >= 0", name="returning_not_negative"),
                in_range("revenue", min=0, name="revenue_not_negative")),
    ),
    _gold(
        "hourly_metrics",
        "Operational health per UTC hour: concurrent_users (distinct users with a valid event), event_count, "
        "requests, error_count (HTTP 5xx), error_rate_pct, p95_latency_ms (continuous quantile), "
        "health_status: critical if error_rate_pct >= 5 or p95 >= 2000 ms; degraded if error_rate_pct >= 1 "
        "or p95 >= 1000 ms; otherwise healthy.",
        (
            c("metric_hour", "timestamp", "The UTC hour."),
            c("concurrent_users", "int64", "Distinct users with a valid event in the hour."),
            c("event_count", "int64", "Valid app events in the hour."),
            c("request_count", "int64", "Valid service requests in the hour."),
            c("error_count", "int64", "Requests answered with HTTP 5xx."),
            c("error_rate_pct", "double", "100 * error_count / request_count (0 without requests)."),
            c("p95_latency_ms", "double", "95th percentile latency (continuous quantile)."),
            c("health_status", "string", "healthy, degraded or critical (rule above)."),
            c("event_date", "date", "UTC date of metric_hour (the partition)."),
        ),
        "partition",
        partition_by=("event_date",), keys=("metric_hour",), retention_column="event_date",
        expect=(accepted_values("health_status", ("healthy", "degraded", "critical"), name="health_status_in_set"),
                in_range("error_rate_pct", min=0, max=100, name="error_rate_in_range"),
                predicate("error_count <= request_count", name="errors_within_requests")),
    ),
    _gold(
        "revenue_daily",
        "Per UTC day (transaction time), from valid deduplicated transactions: revenue (completed amounts), "
        "orders (completed), paying_users, failed and refunded counts, refunded_amount, avg_order_value, and "
        "net_revenue: completed amounts of the orders whose current state (silver.orders) is not refunded, "
        "cancelled or deleted.",
        (
            c("revenue_date", "date", "The UTC day."),
            c("revenue", "double", "Sum of completed amounts."),
            c("orders", "int64", "Completed transactions."),
            c("paying_users", "int64", "Distinct users with a completed transaction."),
            c("failed_orders", "int64", "Failed transactions."),
            c("refunded_orders", "int64", "Refunded transactions."),
            c("refunded_amount", "double", "Sum of refunded amounts."),
            c("avg_order_value", "double", "Mean completed amount."),
            c("net_revenue", "double", "Completed amounts whose order has not since been refunded, cancelled or deleted."),
            c("event_date", "date", "The same UTC day (the partition)."),
        ),
        "full",
        partition_by=("event_date",), keys=("revenue_date",), retention_column="event_date",
        expect=(in_range("revenue", min=0, name="revenue_not_negative"),
                predicate("net_revenue <= revenue", name="net_within_revenue")),
    ),
)
