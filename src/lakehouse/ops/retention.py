"""Retention: archive what expired, then delete it, then VACUUM — losing nothing at any step.

A table's retention is its contract's `retention_days` (bronze 7, silver 30, gold 90), unless
the catalog has another value for it (`PATCH /catalog/{table}`: the edit wins), applied by
event date (`retention_column`): a row expires when its date is before `as_of -
retention_days`. Tables without an event date (current state) are kept whole.

Per table, under its commit lock (writers wait; nobody commits in between):

1. remove orphan archive parts (a run that died before its DELETE; the rows are still in the table);
2. archive every expired date at the current version (`ops/archive.py`: Parquet, then the
   manifest; each part read back and checked);
3. DELETE exactly those dates, in one commit that also records the new horizon and the archived
   version (`retention:horizon`, `retention:archived`): after it the rows are verifiably in the
   archive, before it they are still in the table;
4. VACUUM within what the table allows (`ops/maintenance.py`), then expire archive parts older
   than the archive's retention (reported, never silent).

Killed anywhere, the next run resumes: orphans are re-archived, a committed DELETE is not
repeated, a missed VACUUM runs. Models never recompute dates before an input's horizon
(`pipeline/kinds/retained.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, TableId
from lakehouse.exceptions import ConfigError, LakehouseError
from lakehouse.ops.archive import Archive
from lakehouse.ops.maintenance import check_markers_safe, vacuum_table, with_retries
from lakehouse.ops.results import RetentionResult, TableRetention
from lakehouse.pipeline.engines import DuckDBEngine
from lakehouse.pipeline.sql import literal, quote
from lakehouse.storage.base import ARCHIVED, EPOCH, HORIZON, TableStore, horizon
from lakehouse.storage.locks import hold
from lakehouse.storage.predicates import in_list

log = logging.getLogger(__name__)


def catalog_overrides(settings: Settings) -> dict[str, int | None]:
    """retention_days per table as the metadata store holds it ({} without the `api` extra).

    A store that exists but cannot be read is an error: running on the contract's values could
    delete rows an administrator chose to keep longer.
    """
    try:
        from lakehouse.metadata.store import MetadataStore
    except ImportError:
        return {}
    try:
        store = MetadataStore.open(settings.metadata_dsn)
    except Exception as exc:
        raise ConfigError(
            f"cannot read retention settings from the metadata store: {exc}",
            hint="check LAKEHOUSE_METADATA_URL; retention does not run on guessed values",
        ) from exc
    try:
        return {e.table_fqn: e.retention_days for e in store.entries()}
    finally:
        store.close()


def policy(t: TableId, overrides: dict[str, int | None]) -> TableRetention:
    spec = REGISTRY.get(t)
    days, source = spec.retention_days, "contract"
    edited = overrides.get(t.fqn)
    if edited is not None and edited != days:  # the catalog is seeded from the contract: only an edit differs
        days, source = edited, "catalog"
    return TableRetention(table=t.fqn, retention_days=days, source=source, column=spec.retention_column)


class Retention:
    def __init__(self, settings: Settings, store: TableStore) -> None:
        self.settings = settings
        self.store = store
        self.archive = Archive(settings, store)

    def run(
        self, tables: Sequence[TableId] | None = None, *, dry_run: bool = False, as_of: date | None = None,
    ) -> RetentionResult:
        as_of = as_of or datetime.now(UTC).date()
        result = RetentionResult(job="retention", dry_run=dry_run, as_of=as_of.isoformat())
        overrides = catalog_overrides(self.settings)
        failed = []
        for t in tables or REGISTRY.ids():
            outcome = policy(t, overrides)
            result.retention.append(outcome)
            try:
                self._apply(t, outcome, as_of, dry_run)
            except LakehouseError as exc:
                outcome.error = str(exc)
                failed.append(t.fqn)
                log.warning("retention of %s failed: %s", t, exc)
            if outcome.version_before is not None:
                change = result.table(t.fqn)
                change.version_before, change.version_after = outcome.version_before, outcome.version_after
                change.rows_in, change.rows_out = outcome.rows_archived, outcome.rows_deleted
        if failed:
            return result.finish("failed", f"retention failed for {', '.join(failed)}")  # type: ignore[return-value]
        return result.finish()  # type: ignore[return-value]

    def _apply(self, t: TableId, out: TableRetention, as_of: date, dry_run: bool) -> None:
        if not self.store.exists(t):
            out.skipped = "not built"
            return
        if out.column is None or out.retention_days is None:
            out.skipped = "no event date: kept whole" if out.column is None else "no retention: kept whole"
            return
        if out.retention_days < 1:
            raise ConfigError(f"{t}: retention_days {out.retention_days} is below 1 day",
                              hint=f"PATCH /catalog/{t} with retention_days >= 1")
        cutoff = as_of - timedelta(days=out.retention_days)
        out.cutoff = cutoff.isoformat()
        if dry_run:
            out.version_before = out.version_after = self.store.version(t)
            expired = self._expired(t, out.column, cutoff)
            out.expired_days = [d.isoformat() for d in expired]
            out.rows_archived = self._count(t, out.column, expired)
            return
        with hold(self.settings, t):
            self._expire_locked(t, out, cutoff)
        # VACUUM and archive expiry change no row: they run after the lock is released.
        out.vacuum = vacuum_table(self.settings, self.store, t)
        archive_before = as_of - timedelta(days=self.settings.maintenance.archive_days)
        out.archive_expired = self.archive.expire(t, archive_before)
        if out.archive_expired:
            log.warning("%s: %d archived day(s) before %s expired from the archive", t,
                        len(out.archive_expired), archive_before)

    def _expire_locked(self, t: TableId, out: TableRetention, cutoff: date) -> None:
        assert out.column is not None
        snap = self.store.snapshot(t)
        check_markers_safe(snap)
        out.version_before = out.version_after = snap.version
        out.orphans_removed = self.archive.clean_orphans(t)
        expired = self._expired(t, out.column, cutoff)
        out.expired_days = [d.isoformat() for d in expired]
        if not expired:
            return
        dataset = self.store.dataset(t, version=snap.version)
        out.parts = [self.archive.write(t, out.column, d, snap.version, dataset) for d in expired]
        out.rows_archived = sum(p.rows for p in out.parts)
        if self.store.version(t) != snap.version:  # the lock makes this impossible; never delete unarchived rows
            raise LakehouseError(f"{t} changed while it was being archived; nothing was deleted")
        previous = horizon(self.store, t)
        txns = {HORIZON: (max(cutoff, previous or cutoff) - EPOCH).days, ARCHIVED: snap.version}
        meta = {"lakehouse.job": "retention", "lakehouse.cutoff": cutoff.isoformat(),
                "lakehouse.archived_rows": str(out.rows_archived)}
        deleted = with_retries(self.settings, lambda: self.store.delete(
            t, in_list(out.column or "", [d.isoformat() for d in expired]), txns=txns, metadata=meta,
        ))
        out.rows_deleted = int(deleted.details.get("rows_deleted", 0))
        out.version_after = deleted.version_after
        if out.rows_deleted != out.rows_archived:
            raise LakehouseError(
                f"{t}: deleted {out.rows_deleted} rows but archived {out.rows_archived}",
                hint=f"the archive parts are kept under {self.archive.folder(t)}",
            )

    def _expired(self, t: TableId, column: str, cutoff: date) -> list[date]:
        snap = self.store.snapshot(t)
        if column in snap.partition_columns:  # from the log alone: no data read
            values = {f.partition.get(column) for f in snap.files}
            return sorted(d for v in values if v is not None and (d := date.fromisoformat(v)) < cutoff)
        engine = DuckDBEngine(self.settings, self.store)
        try:
            engine.bind_table(t, name="__t")
            rows = engine.rows(f"SELECT DISTINCT {quote(column)} FROM __t WHERE {quote(column)} < {literal(cutoff)}")
            return sorted(r[0] for r in rows if r[0] is not None)
        finally:
            engine.close()

    def _count(self, t: TableId, column: str, days: list[date]) -> int:
        if not days:
            return 0
        engine = DuckDBEngine(self.settings, self.store)
        try:
            engine.bind_table(t, name="__t")
            sql = f"SELECT count(*) FROM __t WHERE {quote(column)} IN ({', '.join(literal(d) for d in days)})"
            return int(engine.scalar(sql) or 0)
        finally:
            engine.close()
