"""Expectations are counted after each run and reach the catalog's quality status."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from lakehouse.ingest.schemas import bronze_schema
from lakehouse.pipeline.registry import model_for
from lakehouse.quality import expectations_of
from lakehouse.service import Lakehouse

from support import land


def test_expectations_are_read_from_the_model() -> None:
    model = model_for("silver.app_events")
    assert model is not None
    assert {"event_type_in_set", "app_type_in_set", "user_id_not_blank"} <= set(expectations_of(model))


def test_failing_rows_are_counted_and_recorded(lh: Lakehouse) -> None:
    ok = {"event_id": "e1", "user_id": "u", "event_type": "click", "timestamp": "2026-01-01T00:00:00Z", "app_type": "web"}
    land(lh.settings, "app_events", "a.ndjson", [
        ok, {**ok, "event_id": "e2", "event_type": "teleport"}, {**ok, "event_id": "e3", "app_type": "fax"},
        {**ok, "event_id": "e4", "event_type": "warp", "app_type": None},
    ])
    lh.ingest()
    silver, _ = lh.transform()
    q = silver.details["quality"]["silver.app_events"]
    assert q["event_type_in_set"] == 2
    assert q["app_type_in_set"] == 2
    assert q["user_id_not_blank"] == 0
    assert q["event_id_unique"] == 0
    status = lh.governance.quality("silver.app_events")
    assert status is not None and status["status"] == "failing"
    checks = {c["check"]: c for c in status["checks"]}
    assert checks["event_type_in_set"]["failing_rows"] == 2 and not checks["event_type_in_set"]["passed"]
    assert checks["user_id_not_blank"]["passed"]


def test_incremental_runs_check_only_their_new_rows(lh: Lakehouse) -> None:
    ok = {"event_id": "e1", "user_id": "u", "event_type": "click", "timestamp": "2026-01-01T00:00:00Z", "app_type": "web"}
    land(lh.settings, "app_events", "a.ndjson", [ok, {**ok, "event_id": "e2", "event_type": "teleport"}])
    lh.ingest()
    first, _ = lh.transform()
    assert first.details["quality"]["silver.app_events"]["event_type_in_set"] == 1
    land(lh.settings, "app_events", "b.ndjson", [{**ok, "event_id": "e3"}, {**ok, "event_id": "e4", "event_type": "x"},
                                                 {**ok, "event_id": "e5", "event_type": "y"}])
    lh.ingest()
    second, _ = lh.transform()
    q = second.details["quality"]["silver.app_events"]
    assert q["event_type_in_set"] == 2  # the new batch's two, not the table's three
    assert "event_id_unique" not in q
    third, _ = lh.transform()  # nothing new: nothing re-checked
    assert "silver.app_events" not in third.details["quality"]
    full, _ = lh.transform(full_refresh=True)
    assert full.details["quality"]["silver.app_events"] == {**q, "event_type_in_set": 3, "event_id_unique": 0}


def _bronze_clicks(depths: list[float], first: int) -> pa.Table:
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


def test_non_finite_doubles_are_counted_in_every_layer_and_recorded(lh: Lakehouse) -> None:
    lh.store.append("bronze.clickstream", _bronze_clicks([float("nan"), float("inf"), 50.0], 0), partition_by=["event_date"])
    silver, gold = lh.transform()
    assert silver.details["quality"]["silver.clicks"]["doubles_finite"] == 2
    # gold tables are checked too (every model with a floating-point column)
    assert all("doubles_finite" in checks for t, checks in gold.details["quality"].items() if t.startswith("gold."))
    status = lh.governance.quality("silver.clicks")
    assert status is not None
    checks = {c["check"]: c for c in status["checks"]}
    assert checks["doubles_finite"]["failing_rows"] == 2 and not checks["doubles_finite"]["passed"]
    lh.store.append("bronze.clickstream", _bronze_clicks([10.0, 20.0], 10), partition_by=["event_date"])
    again, _ = lh.transform()
    assert again.details["quality"]["silver.clicks"]["doubles_finite"] == 0  # only the rows this run wrote
