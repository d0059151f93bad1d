"""Expectations are counted after each run and reach the catalog's quality status."""

from __future__ import annotations

from lakehouse.pipeline.registry import model_for
from lakehouse.quality import expectations_of
from lakehouse.service import Lakehouse

from support import land, quality_of


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
    q = quality_of(silver, "silver.app_events")
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
    assert quality_of(first, "silver.app_events")["event_type_in_set"] == 1
    land(lh.settings, "app_events", "b.ndjson", [{**ok, "event_id": "e3"}, {**ok, "event_id": "e4", "event_type": "x"},
                                                 {**ok, "event_id": "e5", "event_type": "y"}])
    lh.ingest()
    second, _ = lh.transform()
    q = quality_of(second, "silver.app_events")
    assert q["event_type_in_set"] == 2  # the new batch's two, not the table's three
    assert "event_id_unique" not in q
    third, _ = lh.transform()  # nothing new: nothing re-checked
    assert quality_of(third, "silver.app_events") == {}
    full, _ = lh.transform(full_refresh=True)
    assert quality_of(full, "silver.app_events") == {**q, "event_type_in_set": 3, "event_id_unique": 0}
