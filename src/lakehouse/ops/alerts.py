"""Alert rules over the health report, alert state in the metadata store, and notification.

A rule turns a judged signal into an `Alert` (warn -> severity `warning`, fail -> `critical`):
stale table, data late, pipeline behind, nulls over the threshold in a checked column, storage
growth, a job whose latest run failed, a job without a recent success, a quality check whose
latest outcome is fail or error, Kafka lag. An alert is identified by its fingerprint, a hash
of its name and subject labels (table, input, check, job_name, topic, partition; not the severity),
so one problem is one alert until it resolves, also across an escalation from warning to
critical.

`AlertEvaluator.evaluate()` compares the alerts of a fresh report with the state stored in the
metadata store (so it survives a restart) and tells each notifier, per alert: once when it
starts firing, again when its severity changes or `monitoring.repeat_interval_s` has passed,
and once when it resolves. Evaluations of one lake are serialised by a lock file; a
notification that cannot be delivered is sent again at the next evaluation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from filelock import FileLock, Timeout
from sqlalchemy.exc import SQLAlchemyError

from lakehouse.config import AlertRules, Settings
from lakehouse.exceptions import LakehouseError
from lakehouse.ops.health import LakehouseHealthMonitor, as_utc
from lakehouse.ops.health_report import HealthReport, Judged
from lakehouse.ops.monitor_store import AlertRow, DeliveryRow, MonitorStore
from lakehouse.ops.notify import SEVERITY_RANK, Notice, Notifier, Severity, default_notifiers
from lakehouse.storage.locks import lock_path

log = logging.getLogger(__name__)


class MonitorUnavailableError(LakehouseError):
    """Alerts cannot be evaluated now (metadata store unreachable, lock held); try again later."""

    transient = True


NEVER = "0001-01-01T00:00:00Z"
KEEP_RESOLVED_S = 7 * 86_400.0
LOCK_TIMEOUT_S = 60.0


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@dataclass(frozen=True)
class Alert:
    alertname: str
    subject: dict[str, str]  # what is wrong: table, input, check, job_name, topic, partition
    severity: Severity
    summary: str
    value: float | None = None
    threshold: float | None = None

    @property
    def fingerprint(self) -> str:
        ident = {"alertname": self.alertname, **self.subject}
        text = "\x1f".join(f"{k}={v}" for k, v in sorted(ident.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def labels(self) -> dict[str, str]:
        return {"alertname": self.alertname, **self.subject, "severity": self.severity}

    @property
    def annotations(self) -> dict[str, str]:
        out = {"summary": self.summary}
        if self.value is not None:
            out["value"] = f"{self.value:g}"
        if self.threshold is not None:
            out["threshold"] = f"{self.threshold:g}"
        return out


def _severity(j: Judged) -> Severity | None:
    return "critical" if j.status == "fail" else "warning" if j.status == "warn" else None


def alerts_from(report: HealthReport, rules: AlertRules) -> list[Alert]:
    """Every problem in the report that an enabled rule alerts on."""
    return list(_alerts(report, rules))


def _alerts(report: HealthReport, rules: AlertRules) -> Iterator[Alert]:
    for t in report.tables:
        if not t.exists or not t.alerts:
            continue
        where = {"table": t.table, "layer": t.layer}
        if rules.stale and (sev := _severity(t.staleness)):
            yield Alert("LakehouseTableStale", where, sev,
                        f"{t.table}: last commit {_dur(t.staleness.value)} ago (> {_dur(t.staleness.threshold)})",
                        t.staleness.value, t.staleness.threshold)
        if rules.data_lag and (sev := _severity(t.data_lag)):
            yield Alert("LakehouseDataLate", where, sev,
                        f"{t.table}: newest {t.time_column} is {_dur(t.data_lag.value)} old (> {_dur(t.data_lag.threshold)})",
                        t.data_lag.value, t.data_lag.threshold)
        if rules.storage_growth and (sev := _severity(t.growth)):
            yield Alert("LakehouseStorageGrowth", where, sev,
                        f"{t.table}: grows {_bytes(t.growth.value)}/day (> {_bytes(t.growth.threshold)}/day)",
                        t.growth.value, t.growth.threshold)
        for i in t.inputs:
            sev_s, sev_v = _severity(i.seconds), _severity(i.versions)
            if rules.layer_delay and (sev_s or sev_v):
                sev = "critical" if "critical" in (sev_s, sev_v) else "warning"
                versions = "?" if i.versions.value is None else f"{i.versions.value:g}"
                yield Alert("LakehousePipelineBehind", {**where, "input": i.input}, sev,
                            f"{t.table} is {versions} versions of {i.input} behind; the oldest waited "
                            f"{_dur(i.seconds.value)}", i.seconds.value,
                            i.seconds.threshold if i.seconds.threshold is not None else i.versions.threshold)
        for c in t.checks:
            subject = {**where, "check": c.check}
            if rules.quality and c.outcome in ("fail", "error"):
                yield Alert("LakehouseQualityCheckFailed", subject, "critical",
                            f"{t.table}: check {c.check} {c.outcome} ({c.failing_rows:,} of {c.rows_checked:,} rows)"
                            + (f": {c.error}" if c.error else ""), float(c.failing_rows))
            if rules.nulls and c.null_pct is not None and (sev := _severity(c.null_pct)):
                yield Alert("LakehouseNullsHigh", subject, sev,
                            f"{t.table}: {c.null_pct.value:g}% nulls found by {c.check} (> {c.null_pct.threshold:g}%)",
                            c.null_pct.value, c.null_pct.threshold)
    for j in report.jobs:
        if rules.failed_run and j.last_status == "failed":
            yield Alert("LakehouseJobFailed", {"job_name": j.job}, "critical",
                        f"{j.job}: the latest run {j.last_run_id} failed: {j.last_error or 'no error recorded'}")
        if rules.job_age and (sev := _severity(j.success_age)):
            yield Alert("LakehouseJobNoRecentSuccess", {"job_name": j.job}, sev,
                        f"{j.job}: last success {_dur(j.success_age.value)} ago (> {_dur(j.success_age.threshold)})",
                        j.success_age.value, j.success_age.threshold)
    for p in report.kafka.partitions:
        if rules.kafka_lag and (sev := _severity(p.lag)):
            yield Alert("LakehouseKafkaLag", {"topic": p.topic, "partition": str(p.partition)}, sev,
                        f"{p.topic}[{p.partition}]: {p.lag.value:,.0f} messages not in bronze", p.lag.value, p.lag.threshold)


@dataclass(frozen=True)
class Delivery:
    notifier: str
    group: str
    status: Literal["firing", "resolved"]
    fingerprints: tuple[str, ...]
    delivered: bool
    error: str | None = None


@dataclass(frozen=True)
class Evaluation:
    at: datetime
    report_status: str
    firing: tuple[Alert, ...]
    resolved: tuple[str, ...]  # fingerprints resolved by this evaluation
    deliveries: tuple[Delivery, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "report_status": self.report_status,
            "firing": [{"fingerprint": a.fingerprint, "labels": a.labels, "annotations": a.annotations}
                       for a in self.firing],
            "resolved": list(self.resolved),
            "deliveries": [{"notifier": d.notifier, "group": d.group, "status": d.status,
                            "alerts": list(d.fingerprints), "delivered": d.delivered, "error": d.error}
                           for d in self.deliveries],
        }


class AlertEvaluator:
    def __init__(self, settings: Settings, monitor: LakehouseHealthMonitor | None = None, *,
                 notifiers: Sequence[Notifier] | None = None) -> None:
        self.settings = settings
        self.monitor = monitor or LakehouseHealthMonitor(settings)
        self.notifiers = list(notifiers) if notifiers is not None else default_notifiers(settings)

    @property
    def store(self) -> MonitorStore:
        return self.monitor.metadata

    def evaluate(self, now: datetime | None = None) -> Evaluation:
        now = as_utc(now or self.monitor.clock())
        report = self.monitor.generate_health_report(now)
        active = {a.fingerprint: a for a in alerts_from(report, self.settings.monitoring.rules)}
        path = lock_path(self.settings, "alerts")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(path, timeout=LOCK_TIMEOUT_S, thread_local=False, is_singleton=False):
                return self._evaluate(now, report, active)
        except Timeout:
            raise MonitorUnavailableError("another alert evaluation of this lake has held its lock for a minute",
                                          hint=f"is one stuck? lock file: {path}") from None
        except SQLAlchemyError as exc:  # the alert state lives there: without it nothing is sent
            text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise MonitorUnavailableError(f"alert state unavailable: {text}",
                                          hint="check LAKEHOUSE_METADATA_URL; nothing was sent") from None

    def _evaluate(self, now: datetime, report: HealthReport, active: dict[str, Alert]) -> Evaluation:
        state, sent = self.store.open_alerts()
        state.update(self.store.known_alerts([fp for fp in active if fp not in state]))
        changed: list[AlertRow] = []
        for fp, a in active.items():
            row = state.get(fp)
            if row is None or row.status == "resolved":  # a new occurrence
                row = state[fp] = AlertRow(fp, a.alertname, a.labels, a.annotations, a.severity, "firing",
                                           starts_at=now, ends_at=None, updated_at=now)
            else:
                row.labels, row.annotations, row.severity, row.updated_at = a.labels, a.annotations, a.severity, now
            changed.append(row)
        resolved = []
        for fp, row in state.items():
            if fp not in active and row.status == "firing":
                row.status, row.ends_at, row.updated_at = "resolved", now, now
                changed.append(row)
                resolved.append(fp)
        # The state is saved before anything is sent: a crash mid-notification repeats a
        # notification at worst (the delivery was not recorded), it never loses a resolution.
        self.store.save_alerts(changed)
        deliveries, done = self._notify(now, state, sent)
        self.store.save_deliveries(done)
        self.store.prune_alerts(now - timedelta(seconds=KEEP_RESOLVED_S))
        return Evaluation(now, report.status, tuple(active.values()), tuple(resolved), tuple(deliveries))

    def _notify(
        self, now: datetime, state: dict[str, AlertRow], sent: dict[tuple[str, str], DeliveryRow],
    ) -> tuple[list[Delivery], list[DeliveryRow]]:
        repeat = self.settings.monitoring.repeat_interval_s
        deliveries: list[Delivery] = []
        done: list[DeliveryRow] = []
        for n in self.notifiers:
            groups: dict[str, list[tuple[AlertRow, Notice]]] = {}
            for fp, row in sorted(state.items(), key=lambda kv: kv[1].starts_at):
                d = sent.get((fp, n.name))
                wanted = row.status == "firing" and SEVERITY_RANK[row.severity] >= SEVERITY_RANK[n.min_severity]
                if wanted:
                    due = (d is None or d.status != "firing" or d.severity != row.severity
                           or (now - d.sent_at).total_seconds() >= repeat)
                    notice = Notice(fp, "firing", row.labels, row.annotations, row.starts_at.isoformat(), NEVER)
                else:  # resolved, or below this notifier's severity: resolve what it was told
                    due = d is not None and d.status == "firing"
                    notice = Notice(fp, "resolved", row.labels, row.annotations, row.starts_at.isoformat(),
                                    (row.ends_at or now).isoformat())
                if due:
                    groups.setdefault(row.alertname, []).append((row, notice))
            failed: str | None = None
            for group, items in sorted(groups.items()):
                notices = [x for _, x in items]
                status: Literal["firing", "resolved"] = "firing" if any(x.status == "firing" for x in notices) else "resolved"
                fps = tuple(x.fingerprint for x in notices)
                if failed is not None:  # one retry sequence per receiver per evaluation, not one per group
                    deliveries.append(Delivery(n.name, group, status, fps, False, f"not tried: {failed}"))
                    continue
                try:
                    n.send(group, notices)
                except Exception as exc:  # a notifier failing never ends the evaluation
                    log.warning("alert notification to %s (%s, %d alerts) failed: %s", n.name, group, len(notices), exc)
                    failed = str(exc)[:300]
                    deliveries.append(Delivery(n.name, group, status, fps, False, failed))
                    continue
                deliveries.append(Delivery(n.name, group, status, fps, True))
                done.extend(DeliveryRow(row.fingerprint, n.name, x.status, row.severity, now) for row, x in items)
        return deliveries, done

    def alerts(self, status: str | None = "firing") -> list[AlertRow]:
        """Alerts in the store (firing by default), newest first."""
        return self.store.alerts(status)
