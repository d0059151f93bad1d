"""Spark tests: one local Spark session per test run (`local[2]`, 2 shuffle partitions, no UI).

Without Java or the `spark` extra they skip, or fail when LAKEHOUSE_REQUIRE_SPARK=1 (CI).
Lakes are built by the real pipeline (simulate -> ingest -> transform) on either engine.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.contract import REGISTRY
from lakehouse.contract.arrow import same_type
from lakehouse.pipeline.registry import load_models
from lakehouse.service import Lakehouse

from support import require_spark, spark_settings

D = datetime(2026, 2, 10, tzinfo=UTC)
# Three deliveries: days 0-1, then days 1-2 (overlapping), then days -1..0 (late data), each
# with duplicates, late and out-of-order records mixed in by the simulator.
DELIVERIES = ((1, D), (2, D + timedelta(days=1)), (3, D - timedelta(days=1)))
EVENTS = 8_000


# A test's timeout covers the session fixtures it is first to need: building a lake through
# three Spark transforms takes ~3 min on an idle 2-core machine and several times that on a busy one.
SPARK_TIMEOUT_S = 2400


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/spark/" in str(item.fspath):
            item.add_marker(pytest.mark.spark)
            item.add_marker(pytest.mark.timeout(SPARK_TIMEOUT_S))


@pytest.fixture(scope="session")
def spark_ready() -> None:
    require_spark()


def bronze_after_each_delivery(root: Path) -> list[Path]:
    """Bronze as ingested after each delivery, kept so every lake gets byte-identical input
    (ingestion stamps `_ingested_at`, which silver carries: two ingests never compare equal)."""
    lh = Lakehouse(spark_settings(root / "lake"))
    stages = []
    for i, (seed, start) in enumerate(DELIVERIES):
        lh.simulate(events=EVENTS, days=2, start=start, seed=seed, bad_fraction=0.03)
        lh.ingest()
        stages.append(root / f"bronze-{i}")
        shutil.copytree(lh.settings.layer_path("bronze"), stages[-1])
    return stages


_STAGES: list[Path] = []


def deliver(lh: Lakehouse, i: int) -> None:
    """Delivery `i` lands in `lh`'s bronze (its log extends the previous delivery's)."""
    bronze = lh.settings.layer_path("bronze")
    shutil.rmtree(bronze, ignore_errors=True)
    shutil.copytree(_STAGES[i], bronze)


def build(root: Path, engines: tuple[str, ...]) -> Lakehouse:
    """A lake fed the three deliveries, each transformed by the engine named for it."""
    lh = Lakehouse(spark_settings(root))
    for i, engine in enumerate(engines):
        deliver(lh, i)
        for report in lh.transform(engine=engine):
            assert report.engine == engine
            assert {m.mode for m in report.models} <= {"full", "incremental", "skipped"}
    return lh


def copy_lake(lh: Lakehouse, root: Path) -> Lakehouse:
    shutil.copytree(lh.settings.base_path, root)
    return Lakehouse(spark_settings(root))


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else float(f"{value:.9g}")  # doubles to 9 significant digits
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    return value


def snapshot(lh: Lakehouse) -> dict[str, list[tuple[Any, ...]]]:
    """Every model table's rows (sorted), and a check that its types are the contract's."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for model in load_models():
        table = lh.store.dataset(model.table).to_table()
        spec = REGISTRY.get(model.table)
        assert table.column_names == spec.column_names or set(table.column_names) == set(spec.column_names)
        for c in spec.columns:
            assert same_type(c.type, table.schema.field(c.name).type), f"{model.table}.{c.name}: {table.schema.field(c.name).type}"
        table = table.select(spec.column_names)
        rows = [tuple(_norm(v) for v in row.values()) for row in table.to_pylist()]
        out[model.table.fqn] = sorted(rows, key=repr)
    return out


def assert_same_lake(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]], what: str) -> None:
    assert a.keys() == b.keys()
    for table in a:
        assert a[table], f"{table} is empty ({what})"
        missing = [r for r in a[table] if r not in set(b[table])][:3]
        extra = [r for r in b[table] if r not in set(a[table])][:3]
        assert a[table] == b[table], f"{table} differs ({what}): only left {missing}, only right {extra}"


class Kit:
    """The helpers above, for tests (a test module cannot import conftest)."""

    build = staticmethod(build)
    copy_lake = staticmethod(copy_lake)
    snapshot = staticmethod(snapshot)
    assert_same_lake = staticmethod(assert_same_lake)
    deliver = staticmethod(deliver)


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit()


@pytest.fixture(scope="session", autouse=True)
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if not _STAGES:
        _STAGES.extend(bronze_after_each_delivery(tmp_path_factory.mktemp("deliveries")))
    return _STAGES


@pytest.fixture(scope="session")
def duckdb_lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The reference: the three deliveries transformed by DuckDB."""
    return build(tmp_path_factory.mktemp("duck") / "lake", ("duckdb",) * 3)


@pytest.fixture(scope="session")
def spark_lake(spark_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakehouse]:
    """The same deliveries transformed by Spark, incrementally. Tests copy it before writing."""
    yield build(tmp_path_factory.mktemp("spark") / "lake", ("spark",) * 3)


@pytest.fixture(scope="session")
def mixed_lake(spark_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The deliveries transformed by DuckDB, then Spark, then DuckDB (each extends the other's tables)."""
    return build(tmp_path_factory.mktemp("mixed") / "lake", ("duckdb", "spark", "duckdb"))


@pytest.fixture(scope="session")
def spark_first_lake(spark_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """Spark builds the tables, DuckDB (delta-rs) extends them, then Spark again."""
    return build(tmp_path_factory.mktemp("spark-first") / "lake", ("spark", "duckdb", "spark"))
