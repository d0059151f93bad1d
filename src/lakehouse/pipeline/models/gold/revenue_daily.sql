SELECT
    event_date AS revenue_date,
    coalesce(round(sum(amount) FILTER (WHERE status = 'completed'), 2), 0) AS revenue,
    count(*) FILTER (WHERE status = 'completed') AS orders,
    count(DISTINCT user_id) FILTER (WHERE status = 'completed') AS paying_users,
    count(*) FILTER (WHERE status = 'failed') AS failed_orders,
    count(*) FILTER (WHERE status = 'refunded') AS refunded_orders,
    coalesce(round(sum(amount) FILTER (WHERE status = 'refunded'), 2), 0) AS refunded_amount,
    round(avg(amount) FILTER (WHERE status = 'completed'), 2) AS avg_order_value,
    event_date
FROM silver.transactions
WHERE is_valid
GROUP BY event_date
