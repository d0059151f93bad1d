WITH tx AS (
    SELECT
        t.event_date,
        t.user_id,
        t.amount,
        t.status,
        -- The order's current state (silver.orders, from CDC); a transaction without one counts as is.
        coalesce(o.is_deleted OR o.status IN ('refunded', 'cancelled'), false) AS order_reversed
    FROM silver.transactions AS t
    LEFT JOIN silver.orders AS o ON o.order_id = t.order_id
    WHERE t.is_valid
)
SELECT
    event_date AS revenue_date,
    coalesce(round(sum(amount) FILTER (WHERE status = 'completed'), 2), 0) AS revenue,
    count(*) FILTER (WHERE status = 'completed') AS orders,
    count(DISTINCT user_id) FILTER (WHERE status = 'completed') AS paying_users,
    count(*) FILTER (WHERE status = 'failed') AS failed_orders,
    count(*) FILTER (WHERE status = 'refunded') AS refunded_orders,
    coalesce(round(sum(amount) FILTER (WHERE status = 'refunded'), 2), 0) AS refunded_amount,
    round(avg(amount) FILTER (WHERE status = 'completed'), 2) AS avg_order_value,
    coalesce(round(sum(amount) FILTER (WHERE status = 'completed' AND NOT order_reversed), 2), 0) AS net_revenue,
    event_date
FROM tx
GROUP BY event_date
