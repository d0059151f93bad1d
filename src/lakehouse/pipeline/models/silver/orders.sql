SELECT
    json_extract_string(coalesce("after", "before"), '$.id') AS order_id,
    json_extract_string(coalesce("after", "before"), '$.user_id') AS user_id,
    CASE WHEN isfinite(TRY_CAST(json_extract_string("after", '$.amount') AS DOUBLE))
        THEN TRY_CAST(json_extract_string("after", '$.amount') AS DOUBLE) END AS amount,
    json_extract_string("after", '$.status') AS status,
    op,
    seq,
    ts AS changed_at,
    op = 'd' AS is_deleted
FROM bronze.cdc_changes
WHERE source_table = 'orders'
    AND json_extract_string(coalesce("after", "before"), '$.id') IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY seq DESC, _ingested_at, _source) = 1
