"""Query results as JSON (default), CSV, Arrow IPC stream or Parquet, chosen by `Accept`."""

from __future__ import annotations

import io
import threading
import weakref
from collections import OrderedDict
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


class _BodyMemo:
    """JSON of `columns` and `rows` per result table object (the engine's result cache hands out
    the same table for a repeated query over unchanged versions). Entries die with their table."""

    SIZE = 256

    def __init__(self) -> None:
        self._items: OrderedDict[int, tuple[weakref.ref[pa.Table], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, table: pa.Table) -> bytes:
        key = id(table)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0]() is table:
                self._items.move_to_end(key)
                return hit[1]
        cols = [c.to_pylist() for c in table.columns]
        body = dumps({
            "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
            "rows": [list(r) for r in zip(*cols, strict=True)] if cols else [],
        })[:-1]  # without the closing brace: the per-request fields follow
        ref = weakref.ref(table, lambda r: self._drop(key, r))
        with self._lock:
            self._items[key] = (ref, body)
            while len(self._items) > self.SIZE:
                self._items.popitem(last=False)
        return body

    def _drop(self, key: int, ref: weakref.ref[pa.Table]) -> None:
        # runs when the table is freed, possibly on any thread and while `_lock` is held by
        # this thread (an eviction freeing the last reference): so no lock; dict ops are atomic
        hit = self._items.get(key)
        if hit is not None and hit[0] is ref:
            self._items.pop(key, None)


_memo = _BodyMemo()


def json_body(result: QueryResult) -> bytes:
    """`{"columns","rows","row_count","truncated","elapsed_ms"}` as bytes."""
    tail = b',"row_count":%d,"truncated":%s,"elapsed_ms":%s}' % (
        result.row_count, b"true" if result.truncated else b"false", dumps(result.elapsed_ms))
    return _memo.get(result.table) + tail


def render(result: QueryResult, accept: str | None) -> Response:
    kind = choose(accept)
    headers = {"X-Truncated": str(result.truncated).lower(), "X-Row-Count": str(result.row_count)}
    table: pa.Table = result.table
    if kind == JSON:
        return Response(json_body(result), media_type=JSON, headers=headers)
    buf = io.BytesIO()
    if kind == CSV:
        pacsv.write_csv(table, buf)
    elif kind == ARROW:
        with ipc.new_stream(buf, table.schema) as w:
            w.write_table(table)
    else:
        pq.write_table(table, buf)
    return Response(buf.getvalue(), media_type=kind, headers=headers)
