"""Each place where DuckDB's and Spark's SQL differ in meaning, run on both engines over
generated rows: the translated SQL must give DuckDB's answer, not merely run.

These are the constructs sqlglot alone gets silently wrong (ordered lists and first/last,
rounding, list lengths, epoch_us, quantile_cont, strftime text, isfinite) and those the model
kinds build around models (QUALIFY, ANTI/SEMI JOIN, UNION ALL BY NAME, intervals).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.contract import TableId
from lakehouse.pipeline.engines import DuckDBEngine, Engine
from lakehouse.pipeline.engines.spark_sql import UnsupportedOnSparkError, java_pattern, to_spark
from lakehouse.storage.delta import DeltaStore

from support import spark_settings

T = TableId("bronze", "app_events")
BASE = datetime(2026, 3, 1, tzinfo=UTC)
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def engines(spark_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Engine]]:
    from lakehouse.pipeline.engines.spark import SparkEngine

    s = spark_settings(tmp_path_factory.mktemp("sql") / "lake")
    duck, spark = DuckDBEngine(s, DeltaStore(s)), SparkEngine(s, DeltaStore(s))
    yield duck, spark
    duck.close()
    spark.close()


def both(engines: tuple[Engine, Engine], data: pa.Table, sql: str) -> tuple[list[Any], list[Any]]:
    out = []
    for e in engines:
        e.bind_arrow(T, data)
        out.append(sorted((tuple(_norm(v) for v in r) for r in e.rows(sql)), key=repr))
    return out[0], out[1]


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else v
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    return v


doubles = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(-10**7, 10**7).map(lambda k: k / 1000 + 0.0005),  # decimal ties: 2.675, 471.325, ...
    st.integers(-10**6, 10**6).map(lambda k: k / 100),
)


@SLOW
@given(st.lists(doubles, min_size=1, max_size=200))
def test_round_is_duckdbs_rounding_of_the_exact_double(engines: tuple[Engine, Engine], xs: list[float]) -> None:
    data = pa.table({"x": pa.array(xs, pa.float64())})
    duck, spark = both(engines, data, "SELECT x, round(x), round(x, 1), round(x, 2), round(x, 3), round(x, 4) FROM bronze.app_events")
    assert duck == spark


@SLOW
@given(st.lists(st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 10**6).map(lambda k: k / 100))),
                min_size=1, max_size=300),
       st.sampled_from([0.95, 0.5, 0.9, 0.99, 0.25]))
def test_quantile_cont_is_duckdbs_to_the_last_bit(engines: tuple[Engine, Engine], rows: list[tuple[int, float | None]], q: float) -> None:
    # Latencies with two decimals put many p95s on a tie of round(p95, 3): the last bit decides.
    data = pa.table({"g": [r[0] for r in rows], "x": pa.array([r[1] for r in rows], pa.float64())})
    duck, spark = both(engines, data, f"SELECT g, quantile_cont(x, {q}), round(quantile_cont(x, {q}), 3) FROM bronze.app_events GROUP BY g")
    assert duck == spark


clicks = st.lists(
    st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.one_of(st.none(), st.integers(0, 50)), st.one_of(st.none(), st.sampled_from("abcdefgh"))),
    min_size=1, max_size=60, unique_by=lambda r: (r[0], r[1]),  # (user, ts) unique: the order is total
)


@SLOW
@given(clicks)
def test_ordered_lists_first_and_last_keep_duckdbs_order_and_nulls(engines: tuple[Engine, Engine], rows: list[tuple[Any, ...]]) -> None:
    data = pa.table({
        "user_id": [r[0] for r in rows],
        "ts": pa.array([None if r[1] is None else BASE + timedelta(minutes=r[1]) for r in rows], pa.timestamp("us", "UTC")),
        # Typed as the lake's columns always are: a batch whose pages are all NULL would
        # otherwise be Arrow's null type (Spark's void), which pyspark's toArrow cannot convert.
        "page": pa.array([r[2] for r in rows], pa.string()),
    })
    duck, spark = both(engines, data, """SELECT user_id, list(page ORDER BY ts), first(page ORDER BY ts),
        last(page ORDER BY ts), list(page ORDER BY ts NULLS FIRST), array_length(list(page)),
        list_sort(list(DISTINCT page)) FROM bronze.app_events GROUP BY user_id""")
    assert duck == spark


@SLOW
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**9), st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))), min_size=1, max_size=50))
def test_time_and_number_functions(engines: tuple[Engine, Engine], rows: list[tuple[int, int, float | None]]) -> None:
    data = pa.table({
        "a": pa.array([BASE + timedelta(microseconds=r[0]) for r in rows], pa.timestamp("us", "UTC")),
        "b": pa.array([BASE + timedelta(microseconds=r[1]) for r in rows], pa.timestamp("us", "UTC")),
        "x": pa.array([r[2] for r in rows], pa.float64()),
        "g": [i % 3 for i in range(len(rows))],
    })
    duck, spark = both(engines, data, """SELECT g, CAST(epoch_us(max(a)) - epoch_us(min(b)) AS DOUBLE) / 1e6,
        strftime(min(a), '%Y-%m-%dT%H:%M:%S.%f'), strftime(max(b), 'day %d of %m, %Y at %Hh'),
        quantile_cont(epoch_us(a), 0.95), count(*) FILTER (WHERE isfinite(x)), count(*) FILTER (WHERE x IS NOT NULL),
        min(a) - INTERVAL 30 MINUTE, CAST(min(b) AS DATE) - 30, date_trunc('hour', max(a)),
        round(100.0 * count(*) / 7, 3), count(*) / 3, max(a) - min(a) > INTERVAL 30 MINUTE
        FROM bronze.app_events GROUP BY g""")
    assert duck == spark


def test_the_kinds_own_sql(engines: tuple[Engine, Engine]) -> None:
    data = pa.table({"k": ["a", "a", "b", "c", "c", "c"], "o": [2, 1, 1, 3, 1, 2], "v": ["a2", "a1", "b1", "c3", "c1", "c2"]})
    dedup = """WITH __m AS (SELECT * FROM bronze.app_events), __dup AS (SELECT k FROM __m GROUP BY k HAVING count(*) > 1)
        SELECT * FROM __m ANTI JOIN __dup USING (k) UNION ALL
        SELECT * FROM (SELECT * FROM __m SEMI JOIN __dup USING (k)) QUALIFY row_number() OVER (PARTITION BY k ORDER BY o) = 1"""
    duck, spark = both(engines, data, dedup)
    assert duck == spark == [("a", 1, "a1"), ("b", 1, "b1"), ("c", 1, "c1")]
    by_name = "SELECT v, k FROM bronze.app_events WHERE o = 1 UNION ALL BY NAME SELECT k, 'x' AS extra FROM bronze.app_events WHERE o = 3"
    duck, spark = both(engines, data, by_name)
    assert duck == spark and len(duck) == 4


@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%S.%f", "at %H o'clock", "%d/%m/%Y", "100%% %Y"])
def test_strftime_patterns_quote_their_literal_text(fmt: str) -> None:
    pattern = java_pattern(fmt)
    letters_outside_quotes = "".join(p for i, p in enumerate(pattern.split("'")) if i % 2 == 0)
    assert not set(letters_outside_quotes) & set("TatoclkWw"), pattern


def test_what_cannot_be_translated_says_so() -> None:
    with pytest.raises(UnsupportedOnSparkError):
        to_spark("SELECT list(x ORDER BY y DESC) FROM t")
    with pytest.raises(UnsupportedOnSparkError):
        to_spark("SELECT strftime(ts, '%Q') FROM t")


def test_lake_names_become_temp_views() -> None:
    sql = to_spark("WITH c AS (SELECT * FROM silver.clicks) SELECT * FROM c JOIN gold.user_segments AS s USING (user_id)")
    assert "silver__clicks" in sql and "gold__user_segments AS s" in sql and "silver.clicks" not in sql


