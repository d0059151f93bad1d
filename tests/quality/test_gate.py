"""The quality gate in a real pipeline run: drops are exact, a failing check commits nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from lakehouse.contract.expectations import in_range, predicate
from lakehouse.exceptions import TransformError
from lakehouse.service import Lakehouse

from support import land, rows

OK = {"event_id": "e", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T10:00:00Z", "app_type": "web"}


def events(start: int, n: int, bad_every: int = 3) -> list[dict[str, Any]]:
    return [{**OK, "event_id": f"e{i}", "duration_ms": -i if i % bad_every == 0 else i} for i in range(start, start + n)]


def test_drop_keeps_the_rest_and_quarantines_the_violators_exactly(lh: Lakehouse, expect: Callable[..., None]) -> None:
    expect("silver.app_events", in_range("duration_ms", min=0, action="drop", name="duration_ms_drop"))
    land(lh.settings, "app_events", "a.ndjson", events(1, 30))
    lh.ingest()
    (silver, _) = lh.transform()
    kept = rows(lh, "silver.app_events")
    dropped = [r for r in rows(lh, "silver.quarantine") if r["table"] == "silver.app_events"]
    assert len(kept) + len(dropped) == 30
    assert sorted(int(json.loads(r["row"])["event_id"][1:]) for r in dropped) == list(range(3, 31, 3))
    assert all(r["check"] == "duration_ms_drop" and r["run_id"] == silver.run_id for r in dropped)
    assert all(r["duration_ms"] >= 0 for r in kept)
    # a second batch, incrementally: only its own violators join the quarantine
    land(lh.settings, "app_events", "b.ndjson", events(31, 20))
    lh.ingest()
    lh.transform()
    dropped = [r for r in rows(lh, "silver.quarantine") if r["table"] == "silver.app_events"]
    assert len(rows(lh, "silver.app_events")) + len(dropped) == 50
    assert len(dropped) == len([i for i in range(1, 51) if i % 3 == 0])
    # a full refresh drops the same rows again: replaced, not doubled
    lh.transform(full_refresh=True)
    again = [r for r in rows(lh, "silver.quarantine") if r["table"] == "silver.app_events"]
    assert len(again) == len(dropped)
    check = next(c for c in silver.checks if c.check == "duration_ms_drop")
    assert (check.outcome, check.failing_rows, check.rows_checked) == ("warn", 10, 30)


def test_a_failing_check_commits_nothing_and_says_which_and_why(lh: Lakehouse, expect: Callable[..., None]) -> None:
    land(lh.settings, "transactions", "t1.ndjson", [
        {"transaction_id": f"t{i}", "user_id": "u", "amount": 10.0, "status": "completed",
         "timestamp": "2026-03-01T10:00:00Z"} for i in range(5)])
    land(lh.settings, "app_events", "a.ndjson", events(1, 5, bad_every=100))
    lh.ingest()
    lh.transform()
    before = {t.table.fqn: t.version for t in lh.tables()}
    expect("silver.transactions", predicate("amount < 1000", name="amount_plausible", action="fail"))
    land(lh.settings, "transactions", "t2.ndjson", [
        {"transaction_id": "big", "user_id": "u", "amount": 5000.0, "status": "completed",
         "timestamp": "2026-03-02T10:00:00Z"}])
    land(lh.settings, "app_events", "b.ndjson", events(10, 5, bad_every=100))
    lh.ingest()
    with pytest.raises(TransformError) as e:
        lh.transform()
    assert "silver.transactions" in str(e.value) and "amount_plausible" in str(e.value)
    after = {t.table.fqn: t.version for t in lh.tables()}
    assert after["silver.transactions"] == before["silver.transactions"]
    assert "big" not in {r["transaction_id"] for r in rows(lh, "silver.transactions")}
    # nothing after the failing model ran, and gold did not run at all
    assert {t: v for t, v in after.items() if t.startswith("gold.")} == {
        t: v for t, v in before.items() if t.startswith("gold.")}
    result = e.value.result
    assert result.status == "failed" and result.failed_table == "silver.transactions"  # type: ignore[attr-defined]
    failing = [c for c in result.checks if c.outcome == "fail"]  # type: ignore[attr-defined]
    assert [(c.table, c.check, c.failing_rows) for c in failing] == [("silver.transactions", "amount_plausible", 1)]
    assert failing[0].sample and failing[0].sample[0]["transaction_id"] == "big"
    report = max(lh.settings.logs_path.glob("transform_silver_*.json"), key=lambda p: p.stat().st_mtime)
    written = json.loads(report.read_text())
    assert written["status"] == "failed" and written["failed_table"] == "silver.transactions"
    # fixed upstream (the check relaxed): the next run commits the batch
    expect("silver.transactions", predicate("amount < 10000", name="amount_plausible", action="fail"))
    lh.transform()
    assert "big" in {r["transaction_id"] for r in rows(lh, "silver.transactions")}


def test_disabled_checks_let_everything_through(tmp_path: Any, expect: Callable[..., None]) -> None:
    from support import make_settings

    lh = Lakehouse(make_settings(tmp_path / "lake", quality_checks=False))
    expect("silver.app_events", in_range("duration_ms", min=0, action="fail", name="gate"))
    land(lh.settings, "app_events", "a.ndjson", events(1, 9))
    lh.ingest()
    (silver, _) = lh.transform()
    assert silver.checks == [] and len(rows(lh, "silver.app_events")) == 9
