"""The 30-minute rule: a gap strictly greater than 30 minutes starts a new session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lakehouse.service import Lakehouse

from support import land, rows

T0 = datetime(2026, 3, 1, 23, 45, tzinfo=UTC)


def click(cid: str, user: str, at: datetime, page: str = "home", scroll: float = 50.0) -> dict[str, object]:
    return {"click_id": cid, "user_id": user, "page_name": page, "timestamp": at.isoformat(), "scroll_depth": scroll}


def sessions(lh: Lakehouse) -> list[dict[str, object]]:
    return rows(lh, "silver.clickstream_sessions", order_by=[("user_id", "ascending"), ("session_start", "ascending")])


def test_gap_of_exactly_30_minutes_continues_and_30_min_1_s_splits(lh: Lakehouse) -> None:
    land(lh.settings, "clickstream", "a.ndjson", [
        click("c1", "u1", T0, "home", 10),
        click("c2", "u1", T0 + timedelta(minutes=30), "product", 30),  # exactly 30: same session
        click("c3", "u1", T0 + timedelta(minutes=60, seconds=1), "cart", 50),  # 30:01 later: new
        click("d1", "u2", T0, "search"),
    ])
    lh.ingest()
    lh.transform(layer="silver")
    s = sessions(lh)
    assert [(x["user_id"], x["total_page_views"]) for x in s] == [("u1", 2), ("u1", 1), ("u2", 1)]
    first = s[0]
    assert first["page_sequence"] == ["home", "product"]
    assert first["entry_page"] == "home" and first["exit_page"] == "product"
    assert first["session_duration_sec"] == 1800.0
    assert first["avg_scroll_depth"] == 20.0
    assert first["is_bounce"] is False and s[1]["is_bounce"] is True
    # A session crossing midnight stays one session, dated by its start.
    assert first["session_start"].date().isoformat() == "2026-03-01"
    assert first["session_end"].date().isoformat() == "2026-03-02"


def test_out_of_order_and_late_clicks_merge_and_split_sessions_like_a_full_rebuild(lh: Lakehouse) -> None:
    land(lh.settings, "clickstream", "1.ndjson", [
        click("c1", "u1", T0),
        click("c3", "u1", T0 + timedelta(minutes=50)),  # two sessions: gap 50 min
    ])
    lh.ingest()
    lh.transform(layer="silver")
    assert len(sessions(lh)) == 2
    # A late click in the gap bridges the two sessions into one.
    land(lh.settings, "clickstream", "2.ndjson", [click("c2", "u1", T0 + timedelta(minutes=25))])
    lh.ingest()
    lh.transform(layer="silver")
    (one,) = sessions(lh)
    assert one["total_page_views"] == 3
    # The same click re-sent changes nothing.
    land(lh.settings, "clickstream", "3.ndjson", [click("c2", "u1", T0 + timedelta(minutes=25))])
    lh.ingest()
    lh.transform(layer="silver")
    assert sessions(lh) == [one]
    incremental = sessions(lh)
    lh.transform(layer="silver", full_refresh=True)
    assert sessions(lh) == incremental
