SELECT
    json_extract_string(coalesce("after", "before"), '$.id') AS user_id,
    op,
    seq,
    ts AS changed_at,
    op = 'd' AS is_deleted,
    json_extract_string("after", '$.email') AS email,
    json_extract_string("after", '$.name') AS name,
    json_extract_string("after", '$.country') AS country,
    json_extract_string("after", '$.plan') AS plan,
    TRY_CAST(json_extract_string("after", '$.created_at') AS TIMESTAMPTZ) AS created_at,
    TRY_CAST(json_extract_string("after", '$.updated_at') AS TIMESTAMPTZ) AS updated_at
FROM bronze.cdc_changes
WHERE source_table = 'users'
    AND json_extract_string(coalesce("after", "before"), '$.id') IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY seq DESC, _ingested_at, _source) = 1
