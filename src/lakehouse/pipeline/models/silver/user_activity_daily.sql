SELECT
    user_id,
    event_date,
    count(*) AS events,
    min(event_timestamp) AS first_event_at,
    max(event_timestamp) AS last_event_at,
    list_sort(list(DISTINCT event_type)) AS event_types,
    count(*) FILTER (WHERE event_type = 'purchase') AS purchases
FROM silver.app_events
WHERE is_valid
GROUP BY user_id, event_date
