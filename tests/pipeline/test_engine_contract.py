"""The `Engine` contract: what every model kind relies on; every engine passes these.

Every engine in ENGINES passes them unchanged: DuckDB, and Spark (marked `spark`: it needs
Java and the `spark` extra; one Spark session serves the whole test run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.contract import TableId
from lakehouse.pipeline.engines import DuckDBEngine, Engine
from lakehouse.storage.base import MergeSpec, PartitionFilter, TableStore
from lakehouse.storage.delta import DeltaStore

from support import make_settings, require_spark, spark_settings


def spark_engine(settings: Settings, store: TableStore) -> Engine:
    from lakehouse.pipeline.engines.spark import SparkEngine

    return SparkEngine(settings, store)


ENGINES: dict[str, Callable[[Settings, TableStore], Engine]] = {"duckdb": DuckDBEngine, "spark": spark_engine}
MARKS = {"spark": [pytest.mark.spark]}

SRC = TableId("bronze", "app_events")
OUT = TableId("gold", "event_metrics")
STATE = TableId("silver", "users_cdc_state")


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, [])) for name in ENGINES])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "spark":
        require_spark()
        settings = spark_settings(tmp_path / "lake")
    else:
        settings = make_settings(tmp_path / "lake")
    e = ENGINES[request.param](settings, DeltaStore(settings))
    yield e
    e.close()


@pytest.fixture
def store(engine: Engine) -> TableStore:
    s: TableStore = engine.store  # type: ignore[attr-defined]
    return s


def events(a: int, b: int, day: str) -> pa.Table:
    return pa.table({
        "event_id": [f"e{i}" for i in range(a, b)],
        "n": pa.array(range(a, b), pa.int64()),
        "event_date": [date.fromisoformat(day)] * (b - a),
    })


def test_declares_what_it_supports(engine: Engine) -> None:
    assert engine.name and engine.dialect
    assert {"merge", "replace_partitions", "change_feed"} <= engine.supports


def test_binds_a_table_whole_or_filtered(engine: Engine, store: TableStore) -> None:
    store.append(SRC, pa.concat_tables([events(0, 3, "2026-01-01"), events(3, 5, "2026-01-02")]), partition_by=["event_date"])
    engine.bind_table(SRC)
    assert engine.scalar("SELECT count(*) FROM bronze.app_events") == 5
    engine.bind_table(SRC, where="event_date = DATE '2026-01-02'", name="__day2")
    assert engine.rows("SELECT min(n), max(n) FROM __day2") == [(3, 4)]
    # The partition column keeps its type (each engine spells type names its own way).
    assert str(engine.scalar("SELECT typeof(event_date) FROM __day2 LIMIT 1")).upper() == "DATE"


def test_binds_the_rows_appended_since_a_version(engine: Engine, store: TableStore) -> None:
    v0 = store.append(SRC, events(0, 3, "2026-01-01"), partition_by=["event_date"])
    store.append(SRC, events(3, 4, "2026-01-02"))
    store.append(SRC, events(4, 6, "2026-01-03"))
    assert engine.bind_changes(SRC, v0) == 3
    assert engine.rows("SELECT n FROM bronze.app_events ORDER BY n") == [(3,), (4,), (5,)]


def test_binds_arrow_and_queries_and_materializes(engine: Engine) -> None:
    engine.bind_arrow(SRC, events(0, 4, "2026-01-01"))
    engine.bind_query("__odd", "SELECT * FROM bronze.app_events WHERE n % 2 = 1")
    assert engine.materialize("__big_odd", "SELECT * FROM __odd WHERE n > 1") == 1
    assert engine.rows("SELECT event_id FROM __big_odd") == [("e3",)]


def test_writes_append_overwrite_and_partitions_with_markers(engine: Engine, store: TableStore) -> None:
    engine.bind_arrow(SRC, pa.concat_tables([events(0, 2, "2026-01-01"), events(2, 4, "2026-01-02")]))
    engine.write(OUT, "SELECT * FROM bronze.app_events", mode="overwrite", partition_by=["event_date"], txns={"a": 1})
    assert store.snapshot(OUT).rows == 4 and store.txn_versions(OUT, ["a"]) == {"a": 1}
    engine.bind_arrow(SRC, events(9, 10, "2026-01-02"), name="__new")
    engine.write(OUT, "SELECT * FROM __new", mode="overwrite",
                 where=PartitionFilter("event_date", ("2026-01-02",)), txns={"a": 2})
    assert sorted(r["n"] for r in store.dataset(OUT).to_table().to_pylist()) == [0, 1, 9]
    engine.write(OUT, "SELECT * FROM __new", mode="append", txns={"a": 3})
    assert store.snapshot(OUT).rows == 4 and store.txn_versions(OUT, ["a"]) == {"a": 3}


def test_merges_by_spec(engine: Engine, store: TableStore) -> None:
    store.append(STATE, pa.table({"k": ["a", "b"], "seq": pa.array([1, 9], pa.int64())}))
    engine.bind_arrow(SRC, pa.table({"k": ["a", "b", "c"], "seq": pa.array([2, 3, 1], pa.int64())}), name="__chg")
    engine.merge(STATE, "SELECT * FROM __chg", MergeSpec(on=("k",), update_when="s.seq > t.seq"), txns={"m": 5})
    assert {r["k"]: r["seq"] for r in store.dataset(STATE).to_table().to_pylist()} == {"a": 2, "b": 9, "c": 1}
    assert store.txn_versions(STATE, ["m"]) == {"m": 5}
