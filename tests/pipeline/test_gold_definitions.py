"""Each gold definition checked against an independent computation in plain Python."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from lakehouse.service import Lakehouse

from support import land, rows

T0 = datetime(2026, 1, 5, tzinfo=UTC)
TYPES = ["app_open", "page_view", "click", "purchase", "bogus"]  # bogus: invalid, excluded from gold


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(lh: Lakehouse) -> dict[str, Any]:
    rnd = random.Random(11)
    events, logs, txs = [], [], []
    for i in range(400):
        ts = T0 + timedelta(seconds=rnd.randrange(0, 3 * 86400))
        events.append({
            "event_id": f"e{i}", "user_id": f"u{rnd.randrange(8)}", "event_type": rnd.choice(TYPES),
            "timestamp": _iso(ts), "app_type": rnd.choice(["ios", "android", "web"]),
        })
    events += [dict(events[3]), dict(events[7])]  # re-sent duplicates: counted once
    for i in range(600):
        ts = T0 + timedelta(seconds=rnd.randrange(0, 3 * 86400))
        status = rnd.choice([200] * 18 + [500, 503])
        logs.append({"log_id": f"l{i}", "timestamp": _iso(ts), "endpoint": "/x", "status_code": status,
                     "latency_ms": round(rnd.lognormvariate(4.5, 1.0), 2)})
    for i in range(40):
        ts = T0 + timedelta(seconds=rnd.randrange(0, 3 * 86400))
        txs.append({"transaction_id": f"t{i}", "user_id": f"u{rnd.randrange(8)}", "amount": round(rnd.uniform(1, 200), 2),
                    "status": rnd.choice(["completed", "completed", "failed", "refunded"]), "timestamp": _iso(ts)})
    land(lh.settings, "app_events", "e.ndjson", events)
    land(lh.settings, "service_logs", "l.ndjson", logs)
    land(lh.settings, "transactions", "t.ndjson", txs)
    lh.ingest()
    lh.transform()
    seen, valid = set(), []
    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        if e["event_type"] != "bogus":
            valid.append({**e, "ts": datetime.fromisoformat(e["timestamp"])})
    return {"events": valid, "logs": logs, "txs": txs}


def test_event_metrics(lh: Lakehouse, world: dict[str, Any]) -> None:
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for e in world["events"]:
        groups[(e["ts"].replace(minute=0, second=0, microsecond=0), e["event_type"], e["app_type"])].append(e["user_id"])
    expected = {k: (len(v), len(set(v)), round(len(v) / len(set(v)), 4)) for k, v in groups.items()}
    got = {(r["metric_hour"], r["event_type"], r["app_type"]): (r["total_events"], r["unique_users"], r["events_per_user"])
           for r in rows(lh, "gold.event_metrics")}
    assert got == expected


def test_daily_summary(lh: Lakehouse, world: dict[str, Any]) -> None:
    by_day: dict[Any, list[str]] = defaultdict(list)
    first_day: dict[str, Any] = {}
    for e in world["events"]:
        d = e["ts"].date()
        by_day[d].append(e["user_id"])
        first_day[e["user_id"]] = min(first_day.get(e["user_id"], d), d)
    revenue: dict[Any, float] = defaultdict(float)
    for t in world["txs"]:
        if t["status"] == "completed":
            revenue[datetime.fromisoformat(t["timestamp"]).date()] += t["amount"]
    for r in rows(lh, "gold.daily_summary"):
        d = r["summary_date"]
        users = set(by_day[d])
        new = sum(1 for u in users if first_day[u] == d)
        assert r["daily_users"] == len(users)
        assert r["total_events"] == len(by_day[d])
        assert r["new_users"] == new
        assert r["returning_users"] == len(users) - new
        assert r["avg_events_per_user"] == pytest.approx(len(by_day[d]) / len(users), abs=1e-4)
        assert r["revenue"] == pytest.approx(revenue[d], abs=0.01)
    assert {r["summary_date"] for r in rows(lh, "gold.daily_summary")} == set(by_day)


def test_hourly_metrics(lh: Lakehouse, world: dict[str, Any]) -> None:
    users: dict[Any, set[str]] = defaultdict(set)
    counts: dict[Any, int] = defaultdict(int)
    for e in world["events"]:
        h = e["ts"].replace(minute=0, second=0, microsecond=0)
        users[h].add(e["user_id"])
        counts[h] += 1
    lat: dict[Any, list[float]] = defaultdict(list)
    errors: dict[Any, int] = defaultdict(int)
    for entry in world["logs"]:
        h = datetime.fromisoformat(entry["timestamp"]).replace(minute=0, second=0, microsecond=0)
        lat[h].append(entry["latency_ms"])
        errors[h] += entry["status_code"] >= 500
    got = {r["metric_hour"]: r for r in rows(lh, "gold.hourly_metrics")}
    assert set(got) == set(users) | set(lat)
    for h, r in got.items():
        assert r["concurrent_users"] == len(users.get(h, ()))
        assert r["event_count"] == counts.get(h, 0)
        assert r["error_count"] == errors.get(h, 0)
        rate = 100 * errors[h] / len(lat[h]) if lat.get(h) else 0
        assert r["error_rate_pct"] == pytest.approx(rate, abs=1e-3)
        p95 = float(np.percentile(lat[h], 95)) if lat.get(h) else None
        assert r["p95_latency_ms"] == (pytest.approx(p95, abs=1e-3) if p95 is not None else None)
        status = ("critical" if rate >= 5 or (p95 or 0) >= 2000 else
                  "degraded" if rate >= 1 or (p95 or 0) >= 1000 else "healthy")
        assert r["health_status"] == status


def test_user_segments(lh: Lakehouse, world: dict[str, Any]) -> None:
    as_of = max(e["ts"] for e in world["events"]).date()
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in world["events"]:
        per[e["user_id"]].append(e)
    got = {r["user_id"]: r for r in rows(lh, "gold.user_segments")}
    assert set(got) == set(per)
    for u, evs in per.items():
        recent = [e for e in evs if e["ts"].date() > as_of - timedelta(days=30)]
        recency = (as_of - max(e["ts"] for e in evs).date()).days
        active_days = len({e["ts"].date() for e in recent})
        purchases = sum(e["event_type"] == "purchase" for e in recent)
        score = round(35 * min(len(recent) / 100, 1) + 25 * min(active_days / 10, 1)
                      + 25 * max(0, 1 - recency / 14) + 15 * min(purchases / 3, 1), 2)
        churn = round(0.6 * min(recency / 14, 1) + 0.4 * (1 - min(active_days / 10, 1)), 4)
        segment = ("Inactive" if recency >= 14 else "VIP" if score >= 70 else "Active" if score >= 35 else "Regular")
        r = got[u]
        assert r["engagement_score"] == pytest.approx(score, abs=0.01)
        assert r["segment"] == segment
        assert r["churn_risk"] == pytest.approx(churn, abs=1e-4)
        assert r["churn_risk_level"] == ("low" if churn < 0.3 else "medium" if churn < 0.6 else "high")


def test_revenue_daily(lh: Lakehouse, world: dict[str, Any]) -> None:
    by_day: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for t in world["txs"]:
        by_day[datetime.fromisoformat(t["timestamp"]).date()].append(t)
    for r in rows(lh, "gold.revenue_daily"):
        done = [t for t in by_day[r["revenue_date"]] if t["status"] == "completed"]
        assert r["revenue"] == pytest.approx(sum(t["amount"] for t in done), abs=0.01)
        assert r["orders"] == len(done)
        assert r["paying_users"] == len({t["user_id"] for t in done})
        assert r["refunded_orders"] == sum(t["status"] == "refunded" for t in by_day[r["revenue_date"]])


def test_invalid_events_are_flagged_not_dropped(lh: Lakehouse, world: dict[str, Any]) -> None:
    silver = rows(lh, "silver.app_events")
    assert len(silver) == 400  # 402 landed, two duplicates removed
    bogus = [r for r in silver if r["event_type"] == "bogus"]
    assert bogus and all(not r["is_valid"] and r["quality_issues"] == ["event_type_in_set"] for r in bogus)
