"""Strict JSON (RFC 8259) for the parser: a vectorised pre-scan of every line, and an exact
check of the few lines that need one.

DuckDB's JSON reader (yyjson) is strict except for two extensions it always allows: a
trailing comma (`{"a":1,}`) and `NaN`/`Infinity` literals (any case, `-inf` too); it also
keeps duplicate keys, and which one a reader then sees is undefined. The parser runs the
fast reader on everything and sends a line to `problem()` — Python's `json`, strict with a
hook for duplicate keys and constants — only when the reader cannot rule those out:

- `scan()` (here, numpy over the raw bytes) flags a closing `}`/`]` after a comma or
  whitespace: without one, no trailing comma can be there;
- the parser's SQL flags what only parsing shows: a typed field that is not a valid value
  of its type (where a `NaN` literal would land), unknown or repeated top-level keys, and
  in the JSON fields' text a `nan`/`inf` token, repeated keys one level down, an object
  further down (its keys are not looked at), or more openers than `MAX_DEPTH` allows.

The same pre-scan skips blank lines (JSON whitespace only: they are not records) and strips
a UTF-8 byte order mark at the start of a line — of a file, or of a later line where files
were concatenated (`cat a.ndjson b.ndjson`); a BOM anywhere else is not JSON whitespace.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from lakehouse.ingest.schemas import MAX_DEPTH

_BOM = (0xEF, 0xBB, 0xBF)
_WS = np.zeros(256, dtype=bool)
_WS[[0x20, 0x09, 0x0A, 0x0D]] = True  # JSON whitespace (RFC 8259 `ws`)
_WS_BYTES = b" \t\r\n"


@dataclass
class Scan:
    """Per input line: `keep` (not blank); for the kept lines, in order: the text without a
    leading BOM, `suspect` (needs the exact check), `obj` (its first character after
    whitespace is `{`)."""

    keep: np.ndarray
    lines: pa.Array | pa.ChunkedArray
    suspect: np.ndarray
    obj: np.ndarray


def scan(lines: pa.Array | pa.ChunkedArray) -> Scan:
    chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
    parts = [_scan_chunk(c if c.type == pa.large_string() else c.cast(pa.large_string())) for c in chunks]
    if not parts:
        parts = [_scan_chunk(pa.array([], pa.large_string()))]
    if len(parts) == 1:
        return parts[0]
    return Scan(
        keep=np.concatenate([p.keep for p in parts]),
        lines=pa.chunked_array([p.lines for p in parts], pa.large_string()),  # never copied
        suspect=np.concatenate([p.suspect for p in parts]),
        obj=np.concatenate([p.obj for p in parts]),
    )


def _scan_chunk(arr: pa.Array) -> Scan:
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and n else np.zeros(0, np.uint8)
    ends = offsets[1:]
    starts = offsets[:-1].copy()
    # A byte order mark at the start of a line is framing, not content.
    idx = np.flatnonzero(ends - starts >= 3)
    if len(idx):
        s = starts[idx]
        bom = (data[s] == _BOM[0]) & (data[s + 1] == _BOM[1]) & (data[s + 2] == _BOM[2])
        starts[idx[bom]] += 3
    lengths = ends - starts
    first = np.zeros(n, dtype=np.uint8)
    nonempty = np.flatnonzero(lengths > 0)
    first[nonempty] = data[starts[nonempty]]
    keep = lengths > 0
    obj = first == 0x7B
    if arr.null_count:
        keep &= np.asarray(arr.is_valid())
    # Only a line that starts with whitespace can be blank, or start an object later.
    for i in np.flatnonzero(keep & _WS[first]):
        rest = data[starts[i] : ends[i]].tobytes().lstrip(_WS_BYTES)
        keep[i] = bool(rest)
        obj[i] = rest[:1] == b"{"
    suspect = np.zeros(n, dtype=bool)
    if n and len(data):
        odd = _odd_closers(data, int(offsets[0]), int(offsets[-1]))
        if len(odd):
            suspect[np.searchsorted(offsets, odd, side="right") - 1] = True
    rows = np.flatnonzero(keep)
    return Scan(keep, _take_lines(arr, starts, ends, rows), suspect[rows], obj[rows])


_PIECE = 4 << 20  # bytes per numpy pass: temporaries stay in cache, pieces run on threads
_pool: ThreadPoolExecutor | None = None


def _odd_closers(data: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Offsets of `}`/`]` right after a comma or whitespace in data[lo:hi]."""

    def piece(a: int) -> np.ndarray:
        b = min(a + _PIECE, hi)
        # '}' and ']' both become 0x7D with the 0x20 bit set, and no other byte does.
        closers = np.flatnonzero((data[a:b] | 0x20) == 0x7D) + a
        prev = data[np.maximum(closers - 1, 0)]
        odd: np.ndarray = closers[(prev == 0x2C) | _WS[prev]]
        return odd

    starts = range(lo, hi, _PIECE)
    if len(starts) == 1:
        return piece(lo)
    global _pool
    if _pool is None:  # numpy releases the GIL in these loops: pieces run in parallel
        _pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="lakehouse-scan")
    return np.concatenate(list(_pool.map(piece, starts)))


def _take_lines(arr: pa.Array, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray) -> pa.Array:
    """The kept lines, from their (BOM-adjusted) starts. Without a BOM or a blank line in the
    chunk this is the input itself; otherwise the kept bytes are gathered once (vectorised)."""
    original = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr)]
    if len(rows) == len(arr) and np.array_equal(starts, original):
        return arr
    s, e = starts[rows], ends[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(e - s, out=new_offsets[1:])
    if len(rows) == 0:
        body = np.zeros(0, np.uint8)
    else:
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
        lo, hi = int(s[0]), int(e[-1])
        mark = np.zeros(hi - lo + 1, dtype=np.int8)
        mark[s - lo] += 1  # starts are distinct, and so are ends: no lost updates
        mark[e - lo] -= 1
        body = data[lo:hi][np.cumsum(mark[:-1], dtype=np.int8) > 0]
    return pa.Array.from_buffers(
        pa.large_string(), len(rows), [None, pa.py_buffer(new_offsets), pa.py_buffer(body)]
    )


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _Duplicate(k)
            seen.add(k)
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def show_key(key: str) -> str:
    """A key as quoted in a reason: JSON-escaped, and shortened when long."""
    text = json.dumps(key)
    return text if len(text) <= 66 else text[:62] + '..."'


def problem(text: str) -> str | None:
    """Why `text` is not one strict JSON value (RFC 8259, unique keys, at most `MAX_DEPTH`
    levels), or None when it is."""
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except _Duplicate as exc:
        try:  # a syntax error later in the text comes first: the line is not JSON at all
            json.loads(text, parse_constant=_constant)
        except RecursionError:
            return f"nested deeper than {MAX_DEPTH} levels"
        except ValueError:
            return "malformed JSON"
        return f"duplicate key {show_key(exc.key)}"
    except RecursionError:
        return f"nested deeper than {MAX_DEPTH} levels"
    except ValueError:
        return "malformed JSON"
    # The depth is at most the number of openers: count them (in C) before walking.
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    return None


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest
