"""The peer for `bench/transform.py`: the same silver/gold definitions in plain pandas.

This is the seed's approach done well: whole bronze tables read with
`DeltaTable(...).to_pandas()`, vectorised sorts and groupbys, results written as Parquet.
The definitions follow `src/lakehouse/pipeline/models/**/*.sql`:

- silver app_events / clicks / service_requests / transactions: dedup by key (earliest
  `_ingested_at`, then `_source`), `is_valid` by the same expectations;
- silver user_activity_daily; clickstream sessions (30-minute gap);
- gold event_metrics, daily_summary (with sessions and revenue), hourly_metrics (p95 = linear
  quantile 0.95), revenue_daily, user_segments (formula in gold/user_segments.sql).

Left out (so the peer does *less* work than ours): `quality_issues` lists, the sessions'
`page_sequence` and md5 `session_id`, silver.users / CDC merge, Delta commits (plain Parquet).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from deltalake import DeltaTable

DAY = pd.Timedelta(days=1)
EVENT_TYPES = ["app_open", "page_view", "click", "scroll", "share", "purchase", "search"]
APP_TYPES = ["ios", "android", "web"]


def _bronze(bronze: Path, name: str) -> pd.DataFrame:
    return DeltaTable(str(bronze / name)).to_pandas()


def _dedup(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Earliest `_ingested_at` (then `_source`) wins, like the unique_key models."""
    return df.sort_values(["_ingested_at", "_source"], kind="stable").drop_duplicates(key, keep="first")


def _blank(s: pd.Series) -> pd.Series:
    # DuckDB's trim() strips spaces only; NULL never counts as blank.
    return s.notna() & (s.str.strip(" ") == "")


def _future(ts: pd.Series, ingested: pd.Series) -> pd.Series:
    return ts > ingested + DAY


def silver_app_events(bronze: Path) -> pd.DataFrame:
    df = _dedup(_bronze(bronze, "app_events"), "event_id")
    df = df.rename(columns={"timestamp": "event_timestamp"})
    df["event_date"] = df["event_timestamp"].dt.date
    df["event_hour"] = df["event_timestamp"].dt.floor("h")
    bad = (
        (df["event_type"].notna() & ~df["event_type"].isin(EVENT_TYPES))
        | ~df["app_type"].isin(APP_TYPES)
        | _blank(df["user_id"])
        | _future(df["event_timestamp"], df["_ingested_at"])
        | (df["duration_ms"] < 0)
    )
    df["is_valid"] = ~bad
    return df


def silver_clicks(bronze: Path) -> pd.DataFrame:
    df = _dedup(_bronze(bronze, "clickstream"), "click_id").rename(columns={"timestamp": "click_timestamp"})
    df["event_date"] = df["click_timestamp"].dt.date
    bad = (
        _blank(df["user_id"])
        | (df["scroll_depth"] < 0) | (df["scroll_depth"] > 100)
        | _future(df["click_timestamp"], df["_ingested_at"])
    )
    df["is_valid"] = ~bad
    return df


def silver_sessions(clicks: pd.DataFrame) -> pd.DataFrame:
    c = clicks.loc[clicks["is_valid"], ["user_id", "click_id", "page_name", "click_timestamp", "scroll_depth"]]
    c = c.sort_values(["user_id", "click_timestamp", "click_id"], kind="stable")
    ts = c["click_timestamp"]
    new_user = c["user_id"].ne(c["user_id"].shift())
    starts = new_user | (ts - ts.shift() > pd.Timedelta(minutes=30))
    c = c.assign(session=starts.cumsum())
    g = c.groupby("session", sort=False)
    s = g.agg(
        user_id=("user_id", "first"),
        session_start=("click_timestamp", "min"),
        session_end=("click_timestamp", "max"),
        total_page_views=("click_id", "size"),
        avg_scroll_depth=("scroll_depth", "mean"),
        entry_page=("page_name", "first"),
        exit_page=("page_name", "last"),
    ).reset_index(drop=True)
    s["session_duration_sec"] = (s["session_end"] - s["session_start"]).dt.total_seconds()
    s["is_bounce"] = s["total_page_views"] == 1
    s["session_date"] = s["session_start"].dt.date
    return s


def silver_service_requests(bronze: Path) -> pd.DataFrame:
    df = _dedup(_bronze(bronze, "service_logs"), "log_id").rename(columns={"timestamp": "request_timestamp"})
    df["event_date"] = df["request_timestamp"].dt.date
    df["is_error"] = df["status_code"] >= 500
    bad = (df["status_code"] < 100) | (df["status_code"] > 599) | (df["latency_ms"] < 0)
    df["is_valid"] = ~bad
    return df


def silver_transactions(bronze: Path) -> pd.DataFrame:
    df = _dedup(_bronze(bronze, "transactions"), "transaction_id").rename(columns={"timestamp": "transaction_timestamp"})
    df["currency"] = df["currency"].fillna("USD").str.upper()
    df["event_date"] = df["transaction_timestamp"].dt.date
    bad = (df["amount"] < 0) | ~df["status"].isin(["completed", "failed", "refunded"]) | _blank(df["user_id"])
    df["is_valid"] = ~bad
    return df


def silver_user_activity_daily(events: pd.DataFrame) -> pd.DataFrame:
    v = events.loc[events["is_valid"], ["user_id", "event_date", "event_timestamp", "event_type"]]
    v = v.assign(is_purchase=v["event_type"] == "purchase")
    g = v.groupby(["user_id", "event_date"], sort=False)
    return g.agg(
        events=("event_type", "size"),
        first_event_at=("event_timestamp", "min"),
        last_event_at=("event_timestamp", "max"),
        event_types_count=("event_type", "nunique"),
        purchases=("is_purchase", "sum"),
    ).reset_index()


def gold_event_metrics(events: pd.DataFrame) -> pd.DataFrame:
    v = events.loc[events["is_valid"], ["event_hour", "event_type", "app_type", "event_date", "user_id"]]
    v = v.assign(app_type=v["app_type"].fillna("unknown"))
    out = v.groupby(["event_hour", "event_type", "app_type", "event_date"], sort=False).agg(
        total_events=("user_id", "size"), unique_users=("user_id", "nunique")
    ).reset_index().rename(columns={"event_hour": "metric_hour"})
    out["events_per_user"] = (out["total_events"] / out["unique_users"]).round(4)
    return out


def gold_daily_summary(uad: pd.DataFrame, sessions: pd.DataFrame, tx: pd.DataFrame) -> pd.DataFrame:
    days = uad.groupby("event_date").agg(daily_users=("user_id", "size"), total_events=("events", "sum"))
    new = uad.groupby("user_id")["event_date"].min().value_counts().rename("new_users")
    sess = sessions.groupby("session_date").agg(
        sessions=("session_start", "size"), avg_session_duration_sec=("session_duration_sec", "mean"))
    done = tx[tx["is_valid"] & (tx["status"] == "completed")]
    rev = done.groupby("event_date").agg(revenue=("amount", "sum"), orders=("amount", "size"))
    out = days.join(new).join(sess).join(rev).reset_index().rename(columns={"event_date": "summary_date"})
    out["new_users"] = out["new_users"].fillna(0).astype("int64")
    out["returning_users"] = out["daily_users"] - out["new_users"]
    out["avg_events_per_user"] = (out["total_events"] / out["daily_users"]).round(4)
    out["sessions"] = out["sessions"].fillna(0).astype("int64")
    out["avg_session_duration_sec"] = out["avg_session_duration_sec"].round(3)
    out["revenue"] = out["revenue"].round(2).fillna(0.0)
    out["orders"] = out["orders"].fillna(0).astype("int64")
    return out


def gold_hourly_metrics(events: pd.DataFrame, req: pd.DataFrame) -> pd.DataFrame:
    v = events.loc[events["is_valid"], ["event_hour", "event_date", "user_id"]]
    ev = v.groupby("event_hour").agg(
        event_date=("event_date", "first"), concurrent_users=("user_id", "nunique"), event_count=("user_id", "size"))
    r = req.loc[req["is_valid"], ["request_timestamp", "event_date", "is_error", "latency_ms"]]
    r = r.assign(metric_hour=r["request_timestamp"].dt.floor("h"))
    g = r.groupby("metric_hour")
    rq = g.agg(r_date=("event_date", "first"), request_count=("is_error", "size"), error_count=("is_error", "sum"))
    rq["p95_latency_ms"] = g["latency_ms"].quantile(0.95, interpolation="linear")
    out = ev.join(rq, how="outer")
    out.index.name = "metric_hour"
    out = out.reset_index()
    out["event_date"] = out["event_date"].fillna(out["r_date"])
    for c in ("concurrent_users", "event_count", "request_count", "error_count"):
        out[c] = out[c].fillna(0).astype("int64")
    rate = (100.0 * out["error_count"] / out["request_count"].where(out["request_count"] > 0)).round(3)
    out["error_rate_pct"] = rate.fillna(0.0)
    out["p95_latency_ms"] = out["p95_latency_ms"].round(3)
    p95 = out["p95_latency_ms"]
    out["health_status"] = np.select(
        [(out["error_rate_pct"] >= 5) | (p95 >= 2000), (out["error_rate_pct"] >= 1) | (p95 >= 1000)],
        ["critical", "degraded"], "healthy")
    return out.drop(columns="r_date")


def gold_revenue_daily(tx: pd.DataFrame) -> pd.DataFrame:
    v = tx[tx["is_valid"]]
    comp = v["status"] == "completed"
    v = v.assign(
        c_amount=v["amount"].where(comp), c_user=v["user_id"].where(comp), completed=comp,
        failed=v["status"] == "failed", refunded=v["status"] == "refunded",
        r_amount=v["amount"].where(v["status"] == "refunded"))
    out = v.groupby("event_date").agg(
        revenue=("c_amount", "sum"), orders=("completed", "sum"), paying_users=("c_user", "nunique"),
        failed_orders=("failed", "sum"), refunded_orders=("refunded", "sum"), refunded_amount=("r_amount", "sum"),
        avg_order_value=("c_amount", "mean")).reset_index().rename(columns={"event_date": "revenue_date"})
    return out.round({"revenue": 2, "refunded_amount": 2, "avg_order_value": 2})


def gold_user_segments(uad: pd.DataFrame) -> pd.DataFrame:
    as_of = uad["last_event_at"].max()
    as_of_date = as_of.date()
    recent = uad["event_date"] > as_of_date - pd.Timedelta(days=30).to_pytimedelta()
    u = uad.assign(
        recent_day=recent, ev30=uad["events"].where(recent, 0), pu30=uad["purchases"].where(recent, 0))
    out = u.groupby("user_id").agg(
        last_seen=("last_event_at", "max"), active_days_30d=("recent_day", "sum"), events_30d=("ev30", "sum"),
        purchases_30d=("pu30", "sum"), total_events=("events", "sum")).reset_index()
    out["recency_days"] = (pd.Timestamp(as_of_date) - out["last_seen"].dt.tz_localize(None).dt.normalize()).dt.days
    score = (
        35 * np.minimum(out["events_30d"] / 100.0, 1)
        + 25 * np.minimum(out["active_days_30d"] / 10.0, 1)
        + 25 * np.maximum(0, 1 - out["recency_days"] / 14.0)
        + 15 * np.minimum(out["purchases_30d"] / 3.0, 1)
    )
    out["engagement_score"] = score.round(2)
    out["churn_risk"] = (0.6 * np.minimum(out["recency_days"] / 14.0, 1)
                         + 0.4 * (1 - np.minimum(out["active_days_30d"] / 10.0, 1))).round(4)
    out["segment"] = np.select(
        [out["recency_days"] >= 14, out["engagement_score"] >= 70, out["engagement_score"] >= 35],
        ["Inactive", "VIP", "Active"], "Regular")
    out["churn_risk_level"] = np.select([out["churn_risk"] < 0.3, out["churn_risk"] < 0.6], ["low", "medium"], "high")
    return out


def run(bronze: Path, out: Path) -> dict[str, float]:
    """Build every table and write it as Parquet under `out`; return seconds per stage."""
    out.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stages[name] = round(now - t, 3)
        t = now

    def save(df: pd.DataFrame, name: str) -> None:
        df.to_parquet(out / f"{name}.parquet", index=False, compression="snappy")

    events = silver_app_events(bronze)
    lap("silver.app_events")
    clicks = silver_clicks(bronze)
    sessions = silver_sessions(clicks)
    lap("silver.clicks+sessions")
    req = silver_service_requests(bronze)
    tx = silver_transactions(bronze)
    lap("silver.service_requests+transactions")
    uad = silver_user_activity_daily(events)
    lap("silver.user_activity_daily")
    gold = {
        "gold.event_metrics": gold_event_metrics(events),
        "gold.daily_summary": gold_daily_summary(uad, sessions, tx),
        "gold.hourly_metrics": gold_hourly_metrics(events, req),
        "gold.revenue_daily": gold_revenue_daily(tx),
        "gold.user_segments": gold_user_segments(uad),
    }
    lap("gold (5 tables)")
    for name, df in (("silver.app_events", events), ("silver.clicks", clicks), ("silver.clickstream_sessions", sessions),
                     ("silver.service_requests", req), ("silver.transactions", tx),
                     ("silver.user_activity_daily", uad), *gold.items()):
        save(df, name)
    lap("write parquet")
    return stages


def step_pandas(bronze: str, out: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    stages = run(Path(bronze), Path(out))
    return {"seconds": time.perf_counter() - t0, "stages": stages}


# -- agreement check ------------------------------------------------------------------------------
def _norm(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Timestamps as UTC epoch microseconds, dates and strings as text, sorted by `keys`."""
    df = df.copy()
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert(None)
        if pd.api.types.is_datetime64_any_dtype(s):
            df[c] = s.astype("datetime64[us]").astype("int64")
        elif not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            df[c] = s.astype(str)
    return df.sort_values(keys).reset_index(drop=True)


def compare(ours: pd.DataFrame, peer: pd.DataFrame, keys: list[str], cols: list[str], atol: float = 0.011) -> list[str]:
    """Differences between two tables on `cols` after sorting by `keys` ([] = equal)."""
    a, b = _norm(ours[keys + cols], keys), _norm(peer[keys + cols], keys)
    if len(a) != len(b):
        return [f"row counts differ: ours {len(a)} vs peer {len(b)}"]
    issues = []
    for c in keys + cols:
        x, y = a[c], b[c]
        if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
            xv, yv = x.astype("float64").to_numpy(), y.astype("float64").to_numpy()
            ok = np.isclose(xv, yv, rtol=1e-9, atol=atol, equal_nan=True)
        else:
            ok = (x.astype(str).to_numpy() == y.astype(str).to_numpy())
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            issues.append(f"{c}: {int((~ok).sum())} rows differ, e.g. key {a.loc[i, keys].tolist()}: ours {x.iloc[i]!r} vs peer {y.iloc[i]!r}")
    return issues


def step_compare(gold: str, peer: str) -> dict[str, Any]:
    checks = {
        "gold.event_metrics": (["metric_hour", "event_type", "app_type"], ["total_events", "unique_users", "events_per_user"]),
        "gold.daily_summary": (["summary_date"], ["daily_users", "total_events", "new_users", "returning_users",
                                                  "avg_events_per_user", "sessions", "avg_session_duration_sec",
                                                  "revenue", "orders"]),
        "gold.hourly_metrics": (["metric_hour"], ["concurrent_users", "event_count", "request_count", "error_count",
                                                  "error_rate_pct", "p95_latency_ms", "health_status"]),
        "gold.user_segments": (["user_id"], ["engagement_score", "segment", "churn_risk", "churn_risk_level"]),
    }
    out: dict[str, Any] = {"seconds": 0.0}
    for fqn, (keys, cols) in checks.items():
        ours = DeltaTable(str(Path(gold) / fqn.split(".")[1])).to_pandas()
        theirs = pd.read_parquet(Path(peer) / f"{fqn}.parquet")
        out[fqn] = {"rows": len(ours), "issues": compare(ours, theirs, keys, cols)}
    return out
