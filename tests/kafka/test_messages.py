"""A Kafka message is one record: a byte-order mark at its start is not data, a blank one is
an "empty message" in quarantine, whatever its length."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.ingest import strict
from lakehouse.ingest.kafka.batch import BOM, Chunk, to_lines
from lakehouse.service import Lakehouse

TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
BLANKS = st.text(alphabet=" \t\r\n\x0b\x0c\u00a0\u2003\u3000", max_size=40)
VALUES = st.lists(st.one_of(TEXT, BLANKS, st.none()), min_size=1, max_size=30)


def _lines(values: list[str | None]) -> tuple[list[str | None], list[bool]]:
    raw = [None if v is None else v.encode() for v in values]
    chunk = Chunk(
        np.zeros(len(raw), np.int32),
        np.arange(len(raw), dtype=np.int64),
        pa.array(raw, pa.large_binary()),
    )
    lines = to_lines(chunk)
    return lines.table.column("line").to_pylist(), lines.empty.tolist()


@settings(max_examples=300, deadline=None)
@given(VALUES, st.data())
def test_one_leading_byte_order_mark_is_looked_past_and_blank_means_whitespace_only(
    values: list[str | None], data: st.DataObject
) -> None:
    plain = [None if v is None else v.lstrip(BOM) for v in values]
    marked = [
        None if v is None else (BOM + v if data.draw(st.booleans()) else v) for v in plain
    ]
    got, empty = _lines(marked)
    assert got == marked  # the values go to the parser as sent: it drops one leading mark
    assert empty == [v is None or v.strip() == "" for v in plain]
    kept = [v for v, e in zip(marked, empty, strict=True) if not e]
    parsed = strict.scan(pa.array(kept, pa.large_string())).lines.to_pylist()
    assert parsed == [v for v, e in zip(plain, empty, strict=True) if not e]


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=10))
def test_a_second_mark_or_one_inside_the_text_is_kept(values: list[str]) -> None:
    marked = [BOM + BOM + v for v in values] + [f"x{BOM}{v}" for v in values]
    got, empty = _lines(marked)
    assert got == marked and not any(empty)
    parsed = strict.scan(pa.array(got, pa.large_string())).lines.to_pylist()
    assert parsed == [BOM + v for v in values] + [f"x{BOM}{v}" for v in values]


@pytest.mark.kafka
def test_marked_and_blank_messages_land_where_they_belong(kit: Any) -> None:
    record = json.dumps(
        {"event_id": "e-1", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-02T10:00:00Z"}
    )
    good = [
        (BOM + record).encode(),
        (BOM + record.replace("e-1", "e-2") + "\r\n").encode(),
        record.replace("e-1", "e-3").encode(),
    ]
    blank = [BOM.encode(), (BOM + "  \r\n").encode(), b" " * 100, b"\t" * 20, b"", None]
    malformed = [(BOM + BOM + record.replace("e-1", "e-4")).encode()]
    kit.create("app_events", 1)
    kit.send("app_events", good + blank + malformed, 0)
    lh = Lakehouse(kit.settings)
    report = lh.ingest(source="kafka", sources=["app_events"])
    s = report.source("app_events")
    assert (s.received, s.bronze, s.quarantined) == (10, 3, 7)
    bronze = lh.store.dataset("bronze.app_events").to_table().to_pylist()
    assert sorted(r["event_id"] for r in bronze) == ["e-1", "e-2", "e-3"]
    assert all(r["_rescued_data"] is None for r in bronze)
    reasons = {
        r["position"]: r["reason"] for r in lh.store.dataset("bronze.quarantine").to_table().to_pylist()
    }
    assert reasons == {3: "empty message", 4: "empty message", 5: "empty message",
                       6: "empty message", 7: "empty message", 8: "empty message",
                       9: "malformed JSON"}  # fmt: skip
