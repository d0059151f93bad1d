"""SQL engines the models run on: DuckDB (embedded, the default)."""

from lakehouse.pipeline.engines.base import Capability, Engine, WriteMode
from lakehouse.pipeline.engines.duckdb import DuckDBEngine

__all__ = ["Capability", "DuckDBEngine", "Engine", "WriteMode"]
