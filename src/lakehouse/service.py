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
from typing import TYPE_CHECKING, Any, TypeVar

from lakehouse.config import SOURCES, Settings
from lakehouse.contract import Layer
from lakehouse.exceptions import InputError
from lakehouse.reports import RunReport
from lakehouse.results import CheckResult, JobResult, TransformResult
from lakehouse.simulate import FileSink, SimulationReport, simulate, simulate_rate
from lakehouse.storage.base import Commit, TableInfo
from lakehouse.storage.delta import DeltaStore
from lakehouse.storage.names import LAYERS, TableId, resolve, tables_in

if TYPE_CHECKING:
    from lakehouse.catalog.service import Governance

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
R = TypeVar("R", RunReport, TransformResult)


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
        self, *, layer: str | None = None, full_refresh: bool = False, progress: Progress | None = None,
        engine: str | None = None,
    ) -> list[TransformResult]:
        """Build silver and gold on `engine` (default: `settings.engine`, DuckDB unless set)."""
        from lakehouse.pipeline.engines import ENGINE_NAMES, make_engine
        from lakehouse.pipeline.runner import PipelineRunner

        if layer is not None and layer not in ("silver", "gold"):
            raise InputError(f"unknown layer '{layer}'", hint="use --layer silver or --layer gold")
        chosen = engine or self.settings.engine
        if chosen not in ENGINE_NAMES:
            raise InputError(f"unknown engine '{chosen}'", hint=f"choose from {', '.join(ENGINE_NAMES)}")
        self._warm_up()
        runner = PipelineRunner(self.settings, self.store, engine=lambda: make_engine(self.settings, self.store, chosen))
        layers: list[Layer] = ["silver" if layer == "silver" else "gold"] if layer else ["silver", "gold"]
        results = []
        for lay in layers:
            result = runner.run_layer(lay, full_refresh=full_refresh, progress=progress)
            result.checks = self._check_quality(result)
            results.append(self._finish(result))
        return results

    def _check_quality(self, result: TransformResult) -> list[CheckResult]:
        """Count every expectation of the layer's tables over the rows the run wrote."""
        from lakehouse.pipeline.engines import DuckDBEngine
        from lakehouse.quality import run_checks

        engine = DuckDBEngine(self.settings, self.store)
        try:
            # Incremental models are checked on the rows this run wrote; rebuilt ones in full.
            modes = {m.table: m.mode for m in result.models}
            since = {c.table: c.version_before for c in result.tables if modes.get(c.table) == "incremental"}
            skipped = {t for t, mode in modes.items() if mode == "skipped"}
            return run_checks(engine, self.store, result.layer, since, skipped)
        finally:
            engine.close()

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
