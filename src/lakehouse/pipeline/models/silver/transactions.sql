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
    _ingested_at,
    _source,
    _rescued_data
FROM bronze.transactions
