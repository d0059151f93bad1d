"""The data-loss rules on their own: which (offset, topic id, watermarks) continue cleanly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lakehouse.ingest.kafka.client import topic_id_hash
from lakehouse.ingest.kafka.offsets import PAST_END, RECREATED, RETENTION, DataLossError, check

OFFSETS = st.integers(min_value=0, max_value=2**62)
IDS = st.one_of(st.none(), st.integers(min_value=0, max_value=2**63 - 1))


@st.composite
def partitions(draw: st.DrawFn) -> tuple[int | None, int | None, int | None, int, int]:
    low = draw(OFFSETS)
    high = draw(st.integers(min_value=low, max_value=low + 10**6))
    marker = draw(st.one_of(st.none(), OFFSETS, st.integers(low - 3, high + 3).filter(lambda x: x >= 0)))
    stored = draw(IDS)
    current = draw(st.one_of(IDS, st.just(stored)))
    return marker, stored, current, low, high


@given(partitions(), st.integers(min_value=0, max_value=1000))
def test_only_an_offset_inside_the_same_topic_continues(
    case: tuple[int | None, int | None, int | None, int, int], partition: int
) -> None:
    marker, stored, current, low, high = case
    skip = check("t.app_events", partition, marker, stored, current, low, high)
    if marker is None:  # bronze holds nothing of it: read from the oldest message
        assert skip is None
        return
    recreated = stored is not None and current is not None and stored != current
    if not recreated and low <= marker <= high:
        assert skip is None
        return
    assert skip is not None
    assert (skip.from_offset, skip.to_offset, skip.low, skip.high) == (marker, low, low, high)
    assert skip.reason == (RECREATED if recreated else PAST_END if marker > high else RETENTION)
    r = skip.to_result()
    assert (r.from_offset, r.to_offset, r.partition, r.topic) == (marker, low, partition, "t.app_events")
    assert (r.low, r.high, r.reason) == (low, high, skip.reason)
    assert r.skipped_offsets == (low - marker if skip.reason == RETENTION else None)


@given(st.lists(partitions(), min_size=1, max_size=6))
def test_the_error_is_one_line_naming_every_partition(
    cases: list[tuple[int | None, int | None, int | None, int, int]],
) -> None:
    skips = [
        s
        for p, (m, a, b, lo, hi) in enumerate(cases)
        if (s := check("lake.clicks", p, m if m is not None else hi + 1, a, b, lo, hi)) is not None
    ]
    if not skips:
        return
    err = DataLossError(skips)
    text = str(err)
    assert "\n" not in text and text.startswith("data loss on lake.clicks[")
    assert all(f"lake.clicks[{s.partition}]" in text for s in skips)
    assert str(skips[0].from_offset) in text and "--no-fail-on-data-loss" in text


@given(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1))
def test_a_topic_id_hash_is_a_valid_delta_transaction_version(msb: int, lsb: int) -> None:
    h = topic_id_hash(msb, lsb)
    assert 0 <= h < 2**63
    assert h == topic_id_hash(msb, lsb)
    assert h != topic_id_hash(msb, lsb ^ 1)  # (a collision here would be a 1 in 2**63 event)
