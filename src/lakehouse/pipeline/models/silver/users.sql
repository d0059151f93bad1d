WITH activity AS (
    SELECT
        user_id,
        min(first_event_at) AS first_seen,
        max(last_event_at) AS last_seen,
        CAST(sum(events) AS BIGINT) AS total_events,
        list_distinct(flatten(list(event_types))) AS event_types
    FROM silver.user_activity_daily
    GROUP BY user_id
), sessions AS (
    SELECT user_id, count(*) AS total_sessions
    FROM silver.clickstream_sessions
    GROUP BY user_id
), clock AS (
    SELECT max(last_event_at) AS as_of FROM silver.user_activity_daily
)
SELECT
    u.user_id,
    u.email,
    u.name,
    u.country,
    u.plan,
    u.created_at,
    u.updated_at,
    a.first_seen,
    a.last_seen,
    coalesce(s.total_sessions, 0) AS total_sessions,
    coalesce(a.total_events, 0) AS total_events,
    coalesce(array_length(a.event_types), 0) AS event_types_count,
    coalesce(date_diff('day', CAST(a.last_seen AS DATE), CAST(clock.as_of AS DATE)) < 7, false) AS is_active,
    date_diff('day', CAST(a.last_seen AS DATE), CAST(clock.as_of AS DATE)) AS days_since_last_event,
    u.seq AS _cdc_seq
FROM silver.users_cdc_state AS u
LEFT JOIN activity AS a ON a.user_id = u.user_id
LEFT JOIN sessions AS s ON s.user_id = u.user_id
CROSS JOIN clock
WHERE NOT u.is_deleted
