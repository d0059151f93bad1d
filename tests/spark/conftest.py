"""Spark tests: one local Spark session per test run (`local[2]`, 2 shuffle partitions, no UI).

Without Java or the `spark` extra they skip, or fail when LAKEHOUSE_REQUIRE_SPARK=1 (CI).
Lakes are built by the real pipeline (simulate -> ingest -> transform) on either engine, with
more expectations than the contract's (`EXTRA_CHECKS`: drops in every model kind, warn flags) so
the quality gate's output is compared too: flags, the rows each table keeps, the quarantine, and
every check's outcome and counts.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.contract import REGISTRY
from lakehouse.contract.arrow import same_type
from lakehouse.contract.expectations import (
    Expectation,
    accepted_values,
    in_range,
    matches,
    predicate,
)
from lakehouse.pipeline.registry import load_models
from lakehouse.quality import QUARANTINE
from lakehouse.results import TransformResult
from lakehouse.service import Lakehouse

from support import require_spark, spark_settings

D = datetime(2026, 2, 10, tzinfo=UTC)
# Three deliveries: days 0-1, then days 1-2 (overlapping), then days -1..0 (late data), each
# with duplicates, late and out-of-order records mixed in by the simulator.
DELIVERIES = ((1, D), (2, D + timedelta(days=1)), (3, D - timedelta(days=1)))
EVENTS = 8_000


# Checks that fire on the simulator's clean data (its bad records stop at bronze): a drop in each
# kind (unique_key, cdc_merge, sessions, partition, full), warn flags and a regex.
EXTRA_CHECKS: dict[str, tuple[Expectation, ...]] = {
    "silver.app_events": (in_range("duration_ms", max=3800, action="drop", name="long_events_dropped"),),
    "silver.clicks": (in_range("scroll_depth", max=90, name="deep_scroll"),),
    "silver.transactions": (matches("transaction_id", "txn-.*5", name="ids_ending_in_5"),),
    "silver.users_cdc_state": (predicate("user_id NOT LIKE '%7'", action="drop", name="users_ending_in_7_dropped"),),
    # By user, not by a session's measure: a `sessions` run recomputes only the sessions it has
    # stored near new clicks, so a dropped long session would come back as a shorter fragment
    # (incremental != full refresh on either engine).
    "silver.clickstream_sessions": (
        predicate("user_id NOT LIKE '%3'", action="drop", name="sessions_of_users_ending_in_3_dropped"),),
    "gold.event_metrics": (predicate("total_events > 1", action="drop", name="single_events_dropped"),),
    "gold.user_segments": (
        accepted_values("segment", ("Active", "Regular", "Inactive"), action="drop", name="vip_dropped"),),
}


@contextmanager
def declared(extra: dict[str, tuple[Expectation, ...]]) -> Iterator[None]:
    """The contract with `extra` expectations added, for the duration of the block."""
    originals = {}
    for table, checks in extra.items():
        spec = REGISTRY.spec(table)
        originals[spec.id] = spec
        REGISTRY._specs[spec.id] = replace(spec, expectations=(*spec.expectations, *checks))
    load_models.cache_clear()
    try:
        yield
    finally:
        REGISTRY._specs.update(originals)
        load_models.cache_clear()


CHECKS: dict[Path, list[tuple[Any, ...]]] = {}  # per lake: what every transform's checks found


def transform(lh: Lakehouse, *, checks: bool = True, **kwargs: Any) -> list[TransformResult]:
    """`lh.transform(**kwargs)` under EXTRA_CHECKS (or the contract alone: `checks=False`)."""
    with declared(EXTRA_CHECKS if checks else {}):
        reports = lh.transform(**kwargs)
    CHECKS.setdefault(lh.settings.base_path, []).extend(
        (r.layer, c.table, c.check, c.outcome, c.failing_rows, c.rows_checked, c.metric, c.error)
        for r in reports for c in r.checks)
    return reports


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


def build(root: Path, engines: tuple[str, ...], *, checks: bool = True, first: Path | None = None,
          keep_first: Path | None = None) -> Lakehouse:
    """A lake fed the three deliveries, each transformed by the engine named for it.

    `keep_first`: also keep a copy of the lake as its first delivery left it. `first`: start
    from such a copy (made by `engines[0]`, with the same checks) rather than transform that
    delivery again: the same input gives the same tables, and a Spark transform costs a minute.
    """
    if first is not None:
        shutil.copytree(first, root)
        CHECKS[root] = list(CHECKS[first])
    lh = Lakehouse(spark_settings(root))
    for i, engine in enumerate(engines):
        if i == 0 and first is not None:
            continue
        deliver(lh, i)
        for report in transform(lh, engine=engine, checks=checks):
            assert report.engine == engine
            assert {m.mode for m in report.models} <= {"full", "incremental", "skipped"}
        if i == 0 and keep_first is not None:
            shutil.copytree(root, keep_first)
            CHECKS[keep_first] = list(CHECKS.get(root, []))
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


def _json_value(kind: str, value: Any) -> Any:
    """A value of the quarantine's row JSON as its column's type (engines spell JSON apart:
    Spark writes 1.0E20 and "NaN" where DuckDB writes 100000000000000000000.0 and NaN, and
    keeps a timestamp's trailing zeros)."""
    if value is None:
        return None
    if kind == "timestamp":
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "double":
        return _norm(float(value))
    return _norm(value)


def quarantined(lh: Lakehouse) -> list[tuple[Any, ...]]:
    """silver.quarantine as (table, check, the row's values in the table's columns), sorted."""
    out = []
    for r in lh.store.dataset(QUARANTINE).to_table().to_pylist():
        spec = REGISTRY.spec(r["table"])
        row = json.loads(r["row"])
        assert list(row) == spec.column_names, r["table"]
        out.append((r["table"], r["check"], *(_json_value(c.type, row[c.name]) for c in spec.columns)))
    return sorted(out, key=repr)


def snapshot(lh: Lakehouse, *, quarantine: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every model table's rows (sorted), and a check that its types are the contract's; with
    the quarantine's rows unless `quarantine=False`."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    if quarantine:
        out[QUARANTINE.fqn] = quarantined(lh)
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
    transform = staticmethod(transform)
    extra_checks = EXTRA_CHECKS
    declared = staticmethod(declared)
    checks = staticmethod(lambda lh: CHECKS.get(lh.settings.base_path, []))
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


def _first(lh: Lakehouse) -> Path:
    """Where `build(..., keep_first=...)` kept `lh` as its first delivery left it."""
    return lh.settings.base_path.parent / "first"


@pytest.fixture(scope="session")
def duckdb_lake(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The reference: the three deliveries transformed by DuckDB."""
    root = tmp_path_factory.mktemp("duck")
    return build(root / "lake", ("duckdb",) * 3, keep_first=root / "first")


@pytest.fixture(scope="session")
def spark_lake(spark_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakehouse]:
    """The same deliveries transformed by Spark, incrementally. Tests copy it before writing."""
    root = tmp_path_factory.mktemp("spark")
    yield build(root / "lake", ("spark",) * 3, keep_first=root / "first")


@pytest.fixture(scope="session")
def mixed_lake(spark_ready: None, duckdb_lake: Lakehouse, tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The deliveries transformed by DuckDB, then Spark, then DuckDB (each extends the other's tables).
    The first delivery's lake is the reference's (the same DuckDB transform of the same input)."""
    return build(tmp_path_factory.mktemp("mixed") / "lake", ("duckdb", "spark", "duckdb"), first=_first(duckdb_lake))


@pytest.fixture(scope="session")
def spark_first_lake(spark_ready: None, spark_lake: Lakehouse, tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """Spark builds the tables, DuckDB (delta-rs) extends them, then Spark again.
    The first delivery's lake is `spark_lake`'s (the same Spark transform of the same input)."""
    return build(tmp_path_factory.mktemp("spark-first") / "lake", ("spark", "duckdb", "spark"), first=_first(spark_lake))
