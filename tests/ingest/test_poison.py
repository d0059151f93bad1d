"""One bad record never stops a source, and one source's failure never stops the others.

Poison pills — values the Delta writer or a reader cannot represent — for every typed
field of every source, each in a file among good files of all sources: the others land,
the pill is quarantined (required field) or nulled and rescued (optional field) with a
reason, and reruns are clean and commit nothing new.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import SOURCES
from lakehouse.exceptions import LakehouseError
from lakehouse.ingest.schemas import SCHEMAS
from lakehouse.service import Lakehouse
from lakehouse.storage.delta import DeltaStore

from support import lake_env, land

TS = "2026-03-01T10:00:00Z"
GOOD: dict[str, dict[str, Any]] = {
    "app_events": {"event_id": "{id}", "user_id": "u1", "event_type": "click", "timestamp": TS, "duration_ms": 5},
    "clickstream": {"click_id": "{id}", "user_id": "u1", "page_name": "home", "timestamp": TS, "scroll_depth": 50.5,
                    "time_on_page_ms": 900},
    "cdc_changes": {"op": "u", "after": {"id": "{id}"}, "source": {"table": "users", "seq": 7}, "ts_ms": 1772359200000},
    "transactions": {"transaction_id": "{id}", "user_id": "u1", "amount": 12.5, "status": "completed", "timestamp": TS},
    "service_logs": {"log_id": "{id}", "timestamp": TS, "endpoint": "/x", "status_code": 200, "latency_ms": 12.0},
}
KEY = {"app_events": "event_id", "clickstream": "click_id", "cdc_changes": None, "transactions": "transaction_id",
       "service_logs": "log_id"}

BAD_TIMES = ["infinity", "-infinity", "262143-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "10000-01-01T00:00:00Z",
             "-0044-03-15T00:00:00Z", "0001-01-01T00:00:00Z", "1677-09-21T00:12:43Z", "2262-04-12T00:00:00Z"]
BAD_INT64 = ["9223372036854775808", "-9223372036854775809", "12.7", "1e400", "NaN", "Infinity"]
BAD_INT32 = ["2147483648", "-2147483649", "3000000000", "1.5"]
BAD_TS_MS = ["9223372036854775", "9223372036854775807", "-9223372036854775808", "253402300800000", "-2208988800001"]
BAD_NUMBER = ["NaN", "Infinity", "-Infinity", "nan", "-inf", "1e400", "-1e400"]
LITERALS = {"NaN", "Infinity", "-Infinity", "nan", "-inf"}


def pills(source: str) -> Iterator[tuple[str, str, str]]:
    """(field, raw JSON value, line) for every typed field of the source."""
    for f in (*SCHEMAS[source].fields, *SCHEMAS[source].derived):
        if f.kind == "timestamp":
            values = [json.dumps(v) for v in BAD_TIMES]
        elif f.kind == "integer" and f.name == "ts_ms":
            values = BAD_TS_MS
        elif f.kind == "integer":
            values = BAD_INT32 if f.duck_type == "INTEGER" else BAD_INT64
        elif f.kind == "number":
            values = BAD_NUMBER
        else:
            continue
        for i, v in enumerate(values):
            yield f.name, v, _line(source, f"pill-{f.name}-{i}", f.keys, v)


def _line(source: str, ident: str, keys: tuple[str, ...], raw_value: str) -> str:
    rec = json.loads(json.dumps(GOOD[source]).replace("{id}", ident))
    marker = "__RAW__"
    target = rec
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = marker
    return json.dumps(rec).replace(json.dumps(marker), raw_value)


def good_lines(source: str, prefix: str, n: int) -> list[str]:
    return [json.dumps(GOOD[source]).replace("{id}", f"{prefix}-{i}") for i in range(n)]


def ident_of(source: str, row: dict[str, Any]) -> str:
    key = KEY[source]
    if key is None:
        return str(json.loads(row["after"])["id"])
    return str(row[key])


@pytest.mark.parametrize("source", SOURCES)
def test_poison_pills_of_every_typed_field_never_stop_a_source_or_the_others(lh: Lakehouse, source: str) -> None:
    for s in SOURCES:  # good files of every source, before and after the poisoned one
        land(lh.settings, s, "a.ndjson", good_lines(s, "a", 3))
        land(lh.settings, s, "z.ndjson", good_lines(s, "z", 3))
    cases = list(pills(source))
    land(lh.settings, source, "m.ndjson", good_lines(source, "m", 2) + [line for _, _, line in cases])
    report = lh.ingest()
    assert report.status == "success" and report.details["balanced"]

    required = {f.name for f in (*SCHEMAS[source].fields, *SCHEMAS[source].derived) if f.required}
    q = {r["raw"]: r for r in lh.store.dataset("bronze.quarantine").to_table().to_pylist()}
    bronze = {ident_of(source, r): r for r in lh.store.dataset(f"bronze.{source}").to_table().to_pylist()}
    for s in SOURCES:  # every good record of every source landed
        rows = {ident_of(s, r) for r in lh.store.dataset(f"bronze.{s}").to_table().to_pylist()}
        assert {f"a-{i}" for i in range(3)} | {f"z-{i}" for i in range(3)} <= rows, s
    assert {"m-0", "m-1"} <= set(bronze)
    for name, value, line in cases:
        ident = json.loads(line.replace(value, "null"))  # the record's id, whatever the pill
        ident = ident_of(source, {k: json.dumps(v) if k == "after" else v for k, v in ident.items()})
        label = "source.seq" if name == "seq" else name
        if value in LITERALS:  # not JSON at all (RFC 8259 has no NaN/Infinity): the whole record
            assert q[line]["reason"] == "malformed JSON"
            assert ident not in bronze
        elif name in required:
            assert line in q, f"{ident} should be quarantined"
            assert q[line]["reason"].startswith(f"required field {label!r} is "), q[line]["reason"]
            assert ident not in bronze
        else:
            assert line not in q, f"{ident}: an optional field's bad value does not reject the record"
            row = bronze[ident]
            assert row[name] is None
            assert name in json.loads(row["_rescued_data"])
            assert repr(name) in row["_rescue_reason"]
    assert all(r.to_pylist() for r in [lh.store.dataset(f"bronze.{s}").to_table() for s in SOURCES])

    versions = {t: lh.store.version(t) for t in [*(f"bronze.{s}" for s in SOURCES), "bronze.quarantine"]}
    again = lh.ingest()
    assert again.status == "success" and again.details["received"] == 0
    assert {t: lh.store.version(t) for t in versions} == versions


class FakePanic(BaseException):
    """What a Rust panic in the Delta writer looks like to Python: not an Exception."""


def test_a_failing_source_is_reported_and_the_others_still_land(lh: Lakehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    for s in SOURCES:
        land(lh.settings, s, "a.ndjson", [*good_lines(s, "a", 3), '{"broken'])
    real_append = DeltaStore.append

    def failing(self: DeltaStore, table: object, *args: Any, **kwargs: Any) -> int:
        if str(table) == "bronze.transactions":  # after its quarantine commit landed
            raise FakePanic("called `Option::unwrap()` on a `None` value\nstack backtrace: ...")
        return real_append(self, table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DeltaStore, "append", failing)
    with pytest.raises(LakehouseError) as err:
        lh.ingest()
    assert "ingest failed for transactions" in str(err.value) and "FakePanic" in str(err.value)
    assert "\n" not in err.value.message
    (log,) = sorted(lh.settings.logs_path.glob("ingest_*.json"))
    report = json.loads(log.read_text())
    assert report["status"] == "failed" and report["details"]["failed_sources"] == ["transactions"]
    assert report["details"]["sources"]["transactions"]["error"].startswith("FakePanic: called `Option::unwrap()`")
    for s in SOURCES:
        if s != "transactions":
            assert lh.store.dataset(f"bronze.{s}").count_rows() == 3, s
            assert report["details"]["sources"][s]["received"] == 4
    assert not lh.store.exists("bronze.transactions")
    q_before = lh.store.dataset("bronze.quarantine").count_rows()
    assert q_before == 5  # the failing source's quarantine commit landed first

    monkeypatch.setattr(DeltaStore, "append", real_append)
    again = lh.ingest()
    assert again.status == "success"
    assert lh.store.dataset("bronze.transactions").count_rows() == 3
    assert lh.store.dataset("bronze.quarantine").count_rows() == q_before  # not quarantined twice
    assert again.details["received"] == 3 and again.details["quarantined"] == 0


def test_the_cli_names_the_failed_source_in_one_line_and_exits_1(tmp_path: Path) -> None:
    from support import make_settings

    settings = make_settings(tmp_path / "lake")
    for s in SOURCES:
        land(settings, s, "a.ndjson", good_lines(s, "a", 2))
    broken = settings.layer_path("bronze") / "clickstream" / "_delta_log"  # a table whose log is garbage
    broken.mkdir(parents=True)
    (broken / "00000000000000000000.json").write_text("this is not a delta log\n")
    env = lake_env(settings, COLUMNS="300")
    p = subprocess.run([sys.executable, "-m", "lakehouse.cli.main", "ingest"], env=env, capture_output=True, text=True)
    assert p.returncode == 1, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "ingest failed for clickstream" in lines[0]
    lh = Lakehouse(settings)
    for s in SOURCES:
        if s != "clickstream":
            assert lh.store.dataset(f"bronze.{s}").count_rows() == 2, s


def test_bronze_refuses_out_of_range_rows_it_is_handed_instead_of_writing_them(lh: Lakehouse) -> None:
    """The writer's own guard: should a parser ever let a pill through, Delta never sees it."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from lakehouse.ingest.bronze import BronzeWriter

    def rows(ts: datetime, latency: float) -> pa.Table:
        return pa.table({
            "log_id": ["l1"], "timestamp": pa.array([ts], pa.timestamp("us", tz="UTC")), "service": [None],
            "endpoint": ["/x"], "method": [None], "status_code": pa.array([200], pa.int32()), "latency_ms": [latency],
            "user_id": [None], "trace_id": [None], "level": [None], "_rescued_data": [None], "_rescue_reason": [None],
        })

    empty = pa.table({"position": pa.array([], pa.int64()), "raw": pa.array([], pa.large_string()),
                      "reason": pa.array([], pa.string())})
    writer = BronzeWriter(lh.store)
    for bad in (rows(datetime(2262, 4, 12, tzinfo=UTC), 1.0), rows(datetime(1800, 1, 1, tzinfo=UTC), 1.0),
                rows(datetime(2026, 1, 1, tzinfo=UTC), float("inf")), rows(datetime(2026, 1, 1, tzinfo=UTC), float("nan"))):
        with pytest.raises(LakehouseError, match="nothing of this batch was written"):
            writer.write("service_logs", bad, pa.array(["f:1"]), empty, pa.array([], pa.string()), txns={"t": 1})
    assert not lh.store.exists("bronze.service_logs")
    writer.write("service_logs", rows(datetime(2199, 12, 31, tzinfo=UTC), 1.0), pa.array(["f:1"]), empty,
                 pa.array([], pa.string()), txns={"t": 1})
    assert lh.store.dataset("bronze.service_logs").count_rows() == 1
