WITH clock AS (
    SELECT max(last_event_at) AS as_of FROM silver.user_activity_daily
), per_user AS (
    SELECT
        a.user_id,
        max(a.last_event_at) AS last_seen,
        date_diff('day', CAST(max(a.last_event_at) AS DATE), CAST(any_value(c.as_of) AS DATE)) AS recency_days,
        count(*) FILTER (WHERE a.event_date > CAST(c.as_of AS DATE) - 30) AS active_days_30d,
        CAST(coalesce(sum(a.events) FILTER (WHERE a.event_date > CAST(c.as_of AS DATE) - 30), 0) AS BIGINT) AS events_30d,
        CAST(coalesce(sum(a.purchases) FILTER (WHERE a.event_date > CAST(c.as_of AS DATE) - 30), 0) AS BIGINT) AS purchases_30d,
        CAST(sum(a.events) AS BIGINT) AS total_events
    FROM silver.user_activity_daily AS a
    CROSS JOIN clock AS c
    GROUP BY a.user_id
), scored AS (
    SELECT
        *,
        round(
            35 * least(events_30d / 100.0, 1)
            + 25 * least(active_days_30d / 10.0, 1)
            + 25 * greatest(0, 1 - recency_days / 14.0)
            + 15 * least(purchases_30d / 3.0, 1),
            2
        ) AS engagement_score,
        round(0.6 * least(recency_days / 14.0, 1) + 0.4 * (1 - least(active_days_30d / 10.0, 1)), 4) AS churn_risk
    FROM per_user
)
SELECT
    user_id,
    engagement_score,
    CASE
        WHEN recency_days >= 14 THEN 'Inactive'
        WHEN engagement_score >= 70 THEN 'VIP'
        WHEN engagement_score >= 35 THEN 'Active'
        ELSE 'Regular'
    END AS segment,
    churn_risk,
    CASE WHEN churn_risk < 0.3 THEN 'low' WHEN churn_risk < 0.6 THEN 'medium' ELSE 'high' END AS churn_risk_level,
    recency_days,
    active_days_30d,
    events_30d,
    purchases_30d,
    total_events,
    last_seen
FROM scored
