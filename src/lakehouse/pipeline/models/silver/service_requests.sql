SELECT
    log_id,
    "timestamp" AS request_timestamp,
    service,
    endpoint,
    method,
    status_code,
    latency_ms,
    status_code >= 500 AS is_error,
    user_id,
    trace_id,
    level,
    CAST("timestamp" AS DATE) AS event_date,
    array_length(quality_issues) = 0 AS is_valid,
    quality_issues,
    _ingested_at,
    _source,
    _rescued_data
FROM (
    SELECT
        *,
        list_filter([
            CASE WHEN status_code < 100 OR status_code > 599 THEN 'status_code_in_range' END,
            CASE WHEN latency_ms < 0 THEN 'latency_ms_not_negative' END
        ], lambda x: x IS NOT NULL) AS quality_issues
    FROM bronze.service_logs
)
