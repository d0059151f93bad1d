"""`Lakehouse`: the one facade the CLI, the API and notebooks call.

It owns the settings and the Delta store, runs jobs, writes their reports, and hands
their results back as typed objects. It never prints and knows nothing about HTTP.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lakehouse.config import SOURCES, Settings
from lakehouse.exceptions import InputError
from lakehouse.reports import RunReport
from lakehouse.simulate import FileSink, SimulationReport, simulate, simulate_rate
from lakehouse.storage.delta import DeltaStore, TableInfo
from lakehouse.storage.names import LAYERS, TableId, resolve, tables_in

if TYPE_CHECKING:
    from lakehouse.catalog.service import Governance

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


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
        create_topics: bool | None = None,
        fail_on_data_loss: bool | None = None,
    ) -> RunReport:
        """`create_topics`, `fail_on_data_loss` (Kafka): override the `kafka.*` settings of that name."""
        for s in sources or []:
            if s not in SOURCES:
                raise InputError(f"unknown source '{s}'", hint=f"choose from {', '.join(SOURCES)}")
        if source == "kafka":
            from lakehouse.ingest.kafka import KafkaIngestor

            asked = {"create_topics": create_topics, "fail_on_data_loss": fail_on_data_loss}
            kafka = self.settings.kafka.model_copy(update={k: v for k, v in asked.items() if v is not None})
            ingestor = KafkaIngestor(self.settings.model_copy(update={"kafka": kafka}), self.store)
            # SIGINT/SIGTERM stop the run from here until its report is written and recorded:
            # a signal at any moment gives a report and exit code 0, not a process killed halfway.
            with ingestor.stop_on_signals():
                self._warm_up()
                try:
                    report = ingestor.run(sources, progress=progress, follow=follow)
                except Exception:
                    if ingestor.report is not None:  # a failed run is reported too (logs, runs)
                        try:
                            self._finish(ingestor.report)
                        except Exception:
                            log.warning("could not write the failed run's report", exc_info=True)
                    raise
                return self._finish(report)
        self._warm_up()
        if source == "files":
            from lakehouse.ingest.files import FileIngestor

            report = FileIngestor(self.settings, self.store).run(sources, progress)
        else:
            raise InputError(f"unknown ingest source '{source}'", hint="use --source files or --source kafka")
        return self._finish(report)

    # -- transform ----------------------------------------------------------------------------
    def transform(
        self, *, layer: str | None = None, full_refresh: bool = False, progress: Progress | None = None
    ) -> list[RunReport]:
        from lakehouse.pipeline.runner import PipelineRunner

        if layer is not None and layer not in ("silver", "gold"):
            raise InputError(f"unknown layer '{layer}'", hint="use --layer silver or --layer gold")
        self._warm_up()
        runner = PipelineRunner(self.settings, self.store)
        layers = [layer] if layer else ["silver", "gold"]
        reports = []
        for lay in layers:
            report = runner.run_layer(lay, full_refresh=full_refresh, progress=progress)
            report.details["quality"] = self._check_quality(lay, report)
            reports.append(self._finish(report))
        return reports

    def _check_quality(self, layer: str, report: RunReport) -> dict[str, dict[str, int]]:
        """Count every expectation of the layer's tables; failing rows per check and table."""
        from lakehouse.pipeline.engine import Engine
        from lakehouse.quality import run_checks

        engine = Engine(self.settings, self.store)
        try:
            # Incremental models are checked on the rows this run appended; rebuilt ones in full.
            models = report.details.get("models", {})
            since = {
                c.table: c.version_before
                for c in report.tables
                if models.get(c.table, {}).get("mode") == "incremental"
            }
            skipped = {t for t, m in models.items() if m.get("mode") == "skipped"}
            results = run_checks(engine, self.store, layer, since, skipped)
        finally:
            engine.close()
        out: dict[str, dict[str, int]] = {}
        for r in results:
            out.setdefault(r.table, {})[r.check] = r.failing_rows
        return out

    # -- tables ---------------------------------------------------------------------------------
    def tables(self, layer: str | None = None) -> list[TableInfo]:
        if layer is not None and layer not in LAYERS:
            raise InputError(f"unknown layer '{layer}'", hint=f"choose from {', '.join(LAYERS)}")
        return [self.store.info(t) for t in tables_in(layer) if self.store.exists(t)]

    def table(self, name: str) -> TableInfo:
        return self.store.info(resolve(name))

    def resolve(self, name: str) -> TableId:
        return resolve(name)

    def history(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        return self.store.history(resolve(name), limit)

    def summary(self) -> dict[str, Any]:
        """A few KPIs from gold for the demo: segment mix, latest days, hours by health."""
        from lakehouse.pipeline.engine import Engine

        engine = Engine(self.settings, self.store)
        try:
            out: dict[str, Any] = {"segments": [], "daily": [], "health": {}, "quarantined": 0, "duplicates_removed": 0}
            names = {"gold.user_segments", "gold.daily_summary", "gold.hourly_metrics", "bronze.quarantine",
                     "bronze.app_events", "silver.app_events"}
            built = {t.fqn for t in tables_in() if t.fqn in names and self.store.exists(t)}
            for fqn in built:
                engine.bind_files(resolve(fqn))
            if "gold.user_segments" in built:
                out["segments"] = engine.query(
                    "SELECT segment, count(*) AS users FROM gold.user_segments GROUP BY 1 "
                    "ORDER BY array_position(['VIP', 'Active', 'Regular', 'Inactive'], segment)"
                ).to_arrow_table().to_pylist()
            if "gold.daily_summary" in built:
                out["daily"] = engine.query(
                    "SELECT summary_date, daily_users, new_users, total_events, sessions, revenue "
                    "FROM gold.daily_summary ORDER BY summary_date DESC LIMIT 5"
                ).to_arrow_table().to_pylist()
            if "gold.hourly_metrics" in built:
                rows = engine.query(
                    "SELECT health_status, count(*) AS n FROM gold.hourly_metrics GROUP BY 1"
                ).to_arrow_table().to_pylist()
                out["health"] = {r["health_status"]: r["n"] for r in rows}
            if "bronze.quarantine" in built:
                out["quarantined"] = engine.scalar("SELECT count(*) FROM bronze.quarantine")
            if {"bronze.app_events", "silver.app_events"} <= built:
                out["duplicates_removed"] = engine.scalar(
                    "SELECT (SELECT count(*) FROM bronze.app_events) - (SELECT count(*) FROM silver.app_events)"
                )
            return out
        finally:
            engine.close()

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

    def _finish(self, report: RunReport) -> RunReport:
        report.write(self.settings.logs_path)
        self._record(report)
        return report

    def _record(self, report: RunReport) -> None:
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
            # The run's quality results travel in its report: failing rows per table and check.
            for table, checks in report.details.get("quality", {}).items():
                for check, failing in checks.items():
                    gov.record_quality(table, check, failing == 0, failing, report.run_id)
        except Exception:
            log.warning("could not record run %s in the metadata store", report.run_id, exc_info=True)
