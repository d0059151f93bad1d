"""`Lakehouse`: the one facade the CLI, the API and notebooks call.

It owns the settings and the Delta store, runs jobs, writes their reports, and hands
their results back as typed objects. It never prints and knows nothing about HTTP.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from lakehouse.config import SOURCES, Settings
from lakehouse.contract import Layer
from lakehouse.exceptions import InputError, TransformError
from lakehouse.reports import RunReport
from lakehouse.results import JobResult, TransformResult
from lakehouse.simulate import FileSink, SimulationReport, simulate, simulate_rate
from lakehouse.storage.base import Commit, TableInfo
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import LAYERS, TableId, resolve, tables_in

if TYPE_CHECKING:
    from lakehouse.catalog.service import Governance
    from lakehouse.ops.results import (
        ArchivedPart,
        OptimizeResult,
        RestoreResult,
        RetentionResult,
        VacuumResult,
    )

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
R = TypeVar("R", RunReport, TransformResult)
J = TypeVar("J", bound=JobResult)


class Lakehouse:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store = DeltaStore(self.settings)
        self._warming: threading.Thread | None = None

    # -- simulate ---------------------------------------------------------------------------
    def simulate(
        self,
        *,
        events: int = 150_000,
        days: int = 7,
        start: datetime | None = None,
        seed: int = 42,
        bad_fraction: float = 0.01,
        sink: str = "files",
        rate: int | None = None,
        duration_s: float | None = None,
        sources: list[str] | None = None,
    ) -> SimulationReport:
        target = self._sink(sink)
        try:
            if rate is not None:
                return simulate_rate(
                    target, rate=rate, duration_s=duration_s or 10.0, seed=seed,
                    bad_fraction=bad_fraction, sources=sources,
                )
            return simulate(
                target, events=events, days=days, start=start, seed=seed,
                bad_fraction=bad_fraction, sources=sources,
            )
        finally:
            target.close()

    def _sink(self, sink: str) -> Any:
        if sink == "files":
            return FileSink(self.settings.landing)
        if sink == "kafka":
            from lakehouse.simulate.kafka_sink import KafkaSink

            return KafkaSink(self.settings)
        raise InputError(f"unknown sink '{sink}'", hint="use --sink files or --sink kafka")

    # -- ingest -----------------------------------------------------------------------------
    def ingest(
        self,
        *,
        source: str = "files",
        sources: list[str] | None = None,
        progress: Progress | None = None,
        follow: bool = False,
    ) -> RunReport:
        for s in sources or []:
            if s not in SOURCES:
                raise InputError(f"unknown source '{s}'", hint=f"choose from {', '.join(SOURCES)}")
        self._warm_up()
        if source == "files":
            from lakehouse.ingest.files import FileIngestor

            report = FileIngestor(self.settings, self.store).run(sources, progress)
        elif source == "kafka":
            from lakehouse.ingest.kafka import KafkaIngestor

            report = KafkaIngestor(self.settings, self.store).run(sources, progress=progress, follow=follow)
        else:
            raise InputError(f"unknown ingest source '{source}'", hint="use --source files or --source kafka")
        return self._finish(report)

    # -- transform ----------------------------------------------------------------------------
    def transform(
        self, *, layer: str | None = None, full_refresh: bool = False, progress: Progress | None = None
    ) -> list[TransformResult]:
        """Build silver then gold (or one layer), incrementally unless `full_refresh`.

        Every model's batch passes its quality checks before it is committed; a run that fails
        (a `fail` check, an error) is recorded like any other and raises `TransformError` naming
        where it stopped. Later layers do not run after a failed one.
        """
        from lakehouse.pipeline.runner import PipelineRunner
        from lakehouse.quality import Validator

        if layer is not None and layer not in ("silver", "gold"):
            raise InputError(f"unknown layer '{layer}'", hint="use --layer silver or --layer gold")
        self._warm_up()
        runner = PipelineRunner(
            self.settings, self.store,
            gate=lambda engine, run_id: Validator(self.store, engine, run_id, enabled=self.settings.quality_checks),
        )
        layers: list[Layer] = ["silver" if layer == "silver" else "gold"] if layer else ["silver", "gold"]
        results = []
        for lay in layers:
            result = self._finish(runner.run_layer(lay, full_refresh=full_refresh, progress=progress))
            results.append(result)
            if result.status == "failed":
                raise TransformError(result)
        return results

    # -- tables ---------------------------------------------------------------------------------
    def tables(self, layer: str | None = None) -> list[TableInfo]:
        if layer is not None and layer not in LAYERS:
            raise InputError(f"unknown layer '{layer}'", hint=f"choose from {', '.join(LAYERS)}")
        return [self.store.info(t) for t in tables_in(layer) if self.store.exists(t)]

    def table(self, name: str) -> TableInfo:
        return self.store.info(resolve(name))

    def resolve(self, name: str) -> TableId:
        return resolve(name)

    def history(self, name: str, limit: int | None = None) -> list[Commit]:
        return self.store.history(resolve(name), limit)

    def summary(self) -> dict[str, Any]:
        """A few KPIs from gold for the demo: segment mix, latest days, hours by health."""
        from lakehouse.pipeline.engines import DuckDBEngine

        engine = DuckDBEngine(self.settings, self.store)
        try:
            out: dict[str, Any] = {"segments": [], "daily": [], "health": {}, "quarantined": 0, "duplicates_removed": 0}
            names = {"gold.user_segments", "gold.daily_summary", "gold.hourly_metrics", "bronze.quarantine",
                     "bronze.app_events", "silver.app_events"}
            built = {t.fqn for t in tables_in() if t.fqn in names and self.store.exists(t)}
            for fqn in built:
                engine.bind_table(resolve(fqn))
            if "gold.user_segments" in built:
                out["segments"] = engine.arrow(
                    "SELECT segment, count(*) AS users FROM gold.user_segments GROUP BY 1 "
                    "ORDER BY array_position(['VIP', 'Active', 'Regular', 'Inactive'], segment)"
                ).to_pylist()
            if "gold.daily_summary" in built:
                out["daily"] = engine.arrow(
                    "SELECT summary_date, daily_users, new_users, total_events, sessions, revenue "
                    "FROM gold.daily_summary ORDER BY summary_date DESC LIMIT 5"
                ).to_pylist()
            if "gold.hourly_metrics" in built:
                rows = engine.arrow(
                    "SELECT health_status, count(*) AS n FROM gold.hourly_metrics GROUP BY 1"
                ).to_pylist()
                out["health"] = {r["health_status"]: r["n"] for r in rows}
            if "bronze.quarantine" in built:
                out["quarantined"] = int(engine.scalar("SELECT count(*) FROM bronze.quarantine") or 0)
            if {"bronze.app_events", "silver.app_events"} <= built:
                out["duplicates_removed"] = int(engine.scalar(
                    "SELECT (SELECT count(*) FROM bronze.app_events) - (SELECT count(*) FROM silver.app_events)"
                ) or 0)
            return out
        finally:
            engine.close()

    # -- maintenance (retention, archive, optimize, vacuum: `lakehouse.ops`) ---------------------
    def retention(self, table: str | None = None, *, dry_run: bool = False, as_of: date | None = None) -> RetentionResult:
        """Archive, then delete, the rows past each table's retention; then VACUUM."""
        from lakehouse.ops import jobs

        return self._record_job(jobs.retention(self.settings, self.store, table, dry_run=dry_run, as_of=as_of))

    def archive_list(self, table: str) -> list[ArchivedPart]:
        from lakehouse.ops import jobs

        return jobs.archive_list(self.settings, self.store, table)

    def archive_restore(self, table: str, first: date, last: date) -> RestoreResult:
        """Put archived rows dated first..last back into the table (never twice)."""
        from lakehouse.ops import jobs

        return self._record_job(jobs.archive_restore(self.settings, self.store, table, first, last))

    def optimize(self, table: str | None = None, *, include_open: bool = False, today: date | None = None) -> OptimizeResult:
        """Compact small files (Z-order where declared), closed partitions first; checkpoint; log cleanup."""
        from lakehouse.ops import jobs

        return self._record_job(jobs.optimize(self.settings, self.store, table, include_open=include_open, today=today))

    def vacuum(
        self, table: str | None = None, *, retention_hours: int | None = None, force: bool = False,
        dry_run: bool = False,
    ) -> VacuumResult:
        """Remove unreferenced files older than what the table and its downstream models still need."""
        from lakehouse.ops import jobs

        return self._record_job(jobs.vacuum(
            self.settings, self.store, table, retention_hours=retention_hours, force=force, dry_run=dry_run,
        ))

    def _record_job(self, result: J) -> J:
        result.write(self.settings.logs_path)
        self._record(result)
        return result

    # -- governance (catalog, lineage, runs, audit) ----------------------------------------------
    @cached_property
    def governance(self) -> Governance:
        from lakehouse.catalog.service import Governance

        return Governance(self.settings, self.store)

    def _warm_up(self) -> None:
        """Import and open the metadata store on another thread while the job runs.

        Recording a run needs SQLAlchemy, Alembic and OpenLineage loaded and the store open
        (about a second in a fresh process); the job's DuckDB and Delta work releases the GIL,
        so the two overlap instead of adding up.
        """
        if self._warming is not None or "governance" in self.__dict__:
            return

        def work() -> None:
            try:
                _ = self.governance
                import lakehouse.catalog.openlineage  # noqa: F401
            except Exception:
                log.debug("metadata store warm-up failed", exc_info=True)

        self._warming = threading.Thread(target=work, name="lakehouse-metadata-warm-up", daemon=True)
        self._warming.start()

    def _finish(self, report: R) -> R:
        report.write(self.settings.logs_path)
        self._record(report)
        return report

    def _record(self, report: RunReport | JobResult) -> None:
        # The metadata store is optional at run time (the `api` extra); a job's outcome
        # never depends on it, but a failure to record is logged, not hidden.
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        try:
            gov = self.governance
        except ImportError:
            return
        try:
            gov.record_run(report)
            gov.emit_lineage(report)
            for c in getattr(report, "checks", []):
                gov.record_quality(c.table, c.check, c.passed, c.failing_rows, report.run_id)
        except Exception:
            log.warning("could not record run %s in the metadata store", report.run_id, exc_info=True)
