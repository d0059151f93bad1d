"""Landing-zone ingestion: files -> bronze, exactly once per byte.

For every source, pending files are read in bounded chunks; chunks of small files are
grouped so a commit is not one tiny file. Each commit records, per file it touched, the
byte offset it reached (see `bronze.py` for how quarantine and bronze stay in step).

Sources are isolated: a source that fails (a Delta write error, a bug, a Rust panic from a
writer — `pyo3_runtime.PanicException` is a BaseException) is recorded in the report with
its error and the run goes on with the next one; the run then ends as failed, naming it.
What the failed source committed before the failure stays, and its next run resumes from
its markers (the quarantine-first protocol makes a half-done commit safe to redo).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config import SOURCES, Settings
from lakehouse.contract import TableId
from lakehouse.ingest.bronze import QUARANTINE, BronzeWriter, new_batch_id
from lakehouse.ingest.landing import FileReader, LandingFile, Oversized, Segment
from lakehouse.ingest.listing import list_landing
from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.results import IngestResult, SkippedFile, SourceResult
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.locks import hold

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (source, bytes done, bytes total)

# Interrupts and exits are not a source's failure: they end the run (and the process).
_NOT_ISOLATED = (KeyboardInterrupt, SystemExit, GeneratorExit)


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


def describe(exc: BaseException) -> str:
    """One line for a report or a terminal: the type and the first line of the message."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


class FileIngestor:
    def __init__(self, settings: Settings, store: DeltaStore) -> None:
        self.settings = settings
        self.store = store
        self.writer = BronzeWriter(store)

    def pending(self, source: str, counts: SourceResult | None = None) -> list[_Pending]:
        counts = counts if counts is not None else SourceResult(source=source)
        listing = list_landing(self.settings.landing, source)
        counts.skipped_files.extend(listing.skipped)
        files = listing.files
        bronze = self.store.txn_versions(TableId("bronze", source), [f.app_id for f in files])
        quarantine = self.store.txn_versions(QUARANTINE, [f.app_id for f in files])
        out = []
        for f in files:
            b = bronze.get(f.app_id) or 0
            q = quarantine.get(f.app_id) or 0
            if b > f.size:
                why = f"shrank below what was ingested ({b} > {f.size} bytes)"
                log.warning("landing %s skipped: %s", f.rel, why)
                counts.skipped_files.append(SkippedFile(f.rel, why))
                continue
            if b < f.size:
                out.append(_Pending(f, b, q))
        return out

    def run(self, sources: list[str] | None = None, progress: Progress | None = None) -> IngestResult:
        report = IngestResult(mode="files", landing=str(self.settings.landing))
        con = new_connection(self.settings)
        try:
            for source in sources or list(SOURCES):
                counts = SourceResult(source=source)
                report.sources.append(counts)
                try:
                    # Reading the markers and committing what follows them is one step: under the
                    # table's commit lock, a second ingest of the same landing zone (or a
                    # maintenance job) waits.
                    with hold(self.settings, TableId("bronze", source)):
                        self._ingest_source(source, con, report, progress, counts)
                except _NOT_ISOLATED:
                    report.finish("failed", f"interrupted while ingesting {source}")
                    raise
                except BaseException as exc:  # a Rust panic (pyo3 PanicException) is a BaseException
                    counts.error = describe(exc)
                    # One line in the log (the CLI shows the run's error); the traceback with --debug.
                    log.debug("ingest of %s failed", source, exc_info=True)
        finally:
            con.close()
        failed = [s for s in report.sources if s.error is not None]
        if failed:
            names = ", ".join(s.source for s in failed)
            return report.finish("failed", f"ingest failed for {names} ({failed[0].error})")
        return report.finish()

    def _ingest_source(
        self,
        source: str,
        con: duckdb.DuckDBPyConnection,
        report: IngestResult,
        progress: Progress | None,
        counts: SourceResult,
    ) -> None:
        pending = self.pending(source, counts)
        counts.files = len(pending)
        if not pending:
            return
        table = TableId("bronze", source)
        change = report.table(table.fqn)
        change.version_before = self.store.version(table)
        parser = RecordParser(SCHEMAS[source], con)
        total = sum(p.file.size - p.bronze_at for p in pending)
        done = 0
        try:
            for batch in self._batches(pending, counts):
                n_recv, n_good, n_bad = self._commit(source, parser, batch)
                counts.received += n_recv
                counts.bronze += n_good
                counts.quarantined += n_bad
                done += sum(seg.end - seg.start for seg, _ in batch)
                if progress:
                    progress(source, done, total)
        finally:
            change.rows_in = counts.received
            change.rows_out = counts.bronze
            change.version_after = self.store.version(table)
            q = report.table(QUARANTINE.fqn)
            q.rows_out += counts.quarantined
            q.version_after = self.store.version(QUARANTINE)

    def _batches(self, pending: list[_Pending], counts: SourceResult) -> Iterator[list[tuple[Segment, _Pending]]]:
        chunk = self.settings.ingest_chunk_bytes
        batch: list[tuple[Segment, _Pending]] = []
        size = 0
        for p in pending:
            reader = FileReader(
                p.file, p.bronze_at, chunk, self.settings.ingest_max_record_bytes, self.settings.ingest_settle_s
            )
            try:
                for seg in reader:
                    batch.append((seg, p))
                    size += seg.end - seg.start
                    if size >= chunk:
                        yield batch
                        batch, size = [], 0
            except OSError as exc:  # unreadable, or replaced since listing: this file only
                why = f"cannot read it ({exc.strerror or exc})"
                log.warning("landing %s skipped: %s", p.file.rel, why)
                counts.skipped_files.append(SkippedFile(p.file.rel, why))
            if reader.waiting:
                counts.waiting_files.append(p.file.rel)
        if batch:
            yield batch

    def _commit(
        self, source: str, parser: RecordParser, batch: list[tuple[Segment, _Pending]]
    ) -> tuple[int, int, int]:
        lines = pa.concat_tables([seg.lines for seg, _ in batch])
        over: list[tuple[int, Oversized]] = [(i, o) for i, (seg, _) in enumerate(batch) for o in seg.oversized]
        n = lines.num_rows
        good, bad = parser.parse(
            pa.table({"position": pa.array(np.arange(n, dtype=np.int64)), "line": lines.column("line")}),
            skip_blank=True,  # a blank line in a file is not a record
        )
        # Row i of these arrays describes parser position i; over-long records follow the lines.
        file_idx = np.concatenate(
            [np.full(seg.lines.num_rows, i, dtype=np.int32) for i, (seg, _) in enumerate(batch)]
            + [np.array([i for i, _ in over], dtype=np.int32)]
        )
        offsets = np.concatenate([lines.column("offset").to_numpy(), np.array([o.offset for _, o in over], np.int64)])
        line_no = np.concatenate([lines.column("position").to_numpy(), np.array([o.position for _, o in over], np.int64)])
        if over:
            limit = min(self.settings.ingest_max_record_bytes, self.settings.ingest_chunk_bytes)
            extra = pa.table(
                {
                    "position": pa.array(np.arange(n, n + len(over), dtype=np.int64)),
                    "raw": pa.array([o.prefix for _, o in over], bad.schema.field("raw").type),
                    "reason": pa.array(
                        [
                            f"record longer than {limit} bytes ({o.length} bytes; raw is its first "
                            f"{len(o.prefix.encode())} bytes)"
                            for _, o in over
                        ],
                        bad.schema.field("reason").type,
                    ),
                }
            )
            bad = pa.concat_tables([bad, extra])
        bronze_from = np.array([p.bronze_at for _, p in batch], dtype=np.int64)
        quarantine_from = np.array([max(p.bronze_at, p.quarantine_at) for _, p in batch], dtype=np.int64)
        rels = pa.array([seg.file.rel for seg, _ in batch], pa.string())

        def keep_and_label(t: pa.Table, floor: np.ndarray) -> tuple[pa.Table, pa.Array, pa.Array]:
            idx = t.column("position").to_numpy()
            keep = offsets[idx] >= floor[file_idx[idx]]
            if not keep.all():  # rows an earlier run committed (a resumed file): rare
                t = t.filter(pa.array(keep))
                idx = idx[keep]
            return t, _labels(file_idx[idx], line_no[idx], rels), pa.array(line_no[idx])

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


def _labels(file_idx: np.ndarray, line_no: np.ndarray, rels: pa.Array) -> pa.Array | pa.ChunkedArray:
    """`<file>:<line>` per row, without a Python string per row."""
    numbers = pa.array(line_no).cast(pa.string())
    if len(file_idx) and np.all(file_idx[1:] >= file_idx[:-1]):  # rows in file order: one prefix per file
        bounds = np.searchsorted(file_idx, np.arange(len(rels) + 1))
        parts = [
            pc.binary_join_element_wise(pa.scalar(f"{rels[i].as_py()}:"), numbers.slice(a, b - a), "")
            for i, (a, b) in enumerate(itertools.pairwise(bounds))
            if b > a
        ]
        return pa.chunked_array(parts, pa.string())
    paths = pa.DictionaryArray.from_arrays(pa.array(file_idx), rels).cast(pa.string())
    return pc.binary_join_element_wise(paths, numbers, ":")
