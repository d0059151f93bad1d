"""`LakehouseHealthMonitor`: is the lake wrong or late? One report of every signal.

Per table: staleness (now - last commit), data lag (now - newest event time, from the Delta
file statistics), layer delay per model input (versions not consumed, and how long the oldest
of them has waited), the latest outcome of each quality check (with the % of nulls of
not_null/completeness checks), size and growth per day (from size samples the monitor records
in the metadata store). Per job: the last run, the last success and its age, failed runs.
Kafka consumer lag per partition when bronze is fed from Kafka. "Now" is injectable.

Cost is bounded whatever the size of the lake's history: Delta facts are cached by table
version, input histories are read back only over the versions not consumed yet, and the
metadata store is asked by index seeks (`monitor_store`). Reports run one at a time on one
thread of the monitor's own, so the store's per-thread snapshots stay warm between reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from lakehouse.config import SOURCES, Settings
from lakehouse.contract import REGISTRY, TableId, TableSpec
from lakehouse.contract.expectations import Completeness, Expectation, NotNull
from lakehouse.ops.health_policy import TableWindows, job_window, table_windows
from lakehouse.ops.health_report import (
    CheckHealth,
    HealthReport,
    InputDelay,
    JobHealth,
    Judged,
    KafkaHealth,
    PartitionLag,
    TableHealth,
    judge,
    unknown,
)
from lakehouse.ops.kafka_probe import KafkaProbe, LagReader, kafka_app_id
from lakehouse.ops.lake_facts import HISTORY_CAP, LakeFacts, TableFacts
from lakehouse.storage.base import TableStore

if TYPE_CHECKING:
    from lakehouse.metadata.store import MetadataStore
    from lakehouse.ops.monitor_store import CheckRow, JobRuns, MonitorStore, SizeSample

log = logging.getLogger(__name__)

DAY_S = 86_400.0
SIZE_SAMPLES_KEPT_S = 8 * DAY_S


def _app_id(target: TableId, source: TableId) -> str:
    # The marker `pipeline/kinds/base.app_id` writes (kept in step by a test; importing it would
    # load the engines just to format a string).
    return f"transform:{target.fqn}<-{source.fqn}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def as_utc(now: datetime) -> datetime:
    """A time in UTC (naive: taken as UTC). SQLite stores times as UTC text: an offset must not leak in."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _job_layers(job: JobRuns) -> tuple[str, ...]:
    tables = {*job.last.tables, *(job.last_success.tables if job.last_success else ())}
    layers = {t.split(".", 1)[0] for t in tables if "." in t}
    if not layers:
        name = job.job
        layers = {"bronze"} if name.startswith("ingest") else {name.split(".", 1)[1]} if name.startswith("transform.") else set()
    return tuple(sorted(layers))


class LakehouseHealthMonitor:
    """`LakehouseHealthMonitor(settings).generate_health_report()`: the seed's API, on the real lake."""

    def __init__(
        self, settings: Settings | None = None, *, store: TableStore | None = None,
        metadata: MetadataStore | Callable[[], MetadataStore] | None = None,
        clock: Callable[[], datetime] | None = None,
        tables: Iterable[TableSpec] | None = None, kafka_lag: LagReader | None = None,
    ) -> None:
        self.settings = settings or Settings()
        if store is None:
            from lakehouse.storage.delta import DeltaStore

            store = DeltaStore(self.settings)
        self.store = store
        self._metadata_store = metadata  # a store, or how to get one when first needed
        self.clock = clock or (lambda: datetime.now(UTC))
        self.specs: tuple[TableSpec, ...] = tuple(tables) if tables is not None else tuple(REGISTRY)
        self.windows: dict[str, TableWindows] = table_windows(self.settings.monitoring, self.specs)
        self._facts = LakeFacts(self.store)
        self._kafka = KafkaProbe(self.settings, kafka_lag)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._pruned_at: datetime | None = None

    # -- what the report needs to know once ----------------------------------------------------
    @cached_property
    def metadata(self) -> MonitorStore:
        from lakehouse.ops.monitor_store import MonitorStore

        if callable(self._metadata_store):
            self._metadata_store = self._metadata_store()
        if self._metadata_store is None:
            from lakehouse.metadata.store import MetadataStore

            self._metadata_store = MetadataStore.open(self.settings.metadata_dsn)
        return MonitorStore(self._metadata_store.engine)

    @cached_property
    def inputs(self) -> dict[str, tuple[TableId, ...]]:
        """Each monitored model's inputs, from the models' SQL (parsed once per process)."""
        if not any(s.model is not None and s.id in REGISTRY for s in self.specs):
            return {}
        from lakehouse.pipeline.registry import load_models

        mine = {s.fqn for s in self.specs}
        return {m.table.fqn: m.depends_on for m in load_models() if m.table.fqn in mine}

    @cached_property
    def expectations(self) -> dict[str, dict[str, Expectation]]:
        """Each model's checks (declared and automatic), by name: what the quality signal looks up."""
        from lakehouse.quality.expectations import checks_for

        return {s.fqn: {e.name: e for e in checks_for(s)} for s in self.specs if s.model is not None}

    def _app_ids(self, spec: TableSpec) -> list[str]:
        ids = [_app_id(spec.id, d) for d in self.inputs.get(spec.fqn, ())]
        if spec.layer == "bronze" and spec.name in SOURCES and self.settings.monitoring.kafka != "off":
            topic = self.settings.kafka.topic(spec.name)
            ids += [kafka_app_id(topic, p) for p in range(self.settings.kafka.partitions)]
        return ids

    # -- the report ---------------------------------------------------------------------------------
    def generate_health_report(self, now: datetime | None = None, *, layers: Iterable[str] | None = None) -> HealthReport:
        """Every signal, judged. `layers`: only what a role reading those layers may see."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakehouse-health")
            pool = self._pool
        report = pool.submit(self._report, now).result()
        return report.visible_to(layers) if layers is not None else report

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _report(self, now: datetime | None) -> HealthReport:
        t0 = time.perf_counter()
        now = as_utc(now or self.clock())
        notes: list[str] = []
        versions: dict[str, int | None] = {}
        facts: dict[str, TableFacts] = {}
        errors: dict[str, str] = {}
        try:
            _ = self.inputs
        except Exception as exc:  # a model that does not parse: no layer delay, the rest still reported
            notes.append(f"model inputs unavailable: {_first_line(exc)}")
            self.__dict__["inputs"] = {}
        for spec in self.specs:
            try:
                v = versions[spec.fqn] = self._facts.version(spec.id)
                if v is not None:
                    facts[spec.fqn] = self._facts.facts(spec.id, v, self.windows[spec.fqn].time_column, self._app_ids(spec))
            except Exception as exc:  # a corrupt or unreadable log hides that table, never the others
                errors[spec.fqn] = _first_line(exc)
                versions[spec.fqn] = None
                log.info("health report: %s unreadable: %s", spec.fqn, errors[spec.fqn])
        meta = self._open_metadata(notes)
        growth = self._growth(meta, now, facts, notes)
        checks = self._checks(meta, notes)
        tables = tuple(
            self._table(spec, now, versions, facts.get(spec.fqn), growth.get(spec.fqn), checks.get(spec.fqn, ()),
                        errors.get(spec.fqn))
            for spec in self.specs
        )
        return HealthReport(
            generated_at=now, tables=tables, jobs=self._jobs(meta, now, notes), kafka=self._kafka_health(facts),
            elapsed_ms=round((time.perf_counter() - t0) * 1000, 2), notes=tuple(notes),
        )

    def _table(
        self, spec: TableSpec, now: datetime, versions: Mapping[str, int | None], f: TableFacts | None,
        growth: tuple[Judged, datetime | None] | None, checks: Iterable[CheckHealth], error: str | None,
    ) -> TableHealth:
        w = self.windows[spec.fqn]
        if f is None:
            why = error or "not built yet"
            return TableHealth(
                table=spec.fqn, layer=spec.layer, exists=False, version=None, last_commit_at=None,
                staleness=unknown(why, w.staleness), time_column=w.time_column, newest_event_at=None,
                data_lag=unknown(why, w.data_lag), size_bytes=None, files=None, rows=None,
                growth=unknown(why, w.growth), growth_since=None, alerts=w.alerts, error=error,
            )
        staleness = (judge(max(0.0, (now - f.last_commit_at).total_seconds()), w.staleness)
                     if f.last_commit_at else unknown("no commit time in the log", w.staleness))
        return TableHealth(
            table=spec.fqn, layer=spec.layer, exists=True, version=f.version, last_commit_at=f.last_commit_at,
            staleness=staleness, time_column=w.time_column, newest_event_at=f.newest_event,
            data_lag=self._lag(now, f, w), size_bytes=f.size_bytes, files=f.files, rows=f.rows,
            growth=growth[0] if growth else unknown("no size sample", w.growth),
            growth_since=growth[1] if growth else None,
            inputs=tuple(self._delay(spec, d, now, versions, f, w) for d in self.inputs.get(spec.fqn, ())),
            checks=tuple(checks), alerts=w.alerts,
        )

    def _lag(self, now: datetime, f: TableFacts, w: TableWindows) -> Judged:
        if w.time_column is None:
            return unknown("no event-time column declared", w.data_lag)
        if f.newest_event is None:
            return unknown(f.newest_note or f"no statistics for '{w.time_column}'", w.data_lag)
        ahead = (f.newest_event - now).total_seconds()
        if ahead > self.settings.monitoring.clock_skew_s:
            return unknown(f"the newest '{w.time_column}' ({f.newest_event.isoformat()}) is in the future", w.data_lag)
        if f.newest_is_day:  # data through that day: late only once the day is over
            ahead += DAY_S
        return judge(max(0.0, -ahead), w.data_lag, f.newest_note)

    def _delay(
        self, spec: TableSpec, source: TableId, now: datetime, versions: Mapping[str, int | None],
        f: TableFacts, w: TableWindows,
    ) -> InputDelay:
        latest = versions.get(source.fqn)
        if source.fqn not in versions:  # an input outside the monitored tables
            try:
                latest = self._facts.version(source)
            except Exception:
                latest = None
        consumed = f.markers.get(_app_id(spec.id, source))
        if latest is None:
            why = "input not built yet, or its log is unreadable"
            return InputDelay(source.fqn, consumed, None, unknown(why, w.delay_versions), unknown(why, w.delay))
        start = -1 if consumed is None else consumed  # never consumed: behind by the whole input
        note = "never consumed" if consumed is None else None
        behind = judge(float(max(0, latest - start)), w.delay_versions, note)
        pending = self._facts.pending(source, start, latest)
        if not pending.readable:
            seconds = unknown("the input's history is not readable", w.delay)
        elif pending.oldest_data_commit_at is None:
            seconds = judge(0.0, w.delay, None if latest <= start else "only maintenance commits pending")
        else:
            waited = max(0.0, (now - pending.oldest_data_commit_at).total_seconds())
            seconds = judge(waited, w.delay, None if pending.exact else f"at least: more than {HISTORY_CAP} versions behind")
        return InputDelay(source.fqn, consumed, latest, behind, seconds)

    # -- metadata-store signals -------------------------------------------------------------------
    def _open_metadata(self, notes: list[str]) -> MonitorStore | None:
        """The metadata store, or None (said in the notes): then this report skips its signals
        rather than waiting on an unreachable store three times."""
        try:
            return self.metadata
        except Exception as exc:  # the report never fails for the metadata store; it says so
            notes.append(f"metadata store unavailable: {_first_line(exc)}")
            log.info("health report: %s", notes[-1])
            return None

    def _growth(
        self, meta: MonitorStore | None, now: datetime, facts: Mapping[str, TableFacts], notes: list[str],
    ) -> dict[str, tuple[Judged, datetime | None]]:
        from lakehouse.ops.monitor_store import SizeSample

        m = self.settings.monitoring
        if meta is None:
            return {}
        try:
            base = meta.size_baselines(list(facts), now - timedelta(seconds=DAY_S))
        except Exception as exc:
            notes.append(f"size samples unavailable: {_first_line(exc)}")
            return {}
        out: dict[str, tuple[Judged, datetime | None]] = {}
        record: list[SizeSample] = []
        for fqn, f in facts.items():
            w = self.windows[fqn].growth
            b = base.get(fqn, {})
            ref = b.get("before") or b.get("after")
            span = (now - ref.at).total_seconds() if ref else 0.0
            if ref is None or span < m.growth_min_span_s:
                since = ref.at if ref else now
                out[fqn] = (unknown(f"measuring since {since.isoformat()}", w), since)
            else:
                out[fqn] = (judge((f.size_bytes - ref.size_bytes) / span * DAY_S, w), ref.at)
            last = b.get("last")
            if last is None or (now - last.at).total_seconds() >= m.size_sample_interval_s:
                record.append(SizeSample(fqn, now, f.version, f.size_bytes, f.files))
        prune = self._pruned_at is None or (now - self._pruned_at).total_seconds() >= 3600
        try:
            meta.record_sizes(record, now - timedelta(seconds=SIZE_SAMPLES_KEPT_S) if prune else None)
            if prune:
                self._pruned_at = now
        except Exception as exc:
            notes.append(f"size samples not recorded: {_first_line(exc)}")
        return out

    def _checks(self, meta: MonitorStore | None, notes: list[str]) -> dict[str, list[CheckHealth]]:
        pairs = [(t, c) for t, checks in self.expectations.items() for c in checks]
        if meta is None:
            return {}
        try:
            rows = meta.latest_checks(pairs) if pairs else []
        except Exception as exc:
            notes.append(f"quality results unavailable: {_first_line(exc)}")
            return {}
        out: dict[str, list[CheckHealth]] = {}
        for r in sorted(rows, key=lambda r: (r.table, r.check)):
            out.setdefault(r.table, []).append(self._check(r, self.expectations[r.table][r.check]))
        return out

    def _check(self, r: CheckRow, e: Expectation) -> CheckHealth:
        outcome = r.outcome
        if outcome == "pass" and not r.passed:
            # Recorded before outcomes were stored: only `passed` is known; the contract says how bad.
            outcome = "fail" if e.fail_threshold is not None else "warn"
        pct: float | None = None
        if isinstance(e, NotNull) and r.rows_checked:
            pct = 100.0 * r.failing_rows / r.rows_checked
        elif isinstance(e, Completeness) and r.metric is not None:
            pct = max(0.0, 100.0 - r.metric)
        nulls = judge(round(pct, 4), self.windows[r.table].nulls_pct) if pct is not None else None
        return CheckHealth(
            check=r.check, kind=r.kind or type(e).__name__, outcome=outcome, at=r.at, run_id=r.run_id,
            failing_rows=r.failing_rows, rows_checked=r.rows_checked, null_pct=nulls, error=r.error,
        )

    def _jobs(self, meta: MonitorStore | None, now: datetime, notes: list[str]) -> tuple[JobHealth, ...]:
        m = self.settings.monitoring
        if meta is None:
            return ()
        try:
            rows = meta.job_runs(now - timedelta(seconds=m.failed_runs_window_s), m.jobs)
        except Exception as exc:
            notes.append(f"runs unavailable: {_first_line(exc)}")
            return ()
        out = []
        for j in rows:
            ok = j.last_success
            w = job_window(m, j.job)
            success_at = (ok.ended_at or ok.started_at) if ok else None
            age = (judge(max(0.0, (now - success_at).total_seconds()), w) if success_at
                   else unknown("no successful run", w))
            out.append(JobHealth(
                job=j.job, layers=_job_layers(j), last_run_id=j.last.run_id, last_status=j.last.status,
                last_started_at=j.last.started_at, last_ended_at=j.last.ended_at,
                last_duration_s=j.last.duration_s, last_error=j.last.error, last_success_at=success_at,
                success_age=age, failed_runs=j.failed_in_window,
            ))
        seen = {j.job for j in out}
        notes.extend(f"job '{name}' has no recorded run" for name in m.jobs if name not in seen)
        return tuple(out)

    def _kafka_health(self, facts: Mapping[str, TableFacts]) -> KafkaHealth:
        mode = self.settings.monitoring.kafka
        if mode == "off":
            return KafkaHealth("off", "monitoring.kafka is off")
        used = any(k.startswith("kafka:") for f in facts.values() for k in f.markers)
        if mode == "auto" and not used:
            return KafkaHealth("off", "bronze holds no Kafka offsets")
        probe = self._kafka.measure()
        if not probe.ok:
            return KafkaHealth("unavailable", probe.detail)
        w = self.settings.monitoring.kafka_lag
        parts = tuple(
            PartitionLag(topic, p, judge(float(lag), w))
            for topic, by_part in sorted(probe.lag.items()) for p, lag in sorted(by_part.items())
        )
        return KafkaHealth("ok", None, parts)

