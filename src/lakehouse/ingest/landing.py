"""Reading landing files (listed by `listing.py`) in bounded chunks cut at line ends.

A file is identified by its path relative to the landing root. Progress through it is a
byte offset that the bronze writer records in the Delta log (one application transaction
id per file), so a rerun resumes exactly where the last commit ended — mid-file included.

Rules (docs/ingestion.md):

- Only complete, newline-terminated lines are consumed. A last line without a newline is
  taken only once the file has settled: its mtime is older than `settle_s` and a stat after
  reading still shows the size, mtime and inode seen at listing. Until then the recorded
  offset stays before it. Only the bytes present at listing are read.
- A file is opened without following a last link and without blocking, and must still be
  the regular file listed (same device and inode).
- A record longer than `max_record_bytes` is streamed past, never held: it is reported as
  `Oversized` (line, offset, length and a prefix) for quarantine.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

PREFIX_BYTES = 4096  # how much of an over-long record is kept for quarantine (at most the limit)


@dataclass(frozen=True)
class LandingFile:
    path: Path  # what is opened: the file itself, or a link's resolved target
    rel: str  # path relative to the landing root: the file's identity
    size: int
    mtime_ns: int = 0
    dev: int = 0
    ino: int = 0

    @property
    def app_id(self) -> str:
        return f"landing:{self.rel}"


@dataclass(frozen=True)
class Oversized:
    """A record longer than the limit: never in memory, quarantined by its prefix."""

    position: int  # line number, 1-based
    offset: int  # byte offset of its first byte
    length: int  # bytes, without the line terminator
    prefix: str


@dataclass
class Segment:
    """Consecutive lines of one file, bytes [start, end)."""

    file: LandingFile
    start: int
    end: int
    lines: pa.Table  # position (line number, 1-based), offset (byte), line (large_string)
    oversized: list[Oversized] = field(default_factory=list)


def count_lines_before(fh: BinaryIO, offset: int, chunk: int = 16 << 20) -> int:
    n = 0
    read = fh.read
    left = offset
    while left > 0:
        buf = read(min(chunk, left))
        if not buf:
            break
        n += buf.count(b"\n")
        left -= len(buf)
    return n


class FileChanged(OSError):
    """The file at the path is not the one listed (replaced, or no longer a regular file)."""


def open_listed(file: LandingFile) -> int:
    """Open `file` for reading without following a last link and without blocking (a FIFO
    swapped in after listing must not hang the run), and check it is still the file listed."""
    fd = os.open(file.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (file.ino and (st.st_dev, st.st_ino) != (file.dev, file.ino)):
            raise FileChanged(f"{file.rel} changed since it was listed")
    except BaseException:
        os.close(fd)
        raise
    return fd


class FileReader:
    """Reads one landing file from byte `start` up to the size seen at listing, in segments of
    about `chunk_bytes` cut at line ends. After iterating, `waiting` says whether an
    unterminated last line was left for a later run (the file had not settled)."""

    def __init__(self, file: LandingFile, start: int, chunk_bytes: int, max_record_bytes: int, settle_s: float) -> None:
        self.file = file
        self.start = start
        self.chunk = chunk_bytes
        self.limit = min(max_record_bytes, chunk_bytes)
        self.prefix = min(PREFIX_BYTES, self.limit)  # what an over-long record keeps for quarantine
        self.settle_s = settle_s
        self.waiting = False

    def settled(self) -> bool:
        f = self.file
        if time.time_ns() - f.mtime_ns < self.settle_s * 1e9:
            return False
        try:
            st = os.stat(f.path)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino) == (f.size, f.mtime_ns, f.dev, f.ino)

    def __iter__(self) -> Iterator[Segment]:
        fd = open_listed(self.file)
        with os.fdopen(fd, "rb") as fh:
            line_no = 0
            if self.start:
                line_no = count_lines_before(fh, self.start)
                fh.seek(self.start)
            yield from self._segments(fh, line_no)

    def _segments(self, fh: BinaryIO, line_no: int) -> Iterator[Segment]:
        readinto = fh.readinto  # type: ignore[attr-defined]
        f, limit = self.file, self.limit
        pos = read_to = self.start  # first byte not yet yielded / not yet read
        carry = b""  # an incomplete line starting at `pos` (at most `limit` bytes, and a '\r')
        long: int | None = None  # an over-long line starting at `pos`: its length so far
        prefix = last = b""  # its first bytes, and the last byte of it read so far
        while (want := min(self.chunk, f.size - read_to)) > 0:
            # The block is read behind the carried partial line: the chunk is never copied.
            block = bytearray(len(carry) + want)
            block[: len(carry)] = carry
            got = readinto(memoryview(block)[len(carry) :])
            if not got:
                break  # the file shrank since listing
            read_to += got
            begin, end = 0, len(carry) + got
            carry = b""
            if long is not None:
                nl = block.find(b"\n", 0, end)
                if len(prefix) < self.prefix:
                    prefix += bytes(block[: min(self.prefix - len(prefix), end if nl < 0 else nl)])
                if nl < 0:
                    long += got
                    last = bytes(block[end - 1 : end])
                    continue
                cr = (bytes(block[nl - 1 : nl]) if nl else last) == b"\r"
                seg = self._oversized_segment(pos, line_no, long + nl + 1, prefix, 1 + cr)
                yield seg
                line_no, pos, long, begin = line_no + 1, seg.end, None, nl + 1
            last_nl = block.rfind(b"\n", begin, end)
            if last_nl >= 0:
                seg = _segment(f, memoryview(block)[begin : last_nl + 1], pos, line_no, limit)
                line_no += seg.lines.num_rows + len(seg.oversized)
                pos = seg.end
                yield seg
                begin = last_nl + 1
            carry = bytes(block[begin:end])
            # The line at `pos` is too long: stream past it from here. A last '\r' may be half of
            # its '\r\n' (the '\n' in the next read): it does not count towards the limit yet.
            if len(carry) > limit + (carry[-1:] == b"\r"):
                long, prefix, last, carry = len(carry), carry[: self.prefix], carry[-1:], b""
        # All bytes seen at listing are read; what is left is a last line without a newline.
        if long is None and not carry:
            return
        if read_to < f.size or not self.settled():
            self.waiting = True
            return
        if long is not None:
            yield self._oversized_segment(pos, line_no, long, prefix, 0)
        else:
            yield _segment(f, memoryview(carry), pos, line_no, limit)

    def _oversized_segment(self, pos: int, line_no: int, nbytes: int, prefix: bytes, terminator: int) -> Segment:
        """The over-long line at `pos`: `nbytes` consumed, of which `terminator` are its `\r\n`."""
        over = Oversized(line_no + 1, pos, nbytes - terminator, prefix.decode("utf-8", errors="replace"))
        return Segment(self.file, pos, pos + nbytes, _empty_lines(), [over])


def _empty_lines() -> pa.Table:
    return pa.table(
        {
            "position": pa.array([], pa.int64()),
            "offset": pa.array([], pa.int64()),
            "line": pa.array([], pa.large_string()),
        }
    )


def _segment(file: LandingFile, body: memoryview, base_offset: int, base_line: int, limit: int) -> Segment:
    prefix = min(PREFIX_BYTES, limit)
    lines = _split_lines(body, base_offset, base_line)
    seg = Segment(file, base_offset, base_offset + len(body), lines)
    if lines.num_rows == 0:
        return seg
    # A complete line can still be longer than the limit when the chunk is larger.
    offsets = lines.column("offset").to_numpy() - base_offset
    ends = np.append(offsets[1:], len(body))
    buf = np.frombuffer(body, dtype=np.uint8)
    content = ends - offsets
    nl = content > 0
    nl[nl] = buf[ends[nl] - 1] == 10
    content = content - nl
    cr = content > 0
    cr[cr] &= nl[cr]
    cr[cr] = buf[offsets[cr] + content[cr] - 1] == 13
    content = content - cr
    long = np.flatnonzero(content > limit)
    if len(long):
        keep = np.ones(lines.num_rows, dtype=bool)
        keep[long] = False
        seg.oversized = [
            Oversized(
                int(base_line + i + 1),
                int(base_offset + offsets[i]),
                int(content[i]),
                bytes(body[offsets[i] : offsets[i] + min(prefix, int(content[i]))]).decode("utf-8", errors="replace"),
            )
            for i in long
        ]
        seg.lines = lines.filter(pa.array(keep))
    return seg


def _split_lines(body: memoryview, base_offset: int, base_line: int) -> pa.Table:
    """Split a block into lines without copying it or making a Python object per line.

    Each value keeps its line terminator ('\n' or '\r\n'): JSON allows trailing whitespace,
    and the parser ignores it; this lets the Arrow array point straight into `body`.
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


def _repair_utf8(raw: memoryview, offsets: np.ndarray) -> pa.Array:
    # Rare path: a line with bytes that are not UTF-8. Decode it with replacement characters
    # and mark it, so the parser quarantines it with the honest reason.
    out = []
    for i in range(len(offsets) - 1):
        b = bytes(raw[offsets[i] : offsets[i + 1]])
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(INVALID_UTF8 + b.decode("utf-8", errors="replace"))
    return pa.array(out, pa.large_string())
