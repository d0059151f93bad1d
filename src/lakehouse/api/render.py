"""Query results as JSON (default), CSV, Arrow IPC stream or Parquet, chosen by `Accept`."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from fastapi import Response

from lakehouse.query.engine import QueryResult

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"
JSON = "application/json"
_ALIASES = {"application/x-parquet": PARQUET, "application/parquet": PARQUET, "application/x-arrow": ARROW}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type=JSON)


def choose(accept: str | None) -> str:
    for part in (accept or "").split(","):
        kind = part.split(";")[0].strip().lower()
        kind = _ALIASES.get(kind, kind)
        if kind in (ARROW, PARQUET, CSV, JSON):
            return kind
    return JSON


def result_body(result: QueryResult) -> dict[str, Any]:
    t = result.table
    cols = [c.to_pylist() for c in t.columns]
    return {
        "columns": [{"name": f.name, "type": str(f.type)} for f in t.schema],
        "rows": [list(r) for r in zip(*cols, strict=True)] if cols else [],
        "row_count": t.num_rows,
        "truncated": result.truncated,
        "elapsed_ms": result.elapsed_ms,
    }


def render(result: QueryResult, accept: str | None) -> Response:
    kind = choose(accept)
    headers = {"X-Truncated": str(result.truncated).lower(), "X-Row-Count": str(result.row_count)}
    table: pa.Table = result.table
    if kind == JSON:
        return Response(dumps(result_body(result)), media_type=JSON, headers=headers)
    buf = io.BytesIO()
    if kind == CSV:
        pacsv.write_csv(table, buf)
    elif kind == ARROW:
        with ipc.new_stream(buf, table.schema) as w:
            w.write_table(table)
    else:
        pq.write_table(table, buf)
    return Response(buf.getvalue(), media_type=kind, headers=headers)
