SELECT
    click_id,
    user_id,
    page_name,
    "timestamp" AS click_timestamp,
    session_hint,
    referrer,
    device,
    scroll_depth,
    time_on_page_ms,
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
            CASE WHEN trim(user_id) = '' THEN 'user_id_not_blank' END,
            CASE WHEN scroll_depth < 0 OR scroll_depth > 100 THEN 'scroll_depth_in_range' END,
            CASE WHEN "timestamp" > _ingested_at + INTERVAL 1 DAY THEN 'timestamp_not_in_future' END
        ], lambda x: x IS NOT NULL) AS quality_issues
    FROM bronze.clickstream
)
