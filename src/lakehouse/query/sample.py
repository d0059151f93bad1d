"""A small, deterministic sample lake for tests, docs and the API benchmark.

Real Delta tables written through `DeltaStore`, shaped like the data contract's tables
(only the columns the serving layer needs to exercise: PII in `silver.users`, partitions
in `gold.event_metrics`, several versions of `gold.user_segments` for time travel).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from lakehouse.contract import TableId
from lakehouse.storage.base import TableStore

SEGMENTS = ("VIP", "Power User", "Regular", "Casual", "Dormant")


def user_segments(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 100, rows).round(2)
    idx = np.minimum((100 - score) // 20, 4).astype(int)
    return pa.table({
        "user_id": pa.array([f"u{i:07d}" for i in range(rows)]),
        "engagement_score": pa.array(score),
        "segment": pa.array([SEGMENTS[i] for i in idx]),
        "total_events": pa.array(rng.integers(0, 500, rows)),
        "email": pa.array([f"user{i}@example.com" for i in range(rows)]),
    })


def users(rows: int) -> pa.Table:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return pa.table({
        "user_id": pa.array([f"u{i:07d}" for i in range(rows)]),
        "email": pa.array([f"user{i}@example.com" for i in range(rows)]),
        "country": pa.array(["DE", "FR", "US", "BR"][i % 4] for i in range(rows)),
        "first_seen": pa.array([base + timedelta(hours=i) for i in range(rows)], pa.timestamp("us", "UTC")),
        "is_active": pa.array([i % 3 != 0 for i in range(rows)]),
    })


def event_metrics(hours: int = 24) -> pa.Table:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [(base + timedelta(hours=h), et, app) for h in range(hours)
            for et in ("click", "view", "purchase") for app in ("ios", "web")]
    total = [10 + (i * 7) % 50 for i in range(len(rows))]
    uniq = [max(1, t // 3) for t in total]
    return pa.table({
        "metric_hour": pa.array([r[0] for r in rows], pa.timestamp("us", "UTC")),
        "metric_date": pa.array([r[0].date().isoformat() for r in rows]),
        "event_type": pa.array([r[1] for r in rows]),
        "app_type": pa.array([r[2] for r in rows]),
        "total_events": pa.array(total),
        "unique_users": pa.array(uniq),
        "events_per_user": pa.array([t / u for t, u in zip(total, uniq, strict=True)]),
    })


def app_events(rows: int) -> pa.Table:
    return pa.table({
        "event_id": pa.array([f"e{i}" for i in range(rows)]),
        "user_id": pa.array([f"u{i % 50:07d}" for i in range(rows)]),
        "event_type": pa.array(["click", "view"][i % 2] for i in range(rows)),
        "_source": pa.array(["landing/app_events/f0.ndjson"] * rows),
    })


def build_sample_lake(store: TableStore, rows: int = 200) -> dict[str, int]:
    """Write the sample tables; returns each table's final version.

    `gold.user_segments` gets two commits (v0: `rows` rows, v1: `rows` more) for time travel.
    """
    segs = user_segments(2 * rows)
    store.append(TableId("gold", "user_segments"), segs.slice(0, rows))
    store.append(TableId("gold", "user_segments"), segs.slice(rows))
    store.append(TableId("gold", "event_metrics"), event_metrics(), partition_by=["metric_date"])
    store.append(TableId("silver", "users"), users(min(rows, 100)))
    store.append(TableId("bronze", "app_events"), app_events(min(rows, 100)))
    return {t: store.version(t) or 0 for t in ("gold.user_segments", "gold.event_metrics", "silver.users", "bronze.app_events")}
