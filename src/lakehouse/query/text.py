"""Values Python cannot hold (infinite or far-away dates and times), as DuckDB's own text."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def duckdb_text(col: pa.ChunkedArray) -> list[Any]:
    """DuckDB's own text for each value (it reads Arrow's int64 extremes as +-infinity and any
    year), for the rare column Python cannot convert. Bounded by the result's size cap."""
    import duckdb

    con = duckdb.connect(config={"threads": 1})
    try:
        con.execute("SET enable_external_access = false")
        con.register("col", pa.table({"v": col}))
        out: list[Any] = con.sql("SELECT CAST(v AS VARCHAR) AS v FROM col").to_arrow_table().column("v").to_pylist()
        return out
    finally:
        con.close()
