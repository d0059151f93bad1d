SELECT
    event_hour AS metric_hour,
    event_type,
    coalesce(app_type, 'unknown') AS app_type,
    count(*) AS total_events,
    count(DISTINCT user_id) AS unique_users,
    round(count(*) / count(DISTINCT user_id), 4) AS events_per_user,
    event_date
FROM silver.app_events
WHERE is_valid
GROUP BY event_hour, event_type, coalesce(app_type, 'unknown'), event_date
