from __future__ import annotations

import time

import pyarrow as pa
import pytest

from lakehouse.contract import TableId
from lakehouse.exceptions import QueryError, QueryTimeoutError, TableNotBuiltError
from lakehouse.query.engine import QueryEngine, internal_name
from lakehouse.query.safety import validate
from lakehouse.query.worker import Binding
from lakehouse.storage.delta import DeltaStore

SEGS = TableId("gold", "user_segments")


def test_runs_select_and_caps_rows(engine: QueryEngine) -> None:
    r = engine.run(validate("SELECT user_id FROM gold.user_segments ORDER BY user_id"), max_rows=7, timeout_s=5)
    assert r.row_count == 7 and r.truncated
    assert r.table.column("user_id").to_pylist()[0] == "u0000000"
    whole = engine.run(validate("SELECT count(*) AS n FROM gold_user_segments"), max_rows=7, timeout_s=5)
    assert whole.table.to_pylist() == [{"n": 100}] and not whole.truncated


def test_times_out_by_interrupting(engine: QueryEngine) -> None:
    sql = "SELECT count(*) FROM gold.user_segments a, gold.user_segments b, gold.user_segments c, gold.user_segments d, gold.user_segments e"
    t0 = time.perf_counter()
    with pytest.raises(QueryTimeoutError):
        engine.run(validate(sql), max_rows=10, timeout_s=0.2)
    assert time.perf_counter() - t0 < 5
    # the connection is still usable afterwards
    assert engine.run(validate("SELECT 1 AS x"), max_rows=1, timeout_s=5).table.to_pylist() == [{"x": 1}]


def _raw(engine: QueryEngine, sql: str, *tables: TableId) -> pa.Table:
    """Run SQL in a worker without validation (the second wall on its own), `tables` bound
    under their internal names; the SQL names them `{0}`, `{1}`, ..."""
    bindings = [Binding(internal_name(t, token=engine.token), t.fqn, engine.current(t)[0], False, None) for t in tables]
    return engine._execute(sql.format(*(f'"{b.name}"' for b in bindings)), bindings, 100, 5)[0]


def test_file_access_is_off_even_if_validation_were_bypassed(engine: QueryEngine, store: DeltaStore) -> None:
    path = store.path(SEGS)
    with pytest.raises(QueryError, match="disabled"):
        _raw(engine, f"SELECT * FROM read_parquet('{path}/*.parquet')")
    with pytest.raises(QueryError):
        _raw(engine, "SET enable_external_access = true")
    # the worker still answers
    assert _raw(engine, "SELECT count(*) AS n FROM {0}", SEGS).to_pylist() == [{"n": 100}]


def test_sees_new_versions_and_time_travels(engine: QueryEngine, store: DeltaStore) -> None:
    count = validate("SELECT count(*) AS n FROM gold.user_segments")
    assert engine.run(count, max_rows=1, timeout_s=5).table.to_pylist() == [{"n": 100}]
    store.append(SEGS, engine.run(validate("SELECT * FROM gold.user_segments LIMIT 5"), max_rows=5, timeout_s=5).table)
    assert engine.run(count, max_rows=1, timeout_s=5).table.to_pylist() == [{"n": 105}]
    old = engine.preview(SEGS, limit=1000, timeout_s=5, version=0)
    assert old.row_count == 50


def test_masks_pii_in_views(engine: QueryEngine) -> None:
    r = engine.run(validate("SELECT email, upper(email) AS e2 FROM gold.user_segments LIMIT 2"),
                   max_rows=5, timeout_s=5, masks={SEGS: ["email", "not_a_column"]})
    assert r.table.to_pylist() == [{"email": "***", "e2": "***"}] * 2
    p = engine.preview(SEGS, limit=1, timeout_s=5, version=0, mask=["email"], columns=["email"])
    assert p.table.to_pylist() == [{"email": "***"}]


def test_errors_name_tables_as_users_wrote_them(engine: QueryEngine) -> None:
    with pytest.raises(QueryError) as info:
        engine.run(validate("SELECT no_such_col FROM gold.user_segments"), max_rows=5, timeout_s=5)
    assert "no_such_col" in info.value.message
    assert internal_name(SEGS) not in info.value.message


def test_not_built_table(engine: QueryEngine) -> None:
    with pytest.raises(TableNotBuiltError):
        engine.run(validate("SELECT * FROM gold.daily_summary"), max_rows=5, timeout_s=5)


def test_schema_change_is_picked_up(engine: QueryEngine, store: DeltaStore) -> None:
    t = TableId("gold", "revenue_daily")
    store.append(t, pa.table({"day": ["2024-01-01"], "revenue": [1.5]}))
    assert engine.run(validate("SELECT * FROM gold.revenue_daily"), max_rows=5, timeout_s=5).table.num_columns == 2
    store.append(t, pa.table({"day": ["2024-01-02"], "revenue": [2.5], "currency": ["EUR"]}))
    r = engine.run(validate("SELECT * FROM gold.revenue_daily ORDER BY day"), max_rows=5, timeout_s=5)
    assert r.table.column("currency").to_pylist() == [None, "EUR"]


def test_lazy_datasets_scan_with_external_access_off(store: DeltaStore) -> None:
    lazy = QueryEngine(store.settings, store, workers=1, materialize_max_bytes=0)
    try:
        r = lazy.run(validate("SELECT count(*) AS n FROM gold.user_segments WHERE segment = 'VIP'"), max_rows=1, timeout_s=5)
        assert r.table.column("n")[0].as_py() > 0
        # a lazy dataset runs on the worker's parallel database
        threads = _raw(lazy, "SELECT current_setting('threads') AS t FROM {0} LIMIT 1", SEGS)
        assert threads.to_pylist() == [{"t": store.settings.duckdb_threads}]
        with pytest.raises(QueryError, match="disabled"):
            _raw(lazy, f"SELECT * FROM read_parquet('{store.path(SEGS)}/*.parquet')")
    finally:
        lazy.close()


def test_in_memory_tables_run_single_threaded_and_lazy_ones_parallel(engine: QueryEngine) -> None:
    assert _raw(engine, "SELECT current_setting('threads') AS t FROM {0} LIMIT 1", SEGS).to_pylist() == [{"t": 1}]
    with pytest.raises(QueryError, match="disabled"):  # the database without tables is locked down too
        _raw(engine, "SELECT * FROM read_csv('/etc/passwd')")


def test_result_cache_is_per_version_and_returns_the_same_table(engine: QueryEngine, store: DeltaStore) -> None:
    q = validate("SELECT count(*) AS n FROM gold.user_segments")
    a, b = (engine.run(q, max_rows=5, timeout_s=5) for _ in range(2))
    assert a.table is b.table  # a hit: renderers memoise per table object
    p1, p2 = (engine.preview(SEGS, limit=3, timeout_s=5) for _ in range(2))
    assert p1.table is p2.table and p1.truncated
    store.append(SEGS, p1.table)  # refresh_s=0 in this fixture: the next call sees version 2
    assert engine.run(q, max_rows=5, timeout_s=5).table.to_pylist() == [{"n": 103}]
    assert engine.preview(SEGS, limit=1000, timeout_s=5).row_count == 103
