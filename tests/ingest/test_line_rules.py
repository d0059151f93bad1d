"""Landing lines: complete lines only (the last unterminated one after the file settled),
blank lines are not records, CRLF and byte order marks are ordinary, and a record longer
than the limit is quarantined without ever being held in memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse.service import Lakehouse

from support import lake_env, make_settings


def rec(i: int) -> bytes:
    return json.dumps(
        {"event_id": f"e{i}", "user_id": "u1", "event_type": "click", "timestamp": "2026-03-01T00:00:00Z"}
    ).encode()


def ids(lh: Lakehouse) -> list[str]:
    if not lh.store.exists("bronze.app_events"):
        return []
    return sorted(lh.store.dataset("bronze.app_events").to_table(columns=["event_id"]).column("event_id").to_pylist())


def quarantine(lh: Lakehouse) -> list[dict[str, object]]:
    if not lh.store.exists("bronze.quarantine"):
        return []
    return lh.store.dataset("bronze.quarantine").to_table().sort_by("position").to_pylist()


def age(path: Path, seconds: float) -> None:
    """Make the file look last written `seconds` ago (instead of waiting that long)."""
    t = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(t, t))


@pytest.mark.parametrize("chunk", [1024, 64 * 1024 * 1024])
def test_a_last_line_without_newline_waits_for_the_file_to_settle(tmp_path: Path, chunk: int) -> None:
    lh = Lakehouse(make_settings(tmp_path / "lake", ingest_settle_s=30, ingest_chunk_bytes=chunk))
    folder = lh.settings.landing / "app_events"
    folder.mkdir(parents=True)
    path = folder / "a.ndjson"
    path.write_bytes(rec(1) + b"\n" + rec(2) + b"\n" + rec(3)[:20])  # a writer mid-way through line 3
    first = lh.ingest(sources=["app_events"])
    assert ids(lh) == ["e1", "e2"] and quarantine(lh) == []
    assert first.details["sources"]["app_events"]["waiting"] == ["app_events/a.ndjson"]
    v = lh.store.version("bronze.app_events")
    assert lh.ingest(sources=["app_events"]).details["received"] == 0  # still writing: nothing taken
    assert lh.store.version("bronze.app_events") == v, "an empty commit"
    with path.open("ab") as fh:
        fh.write(rec(3)[20:])  # line 3 complete, still without a newline
    age(path, 10)  # written recently: not settled yet
    assert lh.ingest(sources=["app_events"]).details["received"] == 0
    age(path, 31)  # quiet for longer than the settle time: the last line is taken
    assert lh.ingest(sources=["app_events"]).details["received"] == 1
    assert ids(lh) == ["e1", "e2", "e3"]
    with path.open("ab") as fh:  # the writer goes on after all: a newline, then more lines
        fh.write(b"\n" + rec(4) + b"\n")
    assert lh.ingest(sources=["app_events"]).details["received"] == 1
    assert ids(lh) == ["e1", "e2", "e3", "e4"] and quarantine(lh) == []
    labels = sorted(lh.store.dataset("bronze.app_events").to_table(columns=["_source"]).column("_source").to_pylist())
    # The newline ends line 3 (already taken): what follows it is line 4, not a blank record.
    assert labels == [f"app_events/a.ndjson:{n}" for n in (1, 2, 3, 4)]


def test_a_file_that_changes_while_read_keeps_its_last_line_for_later(tmp_path: Path) -> None:
    lh = Lakehouse(make_settings(tmp_path / "lake", ingest_settle_s=1))
    folder = lh.settings.landing / "app_events"
    folder.mkdir(parents=True)
    path = folder / "a.ndjson"
    path.write_bytes(rec(1) + b"\n" + rec(2))
    age(path, 5)
    from lakehouse.ingest import landing

    real = landing.FileReader.settled

    def grows_meanwhile(self: landing.FileReader) -> bool:  # the writer appends after listing
        with path.open("ab") as fh:
            fh.write(b"\n")
        return real(self)

    landing.FileReader.settled = grows_meanwhile  # type: ignore[method-assign]
    try:
        lh.ingest(sources=["app_events"])
    finally:
        landing.FileReader.settled = real  # type: ignore[method-assign]
    assert ids(lh) == ["e1"]  # the re-stat saw a new size: line 2 not taken from the old snapshot
    assert lh.ingest(sources=["app_events"]).details["received"] == 1
    assert ids(lh) == ["e1", "e2"] and quarantine(lh) == []


def test_blank_lines_crlf_and_byte_order_marks_are_ordinary(lh: Lakehouse) -> None:
    folder = lh.settings.landing / "app_events"
    folder.mkdir(parents=True)
    bom = b"\xef\xbb\xbf"
    a = bom + rec(1) + b"\r\n\r\n" + rec(2) + b"\n   \n\t\n \t\r\n" + rec(3) + b"\r\n"
    b = bom + rec(4) + b"\n" + bom + b"\n" + rec(5) + b"\n"
    (folder / "a.ndjson").write_bytes(a)
    (folder / "b.ndjson").write_bytes(b)
    (folder / "cat.ndjson").write_bytes(a + b.replace(b"e4", b"e6").replace(b"e5", b"e7"))  # `cat a b`: a BOM mid-file
    (folder / "c.ndjson").write_bytes(rec(8) + b"\n" + b'\xef\xbb\xbf  {"x": 1 ' + bom + b"}\n")  # not at a line start
    report = lh.ingest(sources=["app_events"])
    got = ids(lh)
    assert got == sorted(["e1", "e2", "e3", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"])
    (q,) = quarantine(lh)
    assert q["reason"] == "malformed JSON" and q["position"] == 2 and q["_source"] == "app_events/c.ndjson:2"
    assert report.details["received"] == 12 and report.details["balanced"]
    labels = lh.store.dataset("bronze.app_events").to_table(columns=["_source"]).column("_source").to_pylist()
    assert {"app_events/a.ndjson:1", "app_events/a.ndjson:3", "app_events/a.ndjson:7",
            "app_events/cat.ndjson:8", "app_events/cat.ndjson:10"} <= set(labels)


def test_an_over_long_record_is_quarantined_with_a_prefix_and_the_next_ones_land(tmp_path: Path) -> None:
    lh = Lakehouse(make_settings(tmp_path / "lake", ingest_chunk_bytes=4096, ingest_max_record_bytes=1024))
    folder = lh.settings.landing / "app_events"
    folder.mkdir(parents=True)
    long_complete = b'{"event_id": "' + b"x" * 10_000 + b'"}'  # spans chunks, then a newline
    long_in_chunk = b'{"pad": "' + b"y" * 1500 + b'"}'  # over the limit, within one chunk
    data = rec(1) + b"\n" + long_complete + b"\r\n" + rec(2) + b"\n" + long_in_chunk + b"\n" + rec(3) + b"\n"
    (folder / "a.ndjson").write_bytes(data)
    (folder / "tail.ndjson").write_bytes(rec(4) + b"\n" + b"z" * 9000)  # over-long and unterminated
    age(folder / "tail.ndjson", 3600)
    lh.ingest(sources=["app_events"])
    assert ids(lh) == ["e1", "e2", "e3", "e4"]
    q = {r["_source"]: r for r in quarantine(lh)}
    assert set(q) == {"app_events/a.ndjson:2", "app_events/a.ndjson:4", "app_events/tail.ndjson:2"}
    first = q["app_events/a.ndjson:2"]
    assert first["reason"] == "record longer than 1024 bytes (10016 bytes; raw is its first 1024 bytes)"
    assert first["raw"] == long_complete[:1024].decode()
    assert q["app_events/a.ndjson:4"]["reason"].startswith("record longer than 1024 bytes (1511 bytes;")
    assert q["app_events/tail.ndjson:2"]["raw"] == "z" * 1024
    assert lh.ingest(sources=["app_events"]).details["received"] == 0


PEAK = """
import json, resource, sys
from lakehouse.service import Lakehouse
report = Lakehouse().ingest(sources=["app_events"])
print(json.dumps({"kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "received": report.details["received"]}))
"""


def _peak_kib(settings_root: Path, line_bytes: int) -> tuple[int, int]:
    limits = {"ingest_chunk_bytes": 4 << 20, "ingest_max_record_bytes": 1 << 20}
    settings = make_settings(settings_root, **limits)
    folder = settings.landing / "app_events"
    folder.mkdir(parents=True)
    with (folder / "a.ndjson").open("wb") as fh:
        fh.write(rec(1) + b"\n")
        fh.write(b'{"event_id": "')
        block = b"q" * (1 << 20)
        for _ in range(line_bytes >> 20):
            fh.write(block)
        fh.write(b'"}\n' + rec(2) + b"\n")
    env = lake_env(settings, **{f"LAKEHOUSE_{k.upper()}": str(v) for k, v in limits.items()})
    out = subprocess.run([sys.executable, "-c", PEAK], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return int(got["kib"]), int(got["received"])


def test_memory_stays_bounded_by_the_chunk_for_a_huge_record(tmp_path: Path) -> None:
    small, n_small = _peak_kib(tmp_path / "small", 1 << 20)
    huge, n_huge = _peak_kib(tmp_path / "huge", 256 << 20)
    assert n_small == n_huge == 3
    # Reading a 256 MiB line whole would need at least 256 MiB more; streaming needs ~a chunk (4 MiB).
    assert huge - small < 32 * 1024, f"peak RSS grew by {(huge - small) // 1024} MiB for a 256 MiB record"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
