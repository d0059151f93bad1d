-- kind: unique_key
-- key: transaction_id
-- order: _ingested_at, _source
-- partition: event_date
-- description: Payment transactions deduplicated by transaction_id (earliest ingested wins), typed, with quality flags.
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
    len(quality_issues) = 0 AS is_valid,
    quality_issues,
    _ingested_at,
    _source,
    _rescued_data
FROM (
    SELECT
        *,
        list_filter([
            CASE WHEN amount < 0 THEN 'amount_not_negative' END,
            -- Bronze amounts are finite but may be near 1.8e308: summing two overflows to inf.
            CASE WHEN amount >= 1e12 THEN 'amount_in_range' END,
            CASE WHEN status IS NULL OR status NOT IN ('completed', 'failed', 'refunded') THEN 'status_in_set' END,
            CASE WHEN trim(user_id) = '' THEN 'user_id_not_blank' END
        ], lambda x: x IS NOT NULL) AS quality_issues
    FROM bronze.transactions
)
