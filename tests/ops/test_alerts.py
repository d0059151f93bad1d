"""Alerts against a real webhook receiver on 127.0.0.1: fire once, repeat on the interval, escalate,
resolve once, survive a restart (same metadata store, SQLite and PostgreSQL), survive a bad receiver."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import Settings
from lakehouse.metadata.store import MetadataStore
from lakehouse.ops.alerts import NEVER, AlertEvaluator, Evaluation
from lakehouse.ops.health import LakehouseHealthMonitor
from lakehouse.storage.delta import DeltaStore
from monitor_support import (
    Receiver,
    append,
    free_port,
    last_commit,
    receiver,
)

from support import BACKENDS, backend_dsn, make_settings

STALE = "LakehouseTableStale"
TABLE = "bronze.app_events"


@dataclass
class Lake:
    root: Path
    dsn: str
    store: DeltaStore
    committed: datetime
    hook: Receiver
    opened: list[MetadataStore] = field(default_factory=list)

    def settings(self, **monitoring: Any) -> Settings:
        hooks = monitoring.pop("webhooks", [{"url": self.hook.url, "name": "hook"}])
        return make_settings(self.root, metadata_url=self.dsn, monitoring={
            "webhooks": hooks, "repeat_interval_s": 3600, "webhook_backoff_s": 0.01, **monitoring})

    def evaluator(self, **monitoring: Any) -> AlertEvaluator:
        """A new evaluator on a new connection to the same store: what a restarted process gets."""
        s = self.settings(**monitoring)
        meta = MetadataStore.open(self.dsn)
        self.opened.append(meta)
        return AlertEvaluator(s, LakehouseHealthMonitor(s, metadata=meta))

    def commit(self) -> datetime:
        append(self.store, TABLE, 1, event_id="x", event_date=self.committed.date())
        return last_commit(self.store, TABLE)


@pytest.fixture(params=BACKENDS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lake]:
    dsn = backend_dsn(request.param, tmp_path)
    store = DeltaStore(make_settings(tmp_path / "lake"))
    append(store, TABLE, 2, event_id=["a", "b"])
    with receiver() as hook:
        lake = Lake(tmp_path / "lake", dsn, store, last_commit(store, TABLE), hook)
        yield lake
        for meta in lake.opened:
            meta.close()


def stale_fingerprints(ev: Evaluation) -> set[str]:
    return {a.fingerprint for a in ev.firing if a.alertname == STALE and a.subject["table"] == TABLE}


def test_an_alert_fires_once_repeats_on_its_interval_resolves_once_and_survives_restarts(lake: Lake) -> None:
    windows = {"staleness": {"warn": 600, "fail": None}}
    c = lake.committed
    ev = lake.evaluator(**windows)
    assert not stale_fingerprints(ev.evaluate(c + timedelta(minutes=5)))
    assert lake.hook.bodies == []
    (fp,) = stale_fingerprints(ev.evaluate(c + timedelta(minutes=11)))
    assert lake.hook.count(fp, "firing") == 1
    for minutes in (12, 30, 60):
        ev.evaluate(c + timedelta(minutes=minutes))
    assert lake.hook.count(fp, "firing") == 1  # still the same problem: not sent again
    restarted = lake.evaluator(**windows)
    restarted.evaluate(c + timedelta(minutes=70))
    assert lake.hook.count(fp, "firing") == 1  # the state survived the restart
    restarted.evaluate(c + timedelta(minutes=11, seconds=3600))  # an hour after the first send
    assert lake.hook.count(fp, "firing") == 2
    assert [a.fingerprint for a in restarted.alerts("firing")] == [fp]
    fresh = lake.commit()
    again = lake.evaluator(**windows)
    ev2 = again.evaluate(fresh + timedelta(minutes=1))
    assert fp in ev2.resolved and lake.hook.count(fp, "resolved") == 1
    resolved = lake.hook.alerts("resolved")[-1]
    assert resolved["endsAt"] != NEVER and resolved["status"] == "resolved"
    for minutes in (2, 3):
        lake.evaluator(**windows).evaluate(fresh + timedelta(minutes=minutes))
    assert lake.hook.count(fp, "resolved") == 1  # a resolution is sent once
    # the same problem again later is a new occurrence of the same alert (same fingerprint)
    lake.evaluator(**windows).evaluate(fresh + timedelta(minutes=11))
    assert lake.hook.count(fp, "firing") == 3
    starts = [a["startsAt"] for a in lake.hook.alerts("firing") if a["fingerprint"] == fp]
    assert starts[0] == starts[1] != starts[2]


def test_an_escalation_is_the_same_alert_sent_again_at_its_new_severity(lake: Lake) -> None:
    with receiver() as critical:  # a second receiver that only wants critical alerts
        hooks = [{"url": lake.hook.url, "name": "all"}, {"url": critical.url, "name": "pager", "min_severity": "critical"}]
        ev = lake.evaluator(webhooks=hooks)
        c = lake.committed
        (fp,) = stale_fingerprints(ev.evaluate(c + timedelta(minutes=11)))
        assert critical.bodies == []
        (fp2,) = stale_fingerprints(ev.evaluate(c + timedelta(minutes=61)))
        assert fp2 == fp
        sev = [a["labels"]["severity"] for a in lake.hook.alerts("firing") if a["fingerprint"] == fp]
        assert sev == ["warning", "critical"]
        assert [a["labels"]["severity"] for a in critical.alerts("firing")] == ["critical"]
        ev.evaluate(c + timedelta(minutes=62))
        assert len(lake.hook.alerts("firing")) == 2 and len(critical.alerts("firing")) == 1
        fresh = lake.commit()
        ev.evaluate(fresh + timedelta(minutes=1))
        assert lake.hook.count(fp, "resolved") == 1 and critical.count(fp, "resolved") == 1


def test_the_body_is_alertmanagers_webhook_format(lake: Lake) -> None:
    lake.evaluator().evaluate(lake.committed + timedelta(minutes=11))
    (body,) = [b for b in lake.hook.bodies if b["groupLabels"]["alertname"] == STALE]
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
    assert body["groupKey"] == '{}:{alertname="LakehouseTableStale"}'
    assert body["commonLabels"] == {"alertname": STALE, "table": TABLE, "layer": "bronze", "severity": "warning"}
    (alert,) = body["alerts"]
    assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert alert["endsAt"] == NEVER and alert["annotations"]["threshold"] == "600"
    assert alert["annotations"]["summary"].startswith(f"{TABLE}: last commit 11.0 min ago")
    assert len(alert["fingerprint"]) == 16


@pytest.mark.parametrize("failures, status, attempts, delivered", [
    (2, 503, 3, True),  # retried with backoff until it goes through
    (1, 429, 2, True),
    (9, 500, 4, False),  # gave up after the configured attempts
    (1, 400, 1, False),  # a refusal is not retried
])
def test_deliveries_are_retried_and_a_failure_never_ends_the_evaluation(
    lake: Lake, failures: int, status: int, attempts: int, delivered: bool
) -> None:
    lake.hook.fail_next(failures, status)
    ev = lake.evaluator(webhook_attempts=4)
    result = ev.evaluate(lake.committed + timedelta(minutes=11))
    (d,) = [d for d in result.deliveries if d.notifier == "hook"]
    assert (d.delivered, lake.hook.attempts) == (delivered, attempts)
    (fp,) = stale_fingerprints(result)
    assert lake.hook.count(fp, "firing") == (1 if delivered else 0)
    lake.hook.heal()
    ev.evaluate(lake.committed + timedelta(minutes=12))
    assert lake.hook.count(fp, "firing") == 1  # an undelivered alert is sent at the next evaluation, once


def test_an_unreachable_receiver_is_logged_and_the_rest_still_notified(lake: Lake, caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    hooks = [{"url": dead, "name": "dead", "timeout_s": 1}, {"url": lake.hook.url, "name": "hook"}]
    with caplog.at_level(logging.INFO, logger="lakehouse"):
        result = lake.evaluator(webhooks=hooks, webhook_attempts=2).evaluate(lake.committed + timedelta(minutes=11))
    by = {d.notifier: d.delivered for d in result.deliveries if d.group == STALE}
    assert by == {"log": True, "dead": False, "hook": True}
    assert any("FIRING LakehouseTableStale [warning]" in r.message for r in caplog.records)
    assert any("notification to dead" in r.message for r in caplog.records)


def test_concurrent_evaluations_send_one_notification(lake: Lake) -> None:
    evaluators = [lake.evaluator() for _ in range(4)]
    now = lake.committed + timedelta(minutes=11)
    errors: list[BaseException] = []

    def run(ev: AlertEvaluator) -> None:
        try:
            ev.evaluate(now)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in evaluators]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len([a for a in lake.hook.alerts("firing") if a["labels"]["alertname"] == STALE]) == 1


def test_a_failed_run_and_its_failed_check_alert_until_fixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from lakehouse.contract import REGISTRY
    from lakehouse.contract.expectations import predicate
    from lakehouse.exceptions import TransformError
    from lakehouse.pipeline.registry import load_models
    from lakehouse.service import Lakehouse

    from support import land

    settings_of: Callable[[str], Settings] = lambda url: make_settings(  # noqa: E731
        tmp_path / "lake", monitoring={"webhooks": [{"url": url}], "staleness": {"warn": None, "fail": None}})

    def txns(lh: Lakehouse, name: str, amounts: list[float]) -> None:
        land(lh.settings, "transactions", f"{name}.ndjson", [
            {"transaction_id": f"{name}{i}", "user_id": "u", "amount": a, "status": "completed",
             "timestamp": "2026-03-01T10:00:00Z"} for i, a in enumerate(amounts)])

    spec = REGISTRY.spec("silver.transactions")
    with receiver() as hook:
        lh = Lakehouse(settings_of(hook.url))
        txns(lh, "t1", [10.0, 20.0])
        lh.ingest()
        lh.transform()
        try:  # the contract gains a check the next batch fails
            monkeypatch.setitem(REGISTRY._specs, spec.id, replace(spec, expectations=(
                *spec.expectations, predicate("amount < 1000", name="amount_plausible", action="fail"))))
            load_models.cache_clear()
            lh = Lakehouse(settings_of(hook.url))
            txns(lh, "t2", [5000.0])
            lh.ingest()
            with pytest.raises(TransformError):
                lh.transform()
            firing = {(a.alertname, a.subject.get("job_name") or a.subject.get("check")) for a in lh.evaluate_alerts().firing}
        finally:  # fixed: the check is taken out of the contract again
            monkeypatch.setitem(REGISTRY._specs, spec.id, spec)
            load_models.cache_clear()
        assert ("LakehouseJobFailed", "transform.silver") in firing
        assert ("LakehouseQualityCheckFailed", "amount_plausible") in firing
        sent = {a["labels"]["alertname"]: a["fingerprint"] for a in hook.alerts("firing")}
        assert {"LakehouseJobFailed", "LakehouseQualityCheckFailed"} <= set(sent)
        lh = Lakehouse(settings_of(hook.url))  # a new process, on the fixed contract
        lh.transform()
        ev = lh.evaluate_alerts()
        assert not {a.alertname for a in ev.firing} & {"LakehouseJobFailed", "LakehouseQualityCheckFailed"}
        assert {sent["LakehouseJobFailed"], sent["LakehouseQualityCheckFailed"]} <= set(ev.resolved)
        assert hook.count(sent["LakehouseJobFailed"], "resolved") == 1


def test_alerts_without_their_state_store_are_one_clear_error(tmp_path: Path) -> None:
    from lakehouse.ops.alerts import MonitorUnavailableError

    store = DeltaStore(make_settings(tmp_path / "lake"))
    append(store, TABLE, 1, event_id="a")
    dead = f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/nothing"
    s = make_settings(tmp_path / "lake", metadata_url=dead)
    with pytest.raises(MonitorUnavailableError, match="alert state unavailable") as e:
        AlertEvaluator(s).evaluate(last_commit(store, TABLE) + timedelta(hours=2))
    assert "\n" not in str(e.value) and e.value.transient


def test_a_receiver_that_never_answers_costs_one_retry_sequence_per_evaluation(lake: Lake) -> None:
    import socket
    import time

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)  # accepts connections (the kernel does) and never answers
    try:
        url = f"http://127.0.0.1:{hung.getsockname()[1]}/hook"
        ev = lake.evaluator(webhooks=[{"url": url, "name": "hung", "timeout_s": 0.5}], webhook_attempts=2,
                            data_lag={"warn": 1})  # two alert groups: stale and late
        day = datetime(2026, 3, 1, tzinfo=UTC)
        append(lake.store, TABLE, 1, event_id="t", timestamp=day, event_date=day.date())
        t0 = time.monotonic()
        result = ev.evaluate(last_commit(lake.store, TABLE) + timedelta(minutes=11))
        took = time.monotonic() - t0
        hooked = [d for d in result.deliveries if d.notifier == "hung"]
        assert {d.group for d in hooked} == {STALE, "LakehouseDataLate"}
        assert not any(d.delivered for d in hooked)
        assert sum(1 for d in hooked if (d.error or "").startswith("not tried")) == 1
        assert took < 2 * 2 * 0.5 + 1.5  # one group's two attempts, not both groups'
    finally:
        hung.close()
