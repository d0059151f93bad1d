WITH clicks AS (
    SELECT user_id, click_id, page_name, click_timestamp AS ts, scroll_depth
    FROM silver.clicks
    WHERE is_valid
), marked AS (
    SELECT
        *,
        CASE
            WHEN lag(ts) OVER w IS NULL OR ts - lag(ts) OVER w > INTERVAL 30 MINUTE THEN 1
            ELSE 0
        END AS starts_session
    FROM clicks
    WINDOW w AS (PARTITION BY user_id ORDER BY ts, click_id)
), numbered AS (
    SELECT
        *,
        sum(starts_session) OVER (PARTITION BY user_id ORDER BY ts, click_id ROWS UNBOUNDED PRECEDING) AS session_no
    FROM marked
)
SELECT
    md5(user_id || '|' || strftime(min(ts), '%Y-%m-%dT%H:%M:%S.%f')) AS session_id,
    user_id,
    min(ts) AS session_start,
    max(ts) AS session_end,
    CAST(epoch_us(max(ts)) - epoch_us(min(ts)) AS DOUBLE) / 1e6 AS session_duration_sec,
    count(*) AS total_page_views,
    list(page_name ORDER BY ts, click_id) AS page_sequence,
    avg(scroll_depth) AS avg_scroll_depth,
    first(page_name ORDER BY ts, click_id) AS entry_page,
    last(page_name ORDER BY ts, click_id) AS exit_page,
    count(*) = 1 AS is_bounce,
    CAST(min(ts) AS DATE) AS session_date
FROM numbered
GROUP BY user_id, session_no
