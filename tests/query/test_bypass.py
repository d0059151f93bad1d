"""No analyst query reads bronze, the quarantine or DuckDB's catalog, however it hides the name.

The lake has bronze tables an admin reads first (so that, were registrations shared, they
would be there to find). Generated queries read a name `X` (an internal-looking name, a seed
spelling, a catalog view) while a CTE or derived table called `X` is defined somewhere else:
in scope (then the CTE's three rows are what `count(*)` must see) or out of scope, at a random
depth (then the query must be refused).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.access import POLICY, Principal
from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.exceptions import LakehouseError
from lakehouse.query.engine import internal_name
from lakehouse.query.sample import build_sample_lake
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

ANALYST = Principal("a", "analyst-1", POLICY["analyst"])
ADMIN = Principal("b", "admin-1", POLICY["admin"])
CTE_BODY = "SELECT * FROM (VALUES (1), (2), (3)) AS v(x)"  # three rows: what an in-scope CTE gives


@pytest.fixture(scope="module")
def gov(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakehouse]:
    root: Path = tmp_path_factory.mktemp("bypass")
    s = Settings.under(root, duckdb_threads=1, duckdb_memory_limit="512MB")
    store = DeltaStore(s)
    build_sample_lake(store, rows=40)
    store.append(TableId("bronze", "quarantine"), pa.table({"raw": ["secret-raw-line"] * 7, "reason": ["bad json"] * 7}))
    g = Lakehouse(s)
    # an admin reads bronze first, on every worker
    for _ in range(4):
        for t in ("bronze.app_events", "bronze.quarantine"):
            assert g.query.sql(f"SELECT count(*) FROM {t}", ADMIN).row_count == 1
    yield g
    g.close()


def _hidden_names(g: Lakehouse) -> list[str]:
    token = g.query.engine.token
    return [
        "bronze__app_events", "bronze__quarantine", internal_name(TableId("bronze", "app_events"), token=token),
        internal_name(TableId("bronze", "quarantine"), token=token), "app_events_bronze", "quarantine_bronze",
        "bronze_app_events", "duckdb_tables", "duckdb_views", "duckdb_columns", "sqlite_master", "pg_tables",
        "information_schema.tables", "pg_catalog.pg_class", "bronze.app_events", "bronze.quarantine",
        "main.bronze__app_events", "temp.bronze__app_events",
    ]


def _nest(inner: str, depth: int) -> str:
    for i in range(depth):
        inner = f"SELECT * FROM ({inner}) AS q{i}"
    return inner


def _query(x: str, position: str, depth: int, decoy: str) -> tuple[str, bool]:
    """A query reading `x`, and whether the CTE named like `x` is in scope of that read."""
    hider = _nest(f"WITH {x} AS ({CTE_BODY}) SELECT 1 AS k", depth)
    decoys = f"{decoy} AS (SELECT 1 AS d)"
    if position == "exists":
        return f"WITH {decoys} SELECT count(*) AS n FROM {x} WHERE EXISTS ({hider})", False
    if position == "select_list":
        return f"WITH {decoys} SELECT count(*) AS n, ({hider}) AS k FROM {x}", False
    if position == "join":
        return f"WITH {decoys} SELECT count(*) AS n FROM {x} CROSS JOIN ({hider}) AS j", False
    if position == "inside_other_cte":
        return f"WITH {decoys}, c AS ({hider}) SELECT count(*) AS n FROM {x}, c", False
    if position == "derived_alias":
        return f"SELECT count(*) AS n FROM ({CTE_BODY}) AS {x} CROSS JOIN {x}", False
    if position == "later_cte":  # a CTE is not visible to the ones defined before it
        return f"WITH {decoys}, a AS (SELECT count(*) AS n FROM {x}), {x} AS ({CTE_BODY}) SELECT n FROM a", False
    if position == "in_scope":
        return f"WITH {decoys}, {x} AS ({CTE_BODY}) SELECT count(*) AS n FROM {x}", True
    # in scope, deep: the read and its CTE both inside nested subqueries
    body = _nest(f"WITH {x} AS ({CTE_BODY}) SELECT count(*) AS n FROM {x}", depth)
    return f"WITH {decoys} SELECT n FROM ({body}) AS z", True


POSITIONS = ["exists", "select_list", "join", "inside_other_cte", "derived_alias", "later_cte", "in_scope", "in_scope_deep"]
identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(lambda s: s not in {"c", "a", "z", "v", "j"})


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), position=st.sampled_from(POSITIONS), depth=st.integers(0, 6), decoy=identifiers)
def test_an_analyst_never_reads_a_hidden_table(gov: Lakehouse, data: st.DataObject, position: str,
                                                depth: int, decoy: str) -> None:
    x = data.draw(st.sampled_from(_hidden_names(gov)))
    sql, in_scope = _query(x, position, depth, decoy)
    qualified = "." in x
    try:
        result = gov.query.sql(sql, ANALYST)
    except LakehouseError:
        # refused: fine, unless it was a plain in-scope CTE the analyst may define
        plain = not qualified and gov.query.engine.token not in x and not x.startswith(("duckdb_", "sqlite_", "pg_"))
        assert not (in_scope and plain), f"an in-scope CTE was refused: {sql}"
        return
    assert in_scope and not qualified, f"read something it may not: {sql}"
    assert result.table.column("n").to_pylist() == [3], sql
    assert all(t.layer != "bronze" for t in result.tables)


@pytest.mark.parametrize("sql", [
    # the example, and its neighbours
    "SELECT count(*) FROM bronze__app_events WHERE EXISTS (WITH bronze__app_events AS (SELECT 1) SELECT 1)",
    "SELECT * FROM bronze__quarantine WHERE EXISTS (WITH bronze__quarantine AS (SELECT 1) SELECT 1)",
    "SELECT * FROM duckdb_tables WHERE EXISTS (WITH duckdb_tables AS (SELECT 1) SELECT 1)",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM pg_catalog.pg_tables",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM duckdb_views",
    "WITH duckdb_tables AS (SELECT 1) SELECT * FROM duckdb_tables",
])
def test_the_reported_bypasses_are_refused(gov: Lakehouse, sql: str) -> None:
    with pytest.raises(LakehouseError):
        gov.query.sql(sql, ANALYST)


def test_internal_names_are_per_engine_and_the_token_is_refused(gov: Lakehouse) -> None:
    name = internal_name(TableId("gold", "user_segments"), token=gov.query.engine.token)
    with pytest.raises(LakehouseError, match="internal"):
        gov.query.sql(f'WITH "{name}" AS (SELECT 1) SELECT * FROM "{name}"', ADMIN)
    other = Lakehouse(gov.settings)
    try:
        assert other.query.engine.token != gov.query.engine.token
    finally:
        other.close()


def test_a_worker_keeps_no_registration_between_queries(gov: Lakehouse) -> None:
    from lakehouse.query.worker import Binding

    engine = gov.query.engine
    seen: list[str] = []
    for _ in range(6):  # several rounds: every worker gets asked
        gov.query.sql("SELECT count(*) FROM bronze.app_events", ADMIN)
        table, _ = engine._execute(
            "SELECT table_name AS n FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal", list[Binding](), 100, 5)
        seen += table.column("n").to_pylist()
    assert seen == []


def test_the_audit_records_the_tables_actually_read(gov: Lakehouse) -> None:
    r = gov.query.sql("WITH users AS (SELECT * FROM gold.user_segments) SELECT count(*) FROM users "
                  "WHERE EXISTS (SELECT 1 FROM silver.users)", ANALYST)
    assert [t.fqn for t in r.tables] == ["gold.user_segments", "silver.users"]
