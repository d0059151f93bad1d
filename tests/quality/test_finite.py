"""Silver and gold never hold NaN or infinity unflagged: every double column of every model is checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from lakehouse.contract import REGISTRY
from lakehouse.ingest.schemas import bronze_schema
from lakehouse.service import Lakehouse

from support import rows


def bronze_clicks(depths: list[float], first: int) -> pa.Table:
    """Rows written straight to bronze, past the parser: what a broken writer could leave."""
    n = len(depths)
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    cols = {
        "click_id": [f"c{first + i}" for i in range(n)], "user_id": ["u"] * n, "page_name": ["home"] * n,
        "timestamp": [now] * n, "session_hint": [None] * n, "referrer": [None] * n, "device": [None] * n,
        "scroll_depth": depths, "time_on_page_ms": [1] * n, "_rescued_data": [None] * n,
        "_rescue_reason": [None] * n, "_ingested_at": [now] * n, "_source": [f"test:{first + i}" for i in range(n)],
        "_batch_id": ["b"] * n, "event_date": [now.date()] * n,
    }
    return pa.table(cols, schema=bronze_schema("clickstream"))


def test_non_finite_doubles_are_flagged_counted_and_kept_out_of_gold(lh: Lakehouse) -> None:
    lh.store.append("bronze.clickstream", bronze_clicks([float("nan"), float("inf"), 50.0], 0), partition_by=["event_date"])
    silver, gold = lh.transform()
    check = next(c for c in silver.checks if c.table == "silver.clicks" and c.check == "scroll_depth_finite")
    assert (check.failing_rows, check.outcome) == (2, "warn")
    flagged = {r["click_id"]: r["quality_issues"] for r in rows(lh, "silver.clicks")}
    # (NaN and infinity are also out of 0..100: DuckDB orders NaN above every number)
    assert flagged == {"c0": ["scroll_depth_in_range", "scroll_depth_finite"],
                       "c1": ["scroll_depth_in_range", "scroll_depth_finite"], "c2": []}
    # only the valid click makes a session: no NaN reaches the sessions' averages
    assert [r["avg_scroll_depth"] for r in rows(lh, "silver.clickstream_sessions")] == [50.0]
    # every model with a double column is checked, gold included
    for spec in REGISTRY.models():
        doubles = [c.name for c in spec.columns if c.type == "double"]
        checked = {c.check for c in (*silver.checks, *gold.checks) if c.table == spec.fqn}
        if checked:
            assert {f"{d}_finite" for d in doubles} <= checked, spec.fqn
    stored = lh.catalog.quality("silver.clicks")
    assert stored is not None
    assert {c["check"]: c["failing_rows"] for c in stored["checks"]}["scroll_depth_finite"] == 2
    lh.store.append("bronze.clickstream", bronze_clicks([10.0, 20.0], 10), partition_by=["event_date"])
    again, _ = lh.transform()
    check = next(c for c in again.checks if c.table == "silver.clicks" and c.check == "scroll_depth_finite")
    assert (check.failing_rows, check.rows_checked) == (0, 2)  # only the rows this run wrote
