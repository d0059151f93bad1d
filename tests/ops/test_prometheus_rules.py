"""The Prometheus alerting rules: valid, passing their promtool unit tests, and firing for exactly what
`lakehouse alerts` fires for when fed the collector's own metrics from a real lake.

promtool comes from Debian's `prometheus` package (`.ci/run` installs it). Without it these tests
skip, unless LAKEHOUSE_REQUIRE_PROMTOOL=1 (CI), which makes a missing promtool a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from lakehouse.metadata.store import MetadataStore
from lakehouse.ops.alerts import alerts_from
from lakehouse.ops.health import LakehouseHealthMonitor
from lakehouse.ops.kafka_probe import kafka_app_id
from lakehouse.ops.metrics import HealthCollector
from lakehouse.storage.delta import DeltaStore
from monitor_support import add_check, add_run, append, last_commit

from support import make_settings

RULES_DIR = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
RULES = RULES_DIR / "lakehouse-alerts.yml"
APP = "transform:silver.app_events<-bronze.app_events"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("LAKEHOUSE_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required (LAKEHOUSE_REQUIRE_PROMTOOL=1) but not installed", pytrace=False)
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_rules_file_is_valid(promtool: str) -> None:
    out = run(promtool, "check", "rules", RULES.name, cwd=RULES_DIR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


def test_the_rules_pass_their_unit_tests(promtool: str) -> None:
    out = run(promtool, "test", "rules", "lakehouse-alerts.test.yml", cwd=RULES_DIR)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_wrong_expectation_fails_the_unit_tests(promtool: str, tmp_path: Path) -> None:
    shutil.copy(RULES, tmp_path)
    text = (RULES_DIR / "lakehouse-alerts.test.yml").read_text()
    (tmp_path / "t.yml").write_text(text.replace("'gold.a: last commit 12m 0s ago'", "'gold.a: last commit 1m 0s ago'"))
    out = run(promtool, "test", "rules", "t.yml", cwd=tmp_path)
    assert out.returncode != 0 and "FAILED" in out.stdout + out.stderr


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


# -- the rules and the evaluator agree, on the collector's metrics from a real lake ---------------------
WINDOWS = {
    "staleness": {"warn": 600, "fail": 3600}, "data_lag": {"warn": 3600, "fail": 7200},
    "delay": {"warn": 900, "fail": 3600}, "nulls_pct": {"warn": 5, "fail": 50},
    "growth": {"warn": 1000, "fail": 10**12}, "kafka": "on", "kafka_lag": {"warn": 100_000},
    "job_age": {"warn": 10**9},  # exported, never crossed (the rule compares with time())
}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> LakehouseHealthMonitor:
    """A lake where every kind of problem shows: stale and late tables, a model behind its input, a failed
    check, nulls over the window, growth, a failed run, Kafka lag."""
    root = tmp_path_factory.mktemp("prom") / "lake"
    settings = make_settings(root, monitoring=WINDOWS)
    store = DeltaStore(settings)
    day = last_commit_at = None
    from datetime import UTC, datetime

    day = datetime(2026, 3, 1, tzinfo=UTC)
    append(store, "bronze.app_events", 3, timestamp=day, event_date=day.date(),
           txns={kafka_app_id(settings.kafka.topic("app_events"), 0): 3})
    append(store, "silver.app_events", 3, event_id=["a", "b", "c"], event_date=day.date(), txns={APP: 0})
    meta = MetadataStore.open(settings.metadata_dsn)
    add_check(meta, "silver.app_events", "schema", "fail", failing=1)
    add_check(meta, "silver.app_events", "event_id_user_id_event_type_event_timestamp_not_null", "warn", failing=10, checked=100)
    add_check(meta, "silver.app_events", "app_type_in_set", "warn", failing=1)
    first = last_commit(store, "silver.app_events")
    add_run(meta, "ingest", "success", first)
    add_run(meta, "transform.silver", "failed", first, error="boom")
    lag = {settings.kafka.topic("app_events"): {0: 500_000, 1: 5}}
    probe = LakehouseHealthMonitor(settings, metadata=meta, kafka_lag=lambda s: lag)
    probe.generate_health_report(first)  # the size baseline
    append(store, "bronze.app_events", 500, timestamp=day, event_date=day.date())  # growth, and silver falls behind
    last_commit_at = last_commit(store, "bronze.app_events")
    now = max(first + timedelta(hours=2), last_commit_at + timedelta(hours=2))
    return LakehouseHealthMonitor(settings, metadata=meta, kafka_lag=lambda s: lag, clock=lambda: now)


def series(monitor: LakehouseHealthMonitor) -> list[dict[str, str]]:
    registry = CollectorRegistry()
    registry.register(HealthCollector(monitor))
    out = []
    for family in registry.collect():
        for s in family.samples:
            labels = {**s.labels, "instance": "lh:8888", "job": "lakehouse"}
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out.append({"series": f"{s.name}{{{text}}}", "values": f"{s.value!r}x20"})
    return out


def test_the_rules_fire_for_exactly_what_the_evaluator_fires_for(
    promtool: str, scenario: LakehouseHealthMonitor, tmp_path: Path
) -> None:
    report = scenario.generate_health_report()
    alerts = alerts_from(report, scenario.settings.monitoring.rules)
    named = {r["alert"] for r in rules()}
    two_levels = {r["alert"] for r in rules() if r["labels"]["severity"] == "warning"} & {
        r["alert"] for r in rules() if r["labels"]["severity"] == "critical"}
    # every kind of problem is in the scenario (else the comparison below proves little)
    assert {a.alertname for a in alerts} == {
        "LakehouseTableStale", "LakehouseDataLate", "LakehousePipelineBehind", "LakehouseQualityCheckFailed",
        "LakehouseNullsHigh", "LakehouseStorageGrowth", "LakehouseJobFailed", "LakehouseKafkaLag"}
    expected: dict[str, list[dict[str, Any]]] = {name: [] for name in named}
    for a in alerts:
        levels = ["warning", "critical"] if a.severity == "critical" and a.alertname in two_levels else [a.severity]
        for sev in levels:
            labels = {**a.subject, "severity": sev, "instance": "lh:8888", "job": "lakehouse"}
            if a.alertname == "LakehouseQualityCheckFailed":
                labels["outcome"] = next(c.outcome for t in report.tables for c in t.checks
                                         if t.table == a.subject["table"] and c.check == a.subject["check"])
            expected[a.alertname].append({"exp_labels": labels})
    # the shipped rules without their annotations (they are the unit tests' business)
    stripped = yaml.safe_load(RULES.read_text())
    for g in stripped["groups"]:
        for r in g["rules"]:
            r.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(stripped))
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series(scenario),
        "alert_rule_test": [{"eval_time": "15m", "alertname": name, "exp_alerts": exp} for name, exp in sorted(expected.items())],
    }]}
    (tmp_path / "agree.test.yml").write_text(json.dumps(test))
    out = run(promtool, "test", "rules", "agree.test.yml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_the_rules_use_only_metrics_the_collector_exports(scenario: LakehouseHealthMonitor) -> None:
    used = {m for r in rules() for m in re.findall(r"\blakehouse_[a-z_]+", r["expr"])}
    exported = {s["series"].split("{")[0] for s in series(scenario)}
    assert used <= exported, used - exported


def test_every_alert_of_the_evaluator_has_a_prometheus_rule(scenario: LakehouseHealthMonitor) -> None:
    import inspect

    from lakehouse.ops import alerts

    raised = set(re.findall(r'Alert\("(Lakehouse[A-Za-z]+)"', inspect.getsource(alerts)))
    assert raised and raised <= {r["alert"] for r in rules()}
