WITH days AS (
    SELECT
        event_date,
        count(*) AS daily_users,
        CAST(sum(events) AS BIGINT) AS total_events
    FROM silver.user_activity_daily
    GROUP BY event_date
), first_days AS (
    SELECT first_day AS event_date, count(*) AS new_users
    FROM (SELECT user_id, min(event_date) AS first_day FROM silver.user_activity_daily GROUP BY user_id)
    GROUP BY first_day
), sessions AS (
    SELECT session_date AS event_date, count(*) AS sessions, avg(session_duration_sec) AS avg_session_duration_sec
    FROM silver.clickstream_sessions
    GROUP BY session_date
), revenue AS (
    SELECT event_date, sum(amount) AS revenue, count(*) AS orders
    FROM silver.transactions
    WHERE is_valid AND status = 'completed'
    GROUP BY event_date
)
SELECT
    d.event_date AS summary_date,
    d.daily_users,
    d.total_events,
    coalesce(f.new_users, 0) AS new_users,
    d.daily_users - coalesce(f.new_users, 0) AS returning_users,
    round(d.total_events / d.daily_users, 4) AS avg_events_per_user,
    coalesce(s.sessions, 0) AS sessions,
    round(s.avg_session_duration_sec, 3) AS avg_session_duration_sec,
    coalesce(round(r.revenue, 2), 0) AS revenue,
    coalesce(r.orders, 0) AS orders
FROM days AS d
LEFT JOIN first_days AS f ON f.event_date = d.event_date
LEFT JOIN sessions AS s ON s.event_date = d.event_date
LEFT JOIN revenue AS r ON r.event_date = d.event_date
