SELECT
    transaction_id,
    user_id,
    order_id,
    session_id,
    amount,
    upper(coalesce(currency, 'USD')) AS currency,
    status,
    payment_method,
    "timestamp" AS transaction_timestamp,
    CAST("timestamp" AS DATE) AS event_date,
    array_length(quality_issues) = 0 AS is_valid,
    quality_issues,
    _ingested_at,
    _source,
    _rescued_data
FROM (
    SELECT
        *,
        list_filter([
            CASE WHEN amount < 0 THEN 'amount_not_negative' END,
            CASE WHEN status IS NULL OR status NOT IN ('completed', 'failed', 'refunded') THEN 'status_in_set' END,
            CASE WHEN trim(user_id) = '' THEN 'user_id_not_blank' END
        ], lambda x: x IS NOT NULL) AS quality_issues
    FROM bronze.transactions
)
