"""Messages in hand, as columns: partition, offset and value of every message not yet committed.

The consumer turns each `consume()` result into a few arrays at once (no per-message Python
objects are kept), so a batch costs Arrow buffers, not Python lists of bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.ingest.landing import INVALID_UTF8


@dataclass
class Chunk:
    """Messages of one topic; per partition, offsets ascend (gaps allowed)."""

    partition: np.ndarray  # int32
    offset: np.ndarray  # int64
    value: pa.Array | pa.ChunkedArray  # large_binary; null for a tombstone

    def __len__(self) -> int:
        return len(self.offset)

    def select(self, mask: np.ndarray) -> Chunk:
        return Chunk(self.partition[mask], self.offset[mask], self.value.filter(pa.array(mask)))

    def ends(self) -> dict[int, int]:
        """partition -> the next offset to read after this chunk."""
        out: dict[int, int] = {}
        for p in np.unique(self.partition):
            out[int(p)] = int(self.offset[self.partition == p].max()) + 1
        return out

    @staticmethod
    def concat(chunks: list[Chunk]) -> Chunk:
        if len(chunks) == 1:
            return chunks[0]
        # Chunked, not concatenated: the values are never copied before the parser reads them.
        arrays = [
            a
            for c in chunks
            for a in (c.value.chunks if isinstance(c.value, pa.ChunkedArray) else [c.value])
        ]
        return Chunk(
            np.concatenate([c.partition for c in chunks]),
            np.concatenate([c.offset for c in chunks]),
            pa.chunked_array(arrays, pa.large_binary()),
        )


@dataclass
class SourceBatch:
    """One source's uncommitted messages."""

    source: str
    topic: str
    chunks: list[Chunk] = field(default_factory=list)
    size: int = 0
    started: float = 0.0  # monotonic time of the first message

    def add(self, chunk: Chunk) -> None:
        if not self.chunks:
            self.started = time.monotonic()
        self.chunks.append(chunk)
        self.size += len(chunk)

    def drop(self, partitions: set[int]) -> None:
        if not partitions or not self.chunks:
            return
        drop = np.array(sorted(partitions), dtype=np.int32)
        kept = [c.select(~np.isin(c.partition, drop)) for c in self.chunks]
        self.chunks = [c for c in kept if len(c)]
        self.size = sum(len(c) for c in self.chunks)

    def take(self) -> Chunk | None:
        if not self.chunks:
            return None
        chunk = Chunk.concat(self.chunks)
        self.chunks, self.size = [], 0
        return chunk


@dataclass
class Lines:
    """Parser input for a chunk: `table` is (position = row index, line); `empty` marks blank/null rows."""

    table: pa.Table
    empty: np.ndarray


BOM = "\ufeff"


def to_lines(chunk: Chunk) -> Lines:
    line = decode(chunk.value)
    # The first character of every value, once: it finds byte-order marks and blank candidates
    # without a pass over whole values (nearly every message starts with "{").
    text, first = line, pc.utf8_slice_codeunits(line, 0, 1)
    bom = pc.equal(first, BOM)
    if pc.any(bom).as_py():
        # Some producers send a text file's byte-order mark: one at the very start is not data.
        # The parser drops it itself (strict.py, as for a landing file's lines), so the value
        # goes to it as sent; only the blank test looks past it here.
        text = pc.if_else(bom, pc.utf8_slice_codeunits(line, 1), line)
        first = pc.utf8_slice_codeunits(text, 0, 1)
    return Lines(
        table=pa.table({"position": pa.array(np.arange(len(chunk), dtype=np.int64)), "line": line}),
        empty=_blank(text, first),
    )


def _blank(line: pa.Array | pa.ChunkedArray, first: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Null, empty or whitespace-only values, of any length (a Kafka message is one record).

    Only values that start with whitespace are looked at in full.
    """
    n = len(line)
    starts_blank = pc.or_kleene(pc.utf8_is_space(first), pc.equal(pc.binary_length(first), 0))
    candidates = np.flatnonzero(pc.fill_null(starts_blank, True).to_numpy(zero_copy_only=False))
    out = np.zeros(n, dtype=bool)
    if len(candidates):
        vals = line.take(pa.array(candidates))
        blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(vals), ""), True)
        out[candidates] = blank.to_numpy(zero_copy_only=False).astype(bool)
    return out


def decode(raw: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Binary values as UTF-8 text; values that are not UTF-8 are marked for quarantine."""
    try:
        return raw.cast(pa.large_string())  # validates UTF-8 without copying the data
    except pa.ArrowInvalid:
        pass
    # Rare path (as in landing.py): decode with replacement characters and mark the value,
    # so the parser quarantines it with the reason 'invalid UTF-8'.
    out: list[str | None] = []
    for b in raw.to_pylist():
        if b is None:
            out.append(None)
            continue
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(INVALID_UTF8 + b.decode("utf-8", errors="replace"))
    return pa.array(out, pa.large_string())
