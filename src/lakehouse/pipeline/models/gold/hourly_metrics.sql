WITH events AS (
    SELECT event_hour AS metric_hour, event_date, count(DISTINCT user_id) AS concurrent_users, count(*) AS event_count
    FROM silver.app_events
    WHERE is_valid
    GROUP BY event_hour, event_date
), requests AS (
    SELECT
        date_trunc('hour', request_timestamp) AS metric_hour,
        event_date,
        count(*) AS request_count,
        count(*) FILTER (WHERE is_error) AS error_count,
        quantile_cont(latency_ms, 0.95) AS p95_latency_ms
    FROM silver.service_requests
    WHERE is_valid
    GROUP BY date_trunc('hour', request_timestamp), event_date
), joined AS (
    SELECT
        coalesce(e.metric_hour, r.metric_hour) AS metric_hour,
        coalesce(e.concurrent_users, 0) AS concurrent_users,
        coalesce(e.event_count, 0) AS event_count,
        coalesce(r.request_count, 0) AS request_count,
        coalesce(r.error_count, 0) AS error_count,
        CASE WHEN r.request_count > 0 THEN round(100.0 * r.error_count / r.request_count, 3) ELSE 0 END AS error_rate_pct,
        round(r.p95_latency_ms, 3) AS p95_latency_ms,
        coalesce(e.event_date, r.event_date) AS event_date
    FROM events AS e
    FULL OUTER JOIN requests AS r ON e.metric_hour = r.metric_hour
)
SELECT
    metric_hour,
    concurrent_users,
    event_count,
    request_count,
    error_count,
    error_rate_pct,
    p95_latency_ms,
    CASE
        WHEN error_rate_pct >= 5 OR p95_latency_ms >= 2000 THEN 'critical'
        WHEN error_rate_pct >= 1 OR p95_latency_ms >= 1000 THEN 'degraded'
        ELSE 'healthy'
    END AS health_status,
    event_date
FROM joined
