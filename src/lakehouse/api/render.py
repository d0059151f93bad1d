"""Query results as JSON (default), CSV, Arrow IPC stream or Parquet, chosen by `Accept`.

Every result renders in every format or the request gets a 4xx, never a 500: the workers
already turn the types Arrow cannot carry faithfully into DuckDB's exact text
(`query.worker`); here, values Python cannot represent (`'infinity'::TIMESTAMP`, year -44 or
10000, inside lists too) are rendered as DuckDB's text for them, and columns a format cannot
hold (lists, structs and maps in CSV; intervals and unions in Parquet) as JSON text per value.
Those fallbacks only run for the columns that need them.
"""

from __future__ import annotations

import io
import threading
import weakref
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from cachetools import LRUCache
from fastapi import Response

from lakehouse.exceptions import QueryError
from lakehouse.results import QueryResult
from lakehouse.service import values_as_text

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"
JSON = "application/json"
_ALIASES = {"application/x-parquet": PARQUET, "application/parquet": PARQUET, "application/x-arrow": ARROW}
MEMO_BYTES = 64 * 1024 * 1024


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


def _py(col: pa.ChunkedArray) -> list[Any]:
    try:
        return col.to_pylist()  # type: ignore[no-any-return]
    except (OverflowError, ValueError, pa.ArrowException):
        return values_as_text(col)


def _as_json_text(col: pa.ChunkedArray) -> pa.Array:
    return pa.array([None if v is None else dumps(v).decode() for v in _py(col)], pa.string())


class _BodyMemo:
    """JSON of `columns` and `rows` per result table object (the engine's result cache hands out
    the same table for a repeated query over unchanged versions), LRU bounded by the bytes it
    holds. An entry is only used while its table is alive (weak reference, checked on get);
    dead ones age out."""

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self._items: LRUCache[int, tuple[weakref.ref[pa.Table], bytes]] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda v: len(v[1]) + 100)
        self._lock = threading.Lock()

    def get(self, table: pa.Table) -> bytes:
        key = id(table)
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0]() is table:
            return hit[1]
        cols = [_py(c) for c in table.columns]
        body = dumps({
            "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
            "rows": [list(r) for r in zip(*cols, strict=True)] if cols else [],
        })[:-1]  # without the closing brace: the per-request fields follow
        if (len(body) + 100) * 8 <= self._items.maxsize:
            with self._lock:
                self._items[key] = (weakref.ref(table), body)
        return body

    def size(self) -> int:
        with self._lock:
            return int(self._items.currsize)


_memo = _BodyMemo()


def json_body(result: QueryResult) -> bytes:
    """`{"columns","rows","row_count","truncated","elapsed_ms"}` as bytes."""
    tail = b',"row_count":%d,"truncated":%s,"elapsed_ms":%s}' % (
        result.row_count, b"true" if result.truncated else b"false", dumps(result.elapsed_ms))
    return _memo.get(result.table) + tail


def _nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_nested(t) or pa.types.is_interval(t))


def _with_text_columns(table: pa.Table, which: Any) -> pa.Table:
    cols = [_as_json_text(c) if which(f.type) else c for f, c in zip(table.schema, table.columns, strict=True)]
    return pa.Table.from_arrays(cols, names=table.column_names)


def _binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))


def _csv(table: pa.Table, buf: io.BytesIO) -> None:
    """Nested values as JSON text, bytes as hex (as in JSON): CSV cells are text."""
    if any(_nested(f.type) or _binary(f.type) for f in table.schema):
        cols = [
            pa.array([None if v is None else v.hex() for v in c.to_pylist()], pa.string()) if _binary(f.type)
            else _as_json_text(c) if _nested(f.type) else c
            for f, c in zip(table.schema, table.columns, strict=True)
        ]
        table = pa.Table.from_arrays(cols, names=table.column_names)
    pacsv.write_csv(table, buf)


def _parquet(table: pa.Table, buf: io.BytesIO) -> None:
    def unsupported(t: pa.DataType) -> bool:
        return bool(pa.types.is_interval(t) or pa.types.is_union(t))

    if any(unsupported(f.type) for f in table.schema):
        table = _with_text_columns(table, unsupported)
    pq.write_table(table, buf)


def render(result: QueryResult, accept: str | None) -> Response:
    kind = choose(accept)
    headers = {"X-Truncated": str(result.truncated).lower(), "X-Row-Count": str(result.row_count)}
    table: pa.Table = result.table
    if kind == JSON:
        return Response(json_body(result), media_type=JSON, headers=headers)
    buf = io.BytesIO()
    try:
        if kind == CSV:
            _csv(table, buf)
        elif kind == ARROW:
            with ipc.new_stream(buf, table.schema) as w:
                w.write_table(table)
        else:
            _parquet(table, buf)
    except (pa.ArrowException, ValueError, OverflowError) as e:
        raise QueryError(f"the result cannot be written as {kind}: {str(e).splitlines()[0]}",
                         hint="ask for JSON, or cast the column") from None
    return Response(buf.getvalue(), media_type=kind, headers=headers)
