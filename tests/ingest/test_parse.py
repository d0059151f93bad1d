"""Every kind of bad line is classified with the right reason; good fields are typed."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from lakehouse.ingest.parse import RecordParser
from lakehouse.ingest.schemas import SCHEMAS


def _parse(source: str, lines: list[str]) -> tuple[list[dict], list[dict]]:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    batch = pa.table({"position": pa.array(range(len(lines)), pa.int64()), "line": pa.array(lines, pa.large_string())})
    good, bad = RecordParser(SCHEMAS[source], con).parse(batch)
    return good.to_pylist(), bad.to_pylist()


GOOD = '{"event_id":"e1","user_id":"u1","event_type":"click","timestamp":"2024-03-01T10:00:00Z"}'


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"event_id":"e1","user_id":', "malformed JSON"),
        ("not json at all", "malformed JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        ('"just a string"', "not a JSON object"),
        ('{"event_id":"e1","event_type":"click","timestamp":"2024-03-01T10:00:00Z"}', "missing required field 'user_id'"),
        ('{"event_id":"e1","user_id":null,"event_type":"click","timestamp":"2024-03-01T10:00:00Z"}',
         "missing required field 'user_id'"),
        ('{"event_id":"e1","user_id":"u","event_type":"click","timestamp":"last tuesday"}',
         "required field 'timestamp' is not a valid timestamp"),
    ],
)
def test_bad_lines_are_quarantined_with_reason(line: str, reason: str) -> None:
    good, bad = _parse("app_events", [GOOD, line])
    assert [g["event_id"] for g in good] == ["e1"]
    assert bad == [{"position": 1, "raw": line, "reason": reason}]


def test_unknown_fields_and_optional_wrong_types_are_rescued() -> None:
    line = (
        '{"event_id":"e2","user_id":"u1","event_type":"click","timestamp":"2024-03-01T10:00:00+02:00",'
        '"duration_ms":"slow","debug":{"a":[1,2]},"app_type":"ios"}'
    )
    good, bad = _parse("app_events", [line])
    assert bad == []
    (row,) = good
    assert row["duration_ms"] is None
    assert row["app_type"] == "ios"
    assert row["timestamp"].isoformat() == "2024-03-01T08:00:00+00:00"  # normalised to UTC
    import json

    assert json.loads(row["_rescued_data"]) == {"debug": {"a": [1, 2]}, "duration_ms": "slow"}


def test_clean_line_has_no_rescued_data_and_blank_lines_are_blank_records() -> None:
    blanks = ["", "   ", "\t\r\n", "\ufeff", " \n\n "]
    good, bad = _parse("app_events", [GOOD, *blanks])
    assert len(good) == 1 and good[0]["_rescued_data"] is None
    assert bad == [{"position": i + 1, "raw": b.rstrip("\r\n"), "reason": "blank record"} for i, b in enumerate(blanks)]


def test_blank_lines_are_skipped_when_they_are_not_records() -> None:
    con = duckdb.connect()
    lines = [GOOD, "", "   ", "\t\r\n", "\ufeff  \r\n", GOOD.replace("e1", "e2")]
    batch = pa.table({"position": pa.array(range(len(lines)), pa.int64()), "line": pa.array(lines, pa.large_string())})
    good, bad = RecordParser(SCHEMAS["app_events"], con).parse(batch, skip_blank=True)
    assert good.column("position").to_pylist() == [0, 5] and bad.num_rows == 0


def test_cdc_envelope_lifts_table_and_sequence() -> None:
    line = '{"op":"u","before":{"id":"u1"},"after":{"id":"u1","plan":"pro"},"source":{"table":"users","seq":42},"ts_ms":1700000000000}'
    missing_seq = '{"op":"u","after":{"id":"u1"},"source":{"table":"users"},"ts_ms":1700000000000}'
    good, bad = _parse("cdc_changes", [line, missing_seq])
    assert good[0]["source_table"] == "users" and good[0]["seq"] == 42
    assert bad[0]["reason"] == "missing required field 'source.seq'"
