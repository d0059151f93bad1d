from __future__ import annotations

import pytest

from lakehouse.contract import TableId
from lakehouse.exceptions import QueryError, TableNotFoundError
from lakehouse.query.safety import validate, validate_filter

REFUSED = [
    ("DROP TABLE gold.user_segments", "only SELECT"),
    ("DELETE FROM gold.user_segments", "only SELECT"),
    ("INSERT INTO gold.user_segments VALUES (1)", "only SELECT"),
    ("CREATE TABLE x AS SELECT 1", "only SELECT"),
    ("COPY gold.user_segments TO '/tmp/x.csv'", "only SELECT"),
    ("ATTACH '/tmp/x.db'", "only SELECT"),
    ("INSTALL httpfs", "only SELECT"),
    ("LOAD httpfs", "only SELECT"),
    ("PRAGMA version", "only SELECT"),
    ("SET threads = 1", "only SELECT"),
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "not allowed"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "not allowed"),
    ("SELECT * FROM glob('/*')", "not allowed"),
    ("SELECT * FROM range(10)", "not allowed in FROM"),
    ("SELECT * FROM '/etc/passwd'", "file paths are not allowed"),
    ("SELECT * FROM 'data.parquet'", "file paths are not allowed"),
    ("SELECT * FROM main.gold.user_segments", "three-part name"),
    ("SELECT read_text('/etc/passwd')", "not allowed"),
    ("SELECT current_setting('threads')", "not allowed"),
    ("WITH x AS (SELECT * FROM read_json('/x')) SELECT * FROM x", "not allowed"),
    ("SELECT * FROM gold.user_segments WHERE user_id IN (SELECT * FROM read_csv('/x'))", "not allowed"),
    ("", "empty"),
]


@pytest.mark.parametrize(("sql", "why"), REFUSED)
def test_refuses_everything_but_reading_lake_tables(sql: str, why: str) -> None:
    with pytest.raises(QueryError) as info:
        validate(sql)
    assert why in str(info.value)


def test_syntax_error_has_position() -> None:
    sql = "SELECT * FRM gold.user_segments"
    with pytest.raises(QueryError) as info:
        validate(sql)
    assert info.value.position is not None
    assert 0 <= info.value.position < len(sql)
    assert "syntax" in info.value.message


def test_unknown_table_names_close_matches() -> None:
    with pytest.raises(TableNotFoundError) as info:
        validate("SELECT * FROM gold.user_segment")
    assert "gold.user_segments" in info.value.suggestions


def test_resolves_every_spelling_and_keeps_ctes() -> None:
    q = validate(
        "WITH top AS (SELECT * FROM user_segments_gold WHERE engagement_score > 50) "
        "SELECT t.user_id, u.email FROM top t JOIN silver.users u USING (user_id) "
        "UNION ALL SELECT user_id, NULL FROM gold_user_segments"
    )
    assert q.tables == [TableId("gold", "user_segments"), TableId("silver", "users")]
    sql = q.render(lambda t: ("", f"{t.layer}__{t.name}"))
    assert '"gold__user_segments" AS "user_segments_gold"' in sql
    assert '"silver__users" AS u' in sql
    assert "FROM top AS t" in sql  # the CTE is untouched


def test_filter_accepts_boolean_expressions_only() -> None:
    assert validate_filter("segment = 'VIP' AND engagement_score > 50") == "segment = 'VIP' AND engagement_score > 50"
    for bad in ["1=1; DROP TABLE x", "x IN (SELECT 1)", "read_text('/etc/passwd') = ''", "1 = 1 LIMIT 5", "a = 1 ORDER BY a"]:
        with pytest.raises(QueryError):
            validate_filter(bad)
