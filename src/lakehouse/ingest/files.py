"""Landing-zone ingestion: files -> bronze, exactly once per byte.

For every source, pending files are read in bounded chunks; chunks of small files are
grouped so a commit is not one tiny file. Each commit records, per file it touched, the
byte offset it reached (see `bronze.py` for how quarantine and bronze stay in step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config import SOURCES, Settings
from lakehouse.contract import TableId
from lakehouse.ingest.bronze import QUARANTINE, BronzeWriter, new_batch_id
from lakehouse.ingest.landing import LandingFile, Segment, list_files, read_segments
from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.reports import RunReport
from lakehouse.storage.delta import DeltaStore

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (source, bytes done, bytes total)


@dataclass
class SourceCounts:
    files: int = 0
    received: int = 0
    bronze: int = 0
    quarantined: int = 0
    skipped_files: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.received == self.bronze + self.quarantined


@dataclass
class _Pending:
    file: LandingFile
    bronze_at: int  # byte offset bronze has reached
    quarantine_at: int  # byte offset quarantine has reached


def new_connection(settings: Settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"memory_limit": settings.duckdb_memory_limit})
    con.execute("SET TimeZone='UTC'")
    if settings.duckdb_threads:
        con.execute(f"SET threads={int(settings.duckdb_threads)}")
    return con


class FileIngestor:
    def __init__(self, settings: Settings, store: DeltaStore) -> None:
        self.settings = settings
        self.store = store
        self.writer = BronzeWriter(store)

    def pending(self, source: str) -> list[_Pending]:
        files = list_files(self.settings.landing, source)
        bronze = self.store.txn_versions(TableId("bronze", source), [f.app_id for f in files])
        quarantine = self.store.txn_versions(QUARANTINE, [f.app_id for f in files])
        out = []
        for f in files:
            b = bronze.get(f.app_id) or 0
            q = quarantine.get(f.app_id) or 0
            if b > f.size:
                log.warning("%s shrank below what was ingested (%d > %d bytes): skipped", f.rel, b, f.size)
                continue
            if b < f.size:
                out.append(_Pending(f, b, q))
        return out

    def run(self, sources: list[str] | None = None, progress: Progress | None = None) -> RunReport:
        report = RunReport(job="ingest")
        report.details["mode"] = "files"
        report.details["landing"] = str(self.settings.landing)
        con = new_connection(self.settings)
        try:
            for source in sources or list(SOURCES):
                counts = self._ingest_source(source, con, report, progress)
                report.details.setdefault("sources", {})[source] = {
                    "files": counts.files,
                    "received": counts.received,
                    "bronze": counts.bronze,
                    "quarantined": counts.quarantined,
                    "balanced": counts.balanced,
                }
        except BaseException as exc:
            report.finish("failed", str(exc))
            raise
        finally:
            con.close()
        totals = report.details.get("sources", {}).values()
        report.details["received"] = sum(c["received"] for c in totals)
        report.details["bronze"] = sum(c["bronze"] for c in totals)
        report.details["quarantined"] = sum(c["quarantined"] for c in totals)
        report.details["balanced"] = all(c["balanced"] for c in totals)
        return report.finish()

    def _ingest_source(
        self, source: str, con: duckdb.DuckDBPyConnection, report: RunReport, progress: Progress | None
    ) -> SourceCounts:
        counts = SourceCounts()
        pending = self.pending(source)
        counts.files = len(pending)
        if not pending:
            return counts
        table = TableId("bronze", source)
        change = report.table(table.fqn)
        change.version_before = self.store.version(table)
        parser = RecordParser(SCHEMAS[source], con)
        total = sum(p.file.size - p.bronze_at for p in pending)
        done = 0
        for batch in self._batches(pending):
            n_recv, n_good, n_bad = self._commit(source, parser, batch)
            counts.received += n_recv
            counts.bronze += n_good
            counts.quarantined += n_bad
            done += sum(seg.end - seg.start for seg, _ in batch)
            if progress:
                progress(source, done, total)
        change.rows_in = counts.received
        change.rows_out = counts.bronze
        change.version_after = self.store.version(table)
        q = report.table(QUARANTINE.fqn)
        q.rows_out += counts.quarantined
        q.version_after = self.store.version(QUARANTINE)
        return counts

    def _batches(self, pending: list[_Pending]) -> Iterator[list[tuple[Segment, _Pending]]]:
        limit = self.settings.ingest_chunk_bytes
        batch: list[tuple[Segment, _Pending]] = []
        size = 0
        for p in pending:
            for seg in read_segments(p.file, p.bronze_at, limit):
                batch.append((seg, p))
                size += seg.end - seg.start
                if size >= limit:
                    yield batch
                    batch, size = [], 0
        if batch:
            yield batch

    def _commit(
        self, source: str, parser: RecordParser, batch: list[tuple[Segment, _Pending]]
    ) -> tuple[int, int, int]:
        lines = pa.concat_tables([seg.lines for seg, _ in batch])
        file_idx = np.concatenate(
            [np.full(seg.lines.num_rows, i, dtype=np.int32) for i, (seg, _) in enumerate(batch)]
        )
        n = lines.num_rows
        good, bad = parser.parse(
            pa.table({"position": pa.array(np.arange(n, dtype=np.int64)), "line": lines.column("line")})
        )
        offsets = lines.column("offset").to_numpy()
        line_no = lines.column("position").to_numpy()
        bronze_from = np.array([p.bronze_at for _, p in batch], dtype=np.int64)
        quarantine_from = np.array([max(p.bronze_at, p.quarantine_at) for _, p in batch], dtype=np.int64)
        rels = pa.array([seg.file.rel for seg, _ in batch], pa.string())

        def keep_and_label(t: pa.Table, floor: np.ndarray) -> tuple[pa.Table, pa.Array, pa.Array]:
            idx = t.column("position").to_numpy()
            keep = offsets[idx] >= floor[file_idx[idx]]
            t = t.filter(pa.array(keep))
            idx = idx[keep]
            # file path per row through a dictionary: no Python string per row
            paths = pa.DictionaryArray.from_arrays(pa.array(file_idx[idx]), rels).cast(pa.string())
            labels = pc.binary_join_element_wise(paths, pa.array(line_no[idx]).cast(pa.string()), ":")
            return t, labels, pa.array(line_no[idx])

        good, good_labels, _ = keep_and_label(good, bronze_from)
        bad, bad_labels, bad_lines = keep_and_label(bad, quarantine_from)
        bad = bad.set_column(bad.schema.get_field_index("position"), "position", bad_lines)
        ends: dict[str, int] = {}
        for seg, _ in batch:
            ends[seg.file.app_id] = seg.end
        received = good.num_rows + bad.num_rows
        result = self.writer.write(
            source,
            good,
            good_labels,
            bad,
            bad_labels,
            txns=ends,
            batch_id=new_batch_id(),
            metadata={"lakehouse.job": "ingest.files", "lakehouse.source": source},
        )
        for _, p in batch:  # later batches of the same file start where this one ended
            p.bronze_at = p.quarantine_at = ends[p.file.app_id]
        return received, result.bronze_rows, result.quarantined_rows
