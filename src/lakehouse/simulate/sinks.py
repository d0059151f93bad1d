"""Where simulated records go: NDJSON files in the landing zone (Kafka: see `kafka_sink`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa

from lakehouse.simulate.bad_records import Injected, drop_private, split_rows
from lakehouse.simulate.sources import JSON_COLUMNS


class Sink(Protocol):
    def write(self, source: str, tag: str, stream: Injected) -> list[str]:
        """Deliver one source's stream; return where it went (file paths, topic names)."""
        ...

    def close(self) -> None: ...


def json_select(source: str, columns: list[str]) -> str:
    """SELECT list that emits JSON-text columns as nested JSON, the way producers send them."""
    json_cols = JSON_COLUMNS.get(source, ())
    return ", ".join(f'"{c}"::JSON AS "{c}"' if c in json_cols else f'"{c}"' for c in columns)


class FileSink:
    """Writes `<landing>/<source>/<tag>-NNNNN.ndjson`, each landed atomically by rename."""

    def __init__(self, landing: Path, rows_per_file: int = 250_000) -> None:
        self.landing = landing
        self.rows_per_file = rows_per_file
        self.con = duckdb.connect()

    def write(self, source: str, tag: str, stream: Injected) -> list[str]:
        folder = self.landing / source
        folder.mkdir(parents=True, exist_ok=True)
        rows = drop_private(stream.rows)
        head = rows.slice(0, stream.tail_from)
        tail = rows.slice(stream.tail_from)
        parts = max(1, -(-head.num_rows // self.rows_per_file))
        ranges = split_rows(head.num_rows, parts)
        raw_by_part: list[list[str]] = [stream.raw_lines[i::parts] for i in range(parts)]
        written = []
        for i, (a, b) in enumerate(ranges):
            part = head.slice(a, b - a)
            if i == parts - 1:  # delayed records arrive with the last file
                part = pa.concat_tables([part, tail])
            path = folder / f"{tag}-{i:05d}.ndjson"
            self._write_file(source, part, raw_by_part[i], path)
            written.append(str(path))
        return written

    def _write_file(self, source: str, rows: pa.Table, raw: list[str], path: Path) -> None:
        tmp = path.parent / f".{path.name}.tmp"
        self.con.register("rows", rows)
        try:
            select = json_select(source, rows.column_names)
            self.con.execute(f"COPY (SELECT {select} FROM rows) TO '{tmp}' (FORMAT JSON)")
        finally:
            self.con.unregister("rows")
        if raw:
            with tmp.open("a", encoding="utf-8") as fh:
                fh.write("\n".join(raw) + "\n")
        os.replace(tmp, path)

    def close(self) -> None:
        self.con.close()

