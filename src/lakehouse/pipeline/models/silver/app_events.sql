SELECT
    event_id,
    user_id,
    event_type,
    "timestamp" AS event_timestamp,
    app_type,
    app_version,
    session_id,
    duration_ms,
    properties,
    CAST("timestamp" AS DATE) AS event_date,
    date_trunc('hour', "timestamp") AS event_hour,
    _ingested_at,
    _source,
    _rescued_data
FROM bronze.app_events
