"""The maintenance jobs as the facade runs them: table selection, one result per job."""

from __future__ import annotations

from datetime import date

from lakehouse.config import Settings
from lakehouse.contract import REGISTRY, TableId, resolve
from lakehouse.exceptions import InputError, LakehouseError
from lakehouse.ops.archive import Archive
from lakehouse.ops.maintenance import optimize_table, vacuum_table
from lakehouse.ops.results import (
    ArchivedPart,
    OptimizeResult,
    RestoreResult,
    RetentionResult,
    VacuumResult,
)
from lakehouse.ops.retention import Retention
from lakehouse.storage.base import TableStore
from lakehouse.storage.locks import hold


def _targets(store: TableStore, table: str | None) -> list[TableId]:
    if table is not None:
        return [resolve(table)]
    return [t for t in REGISTRY.ids() if store.exists(t)]


def retention(
    settings: Settings, store: TableStore, table: str | None, *, dry_run: bool, as_of: date | None,
) -> RetentionResult:
    tables = [resolve(table)] if table else None
    return Retention(settings, store).run(tables, dry_run=dry_run, as_of=as_of)


def archive_list(settings: Settings, store: TableStore, table: str) -> list[ArchivedPart]:
    return Archive(settings, store).parts(resolve(table), verify=True)


def archive_restore(settings: Settings, store: TableStore, table: str, first: date, last: date) -> RestoreResult:
    t = resolve(table)
    result = RestoreResult(job="archive.restore", target=t.fqn, from_day=first.isoformat(), to_day=last.isoformat())
    change = result.table(t.fqn)
    change.version_before = store.version(t)
    with hold(settings, t):
        parts, distinct, restored, version = Archive(settings, store).restore(t, first, last)
    result.parts, result.rows_archived, result.rows_restored, result.version_after = parts, distinct, restored, version
    change.rows_in, change.rows_out, change.version_after = distinct, restored, version
    result.finish()
    return result


def optimize(
    settings: Settings, store: TableStore, table: str | None, *, include_open: bool, today: date | None,
) -> OptimizeResult:
    result = OptimizeResult(job="optimize")
    failed = []
    for t in _targets(store, table):
        try:
            out = optimize_table(settings, store, t, include_open=include_open, today=today)
        except LakehouseError as exc:
            if table is not None:
                raise
            failed.append(f"{t}: {exc}")
            continue
        result.optimized.append(out)
        change = result.table(t.fqn)
        change.version_before, change.version_after = out.version_before, out.version_after
    result.finish("failed" if failed else "success", "; ".join(failed) or None)
    return result


def vacuum(
    settings: Settings, store: TableStore, table: str | None, *, retention_hours: int | None, force: bool,
    dry_run: bool,
) -> VacuumResult:
    if retention_hours is not None and retention_hours < 0:
        raise InputError("--retention-hours cannot be negative")
    result = VacuumResult(job="vacuum")
    for t in _targets(store, table):
        result.vacuumed.append(vacuum_table(settings, store, t, retention_hours=retention_hours, force=force,
                                            dry_run=dry_run))
    result.finish()
    return result
