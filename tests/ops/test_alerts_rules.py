"""Alert rules over any report: an alert exactly for each judged problem an enabled rule covers, with a
fingerprint that names the problem (not its severity, value or wording)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from lakehouse.config import AlertRules
from lakehouse.ops.alerts import Alert, alerts_from
from lakehouse.ops.health_report import (
    CheckHealth,
    HealthReport,
    InputDelay,
    JobHealth,
    Judged,
    KafkaHealth,
    PartitionLag,
    TableHealth,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
statuses = st.sampled_from(["ok", "warn", "fail", "unknown"])
SEVERITY = {"warn": "warning", "fail": "critical"}


def judged(status: str) -> Judged:
    return Judged(None if status == "unknown" else 1.0, status, 0.5, 2.0)  # type: ignore[arg-type]


@st.composite
def reports(draw: st.DrawFn) -> HealthReport:
    tables = []
    for name in draw(st.lists(st.sampled_from(["gold.a", "gold.b", "silver.c"]), unique=True, max_size=3)):
        checks = tuple(
            CheckHealth(check=f"k{i}", kind="NotNull", outcome=draw(st.sampled_from(["pass", "warn", "fail", "error"])),
                        at=NOW, run_id=None, failing_rows=1, rows_checked=10,
                        null_pct=draw(st.none() | statuses.map(judged)))
            for i in range(draw(st.integers(0, 2)))
        )
        inputs = tuple(InputDelay(f"bronze.i{i}", 0, 1, judged(draw(statuses)), judged(draw(statuses)))
                       for i in range(draw(st.integers(0, 2))))
        tables.append(TableHealth(
            table=name, layer=name.split(".")[0], exists=draw(st.booleans()), version=1, last_commit_at=NOW,
            staleness=judged(draw(statuses)), time_column="t", newest_event_at=NOW, data_lag=judged(draw(statuses)),
            size_bytes=1, files=1, rows=1, growth=judged(draw(statuses)), growth_since=NOW, inputs=inputs,
            checks=checks, alerts=draw(st.booleans()),
        ))
    jobs = tuple(
        JobHealth(job=j, layers=("gold",), last_run_id="r", last_status=draw(st.sampled_from(["success", "failed"])),
                  last_started_at=NOW, last_ended_at=NOW, last_duration_s=1.0, last_error=None, last_success_at=NOW,
                  success_age=judged(draw(statuses)), failed_runs=0)
        for j in draw(st.lists(st.sampled_from(["ingest", "transform.gold"]), unique=True))
    )
    parts = tuple(PartitionLag("t", p, judged(draw(statuses))) for p in range(draw(st.integers(0, 2))))
    return HealthReport(generated_at=NOW, tables=tuple(tables), jobs=jobs, kafka=KafkaHealth("ok", None, parts))


def expected(r: HealthReport, rules: AlertRules) -> set[tuple[str, tuple[tuple[str, str], ...], str]]:
    out = set()

    def add(on: bool, name: str, subject: dict[str, str], status: str) -> None:
        if on and status in SEVERITY:
            out.add((name, tuple(sorted(subject.items())), SEVERITY[status]))

    for t in r.tables:
        if not (t.exists and t.alerts):
            continue
        where = {"table": t.table, "layer": t.layer}
        add(rules.stale, "LakehouseTableStale", where, t.staleness.status)
        add(rules.data_lag, "LakehouseDataLate", where, t.data_lag.status)
        add(rules.storage_growth, "LakehouseStorageGrowth", where, t.growth.status)
        for i in t.inputs:
            add(rules.layer_delay, "LakehousePipelineBehind", {**where, "input": i.input}, i.status)
        for c in t.checks:
            add(rules.quality, "LakehouseQualityCheckFailed", {**where, "check": c.check},
                "fail" if c.outcome in ("fail", "error") else "ok")
            if c.null_pct is not None:
                add(rules.nulls, "LakehouseNullsHigh", {**where, "check": c.check}, c.null_pct.status)
    for j in r.jobs:
        add(rules.failed_run, "LakehouseJobFailed", {"job_name": j.job}, "fail" if j.last_status == "failed" else "ok")
        add(rules.job_age, "LakehouseJobNoRecentSuccess", {"job_name": j.job}, j.success_age.status)
    for p in r.kafka.partitions:
        add(rules.kafka_lag, "LakehouseKafkaLag", {"topic": p.topic, "partition": str(p.partition)}, p.lag.status)
    return out


rule_sets = st.builds(AlertRules, **{name: st.booleans() for name in AlertRules.model_fields})


@given(report=reports(), rules=rule_sets)
def test_an_alert_for_exactly_each_problem_an_enabled_rule_covers(report: HealthReport, rules: AlertRules) -> None:
    got = alerts_from(report, rules)
    assert {(a.alertname, tuple(sorted(a.subject.items())), a.severity) for a in got} == expected(report, rules)
    assert len({a.fingerprint for a in got}) == len(got)  # one alert per problem


names = st.text("abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=20)


@given(table=names, other=names, summary=st.text(max_size=30), value=st.floats(allow_nan=False) | st.none())
def test_the_fingerprint_names_the_problem_only(table: str, other: str, summary: str, value: float | None) -> None:
    a = Alert("LakehouseTableStale", {"table": table}, "warning", "x", 1.0, 2.0)
    same = Alert("LakehouseTableStale", {"table": table}, "critical", summary, value, None)
    assert a.fingerprint == same.fingerprint
    assert a.labels["severity"] == "warning" and same.labels["severity"] == "critical"
    if other != table:
        assert Alert("LakehouseTableStale", {"table": other}, "warning", "x").fingerprint != a.fingerprint
    assert Alert("LakehouseDataLate", {"table": table}, "warning", "x").fingerprint != a.fingerprint
