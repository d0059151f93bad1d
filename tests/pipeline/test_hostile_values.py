"""Hostile values pushed through ingest -> transform: no NaN or infinity and no timestamp
outside 1900..2200 in any silver or gold table, and every table reads back into Python."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from lakehouse.contract import tables_in
from lakehouse.service import Lakehouse

from support import land

LO, HI = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
T = "2026-03-01T10:{:02d}:00Z"
TIMES = ["infinity", "-infinity", "99999-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "-0044-03-15T00:00:00Z",
         "0001-01-01T00:00:00Z", "1677-09-21T00:12:43Z", "2262-04-12T00:00:00Z", "262143-01-01T00:00:00Z",
         "1900-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z", "1899-12-31T23:59:59.999999Z", "epoch"]
NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1.7976931348623157e308", "-1.7976931348623157e308",
           "1e308", "4.9e-324", "-0.0"]


def raw(rec: dict[str, Any], field: str, value: str) -> str:
    return json.dumps(rec).replace('"__X__"', value).replace("__X__", field)


def lines() -> dict[str, list[str]]:
    ev = {"event_id": "e{}", "user_id": "u{}", "event_type": "purchase", "timestamp": "__X__", "app_type": "ios",
          "duration_ms": 5}
    out: dict[str, list[str]] = {s: [] for s in ("app_events", "clickstream", "cdc_changes", "transactions", "service_logs")}
    for i, t in enumerate(TIMES):
        rec = {**ev, "event_id": f"e-t{i}", "user_id": f"u{i % 3}"}
        out["app_events"].append(raw(rec, "timestamp", json.dumps(t)))
        click = {"click_id": f"c-t{i}", "user_id": f"u{i % 3}", "page_name": "home", "timestamp": "__X__"}
        out["clickstream"].append(raw(click, "timestamp", json.dumps(t)))
        log = {"log_id": f"l-t{i}", "timestamp": "__X__", "endpoint": "/x", "status_code": 500, "latency_ms": 3.0}
        out["service_logs"].append(raw(log, "timestamp", json.dumps(t)))
        cdc = {"op": "c", "after": {"id": f"u{i}", "created_at": t, "updated_at": t, "plan": "pro"},
               "source": {"table": "users", "seq": i + 1}, "ts_ms": 1772359200000 + i}
        out["cdc_changes"].append(json.dumps(cdc))
    for i, n in enumerate(NUMBERS):
        txn = {"transaction_id": f"x-n{i}", "user_id": "u1", "amount": "__X__", "status": "completed",
               "timestamp": T.format(i)}
        out["transactions"].append(raw(txn, "amount", n))
        click = {"click_id": f"c-n{i}", "user_id": "u1", "page_name": "cart", "timestamp": T.format(i),
                 "scroll_depth": "__X__"}
        out["clickstream"].append(raw(click, "scroll_depth", n))
        log = {"log_id": f"l-n{i}", "timestamp": T.format(i), "endpoint": "/y", "status_code": 200, "latency_ms": "__X__"}
        out["service_logs"].append(raw(log, "latency_ms", n))
    for i, ms in enumerate(["9223372036854775807", "9223372036854775", "-9223372036854775808", "253402300800000"]):
        cdc = {"op": "u", "after": {"id": f"w{i}"}, "source": {"table": "users", "seq": 100 + i}, "ts_ms": "__X__"}
        out["cdc_changes"].append(raw(cdc, "ts_ms", ms))
    # Finite amounts whose sum is not: two near the double maximum, completed the same day.
    for i in range(2):
        out["transactions"].append(json.dumps({"transaction_id": f"x-big{i}", "user_id": "u2", "amount": 1.5e308,
                                               "status": "completed", "timestamp": T.format(30 + i)}))
    for i in range(5):  # ordinary records, so every table has rows
        out["app_events"].append(json.dumps({**ev, "event_id": f"ok{i}", "user_id": f"u{i % 3}", "timestamp": T.format(i)}))
        out["transactions"].append(json.dumps({"transaction_id": f"ok{i}", "user_id": "u1", "amount": 10.0 + i,
                                               "status": "completed", "timestamp": T.format(i)}))
    return out


def check_value(table: str, column: str, value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value), f"{table}.{column} = {value}"
    elif isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        assert LO <= v < HI, f"{table}.{column} = {value}"
    elif isinstance(value, date):
        assert LO.date() <= value < HI.date(), f"{table}.{column} = {value}"
    elif isinstance(value, list):
        for x in value:
            check_value(table, column, x)
    elif isinstance(value, dict):
        for k, x in value.items():
            check_value(table, f"{column}.{k}", x)


def test_hostile_values_never_reach_silver_or_gold_as_nan_inf_or_impossible_times(lh: Lakehouse) -> None:
    for source, ls in lines().items():
        land(lh.settings, source, "hostile.ndjson", ls)
    report = lh.ingest()
    assert report.status == "success" and report.details["balanced"]
    for rep in (*lh.transform(), *lh.transform(full_refresh=True)):
        assert rep.status == "success"
        finite = [c for c in rep.checks if c.kind == "Finite"]
        assert finite and all(c.failing_rows == 0 for c in finite), [c for c in finite if c.failing_rows]
    built = [t for t in tables_in() if t.layer in ("bronze", "silver", "gold") and lh.store.exists(t)]
    assert {t.fqn for t in built} >= {"silver.transactions", "gold.revenue_daily", "gold.daily_summary",
                                      "silver.users_cdc_state", "silver.clickstream_sessions", "gold.hourly_metrics"}
    for t in built:
        data = lh.store.dataset(t).to_table()
        rows = data.to_pylist()  # every value is representable in Python
        data.to_pandas()  # and in pandas (nanosecond timestamps: 1677..2262)
        for row in rows:
            for column, value in row.items():
                check_value(t.fqn, column, value)
        for f in data.schema:
            if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type):
                assert data.column(f.name).null_count <= data.num_rows
    revenue = lh.store.dataset("gold.revenue_daily").to_table().to_pylist()
    assert revenue and all(math.isfinite(r["revenue"]) for r in revenue)
    users = {r["user_id"]: r for r in lh.store.dataset("silver.users_cdc_state").to_table().to_pylist()}
    assert users["u9"]["created_at"] == datetime(1900, 1, 1, tzinfo=UTC)  # the lower bound itself is valid
    assert users["u0"]["created_at"] is None  # `infinity` is not a time
    assert users["u2"]["created_at"] is None  # year 99999
