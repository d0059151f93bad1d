"""A key's copies dated on both sides of the range: the earliest ingested copy wins, as in a full build."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.service import Lakehouse

from support import land, make_settings

D = datetime(2026, 3, 2, 12, tzinfo=UTC)
RANGE = (date(2026, 3, 3), date(2026, 3, 4))
INSIDE, OUTSIDE = D + timedelta(days=1), D + timedelta(days=3)  # 03-03 in the range, 03-05 not


def event(event_id: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": f"u-{event_id[-1]}", "event_type": "click", "timestamp": at.isoformat(),
            "app_type": "web", "app_version": "1.0", "session_id": "s", "duration_ms": 5, "properties": {}, **extra}


def filler(n: int, tag: str) -> list[dict[str, Any]]:
    return [event(f"{tag}-{i}", D + timedelta(days=i % 4, minutes=i)) for i in range(n)]


def silver(lh: Lakehouse, event_id: str) -> list[tuple[str, str]]:
    t = lh.store.dataset("silver.app_events").to_table().to_pylist()
    return sorted((str(r["event_date"]), r["app_version"]) for r in t if r["event_id"] == event_id)


@pytest.mark.parametrize("first_inside", [True, False], ids=["earliest-in-range", "earliest-outside"])
@pytest.mark.parametrize("lag", ["second", "both"], ids=["second-copy-pending", "both-copies-pending"])
def test_the_earliest_ingested_copy_wins_wherever_it_is_dated(tmp_path: Path, first_inside: bool, lag: str) -> None:
    lh = Lakehouse(make_settings(tmp_path / "lake"))
    land(lh.settings, "app_events", "0.ndjson", filler(40, "base"))
    lh.ingest()
    lh.transform()
    first, second = (INSIDE, OUTSIDE) if first_inside else (OUTSIDE, INSIDE)
    land(lh.settings, "app_events", "1.ndjson", [event("dup-1", first, app_version="first"), *filler(5, "b1")])
    lh.ingest()
    if lag == "second":
        lh.transform()
    land(lh.settings, "app_events", "2.ndjson", [event("dup-1", second, app_version="second"), *filler(5, "b2")])
    lh.ingest()
    expected = Lakehouse(make_settings(_copy(lh, tmp_path / "full")))
    expected.transform(full_refresh=True)
    winner = silver(expected, "dup-1")
    assert winner == [(first.date().isoformat(), "first")]

    lh.backfill(*RANGE)
    got = silver(lh, "dup-1")
    assert got in ([], winner), "never the later copy, never twice"
    if first_inside:
        assert got == winner  # the winner is in the range: the backfill wrote it
    lh.transform()
    assert silver(lh, "dup-1") == winner
    assert _all(lh) == _all(expected)


def _copy(lh: Lakehouse, dst: Path) -> Path:
    shutil.copytree(lh.settings.base_path, dst)
    return dst


def _all(lh: Lakehouse) -> list[tuple[Any, ...]]:
    rows = lh.store.dataset("silver.app_events").to_table().drop_columns(["_ingested_at", "_source"]).to_pylist()
    return sorted(tuple(str(v) for v in r.values()) for r in rows)
