"""The landing zone: NDJSON files under `<landing>/<source>/`, read in bounded chunks.

A file is identified by its path relative to the landing root. Progress through it is a
byte offset that the bronze writer records in the Delta log (one application transaction
id per file), so a rerun resumes exactly where the last commit ended — mid-file included.

Writers should land files atomically (write `name.tmp` or `.name`, then rename): names
starting with `.` or `_` and names ending in `.tmp`/`.partial` are never read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from lakehouse.exceptions import InputError

log = logging.getLogger(__name__)

SUFFIXES = (".ndjson", ".json", ".jsonl")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    rel: str  # path relative to the landing root: the file's identity
    size: int

    @property
    def app_id(self) -> str:
        return f"landing:{self.rel}"


@dataclass
class Segment:
    """Consecutive lines of one file: [start, end) in bytes, first line number `first_line`."""

    file: LandingFile
    start: int
    end: int
    lines: pa.Table  # position (line number, 1-based), offset (byte), line (large_string)


def list_files(landing_root: Path, source: str) -> list[LandingFile]:
    folder = landing_root / source
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise InputError(f"landing path {folder} is not a directory", hint="point LAKEHOUSE_LANDING_PATH at a folder")
    out = []
    for p in sorted(folder.rglob("*")):
        name = p.name
        if not p.is_file() or name.startswith((".", "_")) or not name.endswith(SUFFIXES):
            continue
        out.append(LandingFile(p, p.relative_to(landing_root).as_posix(), p.stat().st_size))
    return out


def count_lines_before(path: Path, offset: int, chunk: int = 16 << 20) -> int:
    n = 0
    with path.open("rb") as fh:
        left = offset
        while left > 0:
            buf = fh.read(min(chunk, left))
            if not buf:
                break
            n += buf.count(b"\n")
            left -= len(buf)
    return n


def read_segments(file: LandingFile, start: int, chunk_bytes: int) -> Iterator[Segment]:
    """Yield the file from byte `start` in chunks of about `chunk_bytes`, cut at line ends."""
    line_no = count_lines_before(file.path, start) if start else 0
    with file.path.open("rb") as fh:
        fh.seek(start)
        pos = start
        carry = b""
        while True:
            buf = fh.read(chunk_bytes)
            eof = not buf
            data = carry + buf
            if not data:
                return
            if eof:
                cut = len(data)  # last line without a trailing newline still counts
            else:
                last_nl = data.rfind(b"\n")
                if last_nl < 0:  # one line longer than a chunk: keep reading
                    carry = data
                    continue
                cut = last_nl + 1
            body, carry = data[:cut], data[cut:]
            lines = _split_lines(body, pos, line_no)
            line_no += lines.num_rows
            yield Segment(file, pos, pos + cut, lines)
            pos += cut
            if eof:
                return


def _split_lines(body: bytes, base_offset: int, base_line: int) -> pa.Table:
    """Split a block into lines without copying it or making a Python object per line.

    Each value keeps its line terminator ('\n' or '\r\n'): JSON allows trailing whitespace,
    and the parser trims it; this lets the Arrow array point straight into `body`.
    """
    buf = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1)).astype(np.int64)
    if starts[-1] == len(body):  # block ends with a newline: no trailing partial line
        starts = starts[:-1]
    n = len(starts)
    offsets = np.append(starts, np.int64(len(body)))
    arr = pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(body)]
    )
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        arr = _repair_utf8(body, offsets)
    return pa.table(
        {
            "position": pa.array(np.arange(base_line + 1, base_line + n + 1, dtype=np.int64)),
            "offset": pa.array(starts + base_offset),
            "line": arr,
        }
    )


INVALID_UTF8 = "\x00invalid-utf8\x00"


def _repair_utf8(raw: bytes, offsets: np.ndarray) -> pa.Array:
    # Rare path: a line with bytes that are not UTF-8. Decode it with replacement characters
    # and mark it, so the parser quarantines it with the honest reason.
    out = []
    for i in range(len(offsets) - 1):
        b = raw[offsets[i] : offsets[i + 1]]
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(INVALID_UTF8 + b.decode("utf-8", errors="replace"))
    return pa.array(out, pa.large_string())
