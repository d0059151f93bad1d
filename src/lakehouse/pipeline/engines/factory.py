"""The one place an engine is chosen (`Settings.engine`, `lakehouse transform --engine`).

The model kinds are written against `Engine` and do not change per engine.
"""

from __future__ import annotations

from lakehouse.config import Settings
from lakehouse.exceptions import InputError
from lakehouse.pipeline.engines.base import Engine
from lakehouse.pipeline.engines.duckdb import DuckDBEngine
from lakehouse.storage.base import TableStore

ENGINE_NAMES = ("duckdb", "spark")


def make_engine(settings: Settings, store: TableStore, name: str | None = None) -> Engine:
    """The engine `name` (default: `settings.engine`) over `store`."""
    chosen = name or settings.engine
    if chosen == "duckdb":
        return DuckDBEngine(settings, store)
    if chosen == "spark":
        # Imported here: pyspark is an optional extra that DuckDB users never load.
        from lakehouse.pipeline.engines.spark import SparkEngine

        return SparkEngine(settings, store)
    raise InputError(f"unknown engine '{chosen}'", hint=f"choose from {', '.join(ENGINE_NAMES)}")
