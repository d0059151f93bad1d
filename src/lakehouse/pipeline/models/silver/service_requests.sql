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
    _ingested_at,
    _source,
    _rescued_data
FROM bronze.service_logs
