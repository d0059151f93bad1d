"""A staging area for checks: a real engine over a real lake, and models declared on the fly.

Every test that takes `engine` or `lh` runs on each engine: DuckDB, and Spark (marked `spark`
and `slow`: it needs Java and the `spark` extra; one Spark session serves the whole run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, Column, ModelSpec, TableId, TableSpec
from lakehouse.contract.expectations import Expectation
from lakehouse.pipeline.engines import Engine, make_engine
from lakehouse.pipeline.kinds import Batch
from lakehouse.pipeline.registry import Model
from lakehouse.quality import Validator
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

from support import make_settings, require_spark, spark_settings

TARGET = TableId("gold", "daily_summary")  # any contract table id; the spec below is the test's own


ENGINES = [pytest.param("duckdb"), pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow])]


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        require_spark()
    return str(request.param)


def lake_settings(root: Path, engine_name: str) -> Settings:
    return spark_settings(root, engine="spark") if engine_name == "spark" else make_settings(root)


@pytest.fixture
def engine(engine_name: str, tmp_path: Path) -> Iterator[Engine]:
    settings = lake_settings(tmp_path / "lake", engine_name)
    e = make_engine(settings, DeltaStore(settings))
    yield e
    e.close()


@pytest.fixture
def lh(engine_name: str, tmp_path: Path) -> Lakehouse:
    """A lake whose transforms run on the engine under test."""
    return Lakehouse(lake_settings(tmp_path / "lake", engine_name))


Check = Callable[..., Validator]


def model_with(columns: tuple[Column, ...], *expect: Expectation, keys: tuple[str, ...] = ()) -> Model:
    spec = TableSpec("gold", TARGET.name, "test table", columns, "test", None, keys=keys,
                     model=ModelSpec("full"), expectations=tuple(expect))
    return Model(spec, "SELECT 1", ())


@pytest.fixture
def check(engine: Engine) -> Callable[..., tuple[Validator, str]]:
    """check(table, *expectations, keys=...) -> (validator after the run, relation to commit)."""

    def run(data: pa.Table, *expect: Expectation, keys: tuple[str, ...] = (), txns: dict[str, int] | None = None,
            columns: tuple[Column, ...] | None = None,
            clock: Callable[[], datetime] | None = None) -> tuple[Validator, str]:
        cols = columns or tuple(Column(f.name, _type(f.type), f.name) for f in data.schema)
        model = model_with(cols, *expect, keys=keys)
        engine.bind_arrow(TARGET, data, name="__staged_input")
        engine.materialize("__staged", "SELECT * FROM __staged_input")
        validator = Validator(engine.store, engine, "run-1", **({"clock": clock} if clock else {}))
        relation = validator(model, Batch("__staged", txns or {}, None))
        return validator, relation

    return run


def _type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int64"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    return "string"


def spec_with(table: str, *extra: Expectation) -> TableSpec:
    """A contract table's spec with more expectations (for end-to-end runs)."""
    spec = REGISTRY.spec(table)
    return replace(spec, expectations=(*spec.expectations, *extra))


@pytest.fixture
def expect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """expect("silver.transactions", check, ...): run the pipeline with more checks on a table."""
    from lakehouse.pipeline.registry import load_models

    originals: dict[str, TableSpec] = {}

    def add(table: str, *extra: Expectation) -> None:
        original = originals.setdefault(table, REGISTRY.spec(table))
        spec = replace(original, expectations=(*original.expectations, *extra))
        monkeypatch.setitem(REGISTRY._specs, spec.id, spec)
        load_models.cache_clear()

    yield add
    monkeypatch.undo()
    load_models.cache_clear()
