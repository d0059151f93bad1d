"""The health report as Prometheus metrics: a collector for the API's `/metrics` registry.

Every signal is a gauge, and so is every window it is judged by (`*_threshold_*`, one series
per severity: `warning` for `warn`, `critical` for `fail`), so the alerting rules shipped in
`ops/prometheus/lakehouse-alerts.yml` follow the same per-table settings as `lakehouse alerts`.
A window that is off has no threshold series, and its rule cannot fire. Scrapes within
`monitoring.metrics_cache_s` of each other share one report.

    registry.register(HealthCollector(LakehouseHealthMonitor(settings)))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lakehouse.ops.health import LakehouseHealthMonitor
from lakehouse.ops.health_report import HealthReport, Judged

OUTCOMES = ("pass", "warn", "fail", "error")
STATUS_VALUE = {"ok": 0, "unknown": 0, "warn": 1, "fail": 2}


def _ts(value: object) -> float | None:
    return value.timestamp() if hasattr(value, "timestamp") else None


class _Family:
    """A gauge family that skips unknown values."""

    def __init__(self, name: str, doc: str, labels: list[str], unit: str = "") -> None:
        self.g = GaugeMetricFamily(name, doc, labels=labels, unit=unit)

    def add(self, labels: list[str], value: float | None) -> None:
        if value is not None:
            self.g.add_metric(labels, float(value))

    def thresholds(self, labels: list[str], j: Judged) -> None:
        self.add([*labels, "warning"], j.warn)
        self.add([*labels, "critical"], j.fail)


class HealthCollector(Collector):
    def __init__(self, monitor: LakehouseHealthMonitor, *, cache_s: float | None = None) -> None:
        self.monitor = monitor
        self.cache_s = monitor.settings.monitoring.metrics_cache_s if cache_s is None else cache_s
        self._cached: tuple[float, HealthReport] | None = None
        self._lock = threading.Lock()

    def report(self) -> HealthReport:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.cache_s:
                self._cached = (now, self.monitor.generate_health_report())
            return self._cached[1]

    def describe(self) -> Iterable[Metric]:
        return []  # not described up front: registering must not build a report

    def collect(self) -> Iterator[Metric]:
        r = self.report()
        t, th = ["table", "layer"], ["table", "layer", "severity"]
        fam = {
            "commit": _Family("lakehouse_table_last_commit_timestamp_seconds", "Unix time of the table's last Delta commit", t),
            "stale": _Family("lakehouse_table_staleness_seconds", "Seconds since the table's last commit", t),
            "stale_t": _Family("lakehouse_table_staleness_threshold_seconds", "Staleness window per severity", th),
            "event": _Family("lakehouse_table_newest_event_timestamp_seconds", "Unix time of the newest event time", t),
            "lag": _Family("lakehouse_table_data_lag_seconds", "Seconds since the newest event time", t),
            "lag_t": _Family("lakehouse_table_data_lag_threshold_seconds", "Data-lag window per severity", th),
            "size": _Family("lakehouse_table_size_bytes", "Bytes in the table's live data files", t),
            "files": _Family("lakehouse_table_files", "Live data files", t),
            "rows": _Family("lakehouse_table_rows", "Rows (from the Delta log)", t),
            "version": _Family("lakehouse_table_version", "Delta version", t),
            "growth": _Family("lakehouse_table_growth_bytes_per_day", "Size growth per day (from size samples)", t),
            "growth_t": _Family("lakehouse_table_growth_threshold_bytes_per_day", "Growth window per severity", th),
            "dv": _Family("lakehouse_layer_delay_versions", "Input versions a model has not consumed", [*t, "input"]),
            "ds": _Family("lakehouse_layer_delay_seconds", "Seconds the oldest unconsumed input commit has waited",
                          [*t, "input"]),
            "ds_t": _Family("lakehouse_layer_delay_threshold_seconds", "Layer-delay window per severity", th),
            "q": _Family("lakehouse_quality_check_status", "1 for the latest outcome of a check, 0 for the others",
                         [*t, "check", "outcome"]),
            "qf": _Family("lakehouse_quality_check_failing_rows", "Failing rows in the latest result", [*t, "check"]),
            "qn": _Family("lakehouse_quality_null_percent", "% nulls found by a not_null/completeness check",
                          [*t, "check"]),
            "qn_t": _Family("lakehouse_quality_null_percent_threshold", "Nulls window per severity", th),
        }
        for x in r.tables:
            if not x.exists:
                continue
            lab = [x.table, x.layer]
            fam["commit"].add(lab, _ts(x.last_commit_at))
            fam["stale"].add(lab, x.staleness.value)
            fam["event"].add(lab, _ts(x.newest_event_at))
            fam["lag"].add(lab, x.data_lag.value)
            fam["size"].add(lab, x.size_bytes)
            fam["files"].add(lab, x.files)
            fam["rows"].add(lab, x.rows)
            fam["version"].add(lab, x.version)
            fam["growth"].add(lab, x.growth.value)
            if x.alerts:  # a table that must not alert exports no window
                fam["stale_t"].thresholds(lab, x.staleness)
                fam["lag_t"].thresholds(lab, x.data_lag)
                fam["growth_t"].thresholds(lab, x.growth)
                if x.inputs:
                    fam["ds_t"].thresholds(lab, x.inputs[0].seconds)
                nulls = next((c.null_pct for c in x.checks if c.null_pct is not None), None)
                if nulls is not None:
                    fam["qn_t"].thresholds(lab, nulls)
            for i in x.inputs:
                fam["dv"].add([*lab, i.input], i.versions.value)
                fam["ds"].add([*lab, i.input], i.seconds.value)
            for c in x.checks:
                for o in OUTCOMES:
                    fam["q"].add([*lab, c.check, o], 1.0 if c.outcome == o else 0.0)
                fam["qf"].add([*lab, c.check], c.failing_rows)
                if c.null_pct is not None:
                    fam["qn"].add([*lab, c.check], c.null_pct.value)
        yield from (f.g for f in fam.values())
        yield from self._jobs(r)
        yield from self._kafka(r)
        status = GaugeMetricFamily("lakehouse_health_status", "Worst status in the health report: 0 ok, 1 warn, 2 fail")
        status.add_metric([], STATUS_VALUE[r.status])
        yield status
        took = GaugeMetricFamily("lakehouse_health_report_duration_seconds", "Time the last health report took")
        took.add_metric([], r.elapsed_ms / 1000)
        yield took

    def _jobs(self, r: HealthReport) -> Iterator[Metric]:
        j = ["job_name"]
        last = _Family("lakehouse_job_last_run_timestamp_seconds", "Start of the job's latest run", j)
        took = _Family("lakehouse_job_last_run_duration_seconds", "Duration of the job's latest run", j)
        failed = _Family("lakehouse_job_last_run_failed", "1 when the job's latest run failed", j)
        ok = _Family("lakehouse_job_last_success_timestamp_seconds", "End of the job's latest successful run", j)
        age_t = _Family("lakehouse_job_success_age_threshold_seconds", "Success-age window per severity", [*j, "severity"])
        count = _Family("lakehouse_job_failed_runs", "Failed runs in the monitoring window", j)
        for x in r.jobs:
            last.add([x.job], _ts(x.last_started_at))
            took.add([x.job], x.last_duration_s)
            failed.add([x.job], 1.0 if x.last_status == "failed" else 0.0)
            ok.add([x.job], _ts(x.last_success_at))
            age_t.thresholds([x.job], x.success_age)
            count.add([x.job], x.failed_runs)
        yield from (f.g for f in (last, took, failed, ok, age_t, count))

    def _kafka(self, r: HealthReport) -> Iterator[Metric]:
        if r.kafka.state == "off":
            return
        up = GaugeMetricFamily("lakehouse_kafka_up", "1 when the broker answered the lag probe")
        up.add_metric([], 1.0 if r.kafka.state == "ok" else 0.0)
        yield up
        lag = _Family("lakehouse_kafka_consumer_lag_messages", "Messages in Kafka not yet in bronze", ["topic", "partition"])
        lag_t = _Family("lakehouse_kafka_consumer_lag_threshold_messages", "Kafka-lag window per severity", ["severity"])
        for p in r.kafka.partitions:
            lag.add([p.topic, str(p.partition)], p.lag.value)
        if r.kafka.partitions:
            lag_t.thresholds([], r.kafka.partitions[0].lag)
        yield lag.g
        yield lag_t.g
