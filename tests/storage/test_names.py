from __future__ import annotations

import pytest

from lakehouse.contract import TableId, resolve
from lakehouse.exceptions import TableNotFoundError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gold.user_segments", TableId("gold", "user_segments")),
        ("user_segments_gold", TableId("gold", "user_segments")),
        ("gold_user_segments", TableId("gold", "user_segments")),
        ("GOLD.User_Segments", TableId("gold", "user_segments")),
        ("app_events_bronze", TableId("bronze", "app_events")),
        ("users_silver", TableId("silver", "users")),
        ("clickstream_silver", TableId("silver", "clickstream_sessions")),
        ("event_metrics_gold", TableId("gold", "event_metrics")),
        ("hourly_metrics_gold", TableId("gold", "hourly_metrics")),
        ("daily_summary_gold", TableId("gold", "daily_summary")),
        ("cdc_changes_bronze", TableId("bronze", "cdc_changes")),
    ],
)
def test_seed_names_resolve(name: str, expected: TableId) -> None:
    assert resolve(name) == expected


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(TableNotFoundError) as info:
        resolve("gold.user_segment")
    assert "gold.user_segments" in info.value.suggestions


def test_seed_name_reads_the_same_table(lh) -> None:  # type: ignore[no-untyped-def]
    from support import land

    land(lh.settings, "app_events", "a.ndjson", [
        {"event_id": "e1", "user_id": "u", "event_type": "click", "timestamp": "2026-01-01T00:00:00Z", "app_type": "web"}])
    lh.ingest()
    lh.transform()
    assert lh.table("user_segments_gold").rows == lh.table("gold.user_segments").rows == 1
    assert lh.table("app_events_bronze").path == lh.table("bronze.app_events").path
