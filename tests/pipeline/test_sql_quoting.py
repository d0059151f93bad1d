"""The SQL text the pipeline builds around its models (`pipeline/sql.py`), run by real DuckDB.

Whatever a name or a value holds (quotes, backslashes, semicolons, comment markers, any
Unicode), `quote` gives the identifier itself and `literal` the value itself; `in_list`
selects exactly the rows whose value is in the list. Hypothesis draws the names and values.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.pipeline.sql import in_list, literal, quote

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text as a producer may send it: SQL's own punctuation is drawn often, and any other character.
SQLISH = st.sampled_from(["'", '"', "\\", ";", "--", "/*", "*/", "$$", "%", "_", "\n", " ", "é", "🙂", "\u2028"])
texts = st.lists(st.one_of(SQLISH, st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
                 max_size=12).map("".join)
names = texts.filter(bool)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("SET threads=1")
    return c


@PROPERTY
@given(name=names)
def test_a_quoted_name_is_that_name(con: duckdb.DuckDBPyConnection, name: str) -> None:
    result = con.execute(f"SELECT 1 AS {quote(name)}")
    assert [d[0] for d in result.description] == [name]
    assert result.fetchall() == [(1,)]


@PROPERTY
@given(value=texts)
def test_a_string_literal_is_that_string(con: duckdb.DuckDBPyConnection, value: str) -> None:
    assert con.execute(f"SELECT {literal(value)}, 1").fetchall() == [(value, 1)]


@PROPERTY
@given(value=st.one_of(st.integers(-(2**63), 2**63 - 1), st.booleans()))
def test_an_integer_or_boolean_literal_is_that_value(con: duckdb.DuckDBPyConnection, value: int) -> None:
    (got,) = con.execute(f"SELECT {literal(value)}").fetchone() or (None,)
    assert got == value and type(got) is type(value)


@PROPERTY
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_literal_is_that_double(con: duckdb.DuckDBPyConnection, value: float) -> None:
    # Equal as SQL compares (-0.0 comes back as 0.0, which equals it): every bit of the
    # mantissa survives the text, at every exponent.
    (got,) = con.execute(f"SELECT CAST({literal(value)} AS DOUBLE)").fetchone() or (None,)
    assert isinstance(got, float) and got == value


@PROPERTY
@given(value=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_a_date_literal_is_that_date(con: duckdb.DuckDBPyConnection, value: date) -> None:
    assert con.execute(f"SELECT {literal(value)}").fetchall() == [(value,)]


@PROPERTY
@given(column=names.filter(lambda n: n.lower() != "row_no"), values=st.lists(texts, max_size=8), chosen=st.lists(texts, max_size=4))
def test_in_list_selects_exactly_the_rows_in_the_list(
    con: duckdb.DuckDBPyConnection, column: str, values: list[str], chosen: list[str]
) -> None:
    chosen = chosen + values[: len(values) // 2]  # some that are there, some that may not be
    con.execute(f"CREATE OR REPLACE TEMP TABLE t ({quote(column)} VARCHAR, row_no INTEGER)")
    if values:
        con.executemany("INSERT INTO t VALUES (?, ?)", [(v, i) for i, v in enumerate(values)])
    sql = f"SELECT row_no FROM t WHERE {in_list(column, chosen)} ORDER BY row_no"
    got = [r[0] for r in con.execute(sql).fetchall()]
    assert got == [i for i, v in enumerate(values) if v in chosen]


def test_in_list_of_nothing_matches_nothing(con: duckdb.DuckDBPyConnection) -> None:
    assert in_list("x", []) == "FALSE"
    assert con.execute(f"SELECT count(*) FROM range(3) WHERE {in_list('range', [])}").fetchone() == (0,)


def test_in_list_of_dates_compares_as_dates(con: duckdb.DuckDBPyConnection) -> None:
    # Partition replacement passes dates: compared as DATE, not text ('2026-03-01' vs 2026-3-1).
    sql = "SELECT d FROM (SELECT DATE '2026-03-01' + i::INTEGER AS d FROM range(5) t(i)) WHERE "
    got = con.execute(sql + in_list("d", [date(2026, 3, 2), date(2026, 3, 4), date(2027, 1, 1)])).fetchall()
    assert got == [(date(2026, 3, 2),), (date(2026, 3, 4),)]
