-- kind: partition
-- partition: event_date
-- description: Per UTC event hour x event_type x app_type, from valid deduplicated app events: total_events, unique_users, events_per_user = total_events / unique_users.
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
