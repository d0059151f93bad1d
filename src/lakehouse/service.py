"""`Lakehouse`: the one facade the CLI, the API, the scheduler and notebooks call.

It owns the settings, the table store and the metadata store, runs jobs (simulate, ingest,
transform), writes and records their reports, and composes the services with one concern each:

- `access`  — API keys, roles, what a caller may see, the audit trail (`lakehouse.access`);
- `catalog` — tables, catalog entries, lineage, runs, quality results (`lakehouse.catalog`);
- `query`   — read-only SQL and previews under the caller's role (`lakehouse.query`);
- `scheduling` — the scheduler, its state, manual runs, the Airflow export (`lakehouse.ops.scheduler`).

It never prints and knows nothing about HTTP.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from lakehouse.access import AccessService, Principal
from lakehouse.catalog.service import CatalogService
from lakehouse.config import Settings
from lakehouse.contract import LAYERS, TableId, resolve, tables_in
from lakehouse.exceptions import InputError
from lakehouse.metadata.store import MetadataStore
from lakehouse.query.service import QueryService
from lakehouse.query.text import duckdb_text as values_as_text
from lakehouse.results import Commit, IngestResult, JobResult, Summary, TableInfo, TransformResult
from lakehouse.simulate import SimulationReport, open_sink, simulate, simulate_rate
from lakehouse.storage.delta import DeltaStore

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from lakehouse.ops.alerts import AlertEvaluator, Evaluation
    from lakehouse.ops.health import LakehouseHealthMonitor
    from lakehouse.ops.health_report import HealthReport
    from lakehouse.ops.results import (
        ArchivedPart,
        OptimizeResult,
        RestoreResult,
        RetentionResult,
        VacuumResult,
    )
    from lakehouse.ops.scheduler import Clock, Outcome, Scheduler, ScheduleStore
    from lakehouse.ops.scheduler.service import SchedulingService
    from lakehouse.pipeline.backfill import BackfillResult

__all__ = ["Lakehouse", "Progress", "values_as_text"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
R = TypeVar("R", bound=JobResult)


class Lakehouse:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store = DeltaStore(self.settings)
        self._warming: threading.Thread | None = None
        self._metadata: MetadataStore | None = None
        self._metadata_lock = threading.Lock()

    # -- services -------------------------------------------------------------------------------
    @property
    def metadata(self) -> MetadataStore:
        """The metadata store, opened (and migrated) on first use."""
        with self._metadata_lock:
            if self._metadata is None:
                self._metadata = MetadataStore.open(self.settings.metadata_dsn)
            return self._metadata

    @cached_property
    def access(self) -> AccessService:
        return AccessService(self.settings, lambda: self.metadata)

    @cached_property
    def catalog(self) -> CatalogService:
        return CatalogService(self.settings, self.store, lambda: self.metadata, self.access)

    @cached_property
    def query(self) -> QueryService:
        return QueryService(self.settings, self.store, self.access, self.catalog.pii)

    def health(self, who: Principal | None = None) -> dict[str, Any]:
        """Readiness: the lake's folder and the metadata store (details only for an admin)."""
        from lakehouse.ops.readiness import readiness

        return readiness(self.settings, lambda: self.metadata, who)

    def close(self) -> None:
        """Stop the query workers, flush the audit trail, close the metadata store."""
        if "query" in self.__dict__:
            self.query.close()
        if "access" in self.__dict__:
            self.access.close()
        if self._metadata is not None:
            self._metadata.close()
            self._metadata = None

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
        target = open_sink(sink, self.settings)
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

    # -- ingest -----------------------------------------------------------------------------
    def ingest(
        self,
        *,
        source: str = "files",
        sources: list[str] | None = None,
        progress: Progress | None = None,
        follow: bool = False,
        create_topics: bool | None = None,
        fail_on_data_loss: bool | None = None,
        stop: threading.Event | None = None,
    ) -> IngestResult:
        """Land new records in bronze from the landing zone or Kafka (`ingest/job.py`). Kafka: `create_topics`,
        `fail_on_data_loss` override the `kafka.*` settings; setting `stop` ends a --follow run (scheduler shutdown)."""
        from lakehouse.ingest import job

        return job.run(self.settings, self.store, source=source, sources=sources, progress=progress, follow=follow,
                       create_topics=create_topics, fail_on_data_loss=fail_on_data_loss, stop=stop,
                       warm_up=self._warm_up, finish=self._finish)

    # -- transform ----------------------------------------------------------------------------
    def transform(
        self, *, layer: str | None = None, full_refresh: bool = False, progress: Progress | None = None,
        engine: str | None = None,
    ) -> list[TransformResult]:
        """Build silver then gold (or one layer) on `engine` (default: `settings.engine`, DuckDB
        unless set), incrementally unless `full_refresh`.

        Every model's batch passes its quality checks before it is committed; a run that fails
        (a `fail` check, an error) is recorded like any other and raises `TransformError` naming
        where it stopped. Later layers do not run after a failed one.
        """
        from lakehouse.transforms import transform

        self._warm_up()
        return transform(self.settings, self.store, self._finish, layer=layer, full_refresh=full_refresh,
                         progress=progress, engine=engine)

    # -- backfill -------------------------------------------------------------------------------
    def backfill(
        self, date_from: date, date_to: date, tables: list[str] | None = None, *, engine: str | None = None,
    ) -> BackfillResult:
        """Rebuild silver and gold for a range of event dates from bronze, leaving other dates as
        they are and the incremental progress markers right (`docs/scheduling.md`), on `engine`
        (default: `settings.engine`)."""
        from lakehouse.pipeline.backfill import Backfill
        from lakehouse.transforms import backfill

        Backfill.check(date_from, date_to, tables)
        self._warm_up()
        return backfill(self.settings, self.store, self._finish, date_from, date_to, tables, engine=engine)

    # -- schedule (`lakehouse.ops.scheduler`) ---------------------------------------------------
    @cached_property
    def scheduling(self) -> SchedulingService:
        from lakehouse.ops.scheduler.service import SchedulingService

        return SchedulingService(self.settings, lambda: self.metadata, self.scheduled_jobs, self._follow)

    @property
    def schedule_store(self) -> ScheduleStore:
        return self.scheduling.store

    def scheduler(self, *, clock: Clock | None = None) -> Scheduler:
        return self.scheduling.scheduler(clock=clock)

    def schedule(self, runs: int = 20) -> dict[str, Any]:
        return self.scheduling.status(runs)

    def run_job(self, name: str, *, due_between: tuple[datetime, datetime] | None = None) -> Outcome | None:
        return self.scheduling.run_job(name, due_between=due_between)

    def airflow_dag(self, *, dag_id: str = "lakehouse", command: str = "lakehouse") -> str:
        return self.scheduling.airflow_dag(dag_id=dag_id, command=command)

    def scheduled_jobs(self) -> dict[str, Callable[[], list[str]]]:
        """Each job the scheduler knows, as a call on this facade returning the run ids it made."""
        from lakehouse.ops.scheduler.jobs import run_ids

        def layer(name: str) -> Callable[[], list[str]]:
            return lambda: run_ids(self.transform(layer=name))

        return {
            "ingest": lambda: run_ids(self.ingest(source=self.settings.schedule.ingest_source)),
            "silver": layer("silver"), "gold": layer("gold"),
            "retention": lambda: run_ids(self.retention()), "optimize": lambda: run_ids(self.optimize()),
        }

    def _follow(self, stop: threading.Event) -> Callable[[], list[str]]:
        """The continuous Kafka ingest, as a job that returns once `stop` is set."""
        from lakehouse.ops.scheduler.jobs import run_ids

        return lambda: run_ids(self.ingest(source="kafka", follow=True, stop=stop))

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

    def summary(self) -> Summary:
        """A few KPIs from gold for the demo: segment mix, latest days, hours by health."""
        from lakehouse.catalog.summary import summarize

        return summarize(self.settings, self.store)

    # -- maintenance (retention, archive, optimize, vacuum: `lakehouse.ops`) ---------------------
    def retention(self, table: str | None = None, *, dry_run: bool = False, as_of: date | None = None) -> RetentionResult:
        """Archive, then delete, the rows past each table's retention; then VACUUM."""
        from lakehouse.ops import jobs

        return self._finish(jobs.retention(self.settings, self.store, table, dry_run=dry_run, as_of=as_of))

    def archive_list(self, table: str) -> list[ArchivedPart]:
        from lakehouse.ops import jobs

        return jobs.archive_list(self.settings, self.store, table)

    def archive_restore(self, table: str, first: date, last: date) -> RestoreResult:
        """Put archived rows dated first..last back into the table (never twice)."""
        from lakehouse.ops import jobs

        return self._finish(jobs.archive_restore(self.settings, self.store, table, first, last))

    def optimize(self, table: str | None = None, *, include_open: bool = False, today: date | None = None) -> OptimizeResult:
        """Compact small files (Z-order where declared), closed partitions first; checkpoint; log cleanup."""
        from lakehouse.ops import jobs

        return self._finish(jobs.optimize(self.settings, self.store, table, include_open=include_open, today=today))

    def vacuum(
        self, table: str | None = None, *, retention_hours: int | None = None, force: bool = False,
        dry_run: bool = False,
    ) -> VacuumResult:
        """Remove unreferenced files older than what the table and its downstream models still need."""
        from lakehouse.ops import jobs

        return self._finish(jobs.vacuum(
            self.settings, self.store, table, retention_hours=retention_hours, force=force, dry_run=dry_run,
        ))

    # -- monitoring (health report, alerts) -------------------------------------------------------
    @cached_property
    def monitor(self) -> LakehouseHealthMonitor:
        from lakehouse.ops.health import LakehouseHealthMonitor

        # The store is asked for when first needed: an unreachable one is then a note in the report.
        return LakehouseHealthMonitor(self.settings, store=self.store, metadata=lambda: self.metadata)

    def health_report(self, now: datetime | None = None, layers: list[str] | None = None) -> HealthReport:
        """Every table's and job's health (docs/monitoring.md); `layers`: only what those layers may see."""
        return self.monitor.generate_health_report(now, layers=layers)

    def health_collector(self) -> Collector:
        """A Prometheus collector of the health signals (what `/metrics` serves an admin)."""
        from lakehouse.ops.metrics import HealthCollector

        return HealthCollector(self.monitor)

    @cached_property
    def _alerts(self) -> AlertEvaluator:
        from lakehouse.ops.alerts import AlertEvaluator

        return AlertEvaluator(self.settings, self.monitor)

    def evaluate_alerts(self, now: datetime | None = None) -> Evaluation:
        """Evaluate the alert rules once and notify (what the scheduler calls periodically)."""
        return self._alerts.evaluate(now)

    def _warm_up(self) -> None:
        """Import and open the metadata store on another thread while the job runs.

        Recording a run needs SQLAlchemy, Alembic and OpenLineage loaded and the store open
        (about a second in a fresh process); the job's DuckDB and Delta work releases the GIL,
        so the two overlap instead of adding up.
        """
        if self._warming is not None or self._metadata is not None:
            return

        def work() -> None:
            try:
                _ = self.metadata
                import lakehouse.catalog.openlineage  # noqa: F401
            except Exception:
                log.debug("metadata store warm-up failed", exc_info=True)

        self._warming = threading.Thread(target=work, name="lakehouse-metadata-warm-up", daemon=True)
        self._warming.start()

    def _finish(self, report: R) -> R:
        report.write(self.settings.logs_path)
        self._record(report)
        return report

    def _record(self, report: JobResult) -> None:
        # A job's outcome never depends on the metadata store, but a failure to record is
        # logged, not hidden.
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        try:
            self.catalog.record(report)
        except Exception:
            log.warning("could not record run %s in the metadata store", report.run_id, exc_info=True)
