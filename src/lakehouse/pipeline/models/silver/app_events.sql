SELECT
    event_id,
    user_id,
    event_type,
    event_timestamp,
    app_type,
    app_version,
    session_id,
    duration_ms,
    properties,
    event_date,
    event_hour,
    array_length(quality_issues) = 0 AS is_valid,
    quality_issues,
    _ingested_at,
    _source,
    _rescued_data
FROM (
    SELECT
        * EXCLUDE (event_date),
        "timestamp" AS event_timestamp,
        CAST("timestamp" AS DATE) AS event_date,
        date_trunc('hour', "timestamp") AS event_hour,
        list_filter([
            CASE WHEN event_type NOT IN ('app_open', 'page_view', 'click', 'scroll', 'share', 'purchase', 'search')
                THEN 'event_type_in_set' END,
            CASE WHEN app_type IS NULL OR app_type NOT IN ('ios', 'android', 'web') THEN 'app_type_in_set' END,
            CASE WHEN trim(user_id) = '' THEN 'user_id_not_blank' END,
            CASE WHEN "timestamp" > _ingested_at + INTERVAL 1 DAY THEN 'timestamp_not_in_future' END,
            CASE WHEN duration_ms < 0 THEN 'duration_ms_not_negative' END
        ], lambda x: x IS NOT NULL) AS quality_issues
    FROM bronze.app_events
)
