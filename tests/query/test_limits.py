"""No query takes the server down: memory and time are bounded whatever functions a query uses,
results are capped in bytes, functions below admin come from an allow-list, caches are bounded
in bytes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse.access import POLICY, KeyRing, Principal
from lakehouse.config import ApiSettings, Settings
from lakehouse.exceptions import QueryBusyError, QueryError, QueryMemoryError, QueryTimeoutError
from lakehouse.query.functions import allowed, check_allowed
from lakehouse.query.safety import validate, validate_filter
from lakehouse.query.sample import build_sample_lake
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

ANALYST = Principal("a", "analyst-1", POLICY["analyst"])
ADMIN = Principal("b", "admin-1", POLICY["admin"])
READER = Principal("c", "reader-1", POLICY["reader"])
WORKER_MB = 384


@pytest.fixture(scope="module")
def gov(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakehouse]:
    root: Path = tmp_path_factory.mktemp("limits")
    api = ApiSettings(query_timeout_s=1.5, query_kill_grace_s=1.5, worker_memory_mb=WORKER_MB, query_workers=2,
                      result_max_mb=1, result_cache_mb=4)
    s = Settings.under(root, duckdb_threads=1, duckdb_memory_limit="256MB", api=api)
    build_sample_lake(DeltaStore(s), rows=200)
    g = Lakehouse(s)
    yield g
    g.close()


def _alive(g: Lakehouse) -> None:
    """The engine still answers a normal query (a cache miss: a literal no other query used),
    at the latest once a replacement worker is up (busy until then: retried, with a deadline)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            r = g.query.sql(f"SELECT count(*) AS n, {time.monotonic_ns()} AS nonce FROM gold.user_segments", ANALYST)
            break
        except QueryBusyError:
            assert time.monotonic() < deadline, "no worker came back"
    assert r.table.column("n").to_pylist() == [400]


# Each allocates far past the worker's bound inside one scalar evaluation, or runs for
# minutes inside one: DuckDB's memory_limit and interrupt do not stop them, the worker's
# kernel limit, watchdog and the parent's hard deadline do.
KILLERS = [
    "SELECT list_sum(generate_series(1, 2000000000))",
    "SELECT list_sum(range(1, 1000000000))",
    "SELECT length(repeat('x', 2000000000))",
    "SELECT length(lpad('x', 1500000000, 'y'))",
    "SELECT levenshtein(repeat('a', 150000), repeat('b', 150000))",
    "SELECT list_sum(list_resize([1], 400000000, 1))",
    "SELECT length(printf('%0999999999d', 1))",
    "SELECT list_sum(list_transform(generate_series(1, 300000000), x -> x * 2))",
    "WITH RECURSIVE r(s, n) AS (SELECT 'xy', 0 UNION ALL SELECT s || s, n + 1 FROM r WHERE n < 40) SELECT max(length(s)) FROM r",
    "SELECT count(*) FROM gold.user_segments a, gold.user_segments b, gold.user_segments c, gold.user_segments d",
]


@pytest.mark.parametrize("sql", KILLERS)
def test_killer_queries_are_stopped_and_the_server_lives_on(gov: Lakehouse, sql: str) -> None:
    t0 = time.monotonic()
    with pytest.raises((QueryMemoryError, QueryTimeoutError, QueryError)) as info:
        gov.query.sql(sql, ADMIN)  # admin: no allow-list, only the worker's limits
    api = gov.settings.api
    assert time.monotonic() - t0 < api.query_timeout_s + api.query_kill_grace_s + 5
    assert isinstance(info.value, QueryMemoryError | QueryTimeoutError) or "memory" in info.value.message
    assert gov.query.engine.pool.rss() <= len(gov.query.engine.pool.pids()) * WORKER_MB * 2**20
    _alive(gov)


def test_a_worker_past_its_hard_deadline_is_killed_and_replaced(gov: Lakehouse) -> None:
    api = gov.settings.api.model_copy(update={"query_timeout_s": 0.3, "query_kill_grace_s": 0.5,
                                              "worker_memory_mb": 1024, "query_workers": 1})
    g = Lakehouse(gov.settings.model_copy(update={"api": api}))
    try:
        _alive(g)
        pid = g.query.engine.pool.pids()
        t0 = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            # one scalar call, ~250 MB, seconds of CPU inside it: DuckDB's interrupt waits for
            # it to end; the parent's SIGKILL does not
            g.query.sql("SELECT length(lpad('x', 250000000, 'y')) AS n", ADMIN)
        assert time.monotonic() - t0 < 0.3 + 0.5 + 1.0
        assert g.query.engine.pool.restarts == 1
        _alive(g)  # waits for the replacement (the only worker)
        assert g.query.engine.pool.pids() != pid
    finally:
        g.query.engine.close()


@pytest.mark.parametrize("name", ["range", "generate_series", "repeat", "lpad", "rpad", "list_resize", "printf",
                                  "format", "bar", "read_text", "getenv", "query_table"])
def test_below_admin_functions_off_the_allow_list_are_refused(gov: Lakehouse, name: str) -> None:
    sql = f"SELECT {name}('1', 2) AS v FROM gold.user_segments"
    with pytest.raises(QueryError, match="not allowed"):
        gov.query.sql(sql, ANALYST)
    with pytest.raises(QueryError, match="not allowed"):
        gov.query.preview("gold.user_segments", READER, where=f"{name}('1', 2) IS NOT NULL")
    with pytest.raises(QueryError, match="not allowed"):  # every preview filter, an admin's too
        gov.query.preview("gold.user_segments", ADMIN, where=f"length({name}('1', 2)) > 1")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.from_regex(r"[a-z][a-z_]{2,16}", fullmatch=True))
def test_deny_by_default(name: str) -> None:
    """Any function name not on the list is refused, whatever it is."""
    if name in allowed():
        check_allowed(frozenset({name}))
        return
    with pytest.raises(QueryError, match="not allowed"):
        validate(f"SELECT {name}(1)").check_functions()


def test_every_product_model_passes_the_allow_list() -> None:
    models = sorted((Path(lakehouse.__file__).parent / "pipeline" / "models").glob("**/*.sql"))
    assert len(models) >= 13
    seen: set[str] = set()
    for path in models:
        parsed = validate(path.read_text())
        parsed.check_functions()
        seen |= parsed.functions
    assert len(seen) >= 20, seen  # the check saw the models' calls


def test_preview_filters_and_analyst_sql_still_do_common_things(gov: Lakehouse) -> None:
    assert validate_filter("lower(segment) = 'vip' AND round(engagement_score) > 50 AND length(user_id) = 8")
    r = gov.query.sql("SELECT segment, count(*) AS n, avg(engagement_score) AS s, max(length(email)) AS m, "
                  "strftime(current_date, '%Y') AS y FROM gold.user_segments GROUP BY segment ORDER BY n DESC", ANALYST)
    assert r.row_count == 5


def test_results_are_capped_in_bytes(gov: Lakehouse) -> None:
    cap = gov.query.engine.result_max_bytes
    big = gov.query.sql("SELECT user_id, lpad(user_id, 20000, '#') AS pad FROM gold.user_segments", ADMIN)
    assert big.truncated and 0 < big.row_count < 400
    assert big.table.nbytes <= cap
    with pytest.raises(QueryError, match="larger than"):
        gov.query.sql(f"SELECT lpad('x', {2 * cap}, 'y') AS v", ADMIN)
    small = gov.query.sql("SELECT user_id FROM gold.user_segments", ADMIN)
    assert not small.truncated and small.row_count == 400


def test_result_cache_is_bounded_in_bytes(gov: Lakehouse) -> None:
    limit = gov.settings.api.result_cache_mb * 2**20
    for i in range(40):  # each ~ 0.3 MiB: far more than the cache holds in total
        gov.query.sql(f"SELECT user_id, lpad(user_id, 700, '{i % 10}') AS pad, {i} AS i FROM gold.user_segments", ADMIN)
        assert gov.query.engine.cache_bytes() <= limit + 8 * 2**20


def test_validated_sql_memo_is_bounded_by_text(gov: Lakehouse) -> None:
    pad = "x" * 20_000
    for i in range(200):  # 4 MB of text
        gov.query.sql(f"SELECT '{pad}' = '{i}' AS v", ANALYST)
    memo = gov.query._memo.statements
    assert 0 < memo.currsize <= memo.maxsize < 4_000_000


def test_render_memo_is_bounded_in_bytes() -> None:
    from lakehouse.api.render import _BodyMemo

    memo = _BodyMemo(max_bytes=200_000)
    tables = [pa.table({"s": ["y" * 1000] * 20, "i": [i] * 20}) for i in range(50)]
    for t in tables:
        body = memo.get(t)
        assert str(t.column("i")[0].as_py()).encode() in body
    assert memo.size() <= 200_000
    assert memo.get(tables[-1]) is memo.get(tables[-1])  # the recent ones are memoised


def test_key_cache_is_bounded_and_keeps_valid_keys(gov: Lakehouse) -> None:
    ring = KeyRing(gov.metadata, cache_s=60, max_entries=50)
    token = ring.create("reader").token
    assert ring.verify(token) is not None
    for i in range(200):
        assert ring.verify(f"lh_bad_{i}") is None
        assert ring.verify(token) is not None  # recently used: never pushed out
    assert len(ring._cache) <= 50


def test_sqlglot_parse_is_what_the_allow_list_sees() -> None:
    """`range` and `generate_series` are one node for sqlglot: either spelling is refused."""
    for text in ("SELECT range(3)", "SELECT generate_series(1, 3)", "SELECT 'x'.repeat(3)"):
        names = {n.sql_name().lower() if not isinstance(n, sqlglot.exp.Anonymous) else n.name.lower()
                 for n in sqlglot.parse_one(text, read="duckdb").find_all(sqlglot.exp.Func)}
        assert names - allowed(), text


def test_an_error_while_the_result_streams_is_a_query_error_not_a_dead_worker(gov: Lakehouse) -> None:
    """DuckDB's errors raised after the first batch arrive through pyarrow's reader (as OSError)."""
    before = gov.query.engine.pool.restarts
    sql = ("SELECT CASE WHEN rn > 9000 THEN CAST('x' || rn AS INTEGER) ELSE rn END AS v "
           "FROM (SELECT row_number() OVER () AS rn FROM gold.user_segments a, gold.user_segments b)")
    with pytest.raises(QueryError, match="Conversion") as info:
        gov.query.sql(sql, ANALYST)
    assert not isinstance(info.value, QueryMemoryError | QueryTimeoutError)
    assert gov.query.engine.pool.restarts == before
    _alive(gov)
