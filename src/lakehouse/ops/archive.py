"""The archive: expired rows as Parquet (zstd), one folder per table and date, with manifests.

Layout: `<archive>/<layer>/<table>/<date>/part-v<version>.parquet` and, written last,
`part-v<version>.json` (source table, version, predicate, rows, bytes, sha256). A part whose
manifest is missing was cut short; a part whose version is later than the table's
`retention:archived` marker was written by a run that died before its DELETE committed (its
rows are still in the table). Both are orphans, removed by the next retention run before it
archives anything; a committed part whose file no longer matches its manifest is `damaged`.

Restoring puts back the distinct archived rows the table does not already hold (set
difference over all columns), so restoring twice, or parts that overlap, never duplicates.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, TableId
from lakehouse.exceptions import InputError, StorageError
from lakehouse.ops.results import ArchivedPart
from lakehouse.pipeline.engines import DuckDBEngine
from lakehouse.pipeline.sql import literal, quote
from lakehouse.storage.base import ARCHIVED, TableStore

BATCH_ROWS = 128_000


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_durably(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class Archive:
    def __init__(self, settings: Settings, store: TableStore) -> None:
        self.settings = settings
        self.store = store
        self.root = settings.archive_path

    def folder(self, t: TableId) -> Path:
        return self.root / t.layer / t.name

    def committed_version(self, t: TableId) -> int | None:
        return self.store.txn_versions(t, [ARCHIVED]).get(ARCHIVED) if self.store.exists(t) else None

    # -- reading the archive ----------------------------------------------------------------
    def parts(self, t: TableId, *, verify: bool = False) -> list[ArchivedPart]:
        """Every part of `t`, oldest date first, with its status."""
        folder = self.folder(t)
        if not folder.is_dir():
            return []
        committed = self.committed_version(t)
        out = []
        for day in sorted(p for p in folder.iterdir() if p.is_dir()):
            for data in sorted(day.glob("part-v*.parquet")):
                manifest = data.with_suffix(".json")
                part = self._read_manifest(t, day.name, data, manifest)
                if part.status == "committed" and (committed is None or part.version > committed):
                    part.status = "orphan"
                if verify and part.status == "committed" and not self._matches(part):
                    part.status = "damaged"
                out.append(part)
        return out

    def _read_manifest(self, t: TableId, day: str, data: Path, manifest: Path) -> ArchivedPart:
        version = int(data.stem.removeprefix("part-v"))
        try:
            m = json.loads(manifest.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            size = data.stat().st_size if data.exists() else 0
            return ArchivedPart(table=t.fqn, day=day, version=version, rows=0, bytes=size, sha256="",
                                file=str(data), status="orphan")
        return ArchivedPart(
            table=t.fqn, day=day, version=int(m["version"]), rows=int(m["rows"]), bytes=int(m["bytes"]),
            sha256=str(m["sha256"]), file=str(data), predicate=str(m.get("predicate", "")),
            created_at=str(m.get("created_at", "")),
        )

    def _matches(self, part: ArchivedPart) -> bool:
        path = Path(part.file)
        try:
            return (
                path.stat().st_size == part.bytes
                and pq.ParquetFile(path).metadata.num_rows == part.rows
                and _sha256(path) == part.sha256
            )
        except (OSError, pa.ArrowInvalid):
            return False

    # -- writing ----------------------------------------------------------------------------
    def write(
        self, t: TableId, column: str, day: date, version: int, dataset: ds.Dataset | None = None,
    ) -> ArchivedPart:
        """Archive the rows of `t` dated `day` as of `version` (`dataset`: that version, opened
        once for many days): Parquet first, manifest last."""
        folder = self.folder(t) / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / f"part-v{version}.parquet"
        tmp = folder / f".part-v{version}.parquet.tmp"
        schema = self.store.schema(t)
        dataset = dataset if dataset is not None else self.store.dataset(t, version=version)
        scanner = dataset.scanner(
            columns=schema.names, filter=ds.field(column) == pa.scalar(day, pa.date32()), batch_size=BATCH_ROWS
        )
        rows = 0
        with pq.ParquetWriter(tmp, scanner.projected_schema, compression="zstd") as writer:
            for batch in scanner.to_batches():  # streamed: memory is one batch, not one day
                if batch.num_rows:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        tmp.replace(data)
        predicate = f"{quote(column)} = {literal(day)}"
        part = ArchivedPart(
            table=t.fqn, day=day.isoformat(), version=version, rows=rows, bytes=data.stat().st_size,
            sha256=_sha256(data), file=str(data), predicate=predicate, created_at=datetime.now(UTC).isoformat(),
        )
        if not self._matches(part):
            raise StorageError(f"archive of {t.fqn} {day} does not read back as written", hint=str(data))
        manifest = {
            "table": t.fqn, "version": version, "column": column, "day": part.day, "predicate": predicate,
            "rows": rows, "bytes": part.bytes, "sha256": part.sha256, "format": "parquet+zstd",
            "created_at": part.created_at,
        }
        _write_durably(data.with_suffix(".json"), json.dumps(manifest, indent=2))
        return part

    def remove(self, parts: Iterable[ArchivedPart]) -> None:
        for part in parts:
            data = Path(part.file)
            data.with_suffix(".json").unlink(missing_ok=True)  # manifest first: never a manifest without data
            data.unlink(missing_ok=True)
            day = data.parent
            if day.is_dir() and not any(day.iterdir()):
                shutil.rmtree(day, ignore_errors=True)

    def clean_orphans(self, t: TableId) -> list[ArchivedPart]:
        """Remove parts whose rows were never deleted from the table (their run died first)."""
        for leftover in self.folder(t).glob("*/.part-v*.tmp") if self.folder(t).is_dir() else []:
            leftover.unlink(missing_ok=True)
        orphans = [p for p in self.parts(t) if p.status == "orphan"]
        self.remove(orphans)
        return orphans

    def expire(self, t: TableId, before: date) -> list[ArchivedPart]:
        """Remove the committed parts dated before `before` (the archive's own retention)."""
        old = [p for p in self.parts(t) if p.status != "orphan" and p.day < before.isoformat()]
        self.remove(old)
        return old

    # -- restoring --------------------------------------------------------------------------
    def restore(self, t: TableId, first: date, last: date) -> tuple[list[ArchivedPart], int, int, int | None]:
        """Put back the archived rows of `t` dated `first`..`last` that the table lacks.

        Returns (parts, distinct archived rows, rows restored, new version). The caller holds
        the table's commit lock, so the set difference and the append see the same table.
        """
        if first > last:
            raise InputError(f"--from {first} is after --to {last}")
        spec = REGISTRY.get(t)
        column = spec.retention_column
        if column is None:
            raise InputError(f"{t.fqn} has no event date column: it is never archived")
        parts = [p for p in self.parts(t, verify=True) if first.isoformat() <= p.day <= last.isoformat()]
        damaged = [p for p in parts if p.status == "damaged"]
        if damaged:
            raise StorageError(
                f"{len(damaged)} archive part(s) of {t.fqn} no longer match their manifest",
                hint=", ".join(p.file for p in damaged[:3]),
            )
        parts = [p for p in parts if p.status == "committed"]
        if not parts:
            return [], 0, 0, self.store.version(t)
        days = sorted({p.day for p in parts})
        engine = DuckDBEngine(self.settings, self.store)
        try:
            files = ", ".join(literal(p.file) for p in parts)
            archived_cols = engine.schema(f"SELECT * FROM read_parquet([{files}], union_by_name=true)").names
            table_cols = self.store.schema(t).names if self.store.exists(t) else archived_cols
            cols = ", ".join(quote(c) for c in archived_cols if c in table_cols)
            engine.bind_query("__archived", f"SELECT DISTINCT {cols} FROM read_parquet([{files}], union_by_name=true)")
            distinct = engine.materialize("__archived_rows", "SELECT * FROM __archived")
            if self.store.exists(t):
                engine.bind_table(t, name="__current", where=f"{quote(column)} IN ({', '.join(literal(date.fromisoformat(d)) for d in days)})")
                missing = f"SELECT {cols} FROM __archived_rows EXCEPT SELECT {cols} FROM __current"
            else:
                missing = "SELECT * FROM __archived_rows"
            restored = engine.materialize("__restore", missing)
            version = self.store.version(t)
            if restored:
                version = engine.write(
                    t, "SELECT * FROM __restore", mode="append", partition_by=spec.partition_by or None,
                    metadata={"lakehouse.job": "archive.restore", "lakehouse.days": f"{days[0]}..{days[-1]}"},
                )
            return parts, distinct, restored, version
        finally:
            engine.close()
