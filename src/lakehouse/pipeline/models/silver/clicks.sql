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
    _ingested_at,
    _source,
    _rescued_data
FROM bronze.clickstream
