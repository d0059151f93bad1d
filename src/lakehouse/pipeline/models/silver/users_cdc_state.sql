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
    -- Outside the lake's time window (1900-01-01 .. 2200-01-01 UTC; `infinity`, year 99999) is unknown.
    CASE WHEN TRY_CAST(json_extract_string("after", '$.created_at') AS TIMESTAMPTZ)
            >= TIMESTAMPTZ '1900-01-01 00:00:00+00'
        AND TRY_CAST(json_extract_string("after", '$.created_at') AS TIMESTAMPTZ)
            < TIMESTAMPTZ '2200-01-01 00:00:00+00'
        THEN TRY_CAST(json_extract_string("after", '$.created_at') AS TIMESTAMPTZ) END AS created_at,
    CASE WHEN TRY_CAST(json_extract_string("after", '$.updated_at') AS TIMESTAMPTZ)
            >= TIMESTAMPTZ '1900-01-01 00:00:00+00'
        AND TRY_CAST(json_extract_string("after", '$.updated_at') AS TIMESTAMPTZ)
            < TIMESTAMPTZ '2200-01-01 00:00:00+00'
        THEN TRY_CAST(json_extract_string("after", '$.updated_at') AS TIMESTAMPTZ) END AS updated_at
FROM bronze.cdc_changes
WHERE source_table = 'users'
    AND json_extract_string(coalesce("after", "before"), '$.id') IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY seq DESC, _ingested_at, _source) = 1
