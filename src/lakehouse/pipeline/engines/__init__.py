"""SQL engines the models run on: DuckDB (embedded, the default) and Spark (the `spark` extra).

`make_engine` picks one by name; `SparkEngine` is imported from `engines.spark` only when used.
"""

from lakehouse.pipeline.engines.base import Capability, Engine, WriteMode
from lakehouse.pipeline.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.engines.factory import ENGINE_NAMES, make_engine

__all__ = ["ENGINE_NAMES", "Capability", "DuckDBEngine", "Engine", "WriteMode", "make_engine"]
